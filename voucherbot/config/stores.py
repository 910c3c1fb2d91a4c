"""``[[store]]`` (several Connectif stores from one file) and ``[monitor]`` (pings, metrics).

Each ``[[store]]`` has a ``name``, where its key is (``api_key_env``, the name of a variable,
or ``api_key_file``), and optionally ``base_url``, ``requests_per_minute``, ``ledger`` and its
own ``[store.shop]``. A ``[[rule]]`` with ``store = "..."`` applies to that store alone, the
others to every store. Each store's :class:`~voucherbot.config.settings.Config` is the whole
file's with the store's values laid over it, so everything that works on one store works on
each of them unchanged: one store shares nothing with another but the rules (its own ledger,
ledger secret, lock, key and request budget).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from voucherbot.config.paths import default_ledger_path
from voucherbot.config.settings import (
    MONITOR_KEYS,
    STORE_KEYS,
    STORE_NAME,
    Config,
    MonitorSettings,
    Rule,
    RuleSettings,
    Store,
)
from voucherbot.config.tables import TableReader, base_url_problem, hide_url

#: How a store's rules are read with its own [shop]: (its shop table) -> (defaults, rules).
RulesFor = Callable[[Mapping[str, Any]], tuple[RuleSettings, tuple[Rule, ...]]]


def parse_stores(doc: TableReader, base: Config, rules_for: RulesFor) -> tuple[Store, ...]:
    """Every ``[[store]]``, each with its own configuration laid over ``base``."""
    raw = doc.table.get("store", [])
    if not isinstance(raw, list):
        raise doc.fail("'store' must be an array of tables: write each as [[store]]")
    stores: list[Store] = []
    for index, table in enumerate(raw, start=1):
        if not isinstance(table, Mapping):
            raise doc.fail("each [[store]] must be a table", context=f"store #{index}")
        name = table.get("name")
        context = f"store '{name}'" if isinstance(name, str) and name else f"store #{index}"
        stores.append(_store(doc.child(table, context, STORE_KEYS), base, rules_for, stores))
    _check_rule_stores(doc, base.rules, stores)
    return tuple(stores)


def _store(read: TableReader, base: Config, rules_for: RulesFor, earlier: list[Store]) -> Store:
    name = read.string("name")
    if name is None or not re.fullmatch(STORE_NAME, name):
        raise read.fail(
            "'name' must be a short lower-case name (letters, digits, - and _, such as "
            '"shop-es"): it names the store\'s ledger and labels its metrics'
        )
    if any(s.name == name for s in earlier):
        raise read.fail(f"the name '{name}' is already another store's; store names are unique")
    key_env = read.variable("api_key_env")
    key_file = read.path("api_key_file", base.path.parent if base.path else None)
    if (key_env is None) == (key_file is None):
        raise read.fail(
            "give exactly one of 'api_key_env' (the variable holding the store's API key) or "
            "'api_key_file' (a file holding it, readable by its owner only)"
        )
    url = read.string("base_url")
    problem = base_url_problem(url) if url is not None else None
    if problem:
        raise read.fail(f"'base_url' {problem}")
    ledger = read.path("ledger", base.path.parent if base.path else None)
    if ledger is None:  # one ledger per store, never shared: named after the store
        beside = default_ledger_path(base.path)
        ledger = beside.with_name(f"{beside.stem}-{name}{beside.suffix}")
    if "shop" in read:
        defaults, rules = rules_for(read.table_at("shop"))
    else:
        defaults, rules = base.defaults, base.rules
    config = replace(
        base,
        base_url=url or base.base_url,
        requests_per_minute=read.number(
            "requests_per_minute", base.requests_per_minute, integer=True, minimum=1,
            maximum=100_000,
        ),
        api_key_env=key_env or "",  # a file's key only: no variable of every store's
        api_key_file=key_file,
        ledger_path=ledger,
        defaults=defaults,
        rules=tuple(r for r in rules if r.store in (None, name)),
        store=name,
    )  # fmt: skip
    for other in earlier:
        _check_apart(read, name, config, other)
    return Store(name, config)


def _check_apart(read: TableReader, name: str, config: Config, other: Store) -> None:
    """Two stores never share a ledger (nor its lock), nor one account (its key)."""
    if config.ledger_path == other.config.ledger_path:
        raise read.fail(
            f"its ledger {config.ledger_path} is store '{other.name}''s too; give each store "
            "its own 'ledger': two stores in one ledger would share its lock and secret"
        )
    if _account(config) == _account(other.config):
        raise read.fail(
            f"it reads the same API key as store '{other.name}' at the same address: one "
            "account is one store (two ledgers for one account could issue a code twice)"
        )


def _account(config: Config) -> tuple[Path | str | None, str | None]:
    """Where a store's key is read (its file, else its variable) and the address it is for."""
    return config.api_key_file or config.api_key_env, config.base_url


def _check_rule_stores(doc: TableReader, rules: tuple[Rule, ...], stores: list[Store]) -> None:
    names = {s.name for s in stores}
    for rule in rules:
        if rule.store is not None and rule.store not in names:
            known = ", ".join(sorted(names)) or "none: there is no [[store]] table"
            raise doc.fail(
                f"{rule.label}: 'store' names {rule.store!r}, which is no [[store]]'s name "
                f"(the stores: {known})"
            )


def parse_monitor(table: Mapping[str, Any], where: str, base_dir: Path | None) -> MonitorSettings:
    """``[monitor]``: ``ping_url`` (or ``ping_url_env``), ``timeout``, ``metrics_file``."""
    read = TableReader(table, where, "[monitor]", MONITOR_KEYS)
    # a health check's URL is its secret: whoever has it can ping it
    url = read.secret_url("ping_url", "ping_url_env", os.environ)
    if url is not None:
        url = url.rstrip("/")
        hide_url(url)  # without its final "/" too, as the pings are sent
    return MonitorSettings(
        ping_url=url,
        timeout=float(read.number("timeout", MonitorSettings.timeout, above=True, maximum=60)),
        metrics_file=read.path("metrics_file", base_dir),
    )
