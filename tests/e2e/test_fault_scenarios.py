"""A half-broken server: every fault the sandbox can inject, then one more normal run.

After each scenario one more normal run must leave every planned set raised exactly once, no
code twice in the sandbox, the ledger agreeing with the sandbox's imports, and the exit codes
as documented (0 clean, 1 a refill failed, 2 bad input).
"""

from __future__ import annotations

import os
import shutil
import stat

import pytest

from tests.support import Cli, assert_consistent, available, planned_refills


def settle_and_check(cli: Cli, before: dict[str, int], planned: dict[str, int]) -> None:
    """One more normal run, then the end state every scenario must reach."""
    cli.sandbox.state.faults.clear()
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_consistent(cli, before, planned)
    final = cli.run("run")
    assert final.returncode == 0 and final.stdout.startswith("Nothing to do"), final.stdout


def test_connection_dropped_after_the_import_was_created(cli: Cli) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.drop_after_accept()
    result = cli.run("run")
    # the lost answer is reconciled at once: the import is adopted, not sent again
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == len(planned)
    assert ("POST", "/imports/", "drop_after_accept") in cli.sandbox.state.faults.log
    assert all(b["status"] == "finished" for b in cli.batches())
    settle_and_check(cli, before, planned)


def test_post_answered_500_is_retried_because_nothing_was_created(cli: Cli) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.error(500, method="POST", path="/imports/", times=2)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == len(planned)
    settle_and_check(cli, before, planned)


def test_persistent_500_on_post_fails_the_sets_and_imports_nothing(cli: Cli) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.error(503, method="POST", path="/imports/")
    result = cli.run("run")
    assert result.returncode == 1
    assert "Connectif had a server error (503)" in " ".join(result.stdout.split())
    assert cli.sandbox.state.imports == []
    assert {b["status"] for b in cli.batches()} == {"failed"}
    settle_and_check(cli, before, planned)


def test_5xx_on_reads_are_retried(cli: Cli) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.error(
        502,
        body="<html><h1>Bad Gateway</h1></html>",
        content_type="text/html",
        method="GET",
        times=3,
    )
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert_consistent(cli, before, planned)


@pytest.mark.parametrize("headers", [True, False], ids=["with-headers", "bare"])
def test_a_429_storm_is_waited_out(cli: Cli, headers: bool) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.rate_limit_storm(2, headers=headers)
    cli.sandbox.state.faults.rate_limit_storm(1, method="POST", path="/imports/", headers=headers)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == len(planned)
    storms = [e for e in cli.sandbox.state.faults.log if e.fault == "rate_limit_storm"]
    assert len(storms) == 3
    settle_and_check(cli, before, planned)


@pytest.mark.parametrize("outcome", ["error", "cancelled"])
def test_import_ending_in_error_or_cancelled(cli: Cli, outcome: str) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome(outcome)
    result = cli.run("run")
    assert result.returncode == 1
    assert f"ended as {outcome}" in result.stdout
    statuses = sorted(str(b["status"]) for b in cli.batches())
    assert statuses == sorted(["failed"] + ["finished"] * (len(planned) - 1))
    settle_and_check(cli, before, planned)


def test_rejected_rows_are_recorded_and_topped_up(cli: Cli) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome("reject_rows", rows=7)
    result = cli.run("run")
    assert result.returncode == 1  # finished, but with rejected rows
    assert "error report:" in result.stdout
    (partial,) = [b for b in cli.batches() if b["errors"]]
    assert (partial["status"], partial["errors"], partial["rejected"]) == ("finished", 7, 7)
    assert partial["error_report_url"]
    # the next run tops up exactly the 7 codes the import rejected
    plan = planned_refills(cli)
    assert plan == {partial["coupon_set_id"]: 7}
    settle_and_check(cli, before, planned)


