"""The ledger on its own: files and modes, migrations, fingerprints, batches, the run lock."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voucherbot.codes import CapacityError, CodeSpec
from voucherbot.connectif.models import CouponSet, Import
from voucherbot.errors import ConfigError, LockedError, VoucherbotError
from voucherbot.ledger import BatchStatus, Ledger, TransitionError, segments
from voucherbot.ledger.lock import lock_path_of
from voucherbot.ledger.migrations import MIGRATIONS
from voucherbot.ledger.opening import secret_path_of
from voucherbot.planning.forecast import Snapshot

SET = CouponSet(id="s1", name="Welcome", type="multiple", assigned=0, available=10, quantity=50)
OTHER = CouponSet(id="s2", name="Cart", type="multiple", assigned=0, available=10, quantity=50)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    (tmp_path / "ledger").mkdir()
    return tmp_path / "ledger" / "voucherbot.sqlite"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def finish(ledger: Ledger, batch_id: int, **counts: int) -> None:
    """Take a batch through its import to ``finished`` (``counts``: success, errors)."""
    ledger.mark_submitted(batch_id, Import(id=f"imp{batch_id}", status="queued"))
    done = Import(id=f"imp{batch_id}", status="finished", **counts)
    ledger.mark_finished(batch_id, done, ended=datetime.now(UTC))


def test_new_ledger_files_are_private_and_in_wal_mode(path: Path) -> None:
    with Ledger.open(path) as ledger:
        ledger.start_run("run", "abc")
        assert ledger.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert mode(path) == 0o600
        assert mode(secret_path_of(path)) == 0o600
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600
    applied = sqlite3.connect(path).execute("SELECT name FROM _voucherbot_migrations").fetchall()
    assert [name for (name,) in applied] == [name for name, _ in MIGRATIONS]
    assert len(applied) == 10


def test_reopening_keeps_data_and_applies_no_migration_twice(path: Path) -> None:
    with Ledger.open(path) as ledger:
        run_id = ledger.start_run("run", "h1")
        ledger.finish_run(run_id, "ok", {"list": 3})
    with Ledger.open(path) as ledger:
        (run,) = ledger.runs()
        assert (run.outcome, run.config_hash, run.stats) == ("ok", "h1", {"list": 3})


def draw(ledger: Ledger, coupon_set: CouponSet, spec: CodeSpec, count: int) -> list[str]:
    """A batch of ``count`` fresh codes of shape ``spec`` for ``coupon_set``: its codes."""
    batch = ledger.draw_batch(None, coupon_set, spec, count)
    kept = ledger.kept_codes(batch.id)
    assert kept is not None and len(kept) == batch.count == count
    return list(kept)


def test_codes_are_stored_as_keyed_fingerprints_only(path: Path) -> None:
    with Ledger.open(path) as ledger:
        codes = draw(ledger, SET, CodeSpec(), 200)
        ledger.forget_codes(1)  # as once the batch's import exists
        assert ledger.issued([*codes[:5], "NOTISSUED22"]) == set(codes[:5])
        stored = [row[0] for row in ledger.db.execute("SELECT fingerprint FROM codes")]
    assert len(stored) == 200 and all(len(fp) == 16 for fp in stored)
    raw = b"".join(
        p.read_bytes()
        for p in path.parent.glob("voucherbot.sqlite*")
        if p.is_file() and not p.name.endswith(".secret")
    )
    assert not any(code.encode() in raw for code in codes)
    # another ledger (another secret) fingerprints the same code differently
    with Ledger.memory() as other:
        assert other.fingerprint(codes[0]) != bytes(stored[0]) or len(stored) == 0


def test_fresh_codes_never_repeat_across_batches_and_sets() -> None:
    spec = CodeSpec(alphabet="digits", length=3, check_symbol=False)  # 1,000 codes in all
    with Ledger.memory() as ledger:
        first = draw(ledger, SET, spec, 300)
        finish(ledger, 1)
        second = draw(ledger, OTHER, spec, 150)
        assert len(set(first) | set(second)) == 450
        finish(ledger, 2)
        # the space counts what was issued: 450 + 100 > 500 (half of 1,000)
        with pytest.raises(CapacityError, match="450 already issued"):
            ledger.draw_batch(None, SET, spec, 100)
        assert len(ledger.batches()) == 2  # nothing half-written


def test_one_open_batch_per_set(path: Path) -> None:
    with Ledger.open(path) as ledger:
        first = ledger.new_batch(None, SET, ["AAAA"], CodeSpec())
        with pytest.raises(VoucherbotError, match="already has a refill in flight"):
            ledger.new_batch(None, SET, ["BBBB"], CodeSpec())
        ledger.new_batch(None, OTHER, ["CCCC"], CodeSpec())
        finish(ledger, first.id)
        ledger.new_batch(None, SET, ["DDDD"], CodeSpec())
        assert [b.coupon_set_id for b in ledger.open_batches()] == ["s2", "s1"]


def test_a_code_is_refused_twice_even_in_another_set() -> None:
    with Ledger.memory() as ledger:
        ledger.new_batch(None, SET, ["SAMECODE"], CodeSpec())
        with pytest.raises(VoucherbotError, match="issued before"):
            ledger.new_batch(None, OTHER, ["SAMECODE"], CodeSpec())
        assert ledger.batches(set_id="s2") == []  # nothing half-written


def test_batch_updates_and_rejected_codes() -> None:
    with Ledger.memory() as ledger:
        batch = ledger.new_batch(None, SET, ["A1", "B2", "C3"], CodeSpec())
        assert batch.status == "prepared" and batch.settled_at is None
        batch = ledger.mark_submitted(batch.id, Import(id="imp1", status="queued"))
        assert ledger.known_import_ids() == {"imp1"}
        assert ledger.mark_rejected(batch.id, ["B2", "ZZ"]) == 1
        ended = Import(id="imp1", status="finished", total=3, success=2, errors=1)
        done = ledger.mark_finished(batch.id, ended, ended=datetime.now(UTC), rejected=1)
        assert done.settled_at is not None and not done.is_open
        states = dict(ledger.db.execute("SELECT state, COUNT(*) FROM codes GROUP BY state"))
        assert states == {"issued": 2, "rejected": 1}


def test_unfinished_runs_are_marked_interrupted(path: Path) -> None:
    with Ledger.open(path) as ledger:
        ledger.start_run("run", "")
    with Ledger.open(path) as ledger:
        ledger.start_run("run", "")
        outcomes = [r.outcome for r in ledger.runs()]
    assert outcomes == [None, "interrupted"]


def test_snapshots_round_trip() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with Ledger.memory() as ledger:
        for day in range(3):
            run_id = ledger.start_run("run", "")
            ledger.record_snapshots(
                run_id,
                [
                    CouponSet(
                        id="s1",
                        name="x",
                        type="multiple",
                        assigned=10 * day,
                        available=100 - 10 * day,
                        quantity=100,
                    )
                ],
                t0 + timedelta(days=day),
            )
        history = ledger.snapshots()
        assert history["s1"] == [
            Snapshot(t0 + timedelta(days=d), 100 - 10 * d, 10 * d, 100) for d in range(3)
        ]
        assert len(ledger.snapshots(since=t0 + timedelta(days=1))["s1"]) == 2


def test_not_a_database(path: Path) -> None:
    path.write_text("hello, I am a text file\n" * 100)
    secret_path_of(path).write_text("00" * 32)
    with pytest.raises(ConfigError, match="is not an SQLite database, not a voucherbot ledger"):
        Ledger.open(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write read-only files")
def test_read_only_ledger(path: Path) -> None:
    Ledger.open(path).close()
    path.chmod(0o400)
    with pytest.raises(ConfigError, match="read-only"):
        Ledger.open(path)


def test_reading_a_ledger_that_does_not_exist(path: Path) -> None:
    Ledger.open(path).close()
    with pytest.raises(ConfigError, match="no ledger yet"):
        Ledger.open(path.with_name("other.sqlite"), readonly=True)


def test_missing_secret(path: Path) -> None:
    Ledger.open(path).close()
    secret_path_of(path).unlink()
    with pytest.raises(ConfigError, match=r"secret file .* is missing"):
        Ledger.open(path)


def test_a_replaced_secret_is_refused_naming_the_secret_file(path: Path) -> None:
    """Another valid-looking secret would make every fingerprint meaningless: codes already
    issued would pass as fresh."""
    with Ledger.open(path) as ledger:
        ledger.new_batch(None, SET, ["OLD1", "OLD2"], None)
    original = secret_path_of(path).read_text()
    secret_path_of(path).write_text("cd" * 32)
    for readonly in (False, True):
        with pytest.raises(ConfigError) as refused:
            Ledger.open(path, readonly=readonly)
        assert str(refused.value) == (
            f"{secret_path_of(path)} is not the secret of the ledger {path}: with another secret "
            "voucherbot cannot recognise the codes it issued and could issue them again. "
            "Restore the ledger's own secret file from a backup"
        )
    secret_path_of(path).write_text(original)
    with Ledger.open(path) as ledger:
        assert ledger.issued(["OLD1", "NEW1"]) == {"OLD1"}


def test_a_ledger_from_before_the_secret_check_learns_its_secret_at_first_open(
    path: Path,
) -> None:
    with Ledger.open(path) as ledger:
        ledger.db.execute("DELETE FROM meta WHERE key = 'secret_check'")
    with Ledger.open(path, readonly=True):  # a reader does not write it...
        pass
    with Ledger.open(path):  # ...the first writer does, and from then on it is checked
        pass
    secret_path_of(path).write_text("cd" * 32)
    with pytest.raises(ConfigError, match="is not the secret of the ledger"):
        Ledger.open(path)


def test_the_lock_is_taken_on_the_real_file_behind_a_symbolic_link(
    path: Path, tmp_path: Path
) -> None:
    Ledger.open(path).close()
    link = tmp_path / "link.sqlite"
    link.symlink_to(path)
    secret_path_of(link).symlink_to(secret_path_of(path))  # looked for beside the path given
    with (
        Ledger.open(path) as real,
        real.lock("voucherbot run"),
        Ledger.open(link) as linked,
        pytest.raises(LockedError),
        linked.lock("other"),
    ):
        pass
    assert not lock_path_of(link).exists()


def test_write_ahead_marks_keep_the_first_moment(path: Path) -> None:
    first, later = datetime(2026, 5, 1, 12, tzinfo=UTC), datetime(2026, 5, 1, 13, tzinfo=UTC)
    with Ledger.open(path) as ledger:
        batch = ledger.new_batch(None, SET, ["A1"], None)
        assert ledger.mark_submitting(batch.id, first).submitted_at == first
        ledger.mark_posted(batch.id, first)
        ledger.mark_posted(batch.id, later)  # sent again: its import is not older
        assert ledger.batch(batch.id).posted_at == first
        # E0401 after an ambiguous answer: waiting, with the first marks kept...
        kept = ledger.mark_unsent(batch.id, "prepared", uploaded_before=True)
        assert (kept.status, kept.submitted_at, kept.posted_at) == ("prepared", first, first)
        assert ledger.mark_submitting(batch.id, later).submitted_at == first
        # ...and E0401 at the first POST: as if never sent
        unsent = ledger.mark_unsent(batch.id, "prepared", uploaded_before=False)
        assert (unsent.status, unsent.submitted_at, unsent.posted_at) == ("prepared", None, None)
        assert ledger.mark_submitting(batch.id, later).submitted_at == later


def test_sweep_removes_the_plaintext_codes_of_settled_batches(path: Path) -> None:
    with Ledger.open(path) as ledger:
        delivering = ledger.new_batch(None, SET, ["D1"], None)
        ledger.mark_delivering(delivering.id)
        done = ledger.new_batch(None, OTHER, ["F1"], None)
        finish(ledger, done.id)
        pending = path.with_name(path.name + ".pending")
        (pending / f"upload-{done.id}.csv").write_text("code\nF1\n")  # an earlier version's
        (pending / "notes.txt").write_text("not ours")
        assert sorted(p.name for p in pending.iterdir()) == [
            f"batch-{delivering.id}.csv",
            f"batch-{done.id}.csv",
            "notes.txt",
            f"upload-{done.id}.csv",
        ]
        assert mode(pending / f"batch-{done.id}.csv") == 0o600
        assert ledger.sweep_pending() == 2
        assert sorted(p.name for p in pending.iterdir()) == [
            f"batch-{delivering.id}.csv",
            "notes.txt",
        ]
        assert list(ledger.kept_codes(delivering.id) or ()) == ["D1"]
        assert mode(pending) == 0o700


def test_codes_an_earlier_version_kept_for_delivery_are_read_and_made_a_coupon_csv(
    path: Path,
) -> None:
    with Ledger.open(path) as ledger:
        batch = ledger.new_batch(None, SET, ["D1", "D2"], None)
        ledger.mark_delivering(batch.id)
        pending = path.with_name(path.name + ".pending")
        (pending / f"batch-{batch.id}.csv").unlink()
        (pending / f"batch-{batch.id}.txt").write_text("D1\nD2\n")  # one code a line
        kept = ledger.kept_codes(batch.id)
        assert kept is not None and list(kept) == ["D1", "D2"] and len(kept) == 2
        assert kept.path.read_text() == "code\nD1\nD2\n" and mode(kept.path) == 0o600
        assert [p.name for p in pending.iterdir()] == [f"batch-{batch.id}.csv"]


def test_a_batch_whose_recording_fails_leaves_no_codes_on_disk(path: Path) -> None:
    with Ledger.open(path) as ledger:
        ledger.new_batch(None, SET, ["SAME1"], None)
        with pytest.raises(VoucherbotError, match="issued before"):
            ledger.new_batch(None, OTHER, ["NEW1", "SAME1"], None)
        pending = path.with_name(path.name + ".pending")
        assert [p.name for p in pending.iterdir()] == ["batch-1.csv"]
        assert [b.id for b in ledger.batches()] == [1]


def test_the_lock_names_its_holder(path: Path) -> None:
    with Ledger.open(path) as first, first.lock("voucherbot run"):
        with (
            Ledger.open(path) as second,
            pytest.raises(LockedError) as caught,
            second.lock("voucherbot refill"),
        ):
            pass
        assert f"pid {os.getpid()}" in str(caught.value)
        assert "'voucherbot run'" in str(caught.value)
        assert caught.value.exit_code == 75
    with Ledger.open(path) as third, third.lock("again"):  # released on exit
        info = json.loads(lock_path_of(path).read_text())
        assert info["command"] == "again"


def test_the_lock_dies_with_its_process(path: Path) -> None:
    Ledger.open(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time\nfrom pathlib import Path\nfrom voucherbot.ledger import Ledger\n"
                f"l = Ledger.open(Path({str(path)!r}))\n"
                "with l.lock('holder'):\n    print('locked', flush=True)\n    time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with Ledger.open(path) as ledger, pytest.raises(LockedError), ledger.lock("me"):
            pass
        holder.kill()
        holder.wait(timeout=10)
        deadline = time.monotonic() + 5
        while True:
            try:
                with Ledger.open(path) as ledger, ledger.lock("me"):
                    break
            except LockedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_an_old_ledger_is_migrated_on_open_and_keeps_its_data(path: Path) -> None:
    """A ledger made by the first schema gains every later migration, in order, once."""
    secret_path_of(path).write_text("ab" * 32)
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE _voucherbot_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    MIGRATIONS[0].apply(old)
    old.execute("INSERT INTO _voucherbot_migrations VALUES ('m001_initial', 'then')")
    old.execute(
        "INSERT INTO batches (coupon_set_id, count, status, created_at) "
        "VALUES ('s1', 1, 'finished', '2026-01-01T00:00:00+00:00')"
    )
    # left 'submitting' by an old version, which may have uploaded it
    old.execute(
        "INSERT INTO batches (coupon_set_id, count, status, created_at, submitted_at) "
        "VALUES ('s2', 1, 'submitting', '2026-01-01T00:00:00+00:00', "
        "'2026-01-01T00:00:05+00:00')"
    )
    old.commit()
    old.close()
    with Ledger.open(path) as ledger:
        with ledger.db:
            segments.plant(ledger.db, 1, [ledger.fingerprint("OLDCODE")])
        assert ledger.issued(["OLDCODE", "NEWCODE"]) == {"OLDCODE"}
        assert ledger.batch(1).status == "finished" and ledger.batch(1).part_of is None
        assert ledger.batch(1).posted_at is None and ledger.batch(1).import_finished_at is None
        assert ledger.batch(2).posted_at == datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
        assert len(ledger.ledger_id) == 12
    applied = (
        sqlite3.connect(path)
        .execute("SELECT name FROM _voucherbot_migrations ORDER BY name")
        .fetchall()
    )
    assert [name for (name,) in applied] == [name for name, _ in MIGRATIONS]


# --- the schema: a ledger an earlier version made opens the same way ------------------------

#: A ledger the version before named migrations made (see the file's header).
OLD_LEDGER = Path(__file__).resolve().parents[1] / "data" / "ledger_m005.sql"


def schema(path: Path) -> tuple[list[tuple[str, ...]], int]:
    """A database's schema as SQLite stores it, and its user_version."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        return rows, db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def fresh_schema(tmp_path: Path) -> tuple[list[tuple[str, ...]], int]:
    (tmp_path / "fresh").mkdir()
    Ledger.open(tmp_path / "fresh" / "voucherbot.sqlite").close()
    return schema(tmp_path / "fresh" / "voucherbot.sqlite")


