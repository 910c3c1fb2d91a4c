"""What was issued and how it ended: `voucherbot history` (the ledger), `voucherbot imports`
(Connectif's imports) and `voucherbot resolve` (settle a batch left unresolved)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voucherbot.cli.inputs import (
    chosen_stores,
    heading,
    no_ledger,
    one_store,
    open_ledger,
    poll_settings,
    rules_config,
)
from voucherbot.cli.options import (
    ledger_option,
    poll_options,
    rules_option,
    stats_option,
    store_option,
)
from voucherbot.cli.output import echo, progress, stats_line, warn
from voucherbot.errors import EXIT_FAILED

if TYPE_CHECKING:
    from voucherbot.config import Config
    from voucherbot.config.settings import Store


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
@store_option
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
    store_name: str | None,
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
    config = one_store(rules_config(rules_path, builtin_rules), store_name, "resolve", ledger_file)
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
@store_option
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
    store_name: str | None,
    set_id: str | None,
    limit: int,
    fmt: str,
) -> None:
    """Show what the ledger says was issued, when, and how it ended (no API calls). With
    [[store]] tables, every store's ledger in turn (or the one --store names)."""
    import json

    from voucherbot.report.history import render_history

    config = rules_config(rules_path, builtin_rules)
    stores = chosen_stores(config, store_name, ledger_file)
    docs: list[dict[str, Any]] = []
    for store in stores:
        with open_ledger(store.config, ledger_file, readonly=True) as ledger:
            if ledger is None and not config.stores:
                raise no_ledger(config, ledger_file)
            runs = [] if set_id or ledger is None else ledger.runs(limit)
            batches = [] if ledger is None else ledger.batches(set_id=set_id, limit=limit)
        doc = {"runs": [r.as_json() for r in runs], "batches": [b.as_json() for b in batches]}
        if fmt == "table":
            heading(config, store.name)
            if ledger is None:
                echo("No ledger yet: no run has used this store.")
            else:
                echo(render_history(runs, batches, set_id=set_id), nl=False)
        docs.append({"store": store.name, **doc} if config.stores else doc)
    if fmt == "json":
        whole = {"version": 1, "stores": docs} if config.stores else {"version": 1, **docs[0]}
        click.echo(json.dumps(whole, indent=2))


@click.command()
@click.argument("import_id", required=False)
@rules_option
@store_option
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
    store_name: str | None,
    poll_interval: float | None,
    poll_timeout: float | None,
    limit: int,
    quiet: bool,
    stats: bool,
) -> None:
    """List recent imports (of every [[store]], or the one --store names), or follow one
    (by id, in one store) until it ends.

    Following exits 0 when the import finished with no error rows, 1 otherwise.
    """
    import time

    from voucherbot.app import make_client
    from voucherbot.connectif.poll import poll_imports
    from voucherbot.errors import ConfigError, NotFoundError
    from voucherbot.report.history import render_imports
    from voucherbot.text import valid_id

    started = time.monotonic()
    whole = rules_config(rules_path, builtin_rules)
    if import_id is None:
        _list_imports(whole, store_name, limit, stats=stats)
        return
    if not valid_id(import_id):
        raise ConfigError(f"{import_id[:80]!r} is not a Connectif import id")
    config = one_store(whole, store_name, "following an import")
    with make_client(config) as client:
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


def _list_imports(config: Config, store_name: str | None, limit: int, *, stats: bool) -> None:
    """The recent imports of each store, store by store; a store that cannot be read says
    so and the others are still listed (exit status: the worst store's)."""
    import time

    from voucherbot.app import make_client
    from voucherbot.app.stores import for_each_store, worst_exit
    from voucherbot.report.history import render_imports

    def recent(store: Store) -> tuple[str, list[str], str]:
        started = time.monotonic()
        with make_client(store.config) as client:
            found = list(itertools.islice(client.iter_imports(), limit))
            return render_imports(found), list(client.warnings), stats_line(client, started)

    def show(text: str, warnings: list[str], cost: str) -> None:
        warn(warnings)
        echo(text, nl=False)
        if stats:
            click.echo(cost, err=True)

    stores = chosen_stores(config, store_name, None)
    if not config.stores:  # one store: its error is the command's
        show(*recent(stores[0]))
        return
    outcomes = for_each_store(stores, recent, exit_code=lambda _: 0)
    for outcome in outcomes:
        heading(config, outcome.name)
        if outcome.value is None:
            echo(f"Error: store '{outcome.name}': {outcome.error}", err=True)
        else:
            show(*outcome.value)
    code = worst_exit([o.exit_code for o in outcomes])
    if code:
        sys.exit(code)
