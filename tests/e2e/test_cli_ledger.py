"""The ledger through the CLI: history, imports, the run lock, poll deadlines, bad ledgers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import Cli, assert_consistent, available, planned_refills


def wait_for(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_history_shows_runs_and_batches(cli: Cli) -> None:
    planned = planned_refills(cli)
    assert cli.run("run").returncode == 0
    table = cli.run("history")
    assert table.returncode == 0, table.stderr
    assert "Runs" in table.stdout and "Batches" in table.stdout
    for set_id in planned:
        assert set_id in table.stdout
    doc = json.loads(cli.run("history", "--format", "json").stdout)
    assert doc["version"] == 1
    (run,) = doc["runs"]
    assert run["command"] == "run" and run["outcome"] == "ok"
    assert run["stats"]["requests"]["import"] == 3 and run["stats"]["rateLimited"] == 0
    assert sorted(b["couponSetId"] for b in doc["batches"]) == sorted(planned)
    assert all(b["status"] == "finished" for b in doc["batches"])
    one = next(iter(planned))
    only = json.loads(cli.run("history", "--set", one, "--format", "json").stdout)
    assert [b["couponSetId"] for b in only["batches"]] == [one] and only["runs"] == []


def test_history_without_a_ledger_is_a_clear_error(cli: Cli) -> None:
    result = cli.run("history")
    assert result.returncode == 2
    assert "no ledger yet" in result.stderr and "Traceback" not in result.stderr


def test_imports_lists_and_follows(cli: Cli) -> None:
    assert cli.run("run").returncode == 0
    listed = cli.run("imports")
    assert listed.returncode == 0
    imports = cli.sandbox.state.imports
    for imp in imports:
        assert imp.id in listed.stdout
    followed = cli.run("imports", imports[0].id)
    assert followed.returncode == 0 and "finished" in followed.stdout
    missing = cli.run("imports", "000000000000000000000000")
    # an unknown id is a bad argument, like an unknown set for refill
    assert missing.returncode == 2 and "Connectif has no import" in missing.stderr


def test_a_second_run_exits_75_while_the_first_holds_the_lock(cli: Cli) -> None:
    cli.sandbox.state.pause_imports()
    first = cli.start("run")
    try:
        wait_for(
            lambda: (
                len(cli.sandbox.state.imports) >= 1
                and any(b["status"] == "submitted" for b in cli.batches())
            )
        )
        second = cli.run("run")
        assert second.returncode == 75
        assert second.stderr.startswith("Error: another voucherbot run holds the ledger lock")
        assert f"pid {first.pid}" in second.stderr
        refill = cli.run("refill", "x", "--count", "1")
        assert refill.returncode == 75
    finally:
        cli.sandbox.state.resume_imports()
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err


def test_poll_deadline_leaves_the_batch_for_the_next_run(cli: Cli) -> None:
    before = available(cli.sandbox)
    planned = planned_refills(cli)
    cli.sandbox.state.pause_imports()
    late = cli.run("run", "--timeout", "0.5")
    assert late.returncode == 1
    assert "poll deadline passed; the next run follows it" in " ".join(late.stdout.split())
    assert {b["status"] for b in cli.batches()} == {"submitted"}
    cli.sandbox.state.resume_imports()
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_consistent(cli, before, planned)
    assert len(cli.batches()) == len(planned)


def test_a_ledger_that_is_not_sqlite_changes_nothing(cli: Cli) -> None:
    cli.ledger.write_text("this is not a database\n")
    cli.ledger.with_name(cli.ledger.name + ".secret").write_text("00" * 32)
    result = cli.run("run")
    assert result.returncode == 2
    assert result.stderr == (
        f"Error: {cli.ledger} is not an SQLite database, not a voucherbot "
        "ledger; point --ledger (or [ledger] path, VOUCHERBOT_LEDGER) at "
        "the ledger you use\n"
    )
    assert cli.sandbox.state.imports == []


def test_ledger_location_precedence(cli: Cli, tmp_path: Path) -> None:
    by_option = tmp_path / "opt" / "l.sqlite"
    by_option.parent.mkdir()
    assert cli.run("run", "--ledger", str(by_option)).returncode == 0
    assert by_option.exists() and not cli.ledger.exists()
    by_rules = tmp_path / "fromrules.sqlite"
    cli.rules.write_text(cli.rules.read_text() + '\n[ledger]\npath = "fromrules.sqlite"\n')
    assert cli.run("history").returncode == 2  # no ledger at the rules' path yet
    assert cli.run("run").returncode == 0
    assert by_rules.exists()


@pytest.mark.parametrize("how", ["option", "env", "rules"])
def test_a_ledger_in_a_folder_that_does_not_exist_is_refused_not_started_afresh(
    cli: Cli, tmp_path: Path, how: str
) -> None:
    """A typo in the path, or a volume not mounted, must not start an empty ledger."""
    where = tmp_path / "not-mounted" / "ledger.sqlite"
    args: list[str] = ["run"]
    env: dict[str, str] = {}
    if how == "option":
        args += ["--ledger", str(where)]
    elif how == "env":
        env["VOUCHERBOT_LEDGER"] = str(where)
    else:
        cli.rules.write_text(cli.rules.read_text() + f'\n[ledger]\npath = "{where}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "voucherbot", *args, "--rules", str(cli.rules)],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli.env(**env),
        cwd=cli.rules.parent,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"Error: {where.parent}: the ledger's folder does not exist; create it, or point "
        "[ledger] path (or --ledger, VOUCHERBOT_LEDGER) at the ledger you use. A ledger is "
        "never started afresh in a new folder: an empty one would forget every code issued\n"
    )
    assert not where.parent.exists() and cli.sandbox.state.imports == []


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--dry-run"),
        ("report",),
        ("imports",),
        ("refill", "SET", "--count", "5", "--dry-run"),
    ],
    ids=["run-dry-run", "report", "imports", "refill-dry-run"],
)
def test_every_command_that_calls_the_api_says_what_it_cost(
    cli: Cli, args: tuple[str, ...]
) -> None:
    """--stats: requests by kind, 429s, budget wait, wall time; a dry run too."""
    if args[0] == "refill":
        target = next(cs.id for cs in cli.sandbox.state.coupon_sets() if cs.type == "multiple")
        args = tuple(target if a == "SET" else a for a in args)
    if args[0] == "run":  # the ledger a dry run reads exists after a first run
        assert cli.run("run").returncode == 0
    result = cli.run(*args, "--stats")
    assert result.returncode in (0, 1), result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("requests: ")]
    total = int(line.split()[1])
    assert total >= 1  # it counted the requests it really sent
    assert "429s: 0" in line and "wall time" in line
