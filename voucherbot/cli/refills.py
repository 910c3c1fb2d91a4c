"""`voucherbot run` (the cron job: every set the rules say needs codes) and `voucherbot refill`
(one set, now)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voucherbot.cli.inputs import (
    check_writable,
    chosen_stores,
    heading,
    one_store,
    open_ledger,
    poll_settings,
    rules_config,
    wait_jitter,
)
from voucherbot.cli.options import (
    FiniteRange,
    ledger_option,
    poll_options,
    rules_option,
    stats_option,
    store_option,
    yes_option,
)
from voucherbot.cli.output import echo, progress, stats_line, warn
from voucherbot.cli.reports import print_plan
from voucherbot.errors import EXIT_FAILED, EXIT_LOCKED, LockedError, VoucherbotError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from voucherbot.config import Config
    from voucherbot.config.settings import PollSettings, Store
    from voucherbot.connectif.client import ConnectifClient
    from voucherbot.refill.results import RunResult

log = logging.getLogger("voucherbot")


@click.command()
@rules_option
@ledger_option
@store_option
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@poll_options
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print nothing on success (for cron); failures still go to stderr.",
)
@click.option(
    "--jitter",
    type=FiniteRange(min=0, max=86400),
    default=0,
    metavar="SECONDS",
    help="Wait a random time of up to SECONDS before starting, so that many hosts' cron "
    "jobs do not call at the same moment.",
)
@click.option(
    "--metrics-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the run's figures in the Prometheus text format to this file (for "
    "node_exporter's textfile collector) [default: rules.toml [monitor] metrics_file].",
)
@stats_option
@yes_option
def run(
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    store_name: str | None,
    dry_run: bool,
    poll_interval: float | None,
    poll_timeout: float | None,
    quiet: bool,
    jitter: float,
    metrics_file: Path | None,
    stats: bool,
    confirmed: bool,
) -> None:
    """Refill every coupon set the rules say needs it (the cron job).

    First finishes whatever an earlier run left open (an import still running, a POST whose
    answer was lost), then reads every coupon set, workflow and recent import once, plans by
    rules.toml, imports fresh codes into each set that needs them (one import per set) and
    follows all the imports together. With [[store]] tables it does so for every store at
    once (or the one --store names). Exit status (with several stores, the worst store's):
    0 all refills clean or nothing to do, 1 a refill failed, 2 configuration error, 3 API
    key refused, 75 another run is going on.
    """
    config = rules_config(rules_path, builtin_rules)
    poll = poll_settings(config, poll_interval, poll_timeout)
    stores = chosen_stores(config, store_name, ledger_file)
    if dry_run:
        for store in stores:
            heading(config, store.name)
            print_plan(store.config, ledger_file, confirmed, stats=stats)
        return
    metrics = metrics_file or config.monitor.metrics_file
    if metrics is not None:
        check_writable(metrics, "--metrics-file")  # before the wait and any API call
    wait_jitter(jitter)
    if not config.stores:
        code = _run_one(config, ledger_file, poll, metrics, quiet=quiet, stats=stats,
                        confirmed=confirmed)  # fmt: skip
    else:
        code = _run_stores(config, stores, ledger_file, poll, metrics, quiet=quiet, stats=stats,
                           confirmed=confirmed)  # fmt: skip
    if code:
        sys.exit(code)


def _run_one(
    config: Config,
    ledger_file: Path | None,
    poll: PollSettings,
    metrics: Path | None,
    *,
    quiet: bool,
    stats: bool,
    confirmed: bool,
) -> int:
    """The run of a file without [[store]]: as it always was, with its pings and metrics."""
    from voucherbot.app import describe_stats
    from voucherbot.app.job import ledger_figures, run_job
    from voucherbot.app.monitor import Pinger, write_metrics

    pinger = Pinger(config.monitor)
    try:
        with progress(quiet, "importing") as bar:
            job = run_job(
                config,
                ledger_file,
                poll,
                confirmed=confirmed,
                metrics=metrics is not None,
                on_locked=pinger.start,
                on_progress=bar,
                on_total=bar.expect,
                on_phase=bar.phase,
            )
    except LockedError as exc:
        pinger.note(f"nothing done: {exc}")
        raise
    except VoucherbotError as exc:
        pinger.finish(False, str(exc))
        if metrics is not None:
            write_metrics(metrics, [ledger_figures(config, ledger_file)])
        raise
    except Exception as exc:  # a bug must not leave the health check waiting either
        pinger.finish(False, f"unexpected {type(exc).__name__}: {exc}")
        raise
    warn(job.result.plan.warnings)
    _show_run(job.result, quiet)
    if stats:
        click.echo(describe_stats(job.stats), err=True)
    if metrics is not None and job.figures is not None:
        write_metrics(metrics, [job.figures])
    pinger.finish(job.result.ok, job.result.summary())
    return 0 if job.result.ok else EXIT_FAILED


def _run_stores(
    config: Config,
    stores: Sequence[Store],
    ledger_file: Path | None,
    poll: PollSettings,
    metrics: Path | None,
    *,
    quiet: bool,
    stats: bool,
    confirmed: bool,
) -> int:
    """Every store's run at once, each in its own thread, budget, ledger and lock; then what
    each did, store by store. One ping for them all: /fail if any store failed."""
    from voucherbot.app import describe_stats
    from voucherbot.app.job import Job, ledger_figures, run_job
    from voucherbot.app.monitor import Pinger, write_metrics
    from voucherbot.app.stores import for_each_store, worst_exit

    pinger = Pinger(config.monitor)

    def work(store: Store) -> Job:
        return run_job(
            store.config,
            ledger_file,
            poll,
            confirmed=confirmed,
            metrics=metrics is not None,
            on_locked=pinger.start,
        )

    outcomes = for_each_store(
        stores, work, exit_code=lambda job: 0 if job.result.ok else EXIT_FAILED
    )
    lines: list[str] = []
    for outcome in outcomes:
        job = outcome.value
        if job is None:
            lines.append(f"{outcome.name}: {outcome.error}")
            failed = outcome.exit_code != EXIT_LOCKED
            if failed or not quiet:  # a store another run holds is no failure
                where = "Error" if failed else "Not run"
                echo(f"{where}: store '{outcome.name}': {outcome.error}", err=True)
            continue
        lines.append(f"{outcome.name}: {job.result.summary()}")
        warn([f"store '{outcome.name}': {w}" for w in job.result.plan.warnings])
        if not quiet or not job.result.ok:
            heading(config, outcome.name, err=quiet)
        _show_run(job.result, quiet)
        if stats:
            click.echo(f"store '{outcome.name}': {describe_stats(job.stats)}", err=True)
    code = worst_exit([o.exit_code for o in outcomes])
    if metrics is not None:
        write_metrics(
            metrics,
            [
                o.value.figures
                if o.value is not None and o.value.figures is not None
                else ledger_figures(o.store.config, ledger_file)
                for o in outcomes
                if o.exit_code != EXIT_LOCKED
            ],
        )
    summary = " | ".join(lines)
    if all(o.exit_code == EXIT_LOCKED for o in outcomes):
        pinger.note(f"nothing done: {summary}")
    else:
        pinger.finish(code in (0, EXIT_LOCKED), summary)
    return code


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
@store_option
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
    store_name: str | None,
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
    config = one_store(rules_config(rules_path, builtin_rules), store_name, "refill", ledger_file)
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
