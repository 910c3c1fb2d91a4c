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
from voucherbot.errors import EXIT_FAILED, ConfigError

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
    import time

    from voucherbot.app import make_client
    from voucherbot.app import report as account_report
    from voucherbot.report.formats import render

    started = time.monotonic()
    config = rules_config(rules_path, builtin_rules)
    if output is not None:
        _check_writable(output)  # before any API call, not after them all
    to = _recipients(config, emails, no_email)  # checked before any API call too
    password = ""
    if to:
        from voucherbot.app.mailing import smtp_password

        password = smtp_password(config.smtp, os.environ)
    digest = config.report.notify if notify is None else notify
    if digest and not config.notify.url:
        raise ConfigError("--notify needs [notify] url (or url_env): the webhook to post to")
    with open_ledger(config, ledger_file, readonly=True) as ledger, make_client(config) as client:
        built, the_plan = account_report(client, config, ledger)
        cost = stats_line(client, started)
    if stats:
        click.echo(cost, err=True)
    if fmt == "csv":  # the only format without a place for warnings
        warn(the_plan.warnings)
    _write(render(built, fmt, width=width() if output is None else 100), fmt, output)
    if to:
        from voucherbot.app.mailing import send_report

        send_report(built, config.smtp, to, password)
        echo(f"Mailed the report to {', '.join(to)}", err=True)
    if digest:
        from voucherbot.report.notify import attention_message, post

        if not post(config.notify, attention_message(built), "the report is unchanged"):
            sys.exit(EXIT_FAILED)
    exit_if_held(the_plan)


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


def _check_writable(output: Path) -> None:
    """Refuse an output file whose folder is missing or not writable, or that is a folder."""
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
