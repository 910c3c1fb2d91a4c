"""rules.toml -> typed, validated settings (:func:`load_config` -> :class:`Config`).

Everything is checked before any API call: unknown keys (with a "did you mean" suggestion),
wrong types, impossible combinations. Each error names the file, the table or rule and the key,
and is a :class:`~voucherbot.errors.ConfigError` (exit 2). The reference table of every key is
in README.md ("rules.toml reference").

Precedence: command-line options > environment (``CONNECTIF_BASE_URL``, ``VOUCHERBOT_RULES``,
``VOUCHERBOT_LEDGER``) > rules.toml > the built-in defaults (:mod:`voucherbot.config.settings`).

One function reads each table, in the order their errors are reported; ``[defaults]`` and
``[[rule]]`` are read by :mod:`voucherbot.config.rules`, ``[shop]`` by
:mod:`voucherbot.config.shop` and ``[notify]`` by :mod:`voucherbot.config.notify`.
"""

from __future__ import annotations

import hashlib
import math
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from voucherbot.config.mail import parse_report, parse_smtp
from voucherbot.config.notify import parse_notify
from voucherbot.config.rules import RULE_KEYS, check_limits, parse_defaults, parse_rules
from voucherbot.config.settings import (
    CONFIRM_ABOVE,
    MAX_CODES,
    Config,
    ForecastSettings,
    ImportPolicy,
    PollSettings,
    Rule,
    RuleSettings,
)
from voucherbot.config.stores import parse_monitor, parse_stores
from voucherbot.config.tables import TableReader, base_url_problem
from voucherbot.errors import ConfigError
from voucherbot.text import format_span, valid_id

DEFAULT_RULES_FILE = "rules.toml"
MAX_RULES_BYTES = 1024 * 1024

IMPORT_POLICY_KEYS = (
    "post_attempts",
    "lookup_delay",
    "clock_skew",
    "lookup_pages",
    "imports_newest_first",
    "counter_lag",
)
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "": (
        "connectif",
        "limits",
        "polling",
        "security",
        "ledger",
        "forecast",
        "shop",
        "notify",
        "smtp",
        "report",
        "monitor",
        "defaults",
        "rule",
        "store",
    ),
    "connectif": (
        "base_url",
        "api_key_file",
        "requests_per_minute",
        "timeout",
        "request_deadline",
        "max_response_mb",
        "max_pages",
        "retry_backoff",
        "max_imports_in_flight",
        "import_pages",
        "active_workflow_statuses",
        "inactive_workflow_statuses",
        "workflow_status_field",
        "active_workflows",
        *IMPORT_POLICY_KEYS,
    ),
    "limits": ("max_codes", "confirm_above"),
    "polling": ("interval", "growth", "max_interval", "timeout"),
    "security": ("guess_rate", "min_guess_time"),
    "ledger": ("path",),
    "forecast": ("window", "half_life", "min_snapshots", "min_span"),
    "defaults": RULE_KEYS,
}

_Settings = TypeVar("_Settings")


