"""`voucherbot report`: every coupon set and what the bot would do; and the plan table of
`run --dry-run`. Neither changes anything."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from voucherbot.cli.inputs import check_writable, chosen_stores, open_ledger, rules_config
from voucherbot.cli.options import ledger_option, rules_option, stats_option, store_option
from voucherbot.cli.output import echo, stats_line, warn, width
from voucherbot.errors import EXIT_FAILED, ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from voucherbot.config import Config
    from voucherbot.config.settings import Store
    from voucherbot.planning.planner import Plan
    from voucherbot.report.model import Report


@click.command()
@rules_option
@ledger_option
@store_option
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
@click.option(
    "--email",
    "emails",
    metavar="TO",
    multiple=True,
    help="Also mail the report (HTML, with a plain-text part) to TO, through [smtp]; "
    "repeat for more. Default: [report] email.",
)
@click.option("--no-email", is_flag=True, help="Do not mail the report, whatever [report] says.")
@click.option(
    "--notify/--no-notify",
    default=None,
    help="Also post what needs a person to the [notify] webhook. Default: [report] notify.",
)
@stats_option
def report(
    rules_path: Path | None,
    builtin_rules: bool,
    ledger_file: Path | None,
    store_name: str | None,
    fmt: str,
    output: Path | None,
    emails: tuple[str, ...],
    no_email: bool,
    notify: bool | None,
    stats: bool,
) -> None:
    """Show every coupon set and what the bot would do, without changing anything.

    For marketing: what needs a person first (sets running dry that will not be refilled,
    refills that keep failing), the refills the bot will make, then every set: name, type,
    available of quantity, the active workflows that use it, the rule that applies and the
    decision with its reason. With [report] email (or --email) it is also mailed.
    """
    from voucherbot.app import make_client
    from voucherbot.app import report as account_report
    from voucherbot.report.formats import render

    started = time.monotonic()
    config = rules_config(rules_path, builtin_rules)
    if output is not None:
        check_writable(output, "-o")  # before any API call, not after them all
    to = _recipients(config, emails, no_email)  # checked before any API call too
    password = ""
    if to:
        from voucherbot.app.mailing import smtp_password

        password = smtp_password(config.smtp, os.environ)
    digest = config.report.notify if notify is None else notify
    if digest and not config.notify.url:
        raise ConfigError("--notify needs [notify] url (or url_env): the webhook to post to")
    stores = chosen_stores(config, store_name, ledger_file)
    if config.stores:
        built, code = _report_stores(config, stores, ledger_file, fmt, output, stats=stats)
    else:
        with (
            open_ledger(config, ledger_file, readonly=True) as ledger,
            make_client(config) as client,
        ):
            built, the_plan = account_report(client, config, ledger)
            cost = stats_line(client, started)
        if stats:
            click.echo(cost, err=True)
        if fmt == "csv":  # the only format without a place for warnings
            warn(the_plan.warnings)
        _write(render(built, fmt, width=width() if output is None else 100), fmt, output)
        code = EXIT_FAILED if held(the_plan) else 0
    if to and built is not None:
        from voucherbot.app.mailing import send_report

        send_report(built, config.smtp, to, password)
        echo(f"Mailed the report to {', '.join(to)}", err=True)
    if digest and built is not None:
        from voucherbot.report.notify import attention_message, post

        if not post(config.notify, attention_message(built), "the report is unchanged"):
            code = code or EXIT_FAILED
    if code:
        sys.exit(code)


def _report_stores(
    config: Config,
    stores: Sequence[Store],
    ledger_file: Path | None,
    fmt: str,
    output: Path | None,
    *,
    stats: bool,
) -> tuple[Report | None, int]:
    """Every store's report, read at once; written as one (a section per store, a total).
    The combined report (to mail; None when no store could be read) and the worst exit."""
    from voucherbot.app import report as account_report
    from voucherbot.app.stores import for_each_store, worst_exit
    from voucherbot.report.stores import StoreSection, combined, render_stores

    def one(store: Store) -> tuple[Report, Plan, str]:
        from voucherbot.app import make_client

        started = time.monotonic()
        with (
            open_ledger(store.config, ledger_file, readonly=True) as ledger,
            make_client(store.config) as client,
        ):
            built, the_plan = account_report(client, store.config, ledger)
            return built, the_plan, stats_line(client, started)

    outcomes = for_each_store(
        stores, one, exit_code=lambda value: EXIT_FAILED if held(value[1]) else 0
    )
    sections = []
    for o in outcomes:
        if o.value is None:
            echo(f"Error: store '{o.name}': {o.error}", err=True)
            sections.append(StoreSection(o.name, None, o.error))
            continue
        built, the_plan, cost = o.value
        if stats:
            click.echo(f"store '{o.name}': {cost}", err=True)
        if fmt == "csv":
            warn([f"store '{o.name}': {w}" for w in the_plan.warnings])
        sections.append(StoreSection(o.name, built))
    code = worst_exit([o.exit_code for o in outcomes])
    if all(s.report is None for s in sections):
        return None, code
    _write(render_stores(sections, fmt, width=width() if output is None else 100), fmt, output)
    return combined(sections), code


def _recipients(config: Config, emails: tuple[str, ...], no_email: bool) -> tuple[str, ...]:
    """Who gets the report by mail: --email, else [report] email; none with --no-email."""
    from voucherbot.config.mail import address

    if no_email and emails:
        raise ConfigError("give --email or --no-email, not both")
    if no_email:
        return ()
    to = tuple(address(e, "--email") for e in emails) or config.report.email
    if to and config.smtp.host is None:
        raise ConfigError("--email needs [smtp] in the rules (host and from): the mail server")
    return to


def _write(text: str, fmt: str, output: Path | None) -> None:
    """The rendered report to stdout, or to the -o file."""
    if output is None:
        echo(text, nl=False, raw=fmt != "table")
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {output}: {exc.strerror or exc}") from None
    echo(f"Wrote the {fmt} report to {output}", err=True)


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
    if held(the_plan):
        sys.exit(EXIT_FAILED)


def held(the_plan: Plan) -> bool:
    """Whether a set is held by an unresolved batch (exit 1: a person must settle it)."""
    from voucherbot.planning.planner import Skip

    return any(d.skip is Skip.UNRESOLVED for d in the_plan.decisions)
