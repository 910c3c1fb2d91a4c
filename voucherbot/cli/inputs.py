"""What the commands open from their options: the rules, the ledger, the polling settings."""

from __future__ import annotations

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