def load_config(path: Path | str, *, required: bool = True) -> Config:
    """Read and validate a rules file. A missing file is an error unless ``required`` is False."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file; --rules names the rules file")
        if info.st_size > MAX_RULES_BYTES:
            raise ConfigError(f"{path}: {info.st_size:,} bytes is too large for a rules file")
        data = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"{path}: no such rules file; copy the example rules.toml from the voucherbot "
                "repository, or pass --rules FILE (or --defaults for the built-in rules)"
            ) from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the rules file: {exc.strerror or exc}") from None
    return parse_config(data, path)


def parse_config(data: bytes, path: Path | None = None) -> Config:
    """Validate rules.toml content; ``path`` names the file in messages, and relative paths
    in it are relative to its folder."""
    where = str(path) if path else "rules.toml"
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    read = TableReader(doc, where, "", TABLE_KEYS[""], rules_words=True)
    return _config(read, path, hashlib.sha256(data).hexdigest())


def _config(doc: TableReader, path: Path | None, digest: str) -> Config:
    """The tables one by one, in the order their errors are reported."""
    base_dir = path.parent if path is not None else None
    connectif = _connectif(_table(doc, "connectif"), base_dir)
    limits = _limits(_table(doc, "limits"))
    poll = _polling(_table(doc, "polling"))
    security = _security(_table(doc, "security"))
    ledger = _table(doc, "ledger").path("path", base_dir)
    forecast = _forecast(_table(doc, "forecast"))
    defaults_table = doc.table_at("defaults")
    notify = parse_notify(doc.table.get("notify", {}), doc.where)
    smtp = parse_smtp(doc.table_at("smtp"), doc.where, base_dir)
    report = parse_report(doc.table_at("report"), doc.where)
    if report.email and smtp.host is None:
        raise ConfigError(
            f"{doc.where}: [report] email needs [smtp] (host and from): the mail server to "
            "send the report through"
        )
    monitor = parse_monitor(doc.table_at("monitor"), doc.where, base_dir)
    defaults_read = doc.child(defaults_table, "[defaults]", TABLE_KEYS["defaults"])

    def rules_for(shop: Mapping[str, Any]) -> tuple[RuleSettings, tuple[Rule, ...]]:
        """[defaults] and the rules with a [shop] table (the file's, or a store's)."""
        defaults = parse_defaults(defaults_read, shop, base_dir)
        rules = parse_rules(doc, defaults, defaults_table.get("code", {}), shop, base_dir)
        check_limits(doc, defaults, rules, limits["max_codes"])
        return defaults, rules

    defaults, rules = rules_for(doc.table_at("shop"))
    config = Config(
        path=path,
        **connectif,
        **limits,
        poll=poll,
        **security,
        defaults=defaults,
        rules=rules,
        forecast=forecast,
        ledger_path=ledger,
        notify=notify,
        smtp=smtp,
        report=report,
        monitor=monitor,
        digest=digest,
    )
    stores = parse_stores(doc, config, rules_for)
    if stores and ledger is not None:
        raise ConfigError(
            f"{doc.where}: [ledger] path names one ledger, and each [[store]] has its own: "
            "give each store its 'ledger' instead"
        )
    return replace(config, stores=stores) if stores else config


def _table(doc: TableReader, name: str) -> TableReader:
    """A reader of the table ``[name]``, its keys checked."""
    return doc.sub(name, f"[{name}]", TABLE_KEYS[name])


def _build(
    read: TableReader, build: Callable[..., _Settings], values: Mapping[str, Any]
) -> _Settings:
    """``build(**values)``, its ConfigError told in the table's context."""
    try:
        return build(**values)
    except ConfigError as exc:
        raise read.fail(str(exc)) from None


# --- [connectif] -------------------------------------------------------------------------------


def _connectif(read: TableReader, base_dir: Path | None) -> dict[str, Any]:
    """The API's address, key file and limits, how workflows are told apart, and the import
    policy."""
    base = Config()
    return {
        "base_url": _base_url(read),
        "api_key_file": read.path("api_key_file", base_dir),
        "max_pages": read.number(
            "max_pages", base.max_pages, integer=True, minimum=1, maximum=1_000_000
        ),
        "request_deadline": _request_deadline(read, base.request_deadline),
        "max_response_mb": float(
            read.number("max_response_mb", base.max_response_mb, minimum=1, maximum=4096)
        ),
        "workflow_status_field": read.string("workflow_status_field") or base.workflow_status_field,
        "active_workflows": _active_workflows(read),
        "requests_per_minute": read.number(
            "requests_per_minute",
            base.requests_per_minute,
            integer=True,
            minimum=1,
            maximum=100_000,
        ),
        "max_imports_in_flight": _imports_in_flight(read, base.max_imports_in_flight),
        "import_pages": read.number(
            "import_pages", base.import_pages, integer=True, minimum=0, maximum=1_000_000
        ),
        "timeout": float(read.number("timeout", base.timeout, above=True, maximum=86400)),
        "retry_backoff": float(
            read.number("retry_backoff", base.retry_backoff, above=True, maximum=86400)
        ),
        **_workflow_statuses(read, base),
        "imports": _import_policy(read),
    }


def _base_url(read: TableReader) -> str | None:
    url = read.string("base_url")
    problem = base_url_problem(url) if url is not None else None
    if problem:
        raise read.fail(f"'base_url' {problem}")
    return url


def _request_deadline(read: TableReader, default: float) -> float:
    deadline = read.duration("request_deadline", default)
    if deadline <= 0:
        raise read.fail("'request_deadline' must be above 0")
    return deadline


