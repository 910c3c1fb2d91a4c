"""Exactly once under the faults that break it: lost or garbled answers to the import POST,
other tools importing into the same sets, a second ledger on the same account, imports that
fail, deadlines, replaced secrets and codes left on disk.

Every scenario ends like the rest of the fault suite: one more normal run, then every planned
set raised exactly once, no code twice in the sandbox, and the ledger agreeing with the
sandbox's imports (those another tool made apart).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    API_KEY,
    Cli,
    assert_consistent,
    available,
    planned_refills,
    sandbox_cli,
)
from voucherbot.config import load_config
from voucherbot.connectif.client import ConnectifClient
from voucherbot.ledger import Batch, Ledger
from voucherbot.ledger.opening import secret_path_of
from voucherbot.refill.batch import QueueFull, Refiller
from voucherbot.refill.results import RefillResult

REFERRAL = "66377977d9ed17e3cc0e95ee"  # the emptiest set: the first import of every run
PLANNED = {REFERRAL: 4993, "67c7d4929f9d01298a449ebe": 4907, "676a5e55f320cd576d14475b": 4860}


def settle_and_check(
    cli: Cli, before: dict[str, int], planned: dict[str, int], *, foreign: Iterable[str] = ()
) -> None:
    """One more normal run, then the end state every scenario must reach."""
    cli.sandbox.state.faults.clear()
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_consistent(cli, before, planned, foreign=foreign)
    final = cli.run("run")
    assert final.returncode == 0 and final.stdout.startswith("Nothing to do"), final.stdout


def imports_into(cli: Cli, set_id: str) -> list[str]:
    return [i.id for i in cli.sandbox.state.imports if i.coupon_set_id == set_id]


def another_tool_imports(cli: Cli, set_id: str, rows: int, tag: str) -> str:
    """An import another tool (or another ledger) makes: same set, same row count."""
    return cli.sandbox.state.create_import(set_id, [f"{tag}{n:05d}" for n in range(rows)]).id


def requests_of(result: subprocess.CompletedProcess[str], kind: str) -> int:
    """How many requests of a kind ``--stats`` counted."""
    found = re.search(rf"\b{kind} (\d+)\b", result.stderr)
    return int(found[1]) if found else 0


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + " " + result.stderr).split())


def refill_in_this_process(cli: Cli, count: int, arm: Callable[[], None]) -> Any:
    """REFERRAL refilled by a Refiller in this process, with the faults ``arm`` sets once
    the set has been read (so they meet the refill's own requests)."""
    config = load_config(cli.rules)
    with (
        ConnectifClient(API_KEY, cli.sandbox.url, backoff=0.01) as client,
        Ledger.open(cli.ledger) as ledger,
    ):
        coupon_set = client.get_coupon_set(REFERRAL)
        arm()
        refiller = Refiller(client=client, ledger=ledger, policy=config.imports, config=config)
        return refiller.refill(coupon_set, count, config.rule_for(REFERRAL, coupon_set.name)[1])


# --- answers that may mean "created" --------------------------------------------------------


def test_a_502_after_the_upload_was_accepted_imports_each_refill_once(cli: Cli) -> None:
    """Reproduced before: refills of 300 + 100 gave 3 imports of 700 rows."""
    before = available(cli.sandbox)
    cli.sandbox.state.faults.answer_after_accept(502)
    first = cli.run("refill", REFERRAL, "--count", "300")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "finished: 300 imported, 0 failed of 300 sent" in first.stdout
    assert "adopted import" in first.stderr
    second = cli.run("refill", REFERRAL, "--count", "100")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [i.total for i in cli.sandbox.state.imports] == [100, 300]
    assert available(cli.sandbox)[REFERRAL] == before[REFERRAL] + 400
    assert [(b["status"], b["success"]) for b in cli.batches()] == [
        ("finished", 300),
        ("finished", 100),
    ]
    assert_consistent(cli, before, {REFERRAL: 400})


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (502, None, "text/html"),
        (201, "<html><body>Created</body></html>", "text/html"),
        (201, '{"status": "queued"}', "application/json"),
    ],
    ids=["502-page", "201-not-json", "201-without-id"],
)
def test_an_unusable_answer_after_the_import_was_created_adopts_it(
    cli: Cli, status: int, body: str | None, content_type: str
) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.answer_after_accept(
        status, body, content_type=content_type, times=None
    )
    result = cli.run("run", "--stats")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == len(planned)  # one import per batch
    assert requests_of(result, "import") == len(planned)  # never sent again
    total = sum(planned.values())
    assert (
        f"{len(planned)} of {len(planned)} refills succeeded; {total:,} codes imported."
        in result.stdout
    )
    assert {b["coupon_set_id"]: b["success"] for b in cli.batches()} == planned
    settle_and_check(cli, before, planned)


