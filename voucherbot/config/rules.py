"""rules.toml -> typed, validated settings (:class:`Config`).

Everything is checked before any API call: unknown keys (with a "did you mean" suggestion),
wrong types, impossible combinations. Each error names the file, the table or rule and the key,
and is a :class:`~voucherbot.errors.ConfigError` (exit 2). The reference table of every key is
in README.md ("rules.toml reference").

Precedence: command-line options > environment (``CONNECTIF_BASE_URL``, ``VOUCHERBOT_RULES``,
``VOUCHERBOT_LEDGER``) > rules.toml > the built-in defaults below.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from voucherbot.codes import MAX_FILL, CodeSpec
from voucherbot.codes.capacity import CapacityError, check_capacity
from voucherbot.config.notify import parse_notify
from voucherbot.config.settings import (
    CONFIRM_ABOVE,
    MAX_CODES,
    Config,
    ForecastSettings,
    ImportPolicy,
    Match,
    PollSettings,
    Rule,
    RuleSettings,
)
from voucherbot.config.shop import parse_shop
from voucherbot.config.tables import base_url_problem
from voucherbot.errors import ConfigError
from voucherbot.text import format_span, valid_id

DEFAULT_RULES_FILE = "rules.toml"
MAX_RULES_BYTES = 1024 * 1024
#: The largest whole number any setting takes (JSON's exact integers), and the longest duration.
MAX_NUMBER = 2**53
MAX_DURATION = 10 * 365.25 * 86400.0

IMPORT_POLICY_KEYS = (
    "post_attempts",
    "lookup_delay",
    "clock_skew",
    "lookup_pages",
    "imports_newest_first",
    "counter_lag",
)
THRESHOLD_KEYS = ("min_available", "min_available_percent")
FORECAST_RULE_KEYS = ("min_days_left", "cover_days", "safety_factor")
RULE_KEYS = (
    "enabled",
    *THRESHOLD_KEYS,
    "refill_to",
    "max_per_run",
    "require_active_workflow",
    "cooldown",
    "code",
    *FORECAST_RULE_KEYS,
)
CODE_KEYS = (
    "length",
    "pattern",
    "alphabet",
    "prefix",
    "suffix",
    "group",
    "separator",
    "check_symbol",
    "blocklist",
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
        "defaults",
        "rule",
    ),
    "connectif": (
        "base_url",
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
    "rule": ("name", "match", *RULE_KEYS, "shop"),
    "match": ("id", "name"),
    "code": CODE_KEYS,
}


# --- the ledger's place ------------------------------------------------------------------------

DEFAULT_LEDGER_NAME = "voucherbot.sqlite"


def default_ledger_path(rules_path: Path | None) -> Path:
    """Beside the rules file (or in the current directory)."""
    folder = rules_path.parent if rules_path is not None else Path(".")
    return folder / DEFAULT_LEDGER_NAME


def ledger_path(
    config: Config, option: Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """``--ledger``, else ``VOUCHERBOT_LEDGER``, else ``[ledger] path``, else beside the rules."""
    env = os.environ if env is None else env
    if option is not None:
        return option
    if env.get("VOUCHERBOT_LEDGER"):
        return Path(env["VOUCHERBOT_LEDGER"]).expanduser()
    return config.ledger_path or default_ledger_path(config.path)


def check_ledger_folder(path: Path) -> None:
    """Refuse a ledger path whose folder is missing or not writable, or a read-only ledger
    (opening the ledger asks this, and so does ``config check``)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(
            f"{folder}: the ledger's folder does not exist; create it, or point [ledger] path "
            "(or --ledger, VOUCHERBOT_LEDGER) at the ledger you use. A ledger is never started "
            "afresh in a new folder: an empty one would forget every code issued"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(
            f"{path}: the ledger is read-only; voucherbot must be able to write it "
            "(check its owner and mode)"
        )
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{folder}: cannot write in the ledger's folder (SQLite needs it for "
            "its journal); choose another --ledger path"
        )