def _active_workflows(read: TableReader) -> frozenset[str] | None:
    if "active_workflows" not in read:
        return None
    ids = read.table["active_workflows"]
    if not isinstance(ids, list) or not all(isinstance(i, str) and valid_id(i) for i in ids):
        raise read.fail(
            "'active_workflows' must be a list of workflow ids, such "
            'as ["5e2f..."] (GET /workflows/ is then not read)'
        )
    return frozenset(ids)


def _imports_in_flight(read: TableReader, default: int) -> int:
    most: int = read.number("max_imports_in_flight", default, integer=True, minimum=1)
    if most > 10:
        raise read.fail(
            "'max_imports_in_flight' must be at most 10 (Connectif "
            "refuses an eleventh queued import)"
        )
    return most


def _workflow_statuses(read: TableReader, base: Config) -> dict[str, frozenset[str]]:
    """Which statuses mean active, which inactive: one status cannot be both."""
    given = read.strings("active_workflow_statuses")
    active = base.active_workflow_statuses if given is None else given
    inactive = read.strings("inactive_workflow_statuses")
    if not active:
        raise read.fail("'active_workflow_statuses' must list at least one status")
    both = active & (inactive or frozenset())
    if both:
        raise read.fail(
            f"{', '.join(repr(s) for s in sorted(both))} is in both "
            "'active_workflow_statuses' and 'inactive_workflow_statuses'"
        )
    if inactive is None:
        inactive = base.inactive_workflow_statuses
    return {"active_workflow_statuses": active, "inactive_workflow_statuses": inactive - active}


def _import_policy(read: TableReader) -> ImportPolicy:
    base = ImportPolicy()
    values = {
        "post_attempts": read.number("post_attempts", base.post_attempts, integer=True, minimum=1),
        "lookup_pages": read.number("lookup_pages", base.lookup_pages, integer=True, minimum=1),
        "lookup_delay": read.duration("lookup_delay", base.lookup_delay),
        "clock_skew": read.duration("clock_skew", base.clock_skew),
        "counter_lag": read.duration("counter_lag", base.counter_lag),
        "newest_first": read.boolean("imports_newest_first", base.newest_first),
    }
    return _build(read, ImportPolicy, values)


# --- [limits], [polling], [security], [forecast] -----------------------------------------------


def _limits(read: TableReader) -> dict[str, Any]:
    most: int = read.number("max_codes", MAX_CODES, integer=True, minimum=1)
    confirm: int | None = read.number("confirm_above", integer=True, minimum=1)
    if confirm is not None and confirm > most:
        raise read.fail(f"'confirm_above' ({confirm:,}) must not be above 'max_codes' ({most:,})")
    return {
        "max_codes": most,
        "confirm_above": min(CONFIRM_ABOVE, most) if confirm is None else confirm,
    }


def _polling(read: TableReader) -> PollSettings:
    values = {key: float(read.number(key, above=True)) for key in read.table}
    return _build(read, PollSettings, values)


def _security(read: TableReader) -> dict[str, Any]:
    base = Config()
    return {
        "guess_rate": float(read.number("guess_rate", base.guess_rate, above=True)),
        "min_guess_time": read.duration("min_guess_time", base.min_guess_time),
    }


def _forecast(read: TableReader) -> ForecastSettings:
    """How much history counts and how fast it fades; the window must hold the span."""
    base = ForecastSettings()
    values: dict[str, Any] = {}
    for key, attr in (("window", "window_days"), ("half_life", "half_life_days")):
        seconds = read.duration(key)
        if seconds is not None:
            if not 0 < seconds < math.inf:
                raise read.fail(
                    f"'{key}' must be a duration above 0 such as \"14d\", not {read.table[key]!r}"
                )
            values[attr] = seconds / 86400
    span = read.duration("min_span")
    if span is not None:
        values["min_span_hours"] = span / 3600
    if "min_snapshots" in read:
        values["min_snapshots"] = read.number("min_snapshots", integer=True, minimum=2)
    window = values.get("window_days", base.window_days)
    span_hours = values.get("min_span_hours", base.min_span_hours)
    if span_hours > window * 24:
        raise read.fail(
            f"'min_span' ({format_span(span_hours * 3600)}) must not be longer than "
            f"'window' ({format_span(window * 86400)}), or no forecast would ever be known"
        )
    return replace(base, **values)