def test_a_dropped_answer_counts_what_connectif_imported(cli: Cli) -> None:
    """Reproduced before: '9,767 codes imported' while Connectif got 14,760, and the ledger
    said 0 for the adopted import."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.drop_after_accept(times=None)
    # a slow list: by the time it answers, each import has already finished
    cli.sandbox.state.faults.latency(0.3, method="GET", path="/imports/")
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{sum(planned.values()):,} codes imported." in result.stdout
    batches = {b["coupon_set_id"]: b for b in cli.batches()}
    for imp in cli.sandbox.state.imports:
        assert batches[imp.coupon_set_id]["import_id"] == imp.id
        assert batches[imp.coupon_set_id]["success"] == imp.success == imp.total
    history = json.loads(cli.run("history", "--format", "json").stdout)
    assert sorted(b["success"] for b in history["batches"]) == sorted(planned.values())
    settle_and_check(cli, before, planned)


def test_an_error_answered_in_place_of_the_api_is_looked_up_then_sent_again(cli: Cli) -> None:
    """A gateway's 502 before Connectif saw the upload: GET /imports/ shows nothing was
    created, so the batch (the same codes) goes again, once."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.error(
        502,
        body="<html>502 Bad Gateway</html>",
        content_type="text/html",
        method="POST",
        path="/imports/",
        times=1,
    )
    result = cli.run("run", "--stats")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == len(planned)
    assert requests_of(result, "import") == len(planned) + 1
    assert "shows that no import was created; sending the same codes again" in result.stderr
    settle_and_check(cli, before, planned)


@pytest.mark.parametrize("fault", ["503", "429"])
def test_posts_per_batch_are_bounded(cli: Cli, fault: str) -> None:
    """Reproduced before: 12 POSTs for one batch, 21 on 429s. Now post_attempts (3) each."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    if fault == "503":
        cli.sandbox.state.faults.error(503, method="POST", path="/imports/")
    else:
        cli.sandbox.state.faults.rate_limit_storm(
            None, method="POST", path="/imports/", headers=False
        )
    result = cli.run("run", "--stats")
    assert result.returncode == 1
    assert requests_of(result, "import") == 3 * len(planned)
    assert one_line(result).count("gave up after 3 attempts; no import was created") == len(planned)
    assert cli.sandbox.state.imports == []
    assert {b["status"] for b in cli.batches()} == {"failed"}
    fewer = cli.rules.read_text().replace("[connectif]\n", "[connectif]\npost_attempts = 1\n")
    cli.rules.write_text(fewer)
    once = cli.run("run", "--stats")
    assert once.returncode == 1 and requests_of(once, "import") == len(planned)
    settle_and_check(cli, before, planned)


# --- adopting only what is provably ours ----------------------------------------------------


def test_an_older_import_of_another_tool_is_not_taken_for_the_batch(cli: Cli) -> None:
    """Reproduced before: a batch matched to an older foreign import instead of its own."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome("error", coupon_set_id=REFERRAL)  # no rows added
    foreign = another_tool_imports(cli, REFERRAL, planned[REFERRAL], "OLD")
    cli.sandbox.state.advance(60)  # a minute older than the batch
    cli.sandbox.state.faults.drop_after_accept()
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    batch = next(b for b in cli.batches() if b["coupon_set_id"] == REFERRAL)
    assert batch["import_id"] not in (None, foreign)
    assert batch["success"] == planned[REFERRAL]
    settle_and_check(cli, before, planned, foreign=[foreign])