def test_a_slow_import_outlasts_the_deadline_and_the_next_run_finishes_it(cli: Cli) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome("slow", rows_per_second=1000.0)
    late = cli.run("run", "--timeout", "0.3")
    assert late.returncode == 1
    assert any(b["status"] == "submitted" for b in cli.batches())
    cli.sandbox.state.advance(3600)  # the slow import finishes in sandbox time
    settle_and_check(cli, before, planned)


# --- bad input: one clear line, a non-zero exit, nothing changed -----------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type", "words"),
    [
        (
            502,
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
            "Connectif had a server error (502)",
        ),
        (200, '{"results": [', "application/json", "a body that is not JSON"),
        (
            200,
            "<html>Sign in to the Wi-Fi</html>",
            "text/html",
            "not JSON (text/html); check that CONNECTIF_BASE_URL",
        ),
        (
            200,
            {"results": [{"name": "no id", "type": "multiple"}]},
            "application/json",
            "without a valid 'id' field",
        ),
        (200, {"items": []}, "application/json", "without a 'results' list"),
    ],
    ids=["html-502", "truncated-json", "html-200", "missing-id", "missing-results"],
)
def test_bad_server_answers_give_one_line_and_change_nothing(
    cli: Cli, status: int, body: object, content_type: str, words: str
) -> None:
    cli.sandbox.state.faults.error(
        status, body=body, content_type=content_type, method="GET", path="/coupon-sets/"
    )
    for command in (["run"], ["report"], ["refill", "66377977d9ed17e3cc0e95ee", "--count", "5"]):
        result = cli.run(*command)
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, (
            command,
            result.stderr,
        )
        assert words in result.stderr or command[0] == "refill"  # refill reads one set
        assert "GET /coupon-sets/" in result.stderr and "Traceback" not in result.stderr
    assert cli.sandbox.state.imports == []
    assert cli.batches() == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            '[defaults]\nmin_available = 500\nrefill_to = "lots"\n',
            "'refill_to' must be a whole number",
        ),
        ("[defaults\nmin_available = 500\n", "not valid TOML"),
        ("[[rule]]\nmatch = { name = 'X*' }\nenabeld = false\n", "did you mean 'enabled'"),
    ],
    ids=["wrong-type", "truncated", "typo"],
)
def test_bad_rules_give_one_line_and_change_nothing(cli: Cli, text: str, words: str) -> None:
    cli.rules.write_text(text)
    for command in (["run"], ["run", "--dry-run"], ["report"], ["config", "check"]):
        result = cli.run(*command)
        assert result.returncode == 2, (command, result.stderr)
        assert words in result.stderr and result.stderr.count("\n") == 1
    assert cli.sandbox.state.imports == [] and not cli.ledger.exists()


def test_unknown_and_single_sets_are_refused(cli: Cli) -> None:
    unknown = cli.run("refill", "0123456789abcdef01234567", "--count", "5")
    assert unknown.returncode == 2 and "no coupon set with id" in unknown.stderr
    single = next(s.id for s in cli.sandbox.state.coupon_sets() if s.type == "single")
    refused = cli.run("refill", single, "--count", "5")
    assert refused.returncode == 2 and "only 'multiple' sets" in refused.stderr
    assert cli.sandbox.state.imports == []


def test_a_read_only_ledger_gives_one_line_and_changes_nothing(cli: Cli) -> None:
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("root without setpriv cannot be refused a write")
    target = next(iter(planned_refills(cli)))
    assert cli.run("run").returncode == 0
    imports = len(cli.sandbox.state.imports)
    for path in cli.ledger.parent.glob("voucherbot.sqlite*"):
        path.chmod(stat.S_IRUSR)
    cli.sandbox.state.set_available(target, 0)  # a refill would be due
    result = cli.run("run", unprivileged=True)
    assert result.returncode == 2, result.stderr
    assert "the ledger is read-only" in result.stderr and result.stderr.count("\n") == 1
    assert len(cli.sandbox.state.imports) == imports
