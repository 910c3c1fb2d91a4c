"""The use cases behind `voucherbot run` and `voucherbot report`, callable from Python.

They tie the parts together: a client built from the configuration, one read of every coupon
set, workflow and recent import, the pure planner, and :func:`~voucherbot.refill.run_plan`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voucherbot.config import Config
from voucherbot.connectif import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, ConnectifClient
from voucherbot.models import CouponSet, Import, Workflow
from voucherbot.planner import Plan, plan
from voucherbot.poll import PollSettings, ProgressCallback
from voucherbot.refill import RunResult, run_plan

#: How many pages of GET /imports/ a run reads to find imports in flight and the last import
#: of each set (for ``cooldown``). The sandbox lists imports newest first.
IMPORT_PAGES = 10


def make_client(config: Config, env: Mapping[str, str] | None = None) -> ConnectifClient:
    """A client for the configured account: the key from ``CONNECTIF_API_KEY``, the base URL
    from ``CONNECTIF_BASE_URL``, else ``[connectif] base_url``, else Connectif's."""
    env = os.environ if env is None else env
    return ConnectifClient(
        env.get("CONNECTIF_API_KEY", ""),
        env.get("CONNECTIF_BASE_URL") or config.base_url or DEFAULT_BASE_URL,
        requests_per_minute=config.requests_per_minute,
        timeout=(DEFAULT_TIMEOUT[0], config.timeout),
    )


@dataclass(frozen=True)
class AccountState:
    """One consistent read of what the planner needs."""

    coupon_sets: tuple[CouponSet, ...]
    workflows: tuple[Workflow, ...]
    imports: tuple[Import, ...]
    read_at: datetime


def read_state(client: ConnectifClient, *, import_pages: int = IMPORT_PAGES) -> AccountState:
    """Every coupon set and workflow, and the most recent pages of imports."""
    sets = tuple(client.iter_coupon_sets())
    workflows = tuple(client.iter_workflows())
    imports = tuple(client.iter_imports(max_pages=import_pages))
    return AccountState(sets, workflows, imports, datetime.now(UTC))


def make_plan(client: ConnectifClient, config: Config) -> tuple[Plan, AccountState]:
    """Read the account and plan every set against the rules."""
    state = read_state(client)
    return plan(state.coupon_sets, state.workflows, config, state.imports, state.read_at), state


def run(
    client: ConnectifClient,
    config: Config,
    *,
    poll: PollSettings | None = None,
    workdir: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Plan, then refill every set the plan says needs it (the cron job)."""
    the_plan, _ = make_plan(client, config)
    return run_plan(client, the_plan, poll=poll or config.poll, workdir=workdir,
                    on_progress=on_progress)