def test_a_ledger_the_previous_version_made_opens_unchanged(path: Path, tmp_path: Path) -> None:
    secret_path_of(path).write_text("ab" * 32 + "\n")
    old = sqlite3.connect(path)
    old.executescript(OLD_LEDGER.read_text())
    old.close()
    with Ledger.open(path) as ledger:
        finished, submitting = ledger.batch(1), ledger.batch(2)
        assert finished.status is BatchStatus.FINISHED
        assert (finished.import_id, finished.success, finished.count) == ("imp1", 2, 2)
        assert submitting.status is BatchStatus.SUBMITTING and submitting.posted_at is None
        assert ledger.issued(["OLDCODE1", "OLDCODE3", "NEWCODE1"]) == {"OLDCODE1", "OLDCODE3"}
        assert ledger.ledger_id == "abcdef012345"
        (run,) = ledger.runs()
        assert (run.outcome, run.stats) == ("failed", {"requests": 3})
        assert ledger.snapshots()["s1"][0].available == 10
    applied = sqlite3.connect(path).execute("SELECT * FROM _voucherbot_migrations ORDER BY name")
    then = "2026-04-01T00:00:00.000+00:00"  # nothing applied again but what came since
    assert applied.fetchall()[:5] == [(m.name, then) for m in MIGRATIONS[:5]]
    # a new ledger's schema is the old one, byte for byte, user_version (0) included, but for
    # the segment its codes moved to (a new ledger has none yet)
    rows, version = schema(path)
    assert [r[1] for r in rows if is_segment(r[1])] == ["codes_1", "codes"]
    fresh_rows, fresh_version = fresh_schema(tmp_path)
    assert [r for r in rows if not is_segment(r[1])] == fresh_rows[:-1]
    assert fresh_rows[-1][:2] == ("view", "codes") and version == fresh_version == 0


