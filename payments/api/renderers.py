"""The CSV rendering of account statements (``?format=csv``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from rest_framework.renderers import BaseRenderer

from payments.currencies import CURRENCIES
from payments.selectors import StatementEntry

__all__ = ["STATEMENT_COLUMNS", "StatementCSVRenderer", "decimal_amount", "statement_csv_rows"]

#: The CSV header: the JSON fields, amounts both as decimal strings with the currency's exponent
#: and as minor units (``*_minor``), so a reader needs no table of exponents.
STATEMENT_COLUMNS: tuple[str, ...] = (
    "direction", "amount", "amount_minor", "balance_after", "balance_after_minor",
    "counterparty", "memo", "payment_id", "tx_hash", "block_height", "at",
)  # fmt: skip

# A cell starting with one of these is a formula to a spreadsheet (CSV injection): the memo is
# free text a payer typed, so such a cell is prefixed with a quote that spreadsheets show as text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class StatementCSVRenderer(BaseRenderer):
    """Rows (mappings keyed by :data:`STATEMENT_COLUMNS`) as CSV with a header row."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Sequence[Mapping[str, Any]],
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(STATEMENT_COLUMNS)
        for row in data:
            writer.writerow([_cell(row[column]) for column in STATEMENT_COLUMNS])
        return out.getvalue().encode(self.charset)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def statement_csv_rows(entries: Sequence[StatementEntry], currency: str) -> list[dict[str, Any]]:
    """Statement entries as CSV rows: amounts as decimal strings with the currency's exponent
    (``1234.50``) beside the minor units, times in ISO 8601."""
    places = CURRENCIES.get(currency, 0)
    return [
        {
            "direction": e.direction,
            "amount": decimal_amount(e.amount, places),
            "amount_minor": e.amount,
            "balance_after": decimal_amount(e.balance_after, places),
            "balance_after_minor": e.balance_after,
            "counterparty": e.counterparty,
            "memo": e.memo,
            "payment_id": e.payment_id,
            "tx_hash": e.tx_hash,
            "block_height": e.block_height,
            # As in the JSON: ISO 8601 in UTC with a ``Z``.
            "at": e.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }
        for e in entries
    ]


def decimal_amount(minor: int, places: int) -> str:
    """``123450`` with 2 places -> ``"1234.50"``; exact (integer arithmetic, no floats)."""
    sign, units = ("-" if minor < 0 else ""), abs(minor)
    if places == 0:
        return f"{sign}{units}"
    whole, fraction = divmod(units, 10**places)
    return f"{sign}{whole}.{fraction:0{places}d}"
