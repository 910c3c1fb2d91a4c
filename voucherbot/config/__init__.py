"""rules.toml -> typed, validated settings (:func:`load_config` -> :class:`Config`).

:mod:`~voucherbot.config.settings` holds every settings dataclass (plain values, no I/O: the
pure planner reads them there). :mod:`~voucherbot.config.load` parses the file table by table
over the one TOML table reader in :mod:`~voucherbot.config.tables`;
:mod:`~voucherbot.config.rules` reads ``[defaults]`` and ``[[rule]]``,
:mod:`~voucherbot.config.shop` ``[shop]`` and :mod:`~voucherbot.config.notify` ``[notify]``.
Durations are read by :mod:`~voucherbot.config.durations`; the ledger's place is found by
:mod:`~voucherbot.config.paths`.
"""

from voucherbot.config.durations import parse_duration
from voucherbot.config.load import DEFAULT_RULES_FILE, load_config, parse_config
from voucherbot.config.paths import (
    DEFAULT_LEDGER_NAME,
    check_ledger_folder,
    default_ledger_path,
    ledger_path,
)
from voucherbot.config.settings import Config, Match, Rule, RuleSettings

__all__ = [
    "DEFAULT_LEDGER_NAME",
    "DEFAULT_RULES_FILE",
    "Config",
    "Match",
    "Rule",
    "RuleSettings",
    "check_ledger_folder",
    "default_ledger_path",
    "ledger_path",
    "load_config",
    "parse_config",
    "parse_duration",
]