def test_a_batch_killed_before_its_post_is_never_adopted(cli: Cli) -> None:
    """Reproduced before: a batch killed before its POST was recorded as imported, through
    another tool's import; and an abandoned batch was adopted again 20 minutes later."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    killed = cli.run("run", failpoint="after-submitting")
    assert killed.returncode < 0
    (batch,) = cli.batches()
    assert (batch["status"], batch["posted_at"]) == ("submitting", None)
    foreign = [another_tool_imports(cli, REFERRAL, planned[REFERRAL], "TOOL")]

    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    first = cli.batches()[0]
    assert (first["status"], first["import_id"]) == ("abandoned", None)
    assert "the run stopped before the upload began" in first["error"]
    cli.sandbox.state.advance(20 * 60)
    foreign.append(another_tool_imports(cli, REFERRAL, planned[REFERRAL], "LATER"))
    for _ in range(2):
        quiet = cli.run("run")
        assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert cli.batches()[0]["status"] == "abandoned"
    # the foreign imports filled REFERRAL; the other sets were refilled by this ledger
    rest = {k: v for k, v in planned.items() if k != REFERRAL}
    assert_consistent(cli, before, rest, foreign=foreign)


def test_two_imports_that_could_be_the_batch_leave_it_unresolved_until_a_person_adopts(
    cli: Cli,
) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    faults = cli.sandbox.state.faults
    faults.import_outcome("error", coupon_set_id=REFERRAL)  # an older one, that added nothing
    older = another_tool_imports(cli, REFERRAL, planned[REFERRAL], "OLD")
    cli.sandbox.state.advance(60)
    faults.hang_before_accept(1.0)  # the first POST waits before creating its import...
    faults.drop_after_accept()  # ...and its answer is lost
    proc = cli.start("run")
    deadline = time.monotonic() + 30
    while ("POST", "/imports/", "hang_before_accept") not in faults.log:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    foreign = another_tool_imports(cli, REFERRAL, planned[REFERRAL], "RACE")  # meanwhile
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    (ours,) = [i for i in imports_into(cli, REFERRAL) if i not in (foreign, older)]
    batch = next(b for b in cli.batches() if b["coupon_set_id"] == REFERRAL)
    assert (batch["status"], batch["import_id"]) == ("unresolved", None)
    assert f"more than one import could be batch {batch['id']}'s" in batch["error"]
    assert "UNRESOLVED" in out and f"voucherbot resolve {batch['id']} --adopt" in " ".join(
        out.split()
    )

    for _ in range(2):  # loud at every run, and the set is held
        held = cli.run("run")
        assert held.returncode == 1, held.stdout + held.stderr
        assert "UNRESOLVED" in held.stdout and "left open by an earlier run" in held.stdout
    for command in (["report"], ["run", "--dry-run"]):
        report = cli.run(*command)
        assert report.returncode == 1, command
        assert f"is held: batch {batch['id']} is unresolved" in " ".join(report.stdout.split())
    refused = cli.run("refill", REFERRAL, "--count", "5")
    assert refused.returncode == 1 and "is unresolved for this set" in refused.stdout
    assert len(imports_into(cli, REFERRAL)) == 3

    for args, words in [
        (["--adopt", older], "before the batch was sent"),
        (["--adopt", "0123456789abcdef01234567"], "Connectif has no import"),
        (["--adopt", foreign, "--abandon"], "give exactly one of --adopt IMPORT_ID or --abandon"),
        ([], "give exactly one of --adopt IMPORT_ID or --abandon"),
    ]:
        wrong = cli.run("resolve", str(batch["id"]), *args)
        assert wrong.returncode == 2 and words in wrong.stderr, wrong.stderr
    other_set = next(i.id for i in cli.sandbox.state.imports if i.coupon_set_id != REFERRAL)
    wrong = cli.run("resolve", str(batch["id"]), "--adopt", other_set)
    assert wrong.returncode == 2 and "it imports into coupon set" in wrong.stderr
    assert "the ledger already has it as another batch's import" in wrong.stderr
    missing = cli.run("resolve", "999", "--abandon")
    assert missing.returncode == 2 and "the ledger has no batch 999" in missing.stderr
    elsewhere = cli.run(
        "resolve",
        str(batch["id"]),
        "--abandon",
        "--ledger",
        str(cli.rules.parent / "elsewhere.sqlite"),
    )
    assert elsewhere.returncode == 2 and "no ledger yet" in elsewhere.stderr
    assert not (cli.rules.parent / "elsewhere.sqlite").exists()
    assert cli.batches()[0]["status"] == "unresolved"  # none of that changed anything
    settled = cli.run("resolve", str(batch["id"]), "--adopt", ours)
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert f"import {ours} finished: {planned[REFERRAL]:,} imported" in settled.stdout
    again = cli.run("resolve", str(batch["id"]), "--abandon")
    assert again.returncode == 2 and "not unresolved" in again.stderr
    settle_and_check(cli, before, planned, foreign=[foreign, older])


def test_an_unresolved_batch_with_no_import_of_its_own_is_abandoned_by_hand(cli: Cli) -> None:
    """The gateway answered 502 without passing the upload on, while two other imports of
    the same size appeared: nobody can tell, so a person looks and abandons the batch."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    faults = cli.sandbox.state.faults
    faults.latency(1.0, method="POST", path="/imports/", times=1)
    faults.error(
        502,
        body="<html>502</html>",
        content_type="text/html",
        method="POST",
        path="/imports/",
        times=1,
    )
    proc = cli.start("run")
    deadline = time.monotonic() + 30
    while ("POST", "/imports/", "latency") not in faults.log:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    foreign = [
        another_tool_imports(cli, REFERRAL, planned[REFERRAL], tag) for tag in ("ONE", "TWO")
    ]
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    batch = next(b for b in cli.batches() if b["coupon_set_id"] == REFERRAL)
    assert batch["status"] == "unresolved"
    assert sorted(imports_into(cli, REFERRAL)) == sorted(foreign)
    settled = cli.run("resolve", str(batch["id"]), "--abandon")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert f"batch {batch['id']} abandoned" in settled.stdout
    rest = {k: v for k, v in planned.items() if k != REFERRAL}  # the others filled it
    settle_and_check(cli, before, rest, foreign=foreign)


