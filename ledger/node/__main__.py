"""``python -m ledger.node --config <file>``: the validator without Django's start-up cost.

Same as ``manage.py run_validator`` (which is the documented entry point); the fault tests and the
benchmark use this one because they restart validators often on a loaded machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ledger.consensus import crypto

from .config import ConfigError
from .runner import run_validator

#: The BLS backend (auto, py_ecc or blst) for validators whose config names none; the portal's
#: setting of the same name (``manage.py run_validator`` gets it through the Django app).
BLS_BACKEND_ENV = "LEDGER_BLS_BACKEND"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ledger.node")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        crypto.configure(os.environ.get(BLS_BACKEND_ENV, "") or "auto")
        run_validator(args.config)
    except (ConfigError, crypto.BLSError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
