"""What a run would refuse before its first API call, refused by ``config check`` and the dry
runs too: a webhook sink without its secret, a ledger that could not be opened or created, a
ledger's private folder that is not a folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from voucherbot.config import Config, check_ledger_folder, ledger_path
from voucherbot.config.shop import webhook_secret
from voucherbot.errors import ConfigError


def preflight(config: Config, ledger_file: Path | None) -> None:
    """Raise the ConfigError the run would raise before its first API call, if any."""
    for shop in config.shops:
        if shop.source == "generate" and shop.sink.kind == "webhook":
            webhook_secret(shop.sink, os.environ)
    path = ledger_path(config, ledger_file)
    check_ledger_folder(path)
    if not path.exists():  # the run would create it: can it?
        try:
            with tempfile.TemporaryFile(dir=path.parent or "."):
                pass
        except OSError as exc:
            raise ConfigError(
                f"cannot create the ledger {path}: {exc.strerror or exc}; "
                "choose another --ledger path"
            ) from None
    pending = path.with_name(path.name + ".pending")
    if pending.exists() and not pending.is_dir():
        raise ConfigError(
            f"{pending}: cannot make the ledger's private folder for codes on "
            "their way (a file is there); move it away"
        )
