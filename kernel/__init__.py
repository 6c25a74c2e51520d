"""The shared kernel: what every app may import and what imports no app of this project.

Errors (one domain error, one exception handler), realtime publishing, environment parsing,
the client address, identifier patterns and envelope encryption live here. The import contract
in ``pyproject.toml`` (checked by ``make lint``) keeps it that way: ``kernel`` imports nothing of
``portal``, ``tenants``, ``biometrics``, ``ledger`` or ``payments``.
"""
