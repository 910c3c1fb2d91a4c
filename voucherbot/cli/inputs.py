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


def chosen_stores(config: Config, name: str | None, ledger_option: Path | None) -> tuple[Any, ...]:
    """The stores a command works on: the one --store names, else every one."""
    _one_ledger_each(config, name, ledger_option)
    if name is not None:
        return (config.store_named(name),)
    return config.each_store()


def one_store(
    config: Config, name: str | None, command: str, ledger_option: Path | None = None
) -> Config:
    """The configuration of the one store a command works on (``refill``, ``resolve``, one
    import): --store, or the only one."""
    from voucherbot.errors import ConfigError

    _one_ledger_each(config, name, ledger_option)
    if name is not None:
        return config.store_named(name).config
    if len(config.stores) > 1:
        names = ", ".join(s.name for s in config.stores)
        raise ConfigError(f"{command} works on one store: add --store NAME (one of {names})")
    return config.each_store()[0].config


def _one_ledger_each(config: Config, name: str | None, ledger_option: Path | None) -> None:
    """With [[store]] each store names its own ledger: VOUCHERBOT_LEDGER (one for all) is
    refused, and --ledger needs --store."""
    import os

    from voucherbot.errors import ConfigError

    if not config.stores:
        return
    if os.environ.get("VOUCHERBOT_LEDGER"):
        raise ConfigError(
            "VOUCHERBOT_LEDGER names one ledger, and each [[store]] has its own (its 'ledger' "
            "key, else voucherbot-NAME.sqlite beside the rules): unset it"
        )
    if ledger_option is not None and name is None:
        raise ConfigError("--ledger names one store's ledger: add --store NAME")


def heading(config: Config, name: str, *, err: bool = False) -> None:
    """The line that starts a store's part of the output (none without [[store]])."""
    from voucherbot.cli.output import echo

    if config.stores:
        echo(f"== store {name}", err=err)


def check_writable(path: Path, option: str) -> None:
    """Refuse a file to write whose folder is missing or not writable, or that is a folder."""
    import os

    from voucherbot.errors import ConfigError

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ConfigError(f"{option} {path}: that is a folder; name a file")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{option} {path}: not writable")


def wait_jitter(most: float, sleep: Any = None) -> float:
    """Sleep a random time between 0 and ``most`` seconds (--jitter); the time slept."""
    import random
    import time

    if most <= 0:
        return 0.0
    delay = random.uniform(0, most)  # noqa: S311 - spreads start times, not security
    (sleep or time.sleep)(delay)
    return delay
