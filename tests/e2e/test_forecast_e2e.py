"""Forecast-driven refills end to end: the sandbox clock moves, `voucherbot run` runs again and
again, and a hot set is refilled before it empties while an idle set with fewer codes is not.

One scenario (built once, by the ``scenario`` fixture) drives the real CLI in-process (click's
CliRunner) against a real sandbox serving HTTP in a thread. Only the sandbox clock waits:

* set H ("hot") hands out HOT_RATE codes a day and starts with HOT_STOCK (two days' worth,
  far above the absolute threshold MIN_AVAILABLE); set I ("idle") hands out none and starts
  with IDLE_STOCK, fewer codes than H ever has. Every other set has no demand and is disabled.
* Both sets have the same rule: ``min_available = 50`` (never reached), ``min_days_left = 3``,
  ``cover_days = 4``; the forecast needs 3 snapshots over 12 h.
* RUNS runs, one every 6 h of sandbox time (the clock moves in 1 h steps in between, and H is
  checked at every step). Before each run the JSON report says what the run will do and why.

Expected, by arithmetic: runs 0 and 1 have too little history and fall back to the absolute
threshold (no refill: both sets are far above it). Run 2 (12 h of history) knows H burns
2,000/day: 3,000 left is 1.5 days < 3, so it refills H to 2,000 x 4 x 1.2 = 9,600. H then
falls 500 per run; at run 10 it has 5,600 left, 2.8 days < 3, and is refilled again. I (1,000
codes, no demand) is never refilled: it never empties.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.support import API_KEY, Cli, assert_consistent, invoke
from voucherbot.connectif.client import ConnectifClient
from voucherbot.sandbox import RunningSandbox, SandboxConfig, start_sandbox
from voucherbot.sandbox.imports import ImportRecord

HOUR = 3600
DAY = 24 * HOUR
STEP_HOURS = 6  #: sandbox hours between two runs
RUNS = 12  #: runs at 0 h, 6 h, ..., 66 h of sandbox time
HOT_RATE = 2000  #: codes a day handed out from H
HOT_STOCK = 4000  #: H's available at the start: two days
IDLE_STOCK = 1000  #: I's available: fewer than H ever has, and it never moves
MIN_AVAILABLE = 50
MIN_DAYS_LEFT = 3
COVER_DAYS = 4
SAFETY_FACTOR = 1.2
#: H's target once its burn is known: ceil(2,000 x 4 x 1.2)
COVER_TARGET = math.ceil(HOT_RATE * COVER_DAYS * SAFETY_FACTOR)
#: the runs that must refill H (see the module doc for the arithmetic)
EXPECTED_HOT_REFILLS = [2, 10]
#: slack for timestamps: the Date header has whole seconds, and real time passes during a run
CLOCK_SLACK = 2.0

#: a ``snapshots`` row: (run_id, coupon_set_id, taken_at, available, assigned)
SnapshotRow = tuple[int, str, datetime, int | None, int]
#: a ``runs`` row: (id, command, outcome)
RunRow = tuple[int, str, str | None]


@dataclass(frozen=True)
class RunRecord:
    """What one `voucherbot run` saw and did."""

    index: int
    clock_before: float  #: sandbox clock (Unix seconds) right before the run
    clock_after: float  #: ... and right after it
    hot_lowest: int  #: H's lowest available at every hourly step since the previous run
    hot_before: int
    idle_before: int
    hot_after: int
    idle_after: int
    report: Mapping[str, Mapping[str, Any]]  #: JSON report rows by set id, right before the run
    imports: tuple[ImportRecord, ...]  #: the imports this run created in the sandbox
    output: str


@dataclass(frozen=True)
class Scenario:
    hot: str
    idle: str
    set_ids: frozenset[str]
    runs: tuple[RunRecord, ...]
    final_report: Mapping[str, Any]  #: the JSON report after the last run
    snapshots: tuple[SnapshotRow, ...]
    run_rows: tuple[RunRow, ...]
    batches: tuple[Mapping[str, object], ...]
    wall_elapsed: float  #: real seconds the whole scenario took


def rules_text(hot: str, idle: str) -> str:
    """Only H and I are the bot's business; both get the same, forecast-driven rule."""
    rule = (
        f"min_available = {MIN_AVAILABLE}\n"
        "refill_to = 5000\n"
        f"min_days_left = {MIN_DAYS_LEFT}\n"
        f"cover_days = {COVER_DAYS}\n"
        f"safety_factor = {SAFETY_FACTOR}\n"
        "cooldown = 0\n"
    )
    return (
        "[connectif]\n"
        "requests_per_minute = 6000\n"
        "retry_backoff = 0.05\n\n"
        "[polling]\n"
        "interval = 0.05\n"
        "max_interval = 0.2\n"
        "timeout = 30\n\n"
        "[forecast]\n"
        "min_snapshots = 3\n"
        'min_span = "12h"\n\n'
        "[defaults]\n"
        "enabled = false\n"
        f"{rule}\n"
        "[[rule]]\n"
        'name = "hot"\n'
        f'match = {{ id = "{hot}" }}\n'
        "enabled = true\n"
        f"{rule}\n"
        "[[rule]]\n"
        'name = "idle"\n'
        f'match = {{ id = "{idle}" }}\n'
        "enabled = true\n"
        f"{rule}"
    )


