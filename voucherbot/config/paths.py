"""The ledger's place: ``--ledger``, ``VOUCHERBOT_LEDGER``, ``[ledger] path`` or beside the
rules file, and whether voucherbot may write there."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from voucherbot.config.settings import Config
from voucherbot.errors import ConfigError

DEFAULT_LEDGER_NAME = "voucherbot.sqlite"


def default_ledger_path(rules_path: Path | None) -> Path:
    """Beside the rules file (or in the current directory)."""
    folder = rules_path.parent if rules_path is not None else Path(".")
    return folder / DEFAULT_LEDGER_NAME


def ledger_path(
    config: Config, option: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """``--ledger``, else ``VOUCHERBOT_LEDGER``, else ``[ledger] path``, else beside the rules."""
    env = os.environ if env is None else env
    if option is not None:
        return option
    if config.store and config.ledger_path is not None:
        return config.ledger_path  # a [[store]]'s own (chosen_stores refuses a shared one)
    if env.get("VOUCHERBOT_LEDGER"):
        return Path(env["VOUCHERBOT_LEDGER"]).expanduser()
    return config.ledger_path or default_ledger_path(config.path)


def check_ledger_folder(path: Path) -> None:
    """Refuse a ledger path whose folder is missing or not writable, or a read-only ledger
    (opening the ledger asks this, and so does ``config check``)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: the ledger's folder does not exist; create it, or point [ledger] path "
            "(or --ledger, VOUCHERBOT_LEDGER) at the ledger you use. A ledger is never started "
            "afresh in a new folder: an empty one would forget every code issued"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(
            f"{path}: the ledger is read-only; voucherbot must be able to write it "
            "(check its owner and mode)"
        )
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{folder}: cannot write in the ledger's folder (SQLite needs it for "
            "its journal); choose another --ledger path"
        )