# --- counts, holds and deadlines --------------------------------------------------------------


def test_a_failed_import_starts_no_cooldown_and_a_failing_set_is_reported_every_run(
    cli: Cli,
) -> None:
    """Reproduced before: the run after an import error printed 'Nothing to do', exit 0."""
    cli.rules.write_text(cli.rules.read_text().replace("cooldown = 0", 'cooldown = "1h"'))
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome("error", coupon_set_id=REFERRAL, times=None)
    for attempt in range(1, 3):
        result = cli.run("run")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "ended as error" in result.stdout and REFERRAL in result.stdout
        failed = [b for b in cli.batches() if b["coupon_set_id"] == REFERRAL]
        assert [b["status"] for b in failed] == ["failed"] * attempt
    assert available(cli.sandbox)[REFERRAL] == before[REFERRAL]
    settle_and_check(cli, before, planned)  # filled at last; now the cooldown holds it


def test_timeout_waits_as_long_as_it_says(cli: Cli) -> None:
    """Reproduced before: --timeout 3 gave up after 0.6 s."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome("slow", rows_per_second=1.0, coupon_set_id=REFERRAL)
    started = time.monotonic()
    late = cli.run("run", "--timeout", "2.5")
    elapsed = time.monotonic() - started
    assert late.returncode == 1
    assert 2.5 <= elapsed < 2.5 + 4, elapsed
    assert "still" in late.stdout and "when the poll deadline passed" in " ".join(
        late.stdout.split()
    )
    cli.sandbox.state.advance(3 * 3600)  # the slow import ends in sandbox time
    settle_and_check(cli, before, planned)


def test_the_progress_bar_counts_to_the_whole_run(cli: Cli) -> None:
    """Reproduced before: the bar ended at 14760/4993 100%."""
    planned = planned_refills(cli)
    total = sum(planned.values())
    main, secondary = os.openpty()  # stderr is a terminal: the bar is drawn
    with subprocess.Popen(
        [sys.executable, "-m", "voucherbot", "run", "--rules", str(cli.rules)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
        env=cli.env(),
        cwd=cli.rules.parent,
    ) as proc:
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        os.close(main)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "3 of 3 refills succeeded" in out.decode()
    positions = re.findall(rb"(\d+)/(\d+)", shown)
    assert positions, shown
    assert {int(of) for _, of in positions} == {total}
    assert int(positions[-1][0]) == total


# --- one ledger per account ---------------------------------------------------------------------


def test_a_second_ledger_right_after_the_first_does_not_refill_again(tmp_path: Path) -> None:
    """Reproduced before: a second ledger on the account refilled every set again while
    Connectif's counters still lagged (the sandbox models the lag here, as by default)."""
    with sandbox_cli(tmp_path, counter_lag=10) as cli:
        rules = cli.rules.read_text().replace("counter_lag = 0\n", "")  # the default: 15 s
        cli.rules.write_text(rules)
        before, planned = available(cli.sandbox), planned_refills(cli)
        first = cli.run("run")
        assert first.returncode == 0, first.stdout + first.stderr
        (tmp_path / "laptop").mkdir()
        other = ["--ledger", str(tmp_path / "laptop" / "voucherbot.sqlite")]
        second = cli.run("run", *other)
        assert second.returncode == 0, second.stdout + second.stderr
        assert second.stdout.startswith("Nothing to do"), second.stdout
        report = cli.run("report", "--format", "json", *other)
        assert "counters-lag" in report.stdout
        topped = cli.run("refill", REFERRAL, "--to", "6000", *other)
        assert topped.returncode == 1 and "counters may not show its codes yet" in topped.stdout
        assert len(cli.sandbox.state.imports) == len(planned)
        cli.sandbox.state.advance(16)
        later = cli.run("run", *other)
        assert later.returncode == 0 and later.stdout.startswith("Nothing to do"), later.stdout
        assert_consistent(cli, before, planned)


