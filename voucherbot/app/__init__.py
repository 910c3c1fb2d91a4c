"""The use cases, one per command, callable from Python: what ``voucherbot run``, ``refill``,
``report`` and ``resolve`` do, wired to the API and the ledger. The CLI is a thin adapter over
these; everything here works without it.

* :mod:`~voucherbot.app.account`: the client the configuration describes, one read of the
  account, and the plan.
* :mod:`~voucherbot.app.runs`: :func:`run` (the cron job) and :func:`refill_set` (one set), under
  the ledger's lock and recorded with their outcome.
* :mod:`~voucherbot.app.reports`: :func:`report`, the plan as a report.
* :mod:`~voucherbot.app.settle`: :func:`resolve`, settling an unresolved batch by hand.
* :mod:`~voucherbot.app.notices`: what the ``[notify]`` webhook hears.
* :mod:`~voucherbot.app.checks`: :func:`preflight`, what a run refuses before its first call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers; at run time each loads on first use
    from voucherbot.app.account import (
        AccountState,
        held_sets,
        ledger_imports,
        make_client,
        make_plan,
        read_workflows,
    )
    from voucherbot.app.checks import preflight
    from voucherbot.app.notices import notify, notifying, run_notice
    from voucherbot.app.reports import report
    from voucherbot.app.runs import describe_stats, refill_set, request_stats, run
    from voucherbot.app.settle import resolve

#: where each name lives, so that `voucherbot --help` and `config check` do not load requests
_HOMES = {
    "AccountState": "account",
    "held_sets": "account",
    "ledger_imports": "account",
    "make_client": "account",
    "make_plan": "account",
    "read_workflows": "account",
    "preflight": "checks",
    "notify": "notices",
    "notifying": "notices",
    "run_notice": "notices",
    "report": "reports",
    "describe_stats": "runs",
    "refill_set": "runs",
    "request_stats": "runs",
    "run": "runs",
    "resolve": "settle",
}

__all__ = [
    "AccountState",
    "describe_stats",
    "held_sets",
    "ledger_imports",
    "make_client",
    "make_plan",
    "notify",
    "notifying",
    "preflight",
    "read_workflows",
    "refill_set",
    "report",
    "request_stats",
    "resolve",
    "run",
    "run_notice",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"voucherbot.app.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'voucherbot.app' has no attribute {name!r}")