def report_json(sandbox: RunningSandbox, rules: Path) -> dict[str, Any]:
    result = invoke(sandbox, "report", "--rules", str(rules), "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def available_of(sandbox: RunningSandbox, set_id: str) -> int:
    return sandbox.state.get_set(set_id).available or 0


def pick_sets(sandbox: RunningSandbox) -> tuple[str, str]:
    """Two multiple sets that an active workflow uses (so the sandbox hands out their codes)."""
    active = {w.id for w in sandbox.state.workflows() if w.status == "active"}
    busy = [
        cs.id
        for cs in sandbox.state.coupon_sets()
        if cs.type == "multiple" and active.intersection(cs.workflow_ids)
    ]
    assert len(busy) >= 2, busy
    return busy[0], busy[1]


def read_ledger(ledger: Path) -> tuple[tuple[SnapshotRow, ...], tuple[RunRow, ...]]:
    """Every snapshot and every run, read straight from the SQLite ledger."""
    db = sqlite3.connect(ledger)
    try:
        snapshots = tuple(
            (run_id, set_id, datetime.fromisoformat(taken), available, assigned)
            for run_id, set_id, taken, available, assigned in db.execute(
                "SELECT run_id, coupon_set_id, taken_at, available, assigned FROM snapshots "
                "ORDER BY run_id, coupon_set_id"
            )
        )
        runs = tuple(db.execute("SELECT id, command, outcome FROM runs ORDER BY id"))
    finally:
        db.close()
    return snapshots, runs


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    folder = tmp_path_factory.mktemp("forecast-e2e")
    wall_start = time.monotonic()
    config = SandboxConfig(seed=1, api_key=API_KEY, rate_limit=0, demand=True)
    with start_sandbox(config) as sandbox:
        state = sandbox.state
        hot, idle = pick_sets(sandbox)
        for set_id in state.demand_rates():
            state.set_demand_rate(set_id, 0)
        state.set_demand_rate(hot, HOT_RATE)
        state.set_available(hot, HOT_STOCK)
        state.set_available(idle, IDLE_STOCK)
        assert state.consuming(hot) and not state.consuming(idle)

        rules = folder / "rules.toml"
        rules.write_text(rules_text(hot, idle))
        checked = invoke(sandbox, "config", "check", "--rules", str(rules))
        assert checked.exit_code == 0, checked.output
        helper = Cli(sandbox, rules)

        runs: list[RunRecord] = []
        for index in range(RUNS):
            hot_lowest = available_of(sandbox, hot)
            if index:
                for _ in range(STEP_HOURS):
                    state.advance(HOUR)
                    hot_lowest = min(hot_lowest, available_of(sandbox, hot))
            before = {cs.id: cs.available or 0 for cs in state.coupon_sets()}
            report = report_json(sandbox, rules)
            rows = {row["id"]: row for row in report["sets"]}
            planned = {i: r["count"] for i, r in rows.items() if r["action"] == "refill"}
            known_imports = {imp.id for imp in state.imports}

            clock_before = state.now()
            result = invoke(sandbox, "run", "--rules", str(rules), "-q")
            clock_after = state.now()
            assert result.exit_code == 0, (index, result.output)

            new = tuple(imp for imp in state.imports if imp.id not in known_imports)
            if state.imports:
                # the run did exactly what the report said: every planned set raised once, by
                # the planned count, and the ledger agrees with the sandbox
                assert_consistent(helper, before, planned)
            else:
                assert before == {cs.id: cs.available or 0 for cs in state.coupon_sets()}
            runs.append(
                RunRecord(
                    index=index,
                    clock_before=clock_before,
                    clock_after=clock_after,
                    hot_lowest=hot_lowest,
                    hot_before=before[hot],
                    idle_before=before[idle],
                    hot_after=available_of(sandbox, hot),
                    idle_after=available_of(sandbox, idle),
                    report=rows,
                    imports=new,
                    output=result.output,
                )
            )
        final_report = report_json(sandbox, rules)
        set_ids = frozenset(cs.id for cs in state.coupon_sets())
        batches = tuple(helper.batches())
        snapshots, run_rows = read_ledger(helper.ledger)
    return Scenario(
        hot=hot,
        idle=idle,
        set_ids=set_ids,
        runs=tuple(runs),
        final_report=final_report,
        snapshots=snapshots,
        run_rows=run_rows,
        batches=batches,
        wall_elapsed=time.monotonic() - wall_start,
    )


def hot_refills(scenario: Scenario) -> list[RunRecord]:
    return [r for r in scenario.runs if any(i.coupon_set_id == scenario.hot for i in r.imports)]


# --- the requirement ---------------------------------------------------------------------------


def test_hot_set_is_refilled_by_the_forecast_before_it_empties(scenario: Scenario) -> None:
    hot = scenario.hot
    for run in scenario.runs:
        # never empty: not at any hourly step, not right before a run, not after one (in fact
        # it never even gets near the absolute threshold, so only the forecast can refill it)
        assert run.hot_lowest > MIN_AVAILABLE, (run.index, run.hot_lowest)
        assert run.hot_before > MIN_AVAILABLE and run.hot_after > MIN_AVAILABLE, run

    refills = hot_refills(scenario)
    assert [r.index for r in refills] == EXPECTED_HOT_REFILLS, [
        (r.index, r.hot_before, r.report[hot]["reason"]) for r in scenario.runs
    ]
    for run in refills:
        (imp,) = run.imports
        row = run.report[hot]
        # created while H was still far above the absolute threshold: the forecast fired
        assert run.clock_before - CLOCK_SLACK <= imp.created_at <= run.clock_after + CLOCK_SLACK
        assert run.hot_before > MIN_AVAILABLE
        assert row["action"] == "refill" and row["skip"] is None
        assert row["reason"].startswith("empties in "), row["reason"]
        assert f"< min_days_left {MIN_DAYS_LEFT}" in row["reason"]
        assert "forecast unknown" not in row["reason"]
        assert row["daysLeft"] < MIN_DAYS_LEFT
        # sized by cover_days from the forecast burn, not by refill_to
        assert row["count"] == imp.total == imp.success and imp.status == "finished"
        assert row["target"] == pytest.approx(COVER_TARGET, rel=0.01)
        assert run.hot_after == run.hot_before + row["count"] == row["target"]
        assert f"{COVER_DAYS} days × " in row["reason"]

    hot_batches = [b for b in scenario.batches if b["coupon_set_id"] == hot]
    assert [b["import_id"] for b in hot_batches] == [r.imports[0].id for r in refills]
    assert all(b["status"] == "finished" for b in hot_batches)


def test_idle_set_with_fewer_codes_is_never_refilled(scenario: Scenario) -> None:
    idle = scenario.idle
    for run in scenario.runs:
        assert run.idle_before == run.idle_after == IDLE_STOCK
        assert run.report[idle]["action"] == "skip", run.report[idle]
        assert run.report[idle]["skip"] == "above-threshold"
        assert not [i for i in run.imports if i.coupon_set_id == idle]
    assert not [b for b in scenario.batches if b["coupon_set_id"] == idle]
    # ...although it had fewer codes left than H had whenever H was refilled
    for run in hot_refills(scenario):
        assert run.hot_before > IDLE_STOCK
    # and nothing else was touched either: every import went into H
    every_import = [i for run in scenario.runs for i in run.imports]
    assert every_import and {i.coupon_set_id for i in every_import} == {scenario.hot}


def test_first_runs_fall_back_to_the_absolute_threshold(scenario: Scenario) -> None:
    for run in scenario.runs[:2]:
        assert not run.imports
        for set_id in (scenario.hot, scenario.idle):
            row = run.report[set_id]
            assert row["action"] == "skip" and row["skip"] == "above-threshold", row
            assert row["burnPerDay"] is None and row["daysLeft"] is None, row
            assert row["forecastNote"].startswith("not enough history"), row
            assert "need 3 over 12 h" in row["forecastNote"]
            assert "forecast unknown: not enough history" in row["reason"], row["reason"]
            assert "using min_available" in row["reason"]
    # from the third run on, the forecast is known for both sets
    for run in scenario.runs[2:]:
        for set_id in (scenario.hot, scenario.idle):
            row = run.report[set_id]
            assert row["burnPerDay"] is not None, (run.index, row)
            assert "forecast unknown" not in row["reason"]


def test_readings_over_http_are_dated_by_the_sandbox_clock() -> None:
    """What the snapshot dating rests on: over real HTTP, the client's notion of the server's
    time follows the sandbox clock (its Date header), not this machine's."""
    config = SandboxConfig(seed=1, api_key=API_KEY, rate_limit=0, demand=False)
    with start_sandbox(config) as sandbox, ConnectifClient(API_KEY, sandbox.url) as client:
        sandbox.state.advance(DAY)
        client.list_coupon_sets()
        seen = client.now().timestamp()
        assert sandbox.state.now() - CLOCK_SLACK <= seen <= sandbox.state.now() + CLOCK_SLACK, (
            datetime.fromtimestamp(seen, UTC),
            datetime.fromtimestamp(sandbox.state.now(), UTC),
        )


def test_ledger_snapshots_are_dated_by_the_sandbox_clock(scenario: Scenario) -> None:
    run_ids = [rid for rid, command, _ in scenario.run_rows if command == "run"]
    assert len(run_ids) == RUNS == len(scenario.run_rows)
    by_run: dict[int, list[SnapshotRow]] = {}
    for snap in scenario.snapshots:
        by_run.setdefault(snap[0], []).append(snap)
    assert sorted(by_run) == run_ids
    times = []
    for run_id, run in zip(run_ids, scenario.runs, strict=True):
        rows = by_run[run_id]
        # one row per set per run, all taken at one moment
        assert sorted(s[1] for s in rows) == sorted(scenario.set_ids)
        (taken,) = {s[2] for s in rows}
        assert taken.tzinfo is not None
        # ...the sandbox's moment, not this machine's
        when = taken.timestamp()
        assert run.clock_before - CLOCK_SLACK <= when <= run.clock_after + CLOCK_SLACK, (
            run.index,
            taken,
            datetime.fromtimestamp(run.clock_before, UTC),
        )
        hot_row = next(s for s in rows if s[1] == scenario.hot)
        assert hot_row[3] == run.hot_before
        times.append(taken)
    for earlier, later in pairwise(times):
        step = (later - earlier).total_seconds()
        assert abs(step - STEP_HOURS * HOUR) <= 2 * CLOCK_SLACK + 5, (earlier, later)
    # 66 hours of history, built in a few seconds of real time
    assert times[-1] - times[0] >= timedelta(hours=STEP_HOURS * (RUNS - 1)) - timedelta(seconds=5)
    assert scenario.wall_elapsed < 60


def test_report_shows_the_burn_rate_and_days_left(scenario: Scenario) -> None:
    report = scenario.final_report
    assert report["version"] == 1
    rows = {row["id"]: row for row in report["sets"]}
    hot, idle = rows[scenario.hot], rows[scenario.idle]

    assert hot["burnPerDay"] == pytest.approx(HOT_RATE, rel=0.1)
    assert hot["available"] == scenario.runs[-1].hot_after
    assert hot["daysLeft"] == pytest.approx(hot["available"] / hot["burnPerDay"], abs=0.01)
    assert hot["emptyAt"] is not None
    empty_at = datetime.fromisoformat(hot["emptyAt"].replace("Z", "+00:00"))
    generated = datetime.fromisoformat(report["generatedAt"].replace("Z", "+00:00"))
    assert (empty_at - generated).total_seconds() / DAY == pytest.approx(hot["daysLeft"], abs=0.01)
    assert hot["forecastNote"].startswith("weighted over")
    assert hot["action"] == "skip" and "empties in" in hot["reason"]

    assert idle["available"] == IDLE_STOCK
    assert idle["burnPerDay"] == 0
    assert idle["daysLeft"] is None and idle["emptyAt"] is None  # never
    assert idle["forecastNote"].startswith("weighted over")
    assert "no demand" in idle["reason"]
    # the report is dated by the sandbox too: days ahead of this machine's clock
    assert generated - datetime.now(UTC) > timedelta(hours=STEP_HOURS * (RUNS - 1) - 1)