def is_segment(name: str) -> bool:
    """A segment of codes, or the view of them all (what changes as codes are issued)."""
    return re.fullmatch(r"codes(_\d+)?", name) is not None


def test_the_code_segments_migration_keeps_every_fingerprint_and_rejection(path: Path) -> None:
    """m006: the one table of fingerprints becomes the first segment; rejected codes move
    aside; the view shows the same rows; and a code in it is never issued again."""
    secret_path_of(path).write_text("ab" * 32 + "\n")
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(OLD_LEDGER.read_text())
    old.execute("UPDATE codes SET state = 'rejected' WHERE batch_id = 2")
    before = old.execute("SELECT * FROM codes ORDER BY fingerprint").fetchall()
    old.close()
    with Ledger.open(path) as ledger:
        view = ledger.db.execute("SELECT * FROM codes ORDER BY fingerprint").fetchall()
        assert view == before and len(view) == 3
        assert ledger.db.execute("SELECT id, rows, batch_id FROM code_segments").fetchall() == [
            (1, 3, None)
        ]
        assert ledger.db.execute("SELECT batch_id FROM rejected_codes").fetchall() == [(2,)]
        with pytest.raises(VoucherbotError, match="issued before"):
            ledger.new_batch(None, SET, ["NEWCODE1", "OLDCODE3"], None)
        assert ledger.issued(["OLDCODE1", "OLDCODE2", "NEWCODE1"]) == {"OLDCODE1", "OLDCODE2"}


