"""`voucherbot run` (the cron job: every set the rules say needs codes) and `voucherbot refill`
(one set, now)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voucherbot.cli.inputs import open_ledger, poll_settings, rules_config
from voucherbot.cli.options import (
    ledger_option,
    poll_options,
    rules_option,
    stats_option,
    yes_option,
)
from voucherbot.cli.output import echo, progress, stats_line, warn
from voucherbot.cli.reports import print_plan
from voucherbot.errors import EXIT_FAILED

if TYPE_CHECKING:
    from voucherbot.config import Config
    from voucherbot.config.settings import PollSettings
    from voucherbot.connectif.client import ConnectifClient
    from voucherbot.refill.results import RunResult

log = logging.getLogger("voucherbot")


@click.command()
@rules_option
@ledger_option
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@poll_options
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print nothing on success (for cron); failures still go to stderr.",
)
@stats_option
@yes_option
def run(
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    dry_run: bool,
    poll_interval: float | None,
    poll_timeout: float | None,
    quiet: bool,
    stats: bool,
    confirmed: bool,
) -> None:
    """Refill every coupon set the rules say needs it (the cron job).

    First finishes whatever an earlier run left open (an import still running, a POST whose
    answer was lost), then reads every coupon set, workflow and recent import once, plans by
    rules.toml, imports fresh codes into each set that needs them (one import per set) and
    follows all the imports together. Exit status: 0 all refills clean or nothing to do,
    1 a refill failed, 2 configuration error, 3 API key refused, 75 another run is going on.
    """
    config = rules_config(rules_path, builtin_rules)
    poll = poll_settings(config, poll_interval, poll_timeout)
    if dry_run:
        print_plan(config, ledger_file, confirmed, stats=stats)
        return
    result, cost = _run_and_notify(config, ledger_file, poll, quiet=quiet, confirmed=confirmed)
    warn(result.plan.warnings)
    _show_run(result, quiet)
    if stats:
        click.echo(cost, err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


def _run_and_notify(
    config: Config, ledger_file: Path | None, poll: PollSettings, *, quiet: bool, confirmed: bool
) -> tuple[RunResult, str]:
    """The run and its --stats line; the [notify] webhook hears how it ended, a stop included."""
    import time
    from datetime import UTC, datetime

    from voucherbot.app import make_client, notifying
    from voucherbot.app import run as run_job

    started, clock = datetime.now(UTC), time.monotonic()
    with make_client(config) as client, notifying(config, client.base_url, started) as finished:
        with open_ledger(config, ledger_file) as ledger, progress(quiet, "importing") as bar:
            result = run_job(
                client,
                config,
                ledger,
                poll=poll,
                on_progress=bar,
                on_total=bar.expect,
                on_phase=bar.phase,
                confirmed=confirmed,
            )
        finished(result)
        return result, stats_line(client, clock)


def _show_run(result: RunResult, quiet: bool) -> None:
    """What the run did, on stdout; with --quiet only its failures, on stderr."""
    from voucherbot.report.terminal import render_run

    if not quiet:
        echo(render_run(result), nl=False)
    elif not result.ok:  # quiet: only the failures, on stderr
        from voucherbot.cli.logs import json_logging

        if json_logging():
            for failed in result.failed:
                log.error(failed.summary())
        else:
            echo(render_run(result), nl=False, err=True)


@click.command()
@click.argument("set_id")
@click.option("--count", type=int, help="Import exactly N new codes.")
@click.option("--to", "to", type=int, help="Import enough codes to bring 'available' up to N.")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; change nothing.")
@rules_option
@ledger_option
@poll_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@stats_option
@yes_option
def refill(
    set_id: str,
    count: int | None,
    to: int | None,
    dry_run: bool,
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    poll_interval: float | None,
    poll_timeout: float | None,
    quiet: bool,
    stats: bool,
    confirmed: bool,
) -> None:
    """Top up one coupon set now with fresh unique codes.

    The code shape comes from the rule in rules.toml that matches the set. Like `run`, it
    first finishes what an earlier run left open, and refuses a set that still has a refill
    in flight. More than [limits] confirm_above codes need --yes. Exit status: 0 when the
    import finished with no error rows, 1 when it failed or some rows were rejected, 2 for
    bad arguments, 3 when the API key is refused, 75 when another run holds the lock.
    """
    import time

    from voucherbot.app import make_client, preflight, refill_set

    started = time.monotonic()
    config = rules_config(rules_path, builtin_rules)
    poll = poll_settings(config, poll_interval, poll_timeout)
    if count is not None:  # refused before the ledger is even opened
        config.check_count(count, f"refill of {set_id}", confirmed=confirmed)
    if dry_run:
        preflight(config, ledger_file)
    with make_client(config) as client:
        if dry_run:
            result = refill_set(
                client, set_id, count=count, to=to, config=config, dry_run=True, confirmed=confirmed
            )
        else:
            result = _refill_now(
                client,
                config,
                ledger_file,
                set_id,
                count=count,
                to=to,
                poll=poll,
                quiet=quiet,
                confirmed=confirmed,
            )
        cost = stats_line(client, started)
    warn(client.warnings)  # answers the server described badly (no plan shows them)
    for line in result.all:
        echo(("earlier batch: " if line.resumed else "") + line.summary())
    if stats:
        click.echo(cost, err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


def _refill_now(
    client: ConnectifClient,
    config: Config,
    ledger_file: Path | None,
    set_id: str,
    *,
    count: int | None,
    to: int | None,
    poll: PollSettings,
    quiet: bool,
    confirmed: bool,
) -> RunResult:
    """The refill of one set, in the ledger, its import followed with a progress bar."""
    from voucherbot.app import refill_set

    with (
        open_ledger(config, ledger_file) as ledger,
        progress(quiet, f"import into {set_id}") as bar,
    ):
        return refill_set(
            client,
            set_id,
            count=count,
            to=to,
            config=config,
            ledger=ledger,
            poll=poll,
            on_progress=bar,
            on_total=bar.expect,
            on_phase=bar.phase,
            confirmed=confirmed,
        )
