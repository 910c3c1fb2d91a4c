"""What the commands open from their options: the rules, the ledger, the polling settings;
and the checks a run makes before its first API call, for `config check` and the dry runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voucherbot.config import Config
    from voucherbot.config.settings import PollSettings


def rules_config(rules_path: Path | None, builtin: bool = False) -> Config:
    """Load the rules file (it must exist), or the built-in defaults when asked for."""
    from voucherbot.config import DEFAULT_RULES_FILE, Config, load_config
    from voucherbot.errors import ConfigError

    if builtin:
        if rules_path is not None:
            raise ConfigError(
                "give either --rules FILE (or VOUCHERBOT_RULES) or --defaults, not both"
            )
        return Config()
    return load_config(rules_path or Path(DEFAULT_RULES_FILE), required=True)


@contextmanager
def open_ledger(config: Config, option: Path | None, *, readonly: bool = False) -> Iterator[Any]:
    """The ledger, opened for the block; read-only gives None when there is none yet."""
    from voucherbot.config import ledger_path
    from voucherbot.ledger import Ledger

    path = ledger_path(config, option)
    if readonly and not path.exists():
        yield None
        return
    ledger = Ledger.open(path, readonly=readonly)
    try:
        yield ledger
    finally:
        ledger.close()


def no_ledger(config: Config, option: Path | None) -> Exception:
    """The error for a command that reads a ledger there is not yet."""
    from voucherbot.config import ledger_path
    from voucherbot.errors import ConfigError

    return ConfigError(
        f"{ledger_path(config, option)}: no ledger yet (the first 'voucherbot "
        "run' or 'voucherbot refill' creates it); or pass --ledger FILE"
    )


def poll_settings(config: Config, interval: float | None, timeout: float | None) -> PollSettings:
    """The rules' polling, with --poll-interval and --timeout laid over it."""
    from dataclasses import replace

    poll = config.poll
    if interval is not None:
        poll = replace(poll, interval=interval, max_interval=max(poll.max_interval, interval))
    if timeout is not None:
        poll = replace(poll, timeout=timeout)
    return poll


def preflight(config: Config, ledger_file: Path | None) -> None:
    """Refuse now what a run would refuse before its first API call, for `config check` and
    the dry runs: a webhook sink without its secret, a ledger that could not be opened or
    created, a ledger's private folder that is not a folder."""
    import tempfile

    from voucherbot.config import check_ledger_folder, ledger_path
    from voucherbot.config.shop import webhook_secret
    from voucherbot.errors import ConfigError

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