@pytest.mark.parametrize("applied", range(1, 8))
def test_a_ledger_left_at_any_migration_gets_the_same_schema(
    path: Path, tmp_path: Path, applied: int
) -> None:
    secret_path_of(path).write_text("ab" * 32)
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("CREATE TABLE _voucherbot_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    for step in MIGRATIONS[:applied]:
        step.apply(old)
        old.execute("INSERT INTO _voucherbot_migrations VALUES (?, 'then')", (step.name,))
    old.close()
    Ledger.open(path).close()
    names = sqlite3.connect(path).execute("SELECT name FROM _voucherbot_migrations ORDER BY name")
    assert [name for (name,) in names] == [m.name for m in MIGRATIONS]
    rows, version = schema(path)
    expected, fresh_version = fresh_schema(tmp_path)
    # _voucherbot_migrations as this test made it aside, the same tables and indexes
    assert [r for r in rows if r[1] != "_voucherbot_migrations"] == [
        r for r in expected if r[1] != "_voucherbot_migrations"
    ]
    assert version == fresh_version == 0


def test_migrations_are_numbered_in_order() -> None:
    assert [m.name[:5] for m in MIGRATIONS] == [f"m{n:03d}_" for n in range(1, 11)]


# --- statuses and transitions ---------------------------------------------------------------


def test_statuses_are_stored_and_shown_as_their_text() -> None:
    with Ledger.memory() as ledger:
        batch = ledger.new_batch(None, SET, ["A1"], None)
        stored = ledger.db.execute("SELECT status, typeof(status) FROM batches").fetchone()
        assert stored == ("prepared", "text")
        assert batch.status is BatchStatus.PREPARED and batch.status == "prepared"
        assert f"{batch.status}" == str(batch.status) == "prepared"
        assert json.dumps(batch.as_json()["status"]) == '"prepared"'


def test_a_transition_out_of_turn_is_refused_and_changes_nothing() -> None:
    with Ledger.memory() as ledger:
        batch = ledger.new_batch(None, SET, ["A1"], None)
        ended = Import(id="imp1", status="finished", total=1, success=1)
        with pytest.raises(TransitionError, match=r"^batch 1 is prepared, not submitted$"):
            ledger.mark_finished(batch.id, ended, ended=datetime.now(UTC))
        ledger.mark_submitted(batch.id, Import(id="imp1", status="queued"))
        with pytest.raises(TransitionError, match="batch 1 is submitted, not prepared or "):
            ledger.mark_abandoned(batch.id, "its import exists: it is never abandoned")
        ledger.mark_finished(batch.id, ended, ended=datetime.now(UTC))
        with pytest.raises(TransitionError, match="batch 1 is finished"):
            ledger.mark_failed(batch.id, "too late")
        done = ledger.batch(batch.id)
        assert (done.status, done.error) == (BatchStatus.FINISHED, None)
        with pytest.raises(TransitionError, match=r"^the ledger has no batch 9$"):
            ledger.mark_delivered(9)


def test_run_outcome_says_how_a_runs_batches_came_out() -> None:
    with Ledger.memory() as ledger:
        assert ledger.run_outcome(ledger.start_run("run", "")) == "nothing to do"
        ok = ledger.start_run("run", "")
        finish(ledger, ledger.new_batch(ok, SET, ["A1"], None).id, success=1)
        assert ledger.run_outcome(ok) == "ok"
        rejected = ledger.start_run("run", "")
        batch = ledger.new_batch(rejected, OTHER, ["B1", "B2"], None)
        finish(ledger, batch.id, success=1, errors=1)
        assert ledger.run_outcome(rejected) == "failed"
        unfinished = ledger.start_run("run", "")
        ledger.new_batch(unfinished, SET, ["C1"], None)
        assert ledger.run_outcome(unfinished) == "failed"


def stored_prints(ledger: Ledger, batch_id: int) -> set[bytes]:
    rows = ledger.db.execute("SELECT fingerprint FROM codes WHERE batch_id = ?", (batch_id,))
    return {bytes(fp) for (fp,) in rows}


def test_each_code_is_fingerprinted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked against the ledger and recorded in it with one HMAC per code, not two."""
    import hmac

    real, calls = hmac.digest, [0]

    def counting(key: bytes, msg: bytes, digest: str) -> bytes:
        calls[0] += 1
        return real(key, msg, digest)

    with Ledger.memory() as ledger:
        monkeypatch.setattr(hmac, "digest", counting)
        batch = ledger.draw_batch(None, SET, CodeSpec(), 20_000)
        monkeypatch.undo()
        assert calls[0] == 20_000
        codes = list(ledger.kept_codes(batch.id) or ())
        assert stored_prints(ledger, batch.id) == {ledger.fingerprint(c) for c in codes}


def test_codes_redrawn_after_a_clash_are_recorded_with_their_own_fingerprints() -> None:
    """A small space, half issued: many drawn codes clash and are dropped, and each kept
    code's fingerprint still lines up with it (none planted twice, none missing)."""
    spec = CodeSpec(alphabet="digits", length=3, check_symbol=False)  # 1,000 codes in all
    with Ledger.memory() as ledger:
        draw(ledger, SET, spec, 400)
        finish(ledger, 1)
        issued_before = stored_prints(ledger, 1)
        codes = draw(ledger, OTHER, spec, 90)
        second = ledger.batch(2)
        assert stored_prints(ledger, second.id) == {ledger.fingerprint(c) for c in codes}
        assert not issued_before & stored_prints(ledger, second.id)
        assert len(set(codes)) == 90


def test_fates_say_where_each_issued_code_went() -> None:
    with Ledger.memory() as ledger:
        done = ledger.new_batch(None, SET, ["AA11", "BB22", "CC33"], CodeSpec())
        ledger.mark_delivering(done.id)
        ledger.mark_delivered(done.id)
        ledger.settle_refused(done.id, {"CC33": "taken"})  # the shop refused one
        finish(ledger, done.id, success=2)
        ledger.mark_rejected(done.id, ["BB22"])  # the import rejected one
        gone = ledger.new_batch(None, OTHER, ["DD44"], CodeSpec())
        ledger.mark_abandoned(gone.id, "the run stopped before sending the codes")
        open_ = ledger.new_batch(None, SET, ["EE55"], CodeSpec())
        fates = ledger.fates(["aa11", "BB22", "CC33", "DD44", "EE55", "NEVER9"])
    assert set(fates) == {"aa11", "BB22", "CC33", "DD44", "EE55"}  # never issued: left out
    assert (fates["aa11"].coupon_set_id, fates["aa11"].imported) == ("s1", True)  # any case
    assert fates["BB22"].imported is False and fates["CC33"].imported is False
    assert (fates["DD44"].coupon_set_id, fates["DD44"].imported) == ("s2", False)
    assert (fates["EE55"].batch_id, fates["EE55"].imported) == (open_.id, None)


def test_fates_read_merged_segments() -> None:
    with Ledger.memory() as ledger:
        ids = []
        for i in range(segments.RATIO):
            batch = ledger.new_batch(None, SET if i % 2 else OTHER, [f"CODE{i}"], CodeSpec())
            finish(ledger, batch.id, success=1)
            ids.append(batch.id)
        assert ledger.merge_segments() > 0
        assert len(segments.listed(ledger.db)) == 1
        fates = ledger.fates([f"CODE{i}" for i in range(segments.RATIO)])
    assert [fates[f"CODE{i}"].batch_id for i in range(segments.RATIO)] == ids
    assert [fates[f"CODE{i}"].coupon_set_id for i in range(segments.RATIO)] == ["s2", "s1"] * 2
