"""The segments that hold the ledger's fingerprints: exact uniqueness across all of them,
merges that keep every fingerprint, and a merge cut short that leaves the old ones whole."""

from __future__ import annotations

import hmac
import os
import sqlite3
from pathlib import Path

import pytest

from voucherbot.codes import CodeSpec, generate
from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import Ledger, codes, segments, shape_key

SET = CouponSet(id="s1", name="Welcome", type="multiple", assigned=0, available=0, quantity=0)
SMALL = CodeSpec(alphabet="digits", length=4, check_symbol=False)  # 10,000 codes in all


def old_batch(ledger: Ledger, count: int, shape: str = "old") -> int:
    """A finished batch of ``count`` codes of ``shape``, as past refills left them."""
    cursor = ledger.db.execute(
        "INSERT INTO batches (coupon_set_id, count, shape, status, created_at) "
        "VALUES ('old', ?, ?, 'finished', '2026-01-01T00:00:00Z')",
        (count, shape),
    )
    return int(cursor.lastrowid or 0)


def plant(ledger: Ledger, prints: list[bytes], shape: str = "old") -> None:
    with ledger.db:
        segments.plant(ledger.db, old_batch(ledger, len(prints), shape), prints)


def view(ledger: Ledger) -> list[tuple[bytes, int]]:
    rows = ledger.db.execute("SELECT fingerprint, batch_id FROM codes ORDER BY fingerprint")
    return [(bytes(fp), batch) for fp, batch in rows]


def test_planted_codes_in_a_large_ledger_are_never_issued_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """4,000 of a 10,000-code shape, planted among 300,000 other fingerprints in segments of
    every kind (merged, fresh, big, small): 1,000 codes drawn of that shape, where four in ten
    candidates are taken, contain none of them and none twice, chunk after chunk."""
    monkeypatch.setattr(codes, "CHUNK", 97)  # many chunks: a clash with an earlier one too
    taken = generate(SMALL, 4_000)
    with Ledger.memory() as ledger:
        for part in range(3):
            plant(ledger, [os.urandom(16) for _ in range(100_000)])
            plant(
                ledger,
                [ledger.fingerprint(c) for c in taken[part * 1000 : (part + 1) * 1000]],
                shape_key(SMALL),
            )
        assert segments.merge_due(ledger.db) == 303_000  # six in the lowest tier: now one
        plant(ledger, [ledger.fingerprint(c) for c in taken[3000:]], shape_key(SMALL))
        kinds = {(s.batch_id is None, s.rows) for s in segments.listed(ledger.db)}
        assert kinds == {(True, 303_000), (False, 1000)}
        batch = ledger.draw_batch(None, SET, SMALL, 1_000)
        drawn = list(ledger.kept_codes(batch.id) or ())
        assert len(drawn) == len(set(drawn)) == 1_000
        assert not set(drawn) & set(taken)
        assert ledger.issued(taken) == set(taken)
        prints = [fp for fp, _ in view(ledger)]
        assert len(prints) == len(set(prints)) == 305_000


def test_a_given_code_already_in_any_segment_is_refused_with_nothing_recorded() -> None:
    with Ledger.memory() as ledger:
        plant(ledger, [ledger.fingerprint("OLD1"), *(os.urandom(16) for _ in range(999))])
        plant(ledger, [ledger.fingerprint("OLD2")])
        before = view(ledger)
        for codes_given in (["NEW1", "OLD1"], ["OLD2"], ["NEW2", "NEW2"]):
            with pytest.raises(Exception, match="issued before"):
                ledger.new_batch(None, SET, codes_given, None)
        assert view(ledger) == before and len(ledger.batches()) == 2


def test_merges_keep_every_fingerprint_with_its_batch_and_bound_the_segments() -> None:
    with Ledger.memory() as ledger:
        expected = []
        for n in range(20):
            batch = ledger.draw_batch(None, SET, CodeSpec(), 500 + n)
            ledger.mark_abandoned(batch.id, "test")
            ledger.merge_segments()  # as a run does while its import runs
            expected += [
                (ledger.fingerprint(c), batch.id) for c in ledger.kept_codes(batch.id) or ()
            ]
        held = segments.listed(ledger.db)
        assert len(held) < segments.RATIO  # 20 small ones: merged as each tier filled
        assert sum(s.rows for s in held) == len(expected)
        assert view(ledger) == sorted(expected)


