"""What was issued and how it ended: `voucherbot history` (the ledger), `voucherbot imports`
(Connectif's imports) and `voucherbot resolve` (settle a batch left unresolved)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import click

from voucherbot.cli.inputs import no_ledger, open_ledger, poll_settings, rules_config
from voucherbot.cli.options import ledger_option, poll_options, rules_option, stats_option
from voucherbot.cli.output import echo, progress, stats_line, warn
from voucherbot.errors import EXIT_FAILED


@click.command()
@click.argument("batch_id", type=click.IntRange(1, 2**63 - 1))
@click.option(
    "--adopt",
    "import_id",
    metavar="IMPORT_ID",
    help="The import in Connectif that is this batch's own: adopt it, follow it.",
)
@click.option(
    "--abandon",
    is_flag=True,
    help="The batch has no import (or none to keep): plan the set afresh.",
)
@rules_option
@ledger_option
@poll_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@stats_option
def resolve(
    batch_id: int,
    import_id: str | None,
    abandon: bool,
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    poll_interval: float | None,
    poll_timeout: float | None,
    quiet: bool,
    stats: bool,
) -> None:
    """Settle a batch left unresolved (its POST's answer was lost and Connectif's list of
    imports could not show what happened): adopt its import, or abandon it.

    Until then the batch's coupon set is held, and every run and report says so (exit 1).
    Look for the import in Connectif first ('voucherbot imports'): one into the set, with the
    batch's row count, created when the batch was sent. Its codes are never issued again
    either way. Exit status: 0 settled (an adopted import finished cleanly), 1 an adopted
    import failed, 2 no such unresolved batch or an import that cannot be the batch's.
    """
    import time

    from voucherbot.app import make_client
    from voucherbot.app import resolve as resolve_batch
    from voucherbot.config import ledger_path

    started = time.monotonic()
    config = rules_config(rules_path, builtin_rules)
    poll = poll_settings(config, poll_interval, poll_timeout)
    if not ledger_path(config, ledger_file).exists():  # a batch to settle is in a ledger
        raise no_ledger(config, ledger_file)
    with (
        make_client(config) as client,
        open_ledger(config, ledger_file) as ledger,
        progress(quiet, f"import {import_id}") as bar,
    ):
        result = resolve_batch(
            client,
            config,
            ledger,
            batch_id,
            adopt=import_id,
            abandon=abandon,
            poll=poll,
            on_progress=bar,
        )
        cost = stats_line(client, started)
    if result.abandoned:
        echo(
            f"{result.coupon_set.name} ({result.coupon_set.id}): batch {batch_id} "
            "abandoned; the next run plans the set afresh"
        )
    else:
        echo(result.summary())
    if stats:
        click.echo(cost, err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


@click.command()
@rules_option
@ledger_option
@click.option("--set", "set_id", metavar="ID", help="Only the batches of this coupon set.")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="How many runs and batches to show.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
def history(
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    set_id: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Show what the ledger says was issued, when, and how it ended (no API calls)."""
    import json

    config = rules_config(rules_path, builtin_rules)
    with open_ledger(config, ledger_file, readonly=True) as ledger:
        if ledger is None:
            raise no_ledger(config, ledger_file)
        runs = [] if set_id else ledger.runs(limit)
        batches = ledger.batches(set_id=set_id, limit=limit)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "version": 1,
                    "runs": [r.as_json() for r in runs],
                    "batches": [b.as_json() for b in batches],
                },
                indent=2,
            )
        )
        return
    from voucherbot.report.history import render_history

    echo(render_history(runs, batches, set_id=set_id), nl=False)


@click.command()
@click.argument("import_id", required=False)
@rules_option
@poll_options
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=20,
    show_default=True,
    help="How many recent imports to list.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar when following.")
@stats_option
def imports(
    import_id: str | None,
    rules_path: Path | None,
    builtin_rules: bool,
    poll_interval: float | None,
    poll_timeout: float | None,
    limit: int,
    quiet: bool,
    stats: bool,
) -> None:
    """List recent imports, or follow one (by id) until it ends.

    Following exits 0 when the import finished with no error rows, 1 otherwise.
    """
    import time

    from voucherbot.app import make_client
    from voucherbot.connectif.poll import poll_imports
    from voucherbot.errors import ConfigError, NotFoundError
    from voucherbot.report.history import render_imports
    from voucherbot.text import valid_id

    started = time.monotonic()
    config = rules_config(rules_path, builtin_rules)
    if import_id is not None and not valid_id(import_id):
        raise ConfigError(f"{import_id[:80]!r} is not a Connectif import id")
    with make_client(config) as client:
        if import_id is None:
            recent = list(itertools.islice(client.iter_imports(), limit))
            warn(client.warnings)
            echo(render_imports(recent), nl=False)
            if stats:
                click.echo(stats_line(client, started), err=True)
            return
        poll = poll_settings(config, poll_interval, poll_timeout)
        try:
            with progress(quiet, f"import {import_id}") as bar:
                final = poll_imports(client, [import_id], settings=poll, on_progress=bar)[import_id]
        except NotFoundError:
            raise ConfigError(
                f"Connectif has no import {import_id!r}; 'voucherbot imports' lists the recent ones"
            ) from None
        cost = stats_line(client, started)
    echo(render_imports([final]), nl=False)
    if stats:
        click.echo(cost, err=True)
    if not final.succeeded_cleanly:
        sys.exit(EXIT_FAILED)
