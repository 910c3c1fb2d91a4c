"""``[defaults]`` and ``[[rule]]``: what applies to each coupon set (:class:`RuleSettings`).

A rule's keys are laid over ``[defaults]``, its ``code`` over the defaults' ``code`` and its
``shop`` over ``[shop]``. What a run would refuse (more codes than [limits] allow, a code shape
without room for one refill, a pool that is not a folder) is refused here, before any API call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from voucherbot.codes import MAX_FILL, CodeSpec
from voucherbot.codes.capacity import CapacityError, check_capacity
from voucherbot.config.settings import Match, Rule, RuleSettings
from voucherbot.config.shop import parse_shop
from voucherbot.config.tables import TableReader
from voucherbot.errors import ConfigError
from voucherbot.text import valid_id

THRESHOLD_KEYS = ("min_available", "min_available_percent")
FORECAST_RULE_KEYS = ("min_days_left", "cover_days", "safety_factor")
#: the keys of [defaults]; a [[rule]] also has name, match and shop (RULE_TABLE_KEYS)
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
RULE_TABLE_KEYS = ("name", "match", "store", *RULE_KEYS, "shop")
MATCH_KEYS = ("id", "name")
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


def parse_defaults(
    read: TableReader, shop: Mapping[str, Any], base_dir: Path | None
) -> RuleSettings:
    """``[defaults]`` over the built-in settings, with ``[shop]``."""
    settings = rule_settings(read, RuleSettings(), {}, defaults=True)
    return replace(settings, shop=parse_shop(shop, read.where, base_dir))


def parse_rules(
    doc: TableReader,
    defaults: RuleSettings,
    default_code: Mapping[str, Any],
    shop: Mapping[str, Any],
    base_dir: Path | None,
) -> tuple[Rule, ...]:
    """Every ``[[rule]]`` over ``defaults``; then each rule's ``shop`` over ``[shop]``."""
    raw = doc.table.get("rule", [])
    if not isinstance(raw, list):
        raise doc.fail("'rule' must be an array of tables: write each as [[rule]]")
    parsed: list[tuple[Rule, TableReader]] = []
    for index, table in enumerate(raw, start=1):
        parsed.append(_rule(doc, index, table, [r for r, _ in parsed], defaults, default_code))
    return tuple(_rule_shop(read, rule, shop, base_dir) for rule, read in parsed)


def _rule(
    doc: TableReader,
    index: int,
    table: Any,
    earlier: list[Rule],
    defaults: RuleSettings,
    default_code: Mapping[str, Any],
) -> tuple[Rule, TableReader]:
    """One ``[[rule]]`` (and its reader, for its ``shop``): name, match, settings."""
    if not isinstance(table, Mapping):
        raise doc.fail("each [[rule]] must be a table", context=f"rule #{index}")
    name = table.get("name")
    read = doc.child(table, _context(index, name), RULE_TABLE_KEYS)
    if name is not None:
        name = read.string("name")
        twin = next((r for r in earlier if r.name == name), None)
        if twin is not None:
            raise read.fail(
                f"the name '{name}' is already rule #{twin.index}'s; rule names must be unique"
            )
    match = _match(read)
    settings = rule_settings(read, defaults, default_code, defaults=False)
    store = read.string("store")  # checked against the [[store]] names once they are read
    return Rule(index=index, match=match, settings=settings, name=name, store=store), read


def _context(index: int, name: Any) -> str:
    """How messages name a rule: ``rule 'welcome' (#1)``, or ``rule #1`` without a name."""
    return f"rule '{name}' (#{index})" if isinstance(name, str) and name else f"rule #{index}"


def _match(read: TableReader) -> Match:
    if "match" not in read:
        raise read.fail(
            'missing \'match\'; write match = { name = "WELCOME*" } or match = { id = "..." }'
        )
    raw = read.table_at("match", example='{ name = "WELCOME*" }')
    read.child(raw, f"{read.context} match", MATCH_KEYS)  # checks its keys
    if len(raw) != 1:
        raise read.fail("'match' needs exactly one of 'id' or 'name'")
    key, value = next(iter(raw.items()))
    if not isinstance(value, str) or not value.strip():
        raise read.fail(f"match '{key}' must be a non-empty string")
    if key == "id" and not valid_id(value):
        raise read.fail(f"match id {value!r} is not a Connectif id")
    if key == "name" and _unclosed_bracket(value):
        raise read.fail(
            f"match name {value!r} has a '[' without its ']'; write [[] for a literal '['"
        )
    return Match(**{key: value})


def _rule_shop(
    read: TableReader, rule: Rule, shop: Mapping[str, Any], base_dir: Path | None
) -> Rule:
    """A rule's ``shop`` laid over ``[shop]``; switching ``source`` or ``sink`` drops the
    inherited keys of the other kind (a pool rule does not inherit a webhook)."""
    if read.table.get("shop") is None:
        return rule
    own = read.table_at("shop", example='{ source = "pool", pool = "pools/welcome" }')
    # the same kind of source: key by key; another source or sink: start afresh
    merged = {} if "source" in own or "sink" in own else dict(shop)
    merged.update(own)
    settings = parse_shop(merged, read.where, base_dir, f"{read.context} shop")
    return replace(rule, settings=replace(rule.settings, shop=settings))


# --- one rule's settings -----------------------------------------------------------------------