def test_tiers_merge_segments_of_about_the_same_size_only() -> None:
    def seg(rows: int, n: int = 0) -> segments.Segment:
        return segments.Segment(n, rows, None)

    base, ratio = segments.BASE, segments.RATIO
    assert segments.due([seg(base * ratio)] * (ratio - 1) + [seg(10)]) == []
    small = [seg(10, n) for n in range(ratio)]
    assert segments.due([seg(base * ratio**2), *small]) == small
    assert segments.due([seg(base * ratio, n) for n in range(ratio + 1)]) != []


def test_a_merge_cut_short_leaves_the_old_segments_whole(tmp_path: Path) -> None:
    (tmp_path / "l").mkdir()
    path = tmp_path / "l" / "voucherbot.sqlite"
    with Ledger.open(path) as ledger:
        for _ in range(segments.RATIO - 1):
            plant(ledger, [os.urandom(16) for _ in range(100)])
        before = view(ledger)

        def disk_full() -> None:
            raise OSError("disk full")

        ledger.db.create_function("disk_full", 0, disk_full)
        ledger.db.execute(
            "CREATE TRIGGER no_merge BEFORE UPDATE OF rows ON code_segments "
            "WHEN NEW.batch_id IS NULL BEGIN SELECT disk_full(); END"
        )
        plant(ledger, [os.urandom(16) for _ in range(100)])
        with pytest.raises(sqlite3.OperationalError, match="user-defined function raised"):
            segments.merge_due(ledger.db)  # fails half-way
        assert len(segments.listed(ledger.db)) == segments.RATIO
        assert len(view(ledger)) == len(before) + 100
        ledger.db.execute("DROP TRIGGER no_merge")
        assert segments.merge_due(ledger.db) == len(before) + 100
        assert len(segments.listed(ledger.db)) == 1


def test_a_reader_checks_every_segment_too(tmp_path: Path) -> None:
    (tmp_path / "l").mkdir()
    path = tmp_path / "l" / "voucherbot.sqlite"
    with Ledger.open(path) as ledger:
        for code in ("A1", "B2"):
            ledger.new_batch(None, SET, [code], None)
            ledger.mark_abandoned(len(ledger.batches()), "test")
    with Ledger.open(path, readonly=True) as reader:
        assert reader.issued(["A1", "B2", "C3"]) == {"A1", "B2"}


def test_codes_that_differ_only_in_case_are_one_code() -> None:
    """Shops (Shopify, WooCommerce) and pools ignore case: so does the ledger."""
    with Ledger.memory() as ledger:
        ledger.new_batch(None, SET, ["AB12CD"], None)
        assert ledger.issued(["ab12cd", "Ab12Cd", "AB12CE"]) == {"ab12cd", "Ab12Cd"}
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, OTHER, ["ab12cd"], None)
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, OTHER, ["NEW1", "new1"], None)  # twice in one batch


def test_fingerprints_made_before_case_folding_are_found_in_upper_lower_and_as_written(
    tmp_path: Path,
) -> None:
    """A ledger from before (m005): its fingerprints are of codes as written. After the
    migration a code is found as written, in upper case and in lower case."""
    (tmp_path / "l").mkdir()
    path = tmp_path / "l" / "voucherbot.sqlite"
    (tmp_path / "l" / "voucherbot.sqlite.secret").write_text("ab" * 32 + "\n")
    old = sqlite3.connect(path)
    old.executescript(OLD_LEDGER.read_text())
    secret = bytes.fromhex("ab" * 32)
    raw = hmac.digest(secret, b"Pool-Mixed9", "sha256")[:16]  # a pool code, as written
    old.execute("INSERT INTO codes VALUES (?, 1, 'issued')", (raw,))
    old.commit()
    old.close()
    with Ledger.open(path) as ledger:
        asked = ["oldcode1", "OldCode3", "OLDCODE2", "Pool-Mixed9", "POOL-MIXED9", "pool-mixed9"]
        assert ledger.issued([*asked, "NEWCODE1"]) == set(asked)
        drawn = ledger.draw_batch(None, SET, CodeSpec(), 50)
        assert drawn.count == 50


OTHER = CouponSet(id="s2", name="Cart", type="multiple", assigned=0, available=0, quantity=0)
OLD_LEDGER = Path(__file__).resolve().parents[1] / "data" / "ledger_m005.sql"


def test_a_batch_never_holds_one_code_in_two_cases() -> None:
    """A custom alphabet with both cases of a letter draws aB and Ab: one code, drawn once."""
    spec = CodeSpec(alphabet="abcdefABCDEF", length=3, check_symbol=False)
    with Ledger.memory() as ledger:
        batch = ledger.draw_batch(None, SET, spec, 100)
        codes = list(ledger.kept_codes(batch.id) or ())
        assert len(codes) == 100 and len({c.lower() for c in codes}) == 100
        assert sum(s.rows for s in segments.listed(ledger.db)) == 100
