"""Crash safety: voucherbot killed (SIGKILL) at every step of a refill, then one normal run.

After each scenario the next normal run must leave every planned set raised exactly once,
no code twice in the sandbox, and the ledger agreeing with the sandbox's imports.
"""

from __future__ import annotations

import signal

import pytest

from tests.support import Cli, assert_consistent, available, planned_refills


@pytest.mark.parametrize(
    ("failpoint", "imports_after_kill", "status_after_kill"),
    [
        ("after-batch", 0, "prepared"),
        ("after-submitting", 0, "submitting"),
        ("post-answered", 1, "submitting"),
        ("after-import-id", 1, "submitted"),
        ("polling", None, "submitted"),  # every import is submitted before polling starts
    ],
)
def test_killed_run_is_finished_by_the_next(
    cli: Cli, failpoint: str, imports_after_kill: int | None, status_after_kill: str
) -> None:
    before = available(cli.sandbox)
    planned = planned_refills(cli)
    assert len(planned) >= 2
    if imports_after_kill is None:
        imports_after_kill = len(planned)

    killed = cli.run("run", failpoint=failpoint)
    assert killed.returncode == -signal.SIGKILL
    assert len(cli.sandbox.state.imports) == imports_after_kill
    assert [b["status"] for b in cli.batches()] == (
        [status_after_kill] * max(1, imports_after_kill if failpoint == "polling" else 1)
    )

    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_consistent(cli, before, planned)
    statuses = [b["status"] for b in cli.batches()]
    if imports_after_kill:  # the import the dead run created was adopted, not repeated
        assert statuses.count("abandoned") == 0
        assert len(cli.sandbox.state.imports) == len(planned)
    else:  # its codes never left: abandoned, and the set refilled by a new batch
        assert statuses.count("abandoned") == 1

    quiet = cli.run("run")
    assert quiet.returncode == 0
    assert quiet.stdout.startswith("Nothing to do")
    assert_consistent(cli, before, planned)


def test_killed_refill_is_finished_by_the_next_refill(cli: Cli) -> None:
    target = next(iter(planned_refills(cli)))
    before = available(cli.sandbox)
    killed = cli.run("refill", target, "--count", "300", failpoint="post-answered")
    assert killed.returncode == -signal.SIGKILL
    again = cli.run("refill", target, "--count", "100")
    assert again.returncode == 0, again.stderr
    assert "earlier batch:" in again.stdout
    assert available(cli.sandbox)[target] == before[target] + 300 + 100
    assert_consistent(cli, before, {target: 400})