def rule_settings(
    read: TableReader, base: RuleSettings, default_code: Mapping[str, Any], *, defaults: bool
) -> RuleSettings:
    """A rule's keys (or those of ``[defaults]``) laid over ``base``, then checked together;
    ``default_code`` is the ``code`` of ``[defaults]`` that a rule's ``code`` is laid over."""
    values: dict[str, Any] = {
        "enabled": read.boolean("enabled", base.enabled),
        "require_active_workflow": read.boolean(
            "require_active_workflow", base.require_active_workflow
        ),
        **_threshold(read),
        "refill_to": read.number("refill_to", base.refill_to, integer=True, minimum=1),
        "max_per_run": read.number("max_per_run", base.max_per_run, integer=True, minimum=1),
        "cooldown": read.duration("cooldown", base.cooldown),
        **_forecast_keys(read),
        **_code(read, default_code, always=defaults),
    }
    settings = replace(base, **values)
    _check_together(read, settings)
    return settings


def _threshold(read: TableReader) -> dict[str, Any]:
    """``min_available`` or ``min_available_percent`` (giving one drops the other's value)."""
    given = [key for key in THRESHOLD_KEYS if key in read]
    if len(given) == 2:
        raise read.fail("give either 'min_available' or 'min_available_percent', not both")
    if not given:
        return {}
    if "min_available" in read:
        count = read.number("min_available", integer=True, minimum=0)
        return {"min_available": count, "min_available_percent": None}
    percent = float(read.number("min_available_percent", above=True))
    if percent >= 100:
        raise read.fail("'min_available_percent' must be below 100")
    return {"min_available": None, "min_available_percent": percent}


def _forecast_keys(read: TableReader) -> dict[str, Any]:
    """``min_days_left`` and ``cover_days`` (false switches off an inherited one), and
    ``safety_factor``."""
    values: dict[str, Any] = {}
    for key in ("min_days_left", "cover_days"):
        if key not in read:
            continue
        if read.table[key] is False:  # switch off a value inherited from [defaults]
            values[key] = None
        elif read.table[key] is True:
            raise read.fail(f"'{key}' must be a number of days, or false to turn it off, not true")
        else:
            values[key] = float(read.number(key, above=True))
    if "safety_factor" in read:
        values["safety_factor"] = float(read.number("safety_factor", minimum=1))
    return values


def _code(read: TableReader, inherited: Mapping[str, Any], *, always: bool) -> dict[str, Any]:
    """The ``code`` table laid over ``inherited`` key by key (a rule's own ``length`` replaces
    an inherited ``pattern``); a rule without one keeps its base's code."""
    table = read.table_at("code", example='{ prefix = "WEL-" }')
    if not table and not always:
        return {}
    code = read.child(table, f"{read.context} code", CODE_KEYS)
    merged = dict(inherited)
    if "length" in table:
        merged.pop("pattern", None)
    merged.update(table)
    try:
        return {"code": CodeSpec(**merged)}
    except (ConfigError, TypeError) as exc:
        raise code.fail(str(exc)) from None


def _check_together(read: TableReader, settings: RuleSettings) -> None:
    """What no key is wrong alone for: a refill target at or below its threshold, a cover
    no longer than the forecast's warning time (checked where one of them is set)."""
    if (
        settings.min_available is not None
        and settings.refill_to <= settings.min_available
        and ("refill_to" in read or "min_available" in read)
    ):
        raise read.fail(
            f"'refill_to' ({settings.refill_to}) must be above the threshold "
            f"'min_available' ({settings.min_available}), or nothing would be refilled"
        )
    if (
        settings.cover_days is not None
        and settings.min_days_left is not None
        and settings.cover_days <= settings.min_days_left
        and ("cover_days" in read or "min_days_left" in read)
    ):
        raise read.fail(
            f"'cover_days' ({settings.cover_days:g}) must be above 'min_days_left' "
            f"({settings.min_days_left:g}), or every refill would leave the set due "
            "for the next one"
        )


# --- what a run would refuse -------------------------------------------------------------------


def check_limits(
    doc: TableReader, defaults: RuleSettings, rules: tuple[Rule, ...], most: int
) -> None:
    """What a run would refuse, refused now, for ``[defaults]`` and every rule: a refill above
    [limits] max_codes, a pool that is not a folder, or a code shape without room for one
    run's codes."""
    every = [("[defaults]", defaults), *((_context(r.index, r.name), r.settings) for r in rules)]
    for ctx, settings in every:
        if settings.max_per_run > most:
            raise doc.fail(
                f"'max_per_run' ({settings.max_per_run:,}) is above [limits] "
                f"max_codes ({most:,}); lower it, or raise max_codes",
                context=ctx,
            )
        if settings.enabled:
            _check_pool(doc, ctx, settings)
            _check_room(doc, ctx, settings)


def _check_pool(doc: TableReader, ctx: str, settings: RuleSettings) -> None:
    pool = settings.shop.pool
    if settings.shop.source == "pool" and pool and not pool.is_dir():
        raise doc.fail(
            f"'pool' names {pool}, which is not a folder; create it and "
            "put the shop's code files there",
            context="[shop]" if ctx == "[defaults]" else f"{ctx} shop",
        )


def _check_room(doc: TableReader, ctx: str, settings: RuleSettings) -> None:
    if settings.shop.source != "generate":
        return
    # the most one refill imports: up to refill_to, unless cover_days sizes it
    most_one = (
        settings.max_per_run
        if settings.cover_days is not None
        else min(settings.max_per_run, settings.refill_to)
    )
    try:
        check_capacity(settings.code, most_one, 0, MAX_FILL)
    except CapacityError as exc:
        raise doc.fail(
            f"one refill ({most_one:,} codes) would not fit: {exc}", context=f"{ctx} code"
        ) from None


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
