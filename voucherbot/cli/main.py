"""The voucherbot command line: the only module that imports click.

Each command parses options, calls a library function and prints the result; data goes to
stdout, progress and errors to stderr. Expected failures (:class:`VoucherbotError`) become one
``Error: ...`` line and the error's exit code. Set ``VOUCHERBOT_RAISE_ERRORS=1`` to see the
traceback of an unexpected exception instead of its one-line summary.

Heavy modules (requests, faker, werkzeug) are imported inside the commands that need them, so
``voucherbot --help`` and ``voucherbot config check`` start fast.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from voucherbot import __version__
from voucherbot.errors import EXIT_FAILED, VoucherbotError, redact

if TYPE_CHECKING:
    from voucherbot.config import Config
    from voucherbot.config.settings import PollSettings
    from voucherbot.connectif.models import Import

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


# --- shared options and helpers ----------------------------------------------------------------


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


@contextmanager
def _ledger(config: Config, option: Path | None, *, readonly: bool = False) -> Iterator[Any]:
    """The ledger, opened for the block; read-only gives None when there is none yet."""
    from voucherbot.config import ledger_path
    from voucherbot.ledger import Ledger

    path = ledger_path(config, option)
    if readonly and not path.exists():
        yield None
        return
    ledger = Ledger.open(path, readonly=readonly)
    try:
        yield ledger
    finally:
        ledger.close()


def _no_ledger(config: Config, option: Path | None) -> Exception:
    from voucherbot.config import ledger_path
    from voucherbot.errors import ConfigError

    return ConfigError(
        f"{ledger_path(config, option)}: no ledger yet (the first 'voucherbot "
        "run' or 'voucherbot refill' creates it); or pass --ledger FILE"
    )


def _config(rules_path: Path | None, builtin: bool = False) -> Config:
    """Load the rules file (it must exist), or the built-in defaults when asked for."""
    from voucherbot.config import DEFAULT_RULES_FILE, Config, load_config
    from voucherbot.errors import ConfigError

    if builtin:
        if rules_path is not None:
            raise ConfigError(
                "give either --rules FILE (or VOUCHERBOT_RULES) or --defaults, not both"
            )
        return Config()
    return load_config(rules_path or Path(DEFAULT_RULES_FILE), required=True)


def _poll(config: Config, interval: float | None, timeout: float | None) -> PollSettings:
    from dataclasses import replace

    poll = config.poll
    if interval is not None:
        poll = replace(poll, interval=interval, max_interval=max(poll.max_interval, interval))
    if timeout is not None:
        poll = replace(poll, timeout=timeout)
    return poll


stats_option = click.option(
    "--stats",
    is_flag=True,
    help="Print the requests made (by kind), 429s met, time waited for "
    "the request budget and wall time, on stderr.",
)


def _stats_line(client: Any, started: float) -> str:
    import time

    from voucherbot.app import describe_stats, request_stats

    return describe_stats(request_stats(client, time.monotonic() - started))


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan (which passes every comparison)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


#: a number of seconds: above 0, at most a week
SECONDS = FiniteRange(min=0, min_open=True, max=7 * 86400)


def poll_options(fn: Any) -> Any:
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


class _ImportProgress:
    """One progress bar on stderr for any number of imports; silent when off. Its end is
    the codes :meth:`expect` announced (the whole run's), else those of the imports seen."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.total = 0
        self._bar: Any = None
        self._seen: dict[str, tuple[int, int]] = {}
        self._shown = 0

    def expect(self, codes: int) -> None:
        """More imports, of ``codes`` codes in all, are about to be followed."""
        self.total += codes
        if self._bar is not None:
            self._bar.length = max(self._bar.length, self.total)

    def __call__(self, imp: Import) -> None:
        if not self.enabled:
            return
        self._seen[imp.id] = (imp.processed, imp.total or 0)
        total = max(self.total, sum(t for _, t in self._seen.values()))
        if not total:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_percent=True, show_pos=True
            )
            self._bar.__enter__()
        self._bar.length = max(self._bar.length, total)
        done = min(sum(min(p, t) for p, t in self._seen.values()), total)
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done

    def phase(self, text: str) -> None:
        """Say what a long refill is doing before its import shows progress."""
        if self.enabled:
            if self._bar is not None:
                click.echo("", err=True)
            _echo(text, err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextmanager
def _progress(quiet: bool, label: str) -> Iterator[_ImportProgress]:
    bar = _ImportProgress(not quiet and sys.stderr.isatty(), label)
    try:
        yield bar
    finally:
        bar.close()


def _width() -> int:
    """The terminal's width for tables on a terminal, else 100 columns."""
    import shutil

    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100


def _warn(lines: Any) -> None:
    for line in lines:
        _echo(f"Warning: {line}", err=True)


def _echo(text: str, *, err: bool = False, nl: bool = True, raw: bool = False) -> None:
    """Print text for people: every line cleaned of control characters (outside text may
    hold terminal escapes). ``raw`` (a data format: CSV, JSON, HTML, Markdown) is cleaned
    only when it goes to a terminal."""
    from voucherbot.text import clean_lines

    stream = sys.stderr if err else sys.stdout
    text = redact(text, os.environ.get("CONNECTIF_API_KEY"))  # a second line of defence
    if not raw or stream is None or stream.isatty():
        text = clean_lines(text)
    click.echo(text, err=err, nl=nl)


# --- the cron job, the report, the config check ----------------------------------------------


@cli.command()
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
    import time
    from datetime import UTC, datetime

    from voucherbot.app import make_client, notify, run_notice
    from voucherbot.app import run as run_job
    from voucherbot.errors import LockedError
    from voucherbot.report.terminal import render_run

    config = _config(rules_path, builtin_rules)
    poll = _poll(config, poll_interval, poll_timeout)
    if dry_run:
        _print_plan(config, ledger_file, confirmed)
        return
    started, clock = datetime.now(UTC), time.monotonic()
    with make_client(config) as client:
        try:
            with _ledger(config, ledger_file) as ledger, _progress(quiet, "importing") as bar:
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
        except LockedError:
            raise  # another run is at work: nothing has failed
        except VoucherbotError as exc:  # a run that stopped must not stop silently
            notify(config, run_notice(None, client.base_url, started, error=str(exc)))
            raise
        except Exception as exc:  # nor one that met a bug
            notify(
                config,
                run_notice(
                    None, client.base_url, started, error=f"unexpected {type(exc).__name__}: {exc}"
                ),
            )
            raise
        notify(config, run_notice(result, client.base_url, started))
        cost = _stats_line(client, clock)
    _warn(result.plan.warnings)
    if not quiet:
        _echo(render_run(result), nl=False)
    elif not result.ok:  # quiet: only the failures, on stderr
        from voucherbot.cli.logs import json_logging

        if json_logging():
            for failed in result.failed:
                log.error(failed.summary())
        else:
            _echo(render_run(result), nl=False, err=True)
    if stats:
        click.echo(cost, err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


def _print_plan(config: Config, ledger_file: Path | None, confirmed: bool) -> None:
    """The dry run: the plan as a table (it lists the warnings itself); it refuses what the
    real run would refuse."""
    from voucherbot.app import make_client, make_plan
    from voucherbot.report.formats import render
    from voucherbot.report.model import build_report

    _preflight(config, ledger_file)
    with _ledger(config, ledger_file, readonly=True) as ledger, make_client(config) as client:
        the_plan, state = make_plan(client, config, ledger)
        config.check_count(the_plan.total_codes, "this run's refills", confirmed=confirmed)
        report = build_report(
            the_plan,
            state.workflows,
            generated_at=state.read_at,
            source=client.base_url,
            history=state.history,
        )
    _echo(render(report, "table", width=_width()), nl=False)
    _exit_if_held(the_plan)


def _exit_if_held(the_plan: Any) -> None:
    """Exit 1 when a set is held by an unresolved batch: a person must settle it."""
    from voucherbot.planning.planner import Skip

    if any(d.skip is Skip.UNRESOLVED for d in the_plan.decisions):
        sys.exit(EXIT_FAILED)


@cli.command()
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
    from dataclasses import replace

    from voucherbot.app import make_client, make_plan
    from voucherbot.errors import ConfigError
    from voucherbot.planning.planner import unmatched_rules
    from voucherbot.refill.queue import pools_left
    from voucherbot.report.formats import render
    from voucherbot.report.model import build_report

    started = time.monotonic()
    config = _config(rules_path, builtin_rules)
    if output is not None:
        _check_writable(output)  # before any API call, not after them all
    with _ledger(config, ledger_file, readonly=True) as ledger, make_client(config) as client:
        the_plan, state = make_plan(client, config, ledger)
        the_plan = replace(
            the_plan, warnings=(*the_plan.warnings, *unmatched_rules(config, state.coupon_sets))
        )
        source = client.base_url
        pools = pools_left(
            the_plan.decisions, ledger.issued if ledger is not None else lambda codes: set()
        )
        cost = _stats_line(client, started)
    if stats:
        click.echo(cost, err=True)
    if fmt == "csv":  # the only format without a place for warnings
        _warn(the_plan.warnings)
    report = build_report(
        the_plan,
        state.workflows,
        generated_at=state.read_at,
        source=source,
        history=state.history,
        pool_remaining=pools,
    )
    text = render(report, fmt, width=_width() if output is None else 100)
    if output is None:
        _echo(text, nl=False, raw=fmt != "table")
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write the report to {output}: {exc.strerror or exc}"
            ) from None
        _echo(f"Wrote the {fmt} report to {output}", err=True)
    _exit_if_held(the_plan)


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


@cli.group()
def config() -> None:
    """Check the rules file."""


@config.command("check")
@rules_option
def config_check(rules_path: Path | None, builtin_rules: bool) -> None:
    """Validate rules.toml without calling the API (exit 2 on the first problem).

    It refuses what `run` would refuse before its first API call: the shop sinks' settings
    (a webhook's secret must be in the environment) and the ledger's place included."""
    cfg = _config(rules_path, builtin_rules)
    _preflight(cfg, None)
    click.echo(
        f"{cfg.path or 'the built-in rules'}: OK: {len(cfg.rules)} rule(s); defaults: "
        f"{_describe_settings(cfg.defaults)}"
    )
    for rule in cfg.rules:
        click.echo(f"  {rule.label}: {rule.match.describe()}: {_describe_settings(rule.settings)}")


def _preflight(config: Config, ledger_file: Path | None) -> None:
    """Refuse now what a run would refuse before its first API call, for `config check` and
    the dry runs: a webhook sink without its secret, a ledger that could not be opened or
    created, a ledger's private folder that is not a folder."""
    import tempfile

    from voucherbot.config import check_ledger_folder, ledger_path
    from voucherbot.config.shop import webhook_secret
    from voucherbot.errors import ConfigError

    for shop in config.shops:
        if shop.source == "generate" and shop.sink.kind == "webhook":
            webhook_secret(shop.sink, os.environ)
    path = ledger_path(config, ledger_file)
    check_ledger_folder(path)
    if not path.exists():  # the run would create it: can it?
        try:
            with tempfile.TemporaryFile(dir=path.parent or "."):
                pass
        except OSError as exc:
            raise ConfigError(
                f"cannot create the ledger {path}: {exc.strerror or exc}; "
                "choose another --ledger path"
            ) from None
    pending = path.with_name(path.name + ".pending")
    if pending.exists() and not pending.is_dir():
        raise ConfigError(
            f"{pending}: cannot make the ledger's private folder for codes on "
            "their way (a file is there); move it away"
        )


def _describe_settings(s: Any) -> str:
    from voucherbot.codes import format_duration

    if not s.enabled:
        return "disabled"
    threshold = (
        f"below {s.min_available_percent:g}% of quantity"
        if s.min_available_percent is not None
        else f"below {s.min_available:,}"
    )
    text = f"refill {threshold} up to {s.refill_to:,} (at most {s.max_per_run:,} a run)"
    if s.cooldown:
        text += f", cooldown {format_duration(s.cooldown)}"
    if not s.require_active_workflow:
        text += ", even without an active workflow"
    return text


# --- one-off refill --------------------------------------------------------------------------


@cli.command()
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

    from voucherbot.app import make_client, refill_set

    started = time.monotonic()
    config = _config(rules_path, builtin_rules)
    poll = _poll(config, poll_interval, poll_timeout)
    if count is not None:  # refused before the ledger is even opened
        config.check_count(count, f"refill of {set_id}", confirmed=confirmed)
    if dry_run:
        _preflight(config, ledger_file)
    with make_client(config) as client:
        if dry_run:
            result = refill_set(
                client, set_id, count=count, to=to, config=config, dry_run=True, confirmed=confirmed
            )
        else:
            with (
                _ledger(config, ledger_file) as ledger,
                _progress(quiet, f"import into {set_id}") as bar,
            ):
                result = refill_set(
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
        cost = _stats_line(client, started)
    _warn(client.warnings)  # answers the server described badly (no plan shows them)
    for line in result.all:
        _echo(("earlier batch: " if line.resumed else "") + line.summary())
    if stats:
        click.echo(cost, err=True)
    if not result.ok:
        sys.exit(EXIT_FAILED)


# --- the ledger and imports ------------------------------------------------------------------


@cli.command()
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
) -> None:
    """Settle a batch left unresolved (its POST's answer was lost and Connectif's list of
    imports could not show what happened): adopt its import, or abandon it.

    Until then the batch's coupon set is held, and every run and report says so (exit 1).
    Look for the import in Connectif first ('voucherbot imports'): one into the set, with the
    batch's row count, created when the batch was sent. Its codes are never issued again
    either way. Exit status: 0 settled (an adopted import finished cleanly), 1 an adopted
    import failed, 2 no such unresolved batch or an import that cannot be the batch's.
    """
    from voucherbot.app import make_client
    from voucherbot.app import resolve as resolve_batch
    from voucherbot.config import ledger_path

    config = _config(rules_path, builtin_rules)
    poll = _poll(config, poll_interval, poll_timeout)
    if not ledger_path(config, ledger_file).exists():  # a batch to settle is in a ledger
        raise _no_ledger(config, ledger_file)
    with (
        make_client(config) as client,
        _ledger(config, ledger_file) as ledger,
        _progress(quiet, f"import {import_id}") as bar,
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
    if result.abandoned:
        _echo(
            f"{result.coupon_set.name} ({result.coupon_set.id}): batch {batch_id} "
            "abandoned; the next run plans the set afresh"
        )
    else:
        _echo(result.summary())
    if not result.ok:
        sys.exit(EXIT_FAILED)


@cli.command()
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

    config = _config(rules_path, builtin_rules)
    with _ledger(config, ledger_file, readonly=True) as ledger:
        if ledger is None:
            raise _no_ledger(config, ledger_file)
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

    _echo(render_history(runs, batches, set_id=set_id), nl=False)


@cli.command()
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
def imports(
    import_id: str | None,
    rules_path: Path | None,
    builtin_rules: bool,
    poll_interval: float | None,
    poll_timeout: float | None,
    limit: int,
    quiet: bool,
) -> None:
    """List recent imports, or follow one (by id) until it ends.

    Following exits 0 when the import finished with no error rows, 1 otherwise.
    """
    from voucherbot.app import make_client
    from voucherbot.connectif.poll import poll_imports
    from voucherbot.errors import ConfigError, NotFoundError
    from voucherbot.report.history import render_imports
    from voucherbot.text import valid_id

    config = _config(rules_path, builtin_rules)
    if import_id is not None and not valid_id(import_id):
        raise ConfigError(f"{import_id[:80]!r} is not a Connectif import id")
    with make_client(config) as client:
        if import_id is None:
            recent = list(itertools.islice(client.iter_imports(), limit))
            _warn(client.warnings)
            _echo(render_imports(recent), nl=False)
            return
        poll = _poll(config, poll_interval, poll_timeout)
        try:
            with _progress(quiet, f"import {import_id}") as bar:
                final = poll_imports(client, [import_id], settings=poll, on_progress=bar)[import_id]
        except NotFoundError:
            raise ConfigError(
                f"Connectif has no import {import_id!r}; 'voucherbot imports' lists the recent ones"
            ) from None
    _echo(render_imports([final]), nl=False)
    if not final.succeeded_cleanly:
        sys.exit(EXIT_FAILED)


# --- offline code tools ----------------------------------------------------------------------


def shape_options(fn: Any) -> Any:
    """The code-shape options shared by the `codes` commands."""
    options: list[Callable[[Any], Any]] = [
        click.option(
            "--rule",
            "rule_name",
            metavar="NAME",
            help="Start from the code shape of this [[rule]] in the rules file "
            "('defaults' for [defaults.code]); other options override it.",
        ),
        rules_option,
        click.option(
            "--block",
            "blocklist",
            multiple=True,
            metavar="WORD",
            help="Extra word codes must not contain (repeatable).",
        ),
        click.option(
            "--check/--no-check",
            "check_symbol",
            default=None,
            help="Append a check symbol [default: on].",
        ),
        click.option("--separator", help="Group separator [default: -]."),
        click.option(
            "--group",
            type=click.IntRange(0),
            metavar="K",
            help="Put the separator every K symbols (with --length).",
        ),
        click.option("--suffix", help="Fixed text after the code."),
        click.option("--prefix", help="Fixed text before the code, e.g. WEL-."),
        click.option(
            "--alphabet",
            metavar="NAME|SYMBOLS",
            help="unambiguous (default), digits, alphanumeric, upper, hex, crockford, "
            "or the symbols themselves.",
        ),
        click.option(
            "--length",
            type=click.IntRange(1),
            metavar="L",
            help="Random symbols per code [default: 10].",
        ),
        click.option(
            "--pattern", metavar="P", help="A shape where # is a random symbol, e.g. WEL-####-####."
        ),
    ]
    for option in options:
        fn = option(fn)
    return fn


def _shape(
    rules_path: Path | None, builtin_rules: bool, rule_name: str | None, **given: Any
) -> Any:
    """A CodeSpec from a rule's shape (if asked) with the given options laid over it."""
    from dataclasses import asdict

    from voucherbot.codes import CodeSpec
    from voucherbot.errors import ConfigError

    base: dict[str, Any] = {}
    if rule_name is not None:
        cfg = _config(rules_path, builtin_rules)
        if rule_name == "defaults":
            base = asdict(cfg.defaults.code)
        else:
            found = [r for r in cfg.rules if r.name == rule_name]
            if not found:
                names = ", ".join(repr(r.name) for r in cfg.rules if r.name) or "none"
                raise ConfigError(
                    f"no [[rule]] named {rule_name!r} in {cfg.path} (named rules: {names})"
                )
            base = asdict(found[0].settings.code)
    options = {k: v for k, v in given.items() if v is not None and v != ()}
    if "length" in options:
        base.pop("pattern", None)
    if options.get("pattern") is not None and "length" in options:
        raise ConfigError("give either --pattern or --length, not both")
    if "blocklist" in options:
        options["blocklist"] = tuple(base.get("blocklist", ())) + tuple(options["blocklist"])
    return CodeSpec(**{**base, **options})


@cli.group()
def codes() -> None:
    """Generate, check and size voucher codes offline (no API calls)."""


@codes.command("generate")
@click.option("--count", "-n", type=click.IntRange(1), required=True, help="How many codes.")
@shape_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this new file (mode 0600) instead of stdout.",
)
@click.option("--plain", is_flag=True, help="One code per line, without the CSV header.")
@yes_option
def codes_generate(
    count: int,
    output: Path | None,
    plain: bool,
    rules_path: Path | None,
    builtin_rules: bool,
    rule_name: str | None,
    confirmed: bool,
    **shape: Any,
) -> None:
    """Generate unique codes as a Connectif coupon CSV (header `code`) or plain lines.

    At most [limits] max_codes (10,000,000 by default); above confirm_above (1,000,000) only
    with --yes."""
    from voucherbot.codes import fill_warning, generate
    from voucherbot.config import DEFAULT_RULES_FILE, Config
    from voucherbot.errors import ConfigError
    from voucherbot.files import code_csv, create_private

    # the limits of the rules file, when there is one (generating needs no rules)
    found = rules_path or rule_name or Path(DEFAULT_RULES_FILE).exists()
    limits = _config(rules_path, builtin_rules) if found and not builtin_rules else Config()
    limits.check_count(count, "codes generate", confirmed=confirmed)
    spec = _shape(rules_path, builtin_rules, rule_name, **shape)
    fd = None
    if output is not None:  # the file first: a bad path costs no generation
        try:
            fd = create_private(output)
        except FileExistsError:
            raise ConfigError(
                f"{output} already exists; codes are never written over a file"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot create {output}: {exc.strerror or exc}") from None
    try:
        new = generate(spec, count)
    except BaseException:
        if fd is not None:
            os.close(fd)
            assert output is not None
            output.unlink()
        raise
    warning = fill_warning(spec, count)
    if warning:
        _warn([warning])
    lines = code_csv(new, header=not plain)
    if fd is None:
        click.echo("".join(lines), nl=False)
        return
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.writelines(lines)
    click.echo(f"Wrote {count:,} codes to {output}", err=True)


@codes.command("check")
@click.argument("typed", nargs=-1, required=True, metavar="CODE...")
@shape_options
def codes_check(
    typed: tuple[str, ...],
    rules_path: Path | None,
    builtin_rules: bool,
    rule_name: str | None,
    **shape: Any,
) -> None:
    """Normalise and validate codes typed by people (shape and check symbol).

    Prints the canonical form of each valid code; exit status 1 if any code is invalid.
    """
    from voucherbot.codes import check_code

    spec = _shape(rules_path, builtin_rules, rule_name, **shape)
    bad = 0
    for text in typed:
        result = check_code(spec, text)
        if result.ok:
            click.echo(f"valid    {result.code}")
        else:
            bad += 1
            click.echo(f"INVALID  {text!r}: {result.reason}")
    if bad:
        sys.exit(EXIT_FAILED)


@codes.command("info")
@shape_options
@click.option(
    "--live",
    type=click.IntRange(0, 2**53),
    default=10_000,
    show_default=True,
    help="Codes live (issued, not yet used) at once.",
)
@click.option(
    "--rate",
    type=FiniteRange(min=0, min_open=True, max=1e15),
    default=100.0,
    show_default=True,
    help="Guesses per second an attacker manages.",
)
def codes_info(
    live: int,
    rate: float,
    rules_path: Path | None,
    builtin_rules: bool,
    rule_name: str | None,
    **shape: Any,
) -> None:
    """Show a shape's space, entropy and how long guessing a live code takes."""
    from voucherbot.codes import (
        entropy_bits,
        format_duration,
        generate,
        guess_time_seconds,
        guessability_warning,
        space_size,
    )

    spec = _shape(rules_path, builtin_rules, rule_name, **shape)
    check = " + 1 check symbol" if spec.check_symbol else ""
    click.echo(f"example:      {generate(spec, 1)[0]}")
    click.echo(
        f"symbols:      {spec.random_symbols} random{check}, from {len(spec.symbols)} "
        f"({spec.symbols})"
    )
    click.echo(f"space:        {space_size(spec):,} codes ({entropy_bits(spec):.1f} bits)")
    seconds = guess_time_seconds(spec, live, rate)
    click.echo(
        f"guessing:     {format_duration(seconds)} on average to hit one of {live:,} live "
        f"codes at {rate:g} guesses/s"
    )
    warning = guessability_warning(spec, live, rate)
    if warning:
        _warn([warning])


# --- sandbox and demo ------------------------------------------------------------------------


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (keep 127.0.0.1 unless other machines need it).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0 = any free port).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed for the fake data: the same seed gives the same sets and workflows.",
)
@click.option(
    "--api-key",
    envvar="VOUCHERBOT_SANDBOX_KEY",
    show_envvar=True,
    help="The key clients must send [default: a random one, printed at start].",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Items per list page.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="Requests per rolling minute before 429 (0 = unlimited).",
)
@click.option(
    "--counter-lag",
    type=FiniteRange(0, 3600),
    default=10.0,
    show_default=True,
    help="Seconds a set's counters trail the rows an import added, as Connectif's "
    "do (0 = at once).",
)
def sandbox(
    host: str,
    port: int,
    seed: int,
    api_key: str | None,
    page_size: int,
    rate_limit: int,
    counter_lag: float,
) -> None:
    """Run a local Connectif-compatible API with realistic fake data."""
    from voucherbot.errors import ConfigError
    from voucherbot.sandbox import SandboxConfig, serve

    settings = SandboxConfig(
        host=host,
        port=port,
        seed=seed,
        api_key=api_key,
        page_size=page_size,
        rate_limit=rate_limit,
        counter_lag=counter_lag,
    )
    try:
        serve(settings)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@cli.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for the fake data.")
def demo(seed: int) -> None:
    """Start a sandbox in-process and show report -> run -> report against it."""
    from voucherbot.cli.demo import run_demo

    run_demo(seed=seed, echo=click.echo)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="voucherbot")
