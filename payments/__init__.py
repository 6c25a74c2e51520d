"""Payments: the organizations' accounts on the ledger, idempotent payments between them, and
maker-checker approval of payments."""
