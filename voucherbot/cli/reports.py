"""`voucherbot report`: every coupon set and what the bot would do; and the plan table of
`run --dry-run`. Neither changes anything."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voucherbot.cli.inputs import open_ledger, rules_config
from voucherbot.cli.options import ledger_option, rules_option, stats_option
from voucherbot.cli.output import echo, stats_line, warn, width
from voucherbot.errors import EXIT_FAILED

if TYPE_CHECKING:
    from voucherbot.config import Config
    from voucherbot.planning.planner import Plan


@click.command()
@rules_option
@ledger_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "markdown", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of stdout.",
)
@stats_option
def report(
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    fmt: str,
    output: Path | None,
    stats: bool,
) -> None:
    """Show every coupon set and what the bot would do, without changing anything.

    For marketing: name, type, available of quantity, the active workflows that use each set,
    the rule that applies and the decision with its reason; sets that need codes first.
    """
    import time

    from voucherbot.app import make_client
    from voucherbot.app import report as account_report
    from voucherbot.report.formats import render

    started = time.monotonic()
    config = rules_config(rules_path, builtin_rules)
    if output is not None:
        _check_writable(output)  # before any API call, not after them all
    with open_ledger(config, ledger_file, readonly=True) as ledger, make_client(config) as client:
        built, the_plan = account_report(client, config, ledger)
        cost = stats_line(client, started)
    if stats:
        click.echo(cost, err=True)
    if fmt == "csv":  # the only format without a place for warnings
        warn(the_plan.warnings)
    _write(render(built, fmt, width=width() if output is None else 100), fmt, output)
    exit_if_held(the_plan)


def _write(text: str, fmt: str, output: Path | None) -> None:
    """The rendered report to stdout, or to the -o file."""
    from voucherbot.errors import ConfigError

    if output is None:
        echo(text, nl=False, raw=fmt != "table")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {output}: {exc.strerror or exc}") from None
    echo(f"Wrote the {fmt} report to {output}", err=True)


def _check_writable(output: Path) -> None:
    """Refuse an output file whose folder is missing or not writable, or that is a folder."""
    from voucherbot.errors import ConfigError

    folder = output.parent
    if output.is_dir():
        raise ConfigError(f"-o {output}: that is a folder; name a file")
    if not folder.is_dir():
        raise ConfigError(f"-o {output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise ConfigError(f"-o {output}: not writable")


def print_plan(config: Config, ledger_file: Path | None, confirmed: bool, *, stats: bool) -> None:
    """The dry run: the plan as a table (it lists the warnings itself); it refuses what the
    real run would refuse."""
    import time

    from voucherbot.app import make_client, preflight
    from voucherbot.app import report as account_report
    from voucherbot.report.formats import render

    started = time.monotonic()
    preflight(config, ledger_file)
    with open_ledger(config, ledger_file, readonly=True) as ledger, make_client(config) as client:
        built, the_plan = account_report(client, config, ledger, unmatched=False, pools=False)
        cost = stats_line(client, started)
        config.check_count(the_plan.total_codes, "this run's refills", confirmed=confirmed)
    echo(render(built, "table", width=width()), nl=False)
    if stats:
        click.echo(cost, err=True)
    exit_if_held(the_plan)


def exit_if_held(the_plan: Plan) -> None:
    """Exit 1 when a set is held by an unresolved batch: a person must settle it."""
    from voucherbot.planning.planner import Skip

    if any(d.skip is Skip.UNRESOLVED for d in the_plan.decisions):
        sys.exit(EXIT_FAILED)
