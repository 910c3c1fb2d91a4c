"""rules.toml -> typed, validated settings (:func:`load_config` -> :class:`Config`).

:mod:`~voucherbot.config.settings` holds every settings dataclass (plain values, no I/O: the
pure planner reads them there); :mod:`~voucherbot.config.rules` parses the file,
:mod:`~voucherbot.config.shop` the ``[shop]`` table.
"""

from voucherbot.config.rules import (
    DEFAULT_LEDGER_NAME,
    DEFAULT_RULES_FILE,
    check_ledger_folder,
    default_ledger_path,
    ledger_path,
    load_config,
    parse_config,
    parse_duration,
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
