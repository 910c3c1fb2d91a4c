"""`voucherbot config check`: the rules file validated, with no API call."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from voucherbot.cli.inputs import rules_config
from voucherbot.cli.options import rules_option

if TYPE_CHECKING:
    from voucherbot.config import RuleSettings


@click.group()
def config() -> None:
    """Check the rules file."""


@config.command("check")
@rules_option
def config_check(rules_path: Path | None, builtin_rules: bool) -> None:
    """Validate rules.toml without calling the API (exit 2 on the first problem).

    It refuses what `run` would refuse before its first API call: the shop sinks' settings
    (a webhook's secret must be in the environment) and the ledger's place included."""
    from voucherbot.app import preflight

    cfg = rules_config(rules_path, builtin_rules)
    for store in cfg.each_store():
        preflight(store.config, None)
    click.echo(
        f"{cfg.path or 'the built-in rules'}: OK: {len(cfg.rules)} rule(s); defaults: "
        f"{_describe_settings(cfg.defaults)}"
    )
    for rule in cfg.rules:
        only = f" (store {rule.store} only)" if rule.store else ""
        click.echo(
            f"  {rule.label}{only}: {rule.match.describe()}: {_describe_settings(rule.settings)}"
        )
    for store in cfg.stores:
        c = store.config
        key = str(c.api_key_file) if c.api_key_file else c.api_key_env
        click.echo(
            f"  store {store.name}: {c.base_url or 'https://api.connectif.cloud'}, key from "
            f"{key}, ledger {c.ledger_path}, {c.requests_per_minute} requests a minute"
        )


def _describe_settings(s: RuleSettings) -> str:
    """A rule's refill settings in one line of words."""
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
