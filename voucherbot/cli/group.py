"""The voucherbot command line: the group, its global options, and the one place errors
become ``Error: ...`` lines and exit codes.

Each command lives in the module of its family and is attached here:

* :mod:`~voucherbot.cli.refills`: ``run`` (the cron job) and ``refill`` (one set, now)
* :mod:`~voucherbot.cli.reports`: ``report`` (and the plan table of ``run --dry-run``)
* :mod:`~voucherbot.cli.ledger`: ``history``, ``imports`` and ``resolve``
* :mod:`~voucherbot.cli.codes`: ``codes generate|check|info``, offline
* :mod:`~voucherbot.cli.config`: ``config check``
* :mod:`~voucherbot.cli.sandbox`: ``sandbox`` and ``demo``

They share :mod:`~voucherbot.cli.options` (option decorators, parameter types),
:mod:`~voucherbot.cli.inputs` (rules, ledger and polling from the options) and
:mod:`~voucherbot.cli.output` (cleaned and redacted text, warnings, the progress bar).

Each command parses options, calls a library function and prints the result; data goes to
stdout, progress and errors to stderr. Expected failures (:class:`VoucherbotError`) become one
``Error: ...`` line and the error's exit code. Set ``VOUCHERBOT_RAISE_ERRORS=1`` to see the
traceback of an unexpected exception instead of its one-line summary.

Heavy modules (requests, faker, werkzeug) are imported inside the commands that need them, so
``voucherbot --help`` and ``voucherbot config check`` start fast.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, NoReturn

import click

from voucherbot import __version__
from voucherbot.cli.codes import codes
from voucherbot.cli.config import config
from voucherbot.cli.ledger import history, imports, resolve
from voucherbot.cli.refills import refill, run
from voucherbot.cli.reports import report
from voucherbot.cli.sandbox import demo, sandbox
from voucherbot.errors import EXIT_FAILED, VoucherbotError, redact

log = logging.getLogger("voucherbot")


def _fail(message: str, code: int) -> NoReturn:
    from voucherbot.cli.logs import json_logging
    from voucherbot.text import clean

    text = clean(redact(message, os.environ.get("CONNECTIF_API_KEY")))
    if json_logging():
        log.error(text, extra={"exit_code": code})
    else:
        click.echo(f"Error: {text}", err=True)
    sys.exit(code)


def _usage_fail(exc: click.UsageError) -> NoReturn:
    """A usage error on one line too, naming the command whose --help to read."""
    where = exc.ctx.command_path if exc.ctx is not None else "voucherbot"
    _fail(f"{exc.format_message()} (see '{where} --help')", exc.exit_code)


class VoucherbotGroup(click.Group):
    """Translates voucherbot errors once, for every command."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:  # a bad option before the command
            _usage_fail(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VoucherbotError as exc:
            _fail(str(exc), exc.exit_code)
        except click.UsageError as exc:
            _usage_fail(exc)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:
            if os.environ.get("VOUCHERBOT_RAISE_ERRORS"):
                raise
            _fail(
                f"unexpected {type(exc).__name__}: {exc} "
                "(set VOUCHERBOT_RAISE_ERRORS=1 to see the traceback)",
                EXIT_FAILED,
            )


@click.group(cls=VoucherbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="voucherbot")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="VOUCHERBOT_LOG_FORMAT",
    show_envvar=True,
    show_default=True,
    help="Log lines on stderr as text, or one JSON object per line.",
)
def cli(verbose: int, log_format: str) -> None:
    """Keep Connectif coupon sets full: plan refills, generate codes, import them.

    Set CONNECTIF_API_KEY (and CONNECTIF_BASE_URL for a sandbox) in the environment; the rules
    come from ./rules.toml or VOUCHERBOT_RULES.
    """
    from voucherbot.cli.logs import configure

    configure(verbose, log_format)


for command in (run, report, config, refill, resolve, history, imports, codes, sandbox, demo):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="voucherbot")