# --- loading ---------------------------------------------------------------------------------


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
    """Validate rules.toml content; ``path`` only names the file in messages."""
    where = str(path) if path else "rules.toml"
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return _Parser(where).config(doc, path, hashlib.sha256(data).hexdigest())


class _Parser:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, context: str, message: str) -> ConfigError:
        return ConfigError(
            f"{self.where}: {context}: {message}" if context else f"{self.where}: {message}"
        )

    def keys(self, table: Mapping[str, Any], kind: str, context: str) -> None:
        allowed = TABLE_KEYS[kind]
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                listed = ", ".join(allowed)
                raise self.fail(context, f"unknown key '{key}'{hint}; known keys: {listed}")

    def table(self, doc: Mapping[str, Any], key: str, context: str) -> Mapping[str, Any]:
        value = doc.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(context, f"'{key}' must be a table, not {_kind(value)}")
        return value

    def number(
        self,
        table: Mapping[str, Any],
        key: str,
        context: str,
        *,
        integer: bool,
        minimum: float,
        above: bool = False,
        maximum: float = MAX_NUMBER,
    ) -> Any:
        value = table[key]
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            wanted = "a whole number" if integer else "a number"
            raise self.fail(context, f"'{key}' must be {wanted}, not {_kind(value)}")
        if value < minimum or (above and value == minimum) or not math.isfinite(value):
            relation = "above" if above else "at least"
            raise self.fail(context, f"'{key}' must be {relation} {minimum:g}, not {value}")
        if value > maximum:
            most = f"{int(maximum):,}" if maximum == int(maximum) else f"{maximum:g}"
            raise self.fail(context, f"'{key}' must be at most {most}, not {value:,}")
        return value

    def boolean(self, table: Mapping[str, Any], key: str, context: str) -> bool:
        value = table[key]
        if not isinstance(value, bool):
            raise self.fail(context, f"'{key}' must be true or false, not {_kind(value)}")
        return value

    def string(self, table: Mapping[str, Any], key: str, context: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(context, f"'{key}' must be a non-empty string, not {_kind(value)}")
        return value

    def strings(self, table: Mapping[str, Any], key: str, context: str) -> frozenset[str]:
        value = table[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(context, f"'{key}' must be a list of strings, such as [\"active\"]")
        return frozenset(value)

    # -- tables --

    def config(self, doc: Mapping[str, Any], path: Path | None, digest: str) -> Config:
        self.keys(doc, "", "")
        base = Config()
        connectif = self.table(doc, "connectif", "")
        self.keys(connectif, "connectif", "[connectif]")
        values: dict[str, Any] = {}
        ctx = "[connectif]"
        if "base_url" in connectif:
            values["base_url"] = self.string(connectif, "base_url", ctx)
            problem = base_url_problem(values["base_url"])
            if problem:
                raise self.fail(ctx, f"'base_url' {problem}")
        if "max_pages" in connectif:
            values["max_pages"] = self.number(
                connectif, "max_pages", ctx, integer=True, minimum=1, maximum=1_000_000
            )
        if "request_deadline" in connectif:
            values["request_deadline"] = self.duration(connectif, "request_deadline", ctx)
            if values["request_deadline"] <= 0:
                raise self.fail(ctx, "'request_deadline' must be above 0")
        if "max_response_mb" in connectif:
            values["max_response_mb"] = float(
                self.number(
                    connectif, "max_response_mb", ctx, integer=False, minimum=1, maximum=4096
                )
            )
        if "workflow_status_field" in connectif:
            values["workflow_status_field"] = self.string(connectif, "workflow_status_field", ctx)
        if "active_workflows" in connectif:
            ids = connectif["active_workflows"]
            if not isinstance(ids, list) or not all(
                isinstance(i, str) and valid_id(i) for i in ids
            ):
                raise self.fail(
                    ctx,
                    "'active_workflows' must be a list of workflow ids, such "
                    'as ["5e2f..."] (GET /workflows/ is then not read)',
                )
            values["active_workflows"] = frozenset(ids)
        if "requests_per_minute" in connectif:
            values["requests_per_minute"] = self.number(
                connectif, "requests_per_minute", ctx, integer=True, minimum=1, maximum=100_000
            )
        if "max_imports_in_flight" in connectif:
            values["max_imports_in_flight"] = self.number(
                connectif, "max_imports_in_flight", ctx, integer=True, minimum=1
            )
            if values["max_imports_in_flight"] > 10:
                raise self.fail(
                    ctx,
                    "'max_imports_in_flight' must be at most 10 (Connectif "
                    "refuses an eleventh queued import)",
                )
        if "import_pages" in connectif:
            values["import_pages"] = self.number(
                connectif, "import_pages", ctx, integer=True, minimum=0, maximum=1_000_000
            )
        for key in ("timeout", "retry_backoff"):
            if key in connectif:
                values[key] = float(
                    self.number(
                        connectif, key, ctx, integer=False, minimum=0, above=True, maximum=86400
                    )
                )
        for key in ("active_workflow_statuses", "inactive_workflow_statuses"):
            if key in connectif:
                values[key] = self.strings(connectif, key, ctx)
        active = values.get("active_workflow_statuses", base.active_workflow_statuses)
        if not active:
            raise self.fail(ctx, "'active_workflow_statuses' must list at least one status")
        both = active & values.get("inactive_workflow_statuses", frozenset())
        if both:
            raise self.fail(
                ctx,
                f"{', '.join(repr(s) for s in sorted(both))} is in both "
                "'active_workflow_statuses' and 'inactive_workflow_statuses'",
            )
        values["inactive_workflow_statuses"] = (
            values.get("inactive_workflow_statuses", base.inactive_workflow_statuses) - active
        )
        values["imports"] = self.import_policy(connectif)
        values.update(self.limits(self.table(doc, "limits", "")))
        values["poll"] = self.polling(self.table(doc, "polling", ""))
        security = self.table(doc, "security", "")
        self.keys(security, "security", "[security]")
        if "guess_rate" in security:
            values["guess_rate"] = float(
                self.number(
                    security, "guess_rate", "[security]", integer=False, minimum=0, above=True
                )
            )
        if "min_guess_time" in security:
            values["min_guess_time"] = self.duration(security, "min_guess_time", "[security]")
        ledger = self.table(doc, "ledger", "")
        self.keys(ledger, "ledger", "[ledger]")
        if "path" in ledger:
            where = Path(self.string(ledger, "path", "[ledger]")).expanduser()
            values["ledger_path"] = (
                where if where.is_absolute() or path is None else (path.parent / where)
            )

        values["forecast"] = self.forecast(self.table(doc, "forecast", ""))
        defaults_table = self.table(doc, "defaults", "")
        base_dir = path.parent if path is not None else None
        values["notify"] = parse_notify(doc.get("notify", {}), self.where)
        shop_table = self.table(doc, "shop", "")
        defaults = replace(
            self.rule_settings(defaults_table, RuleSettings(), "[defaults]", "defaults"),
            shop=parse_shop(shop_table, self.where, base_dir),
        )
        rules = self.rules(doc.get("rule", []), defaults, defaults_table.get("code", {}))
        rules = tuple(
            self.rule_shop(rule, doc["rule"][rule.index - 1], shop_table, base_dir)
            for rule in rules
        )
        most = values.get("max_codes", MAX_CODES)
        for ctx, settings in [
            ("[defaults]", defaults),
            *((self.match_context(r), r.settings) for r in rules),
        ]:
            self.within_limits(ctx, settings, most)
        return replace(base, path=path, defaults=defaults, rules=rules, digest=digest, **values)

    def within_limits(self, ctx: str, settings: RuleSettings, most: int) -> None:
        """What a run would refuse, refused now: a refill above [limits] max_codes, or a code
        shape without room for one run's codes."""
        if settings.max_per_run > most:
            raise self.fail(
                ctx,
                f"'max_per_run' ({settings.max_per_run:,}) is above [limits] "
                f"max_codes ({most:,}); lower it, or raise max_codes",
            )
        pool = settings.shop.pool
        if settings.enabled and settings.shop.source == "pool" and pool and not pool.is_dir():
            where = "[shop]" if ctx == "[defaults]" else f"{ctx} shop"
            raise self.fail(
                where,
                f"'pool' names {pool}, which is not a folder; create it and "
                "put the shop's code files there",
            )
        if settings.enabled and settings.shop.source == "generate":
            # the most one refill imports: up to refill_to, unless cover_days sizes it
            most_one = (
                settings.max_per_run
                if settings.cover_days is not None
                else min(settings.max_per_run, settings.refill_to)
            )
            try:
                check_capacity(settings.code, most_one, 0, MAX_FILL)
            except CapacityError as exc:
                raise self.fail(
                    f"{ctx} code", f"one refill ({most_one:,} codes) would not fit: {exc}"
                ) from None

    def limits(self, table: Mapping[str, Any]) -> dict[str, int]:
        ctx = "[limits]"
        self.keys(table, "limits", ctx)
        values = {
            key: self.number(table, key, ctx, integer=True, minimum=1)
            for key in ("max_codes", "confirm_above")
            if key in table
        }
        most = values.get("max_codes", MAX_CODES)
        if "confirm_above" in values and values["confirm_above"] > most:
            raise self.fail(
                ctx,
                f"'confirm_above' ({values['confirm_above']:,}) must not be "
                f"above 'max_codes' ({most:,})",
            )
        values.setdefault("confirm_above", min(CONFIRM_ABOVE, most))
        return values

    def import_policy(self, connectif: Mapping[str, Any]) -> ImportPolicy:
        ctx = "[connectif]"
        values: dict[str, Any] = {}
        for key in ("post_attempts", "lookup_pages"):
            if key in connectif:
                values[key] = self.number(connectif, key, ctx, integer=True, minimum=1)
        for key in ("lookup_delay", "clock_skew", "counter_lag"):
            if key in connectif:
                values[key] = self.duration(connectif, key, ctx)
        if "imports_newest_first" in connectif:
            values["newest_first"] = self.boolean(connectif, "imports_newest_first", ctx)
        try:
            return ImportPolicy(**values)
        except ConfigError as exc:
            raise self.fail(ctx, str(exc)) from None

    def polling(self, table: Mapping[str, Any]) -> PollSettings:
        ctx = "[polling]"
        self.keys(table, "polling", ctx)
        values = {
            key: float(self.number(table, key, ctx, integer=False, minimum=0, above=True))
            for key in table
        }
        try:
            return PollSettings(**values)
        except ConfigError as exc:
            raise self.fail(ctx, str(exc)) from None

    def forecast(self, table: Mapping[str, Any]) -> ForecastSettings:
        ctx = "[forecast]"
        self.keys(table, "forecast", ctx)
        base = ForecastSettings()
        values: dict[str, Any] = {}
        for key, attr in (("window", "window_days"), ("half_life", "half_life_days")):
            if key in table:
                seconds = self.duration(table, key, ctx)
                if not 0 < seconds < math.inf:
                    raise self.fail(
                        ctx,
                        f"'{key}' must be a duration above 0 such as \"14d\", not {table[key]!r}",
                    )
                values[attr] = seconds / 86400
        if "min_span" in table:
            values["min_span_hours"] = self.duration(table, "min_span", ctx) / 3600
        if "min_snapshots" in table:
            values["min_snapshots"] = self.number(
                table, "min_snapshots", ctx, integer=True, minimum=2
            )
        window = values.get("window_days", base.window_days)
        span = values.get("min_span_hours", base.min_span_hours)
        if span > window * 24:
            raise self.fail(
                ctx,
                f"'min_span' ({format_span(span * 3600)}) must not be longer than "
                f"'window' ({format_span(window * 86400)}), or no forecast would ever be "
                "known",
            )
        return replace(base, **values)

    def rules(
        self, raw: Any, defaults: RuleSettings, default_code: Mapping[str, Any]
    ) -> tuple[Rule, ...]:
        if not isinstance(raw, list):
            raise self.fail("", "'rule' must be an array of tables: write each as [[rule]]")
        rules: list[Rule] = []
        for index, table in enumerate(raw, start=1):
            if not isinstance(table, Mapping):
                raise self.fail(f"rule #{index}", "each [[rule]] must be a table")
            name = table.get("name")
            named = isinstance(name, str) and name
            ctx = f"rule '{name}' (#{index})" if named else f"rule #{index}"
            self.keys(table, "rule", ctx)
            if name is not None:
                name = self.string(table, "name", ctx)
                twin = next((r for r in rules if r.name == name), None)
                if twin is not None:
                    raise self.fail(
                        ctx,
                        f"the name '{name}' is already rule #{twin.index}'s; "
                        "rule names must be unique",
                    )
            match = self.match(table, ctx)
            settings = self.rule_settings(table, defaults, ctx, "rule", default_code)
            rules.append(Rule(index=index, match=match, settings=settings, name=name))
        return tuple(rules)

    def rule_shop(
        self, rule: Rule, table: Mapping[str, Any], shop: Mapping[str, Any], base_dir: Path | None
    ) -> Rule:
        """A rule's ``shop`` laid over ``[shop]``; switching ``source`` or ``sink`` drops the
        inherited keys of the other kind (a pool rule does not inherit a webhook)."""
        own = table.get("shop")
        if own is None:
            return rule
        if not isinstance(own, Mapping):
            raise self.fail(
                self.match_context(rule),
                '\'shop\' must be a table such as { source = "pool", pool = "pools/welcome" }',
            )
        # the same kind of source: key by key; another source or sink: start afresh
        merged = {} if "source" in own or "sink" in own else dict(shop)
        merged.update(own)
        settings = parse_shop(merged, self.where, base_dir, f"{self.match_context(rule)} shop")
        return replace(rule, settings=replace(rule.settings, shop=settings))

    @staticmethod
    def match_context(rule: Rule) -> str:
        return f"rule '{rule.name}' (#{rule.index})" if rule.name else f"rule #{rule.index}"

    def match(self, table: Mapping[str, Any], ctx: str) -> Match:
        if "match" not in table:
            raise self.fail(
                ctx,
                'missing \'match\'; write match = { name = "WELCOME*" } or match = { id = "..." }',
            )
        raw = table["match"]
        if not isinstance(raw, Mapping):
            raise self.fail(ctx, "'match' must be a table such as { name = \"WELCOME*\" }")
        self.keys(raw, "match", f"{ctx} match")
        if len(raw) != 1:
            raise self.fail(ctx, "'match' needs exactly one of 'id' or 'name'")
        key = next(iter(raw))
        value = raw[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(ctx, f"match '{key}' must be a non-empty string")
        if key == "id" and not valid_id(value):
            raise self.fail(ctx, f"match id {value!r} is not a Connectif id")
        if key == "name" and _unclosed_bracket(value):
            raise self.fail(
                ctx, f"match name {value!r} has a '[' without its ']'; write [[] for a literal '['"
            )
        return Match(**{key: value})

    def rule_settings(
        self,
        table: Mapping[str, Any],
        base: RuleSettings,
        ctx: str,
        kind: str,
        default_code: Mapping[str, Any] | None = None,
    ) -> RuleSettings:
        if kind == "defaults":
            self.keys(table, "defaults", ctx)
        values: dict[str, Any] = {}
        if "enabled" in table:
            values["enabled"] = self.boolean(table, "enabled", ctx)
        if "require_active_workflow" in table:
            values["require_active_workflow"] = self.boolean(table, "require_active_workflow", ctx)
        given = [key for key in THRESHOLD_KEYS if key in table]
        if len(given) == 2:
            raise self.fail(ctx, "give either 'min_available' or 'min_available_percent', not both")
        if given:
            values["min_available"] = values["min_available_percent"] = None
            if "min_available" in table:
                values["min_available"] = self.number(
                    table, "min_available", ctx, integer=True, minimum=0
                )
            else:
                values["min_available_percent"] = float(
                    self.number(
                        table, "min_available_percent", ctx, integer=False, minimum=0, above=True
                    )
                )
                if values["min_available_percent"] >= 100:
                    raise self.fail(ctx, "'min_available_percent' must be below 100")
        for key in ("refill_to", "max_per_run"):
            if key in table:
                values[key] = self.number(table, key, ctx, integer=True, minimum=1)
        if "cooldown" in table:
            values["cooldown"] = self.duration(table, "cooldown", ctx)
        for key in ("min_days_left", "cover_days"):
            if key in table:
                if table[key] is False:  # switch off a value inherited from [defaults]
                    values[key] = None
                    continue
                if table[key] is True:
                    raise self.fail(
                        ctx, f"'{key}' must be a number of days, or false to turn it off, not true"
                    )
                values[key] = float(
                    self.number(table, key, ctx, integer=False, minimum=0, above=True)
                )
        if "safety_factor" in table:
            values["safety_factor"] = float(
                self.number(table, "safety_factor", ctx, integer=False, minimum=1)
            )
        code_table = table.get("code", {})
        if not isinstance(code_table, Mapping):
            raise self.fail(ctx, "'code' must be a table such as { prefix = \"WEL-\" }")
        if code_table or kind == "defaults":
            values["code"] = self.code(code_table, dict(default_code or {}), ctx)
        settings = replace(base, **values)
        if (
            settings.min_available is not None
            and settings.refill_to <= settings.min_available
            and ("refill_to" in table or "min_available" in table)
        ):
            raise self.fail(
                ctx,
                f"'refill_to' ({settings.refill_to}) must be above the threshold "
                f"'min_available' ({settings.min_available}), or nothing would be refilled",
            )
        if (
            settings.cover_days is not None
            and settings.min_days_left is not None
            and settings.cover_days <= settings.min_days_left
            and ("cover_days" in table or "min_days_left" in table)
        ):
            raise self.fail(
                ctx,
                f"'cover_days' ({settings.cover_days:g}) must be above 'min_days_left' "
                f"({settings.min_days_left:g}), or every refill would leave the set due "
                "for the next one",
            )
        return settings

    def duration(self, table: Mapping[str, Any], key: str, ctx: str) -> float:
        value = table[key]
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            seconds = float(value)
        elif isinstance(value, str):
            seconds = parse_duration(value)
        if seconds is not None:
            if seconds > MAX_DURATION:
                raise self.fail(ctx, f"'{key}' must be at most 10 years, not {value!r}")
            return seconds
        raise self.fail(
            ctx, f'\'{key}\' must be seconds or a duration such as "6h" or "1d12h", not {value!r}'
        )

    def code(self, table: Mapping[str, Any], inherited: dict[str, Any], ctx: str) -> CodeSpec:
        self.keys(table, "code", f"{ctx} code")
        merged = dict(inherited)
        if "length" in table:
            merged.pop("pattern", None)  # a rule's own length replaces an inherited pattern
        merged.update(table)
        try:
            return CodeSpec(**merged)
        except (ConfigError, TypeError) as exc:
            raise self.fail(f"{ctx} code", str(exc)) from None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(y|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"y": 365.25 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float | None:
    """Seconds in "90s", "30m", "6h", "1d12h", "1y" (units y, d, h, m, s); None if unreadable."""
    compact = text.replace(" ", "")
    if not compact:
        return None
    parts = _DURATION.findall(compact)
    if "".join(n + u for n, u in parts).lower() != compact.lower():
        return None
    return sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)


def _unclosed_bracket(glob: str) -> bool:
    """Whether a name glob has a ``[`` that no ``]`` closes (fnmatch would then match it
    literally, so the rule would quietly match nothing)."""
    i = 0
    while i < len(glob):
        if glob[i] == "[":
            j = i + 1
            if j < len(glob) and glob[j] == "!":
                j += 1
            if j < len(glob) and glob[j] == "]":
                j += 1
            close = glob.find("]", j)
            if close < 0:
                return True
            i = close
        i += 1
    return False


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "a whole number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__) + (
        f" ({value!r})"
        if isinstance(value, int | float | str) and not isinstance(value, bool)
        else ""
    )
