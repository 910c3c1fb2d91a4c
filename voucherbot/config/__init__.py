"""rules.toml -> typed, validated settings (:func:`load_config` -> :class:`Config`).

:mod:`~voucherbot.config.rules` parses the file over the one TOML table reader in
:mod:`~voucherbot.config.tables`; :mod:`~voucherbot.config.shop` holds the ``[shop]`` settings.
"""

from voucherbot.config.rules import (
    DEFAULT_LEDGER_NAME,
    DEFAULT_RULES_FILE,
    Config,
    Match,
    Rule,
    RuleSettings,
    check_ledger_folder,
    default_ledger_path,
    ledger_path,
    load_config,
    parse_config,
    parse_duration,
)

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