def test_refill_checks_connectifs_imports_in_flight_for_the_set(cli: Cli, tmp_path: Path) -> None:
    before, planned = available(cli.sandbox), planned_refills(cli)
    cli.sandbox.state.faults.import_outcome("slow", rows_per_second=1.0, coupon_set_id=REFERRAL)
    assert cli.run("run", "--timeout", "0.3").returncode == 1  # REFERRAL still running
    (tmp_path / "laptop").mkdir()
    other = ["--ledger", str(tmp_path / "laptop" / "voucherbot.sqlite")]
    refused = cli.run("refill", REFERRAL, "--count", "10", *other)
    assert refused.returncode == 1
    assert re.search(
        r"import \w+ is still (queued|inProgress); a set never gets two refills",
        " ".join(refused.stdout.split()),
    ), refused.stdout
    assert len(imports_into(cli, REFERRAL)) == 1
    cli.sandbox.state.advance(3 * 3600)
    settle_and_check(cli, before, planned)


def test_a_replaced_secret_is_refused_before_any_code_is_made(cli: Cli) -> None:
    """Reproduced before: with another valid-looking secret, 1,081 of 4,000 new codes were
    already live."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    assert cli.run("run").returncode == 0
    secret = secret_path_of(cli.ledger)
    original = secret.read_text()
    secret.write_text("ef" * 32)
    cli.sandbox.state.set_available(REFERRAL, 0)
    refused = cli.run("run")
    assert refused.returncode == 2
    assert refused.stderr == (
        f"Error: {secret} is not the secret of the ledger {cli.ledger}: with another secret "
        "voucherbot cannot recognise the codes it issued and could issue them again. Restore "
        "the ledger's own secret file from a backup\n"
    )
    assert len(cli.sandbox.state.imports) == len(planned)
    secret.write_text(original)
    assert cli.run("run").returncode == 0  # REFERRAL, drained to 0, refilled to 5,000
    assert_consistent(cli, {**before, REFERRAL: 0}, {**planned, REFERRAL: 5000})


# --- plaintext codes never outlive their use ------------------------------------------------------


def pending(cli: Cli) -> list[Path]:
    folder = cli.ledger.with_name(cli.ledger.name + ".pending")
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize(
    ("failpoint", "shop", "left"),
    [
        ("after-submitting", "", "batch-{id}.csv"),
        ("post-answered", '[shop]\nsink = "file"\ndirectory = "shop-codes"\n', "batch-{id}.csv"),
    ],
    ids=["upload-csv", "shop-batch"],
)
def test_plaintext_codes_of_settled_batches_are_removed_by_the_next_run(
    cli: Cli, failpoint: str, shop: str, left: str
) -> None:
    cli.rules.write_text(cli.rules.read_text() + "\n" + shop)
    before, planned = available(cli.sandbox), planned_refills(cli)
    killed = cli.run("run", failpoint=failpoint)
    assert killed.returncode < 0
    (batch,) = cli.batches()
    (kept,) = pending(cli)
    assert kept.name == left.format(id=batch["id"])
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600 and len(kept.read_text().split()) > 4000
    settle_and_check(cli, before, planned)
    assert pending(cli) == []


def test_a_batch_delivered_again_into_a_full_queue_waits_with_its_codes_for_the_next_run(
    cli: Cli,
) -> None:
    cli.rules.write_text(
        cli.rules.read_text() + '\n[shop]\nsink = "file"\ndirectory = "shop-codes"\n'
    )
    before, planned = available(cli.sandbox), planned_refills(cli)
    assert cli.run("run", failpoint="delivering").returncode < 0
    cli.sandbox.state.faults.error(
        400,
        body={"status": 400, "title": "Bad Request", "detail": "10 queued", "code": "E0401"},
        method="POST",
        path="/imports/",
        times=1,
    )
    full = cli.run("run")
    assert full.returncode == 1, full.stdout + full.stderr
    (batch, *_) = cli.batches()
    assert (batch["status"], batch["posted_at"]) == ("delivered", None)
    assert "import queue is full (E0401); the next run sends it" in " ".join(full.stdout.split())
    assert [p.name for p in pending(cli)] == [f"batch-{batch['id']}.csv"]
    assert imports_into(cli, REFERRAL) == []
    settle_and_check(cli, before, planned)
    assert pending(cli) == []


def test_a_failed_search_after_an_ambiguous_answer_leaves_the_batch_for_the_next_run(
    cli: Cli,
) -> None:
    """Neither 'failed' (its import may exist) nor sent again: the next run looks again."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    faults = cli.sandbox.state.faults

    def arm() -> None:
        faults.answer_after_accept(502)  # created, but the answer is a gateway's page...
        faults.error(503, method="GET", path="/imports/", times=4)  # ...and the list fails

    outcome = refill_in_this_process(cli, planned[REFERRAL], arm)
    assert isinstance(outcome, RefillResult) and outcome.error is not None
    assert "GET /imports/ failed" in outcome.error
    assert "the next run looks for its import" in outcome.error
    (batch,) = cli.batches()
    assert batch["status"] == "submitting" and batch["posted_at"] is not None
    assert len(imports_into(cli, REFERRAL)) == 1
    settle_and_check(cli, before, planned)
    assert cli.batches()[0]["import_id"] == imports_into(cli, REFERRAL)[0]


