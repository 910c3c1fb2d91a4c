"""Options and parameter types that more than one command family shares.

The options of one family only stay beside its commands (the code-shape options in
:mod:`voucherbot.cli.codes`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan (which passes every comparison)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


#: a number of seconds: above 0, at most a week
SECONDS = FiniteRange(min=0, min_open=True, max=7 * 86400)


def rules_option(fn: Any) -> Any:
    """--rules FILE, and --defaults for the built-in rules when there is no file on purpose."""
    fn = click.option(
        "--defaults",
        "builtin_rules",
        is_flag=True,
        help="Use the built-in default rules: no rules file is read.",
    )(fn)
    return click.option(
        "--rules",
        "rules_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="VOUCHERBOT_RULES",
        show_envvar=True,
        help="The rules file [default: ./rules.toml].",
    )(fn)


yes_option = click.option(
    "--yes",
    "confirmed",
    is_flag=True,
    help="Confirm a count above [limits] confirm_above (1,000,000 by default).",
)


ledger_option = click.option(
    "--ledger",
    "ledger_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="VOUCHERBOT_LEDGER",
    show_envvar=True,
    help="The ledger file [default: rules.toml [ledger] path, else voucherbot.sqlite beside "
    "the rules file].",
)


store_option = click.option(
    "--store",
    "store_name",
    metavar="NAME",
    help="Only the [[store]] called NAME [default: every store in the rules].",
)


stats_option = click.option(
    "--stats",
    is_flag=True,
    help="Print the requests made (by kind), 429s met, time waited for "
    "the request budget and wall time, on stderr.",
)


def poll_options(fn: Any) -> Any:
    """--poll-interval and --timeout: how the imports are followed."""
    fn = click.option(
        "--timeout",
        "poll_timeout",
        type=SECONDS,
        help="Give up waiting for imports after this many seconds "
        "[default: rules.toml [polling] timeout, else 1800].",
    )(fn)
    return click.option(
        "--poll-interval",
        type=SECONDS,
        help="Seconds before the first status check; it grows by half each "
        "time [default: rules.toml [polling], else 2].",
    )(fn)
