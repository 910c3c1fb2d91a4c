"""One store's cron job, whole: the client and ledger its configuration names, the run, its
[notify] notice, the warnings of sets running out (``[notify] empty_within``) and the figures
for the metrics file. ``voucherbot run`` does this for each store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voucherbot.app.account import make_client
from voucherbot.app.alerts import warn_empty_soon
from voucherbot.app.monitor import refilled_sets, store_figures
from voucherbot.app.notices import notifying
from voucherbot.app.runs import request_stats, run
from voucherbot.config import Config, ledger_path
from voucherbot.config.settings import PollSettings
from voucherbot.ledger import Ledger
from voucherbot.refill.results import RunResult
from voucherbot.report.metrics import StoreFigures


@dataclass(frozen=True)
class Job:
    """What one store's run did and cost."""

    result: RunResult
    stats: dict[str, Any]  #: :func:`~voucherbot.app.runs.request_stats`
    figures: StoreFigures | None  #: for the metrics file (None: not asked for)
    warned: tuple[str, ...] = ()  #: the sets-running-out warnings posted


def run_job(
    config: Config,
    ledger_file: Path | None,
    poll: PollSettings,
    *,
    confirmed: bool = False,
    metrics: bool = False,
    on_locked: Callable[[], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    **progress: Any,
) -> Job:
    """The store's run (see the module doc); ``progress`` holds the run's ``on_progress``,
    ``on_total`` and ``on_phase``."""
    started, clock = now(), time.monotonic()
    with make_client(config) as client, notifying(config, client.base_url, started) as finished:
        with Ledger.open(ledger_path(config, ledger_file)) as ledger:
            result = run(
                client,
                config,
                ledger,
                poll=poll,
                confirmed=confirmed,
                on_locked=on_locked,
                **progress,
            )
            warned = warn_empty_soon(config, result.plan, ledger, now(), client.base_url)
            figures = None
            if metrics:
                after = refilled_sets(client, result)
                figures = store_figures(config.store, ledger, result.plan, after)
        finished(result)
        return Job(result, request_stats(client, time.monotonic() - clock), figures, tuple(warned))


def ledger_figures(config: Config, ledger_file: Path | None) -> StoreFigures:
    """A store's figures from its ledger alone (a run that stopped before it read the
    sets): its totals and latest runs, no sets."""
    path = ledger_path(config, ledger_file)
    if not path.exists():
        return store_figures(config.store, Ledger.memory(), None)
    with Ledger.open(path, readonly=True) as ledger:
        return store_figures(config.store, ledger, None)
