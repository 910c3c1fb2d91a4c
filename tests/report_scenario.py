"""A report worth looking at: two simulated days of cron runs against the sandbox.

The sandbox (seed 1, demand on) hands out codes; ``voucherbot run`` runs every 6 h of sandbox
time for two days, so the ledger has snapshots, refills and forecasts. One busy set is disabled
by its rule and runs dry (it must top the report); one set's refills are refused by the server
and keep failing. Then the report is rendered in every format.

    python -m tests.report_scenario OUT_DIR   # writes report.html, report.txt, report.md

Used by the browser tests (tests/browser) and to look at the report by hand.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support import API_KEY, invoke
from voucherbot.sandbox import RunningSandbox, SandboxConfig, SandboxState, start_sandbox

DAYS = 2
EVERY_HOURS = 6


@dataclass(frozen=True)
class ReportScenario:
    html: str
    table: str
    markdown: str
    json: str
    disabled: str  #: the busy set disabled by its rule (empty by the end)
    disabled_name: str
    failing: str  #: the set whose refills the server refuses


def _invoke(sandbox: RunningSandbox, rules: Path, *args: str) -> str:
    result = invoke(sandbox, *args, "--rules", str(rules))
    if result.exit_code not in (0, 1):
        raise AssertionError(f"voucherbot {' '.join(args)}: {result.output}")
    return result.stdout


def build(folder: Path) -> ReportScenario:
    config = SandboxConfig(seed=1, api_key=API_KEY, counter_lag=0, rate_limit=0)
    state = SandboxState(config)
    active = {w.id for w in state.workflows() if w.status == "active"}
    busy = [
        cs
        for cs in state.coupon_sets()
        if cs.type == "multiple" and len(active.intersection(cs.workflow_ids)) >= 1
    ]
    disabled, failing = busy[0], busy[1]
    state.set_available(disabled.id, 900)
    state.set_demand_rate(disabled.id, 600)  # empty within the two days
    rules = folder / "rules.toml"
    rules.write_text(
        "[connectif]\nrequests_per_minute = 6000\nretry_backoff = 0.05\n\n"
        "[polling]\ninterval = 0.05\nmax_interval = 0.2\ntimeout = 30\n\n"
        '[forecast]\nmin_snapshots = 3\nmin_span = "12h"\n\n'
        "[defaults]\nmin_days_left = 3\ncover_days = 7\ncooldown = 0\n\n"
        f'[[rule]]\nname = "paused by marketing"\nmatch = {{ id = "{disabled.id}" }}\n'
        "enabled = false\n\n"
        f'[[rule]]\nname = "campaign"\nmatch = {{ id = "{failing.id}" }}\n'
        "min_available = 100000\nrefill_to = 120000\nmax_per_run = 5000\n"
    )
    with start_sandbox(state=state) as sandbox:
        for step in range(DAYS * 24 // EVERY_HOURS + 1):
            if step:
                state.advance(EVERY_HOURS * 3600)
            if step == 2:  # from now on its imports end in error
                state.faults.import_outcome("error", coupon_set_id=failing.id, times=None)
            _invoke(sandbox, rules, "run", "-q")
        out = {fmt: _invoke(sandbox, rules, "report", "--format", fmt) for fmt in
               ("html", "table", "markdown", "json")}  # fmt: skip
    return ReportScenario(
        out["html"],
        out["table"],
        out["markdown"],
        out["json"],
        disabled.id,
        disabled.name,
        failing.id,
    )


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    scenario = build(folder)
    (folder / "report.html").write_text(scenario.html, encoding="utf-8")
    (folder / "report.txt").write_text(scenario.table, encoding="utf-8")
    (folder / "report.md").write_text(scenario.markdown, encoding="utf-8")
    print(folder / "report.html")


if __name__ == "__main__":
    main()
