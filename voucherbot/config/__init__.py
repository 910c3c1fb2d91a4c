"""rules.toml -> typed, validated settings (:func:`load_config` -> :class:`Config`).

:mod:`~voucherbot.config.settings` holds every settings dataclass (plain values, no I/O: the
pure planner reads them there). :mod:`~voucherbot.config.load` parses the file table by table
over the one TOML table reader in :mod:`~voucherbot.config.tables`;
:mod:`~voucherbot.config.rules` reads ``[defaults]`` and ``[[rule]]``,
:mod:`~voucherbot.config.shop` ``[shop]`` and :mod:`~voucherbot.config.notify` ``[notify]``.
Durations are read by :mod:`~voucherbot.config.durations`; the ledger's place is found by
:mod:`~voucherbot.config.paths`.
"""

from voucherbot.config.durations import MAX_DURATION, parse_duration
from voucherbot.config.load import DEFAULT_RULES_FILE, MAX_RULES_BYTES, load_config, parse_config
from voucherbot.config.paths import (
    DEFAULT_LEDGER_NAME,
    check_ledger_folder,
    default_ledger_path,
    ledger_path,
)
from voucherbot.config.settings import (
    CONFIRM_ABOVE,
    DEFAULT_ACTIVE_STATUSES,
    DEFAULT_INACTIVE_STATUSES,
    MAX_CODES,
    Config,
    Match,
    Rule,
    RuleSettings,
)
from voucherbot.config.tables import MAX_NUMBER

__all__ = [
    "CONFIRM_ABOVE",
    "DEFAULT_ACTIVE_STATUSES",
    "DEFAULT_INACTIVE_STATUSES",
    "DEFAULT_LEDGER_NAME",
    "DEFAULT_RULES_FILE",
    "MAX_CODES",
    "MAX_DURATION",
    "MAX_NUMBER",
    "MAX_RULES_BYTES",
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