def held_after_an_ambiguous_post(cli: Cli, count: int) -> Batch:
    """A refill of the referral set whose first POST's answer is ambiguous (a 502, none
    listed) and whose second meets E0401: the batch the full queue puts back."""
    faults = cli.sandbox.state.faults

    def arm() -> None:
        faults.error(502, method="POST", path="/imports/", times=1)
        faults.error(
            400,
            body={"status": 400, "code": "E0401", "detail": "10 queued"},
            method="POST",
            path="/imports/",
            times=1,
        )

    with pytest.raises(QueueFull) as refused:
        refill_in_this_process(cli, count, arm)
    held = refused.value.batch
    assert held.status == "prepared" and held.posted_at is not None
    return held


def test_a_full_queue_after_an_ambiguous_answer_keeps_the_batchs_marks_for_recovery(
    cli: Cli,
) -> None:
    """The first POST's answer was ambiguous (none was listed), the second met E0401: the
    batch waits with the first mark kept, and a run that finds it so looks for that first
    upload's import before doing anything else."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    held = held_after_an_ambiguous_post(cli, planned[REFERRAL])
    assert held.submitted_at is not None and held.submitted_at <= held.posted_at
    assert imports_into(cli, REFERRAL) == []
    settle_and_check(cli, before, planned)  # looked up, none: abandoned, the set refilled
    first = cli.batches()[0]
    assert (first["status"], first["import_id"]) == ("abandoned", None)


def test_a_held_batch_whose_first_upload_made_an_import_that_ended_settles_as_that_import(
    cli: Cli,
) -> None:
    """As above, but an import the first upload may have made turns up (listed late, say) and
    has finished by the next run: the batch is adopted as finished, not abandoned, and its set
    is not refilled a second time."""
    before, planned = available(cli.sandbox), planned_refills(cli)
    held = held_after_an_ambiguous_post(cli, planned[REFERRAL])
    # same set, same rows, made after the batch was sent: provably the batch's own, as far
    # as GET /imports/ can tell
    late = another_tool_imports(cli, REFERRAL, held.count, "LATE")
    cli.sandbox.state.advance(600)
    assert cli.sandbox.state.get_import(late).status == "finished"
    settle_and_check(cli, before, planned)
    first = cli.batches()[0]
    assert (first["status"], first["import_id"]) == ("finished", late)
