"""The filters in front of the ledger's segments: never a fingerprint a segment holds ruled
out, most of those it does not hold ruled out, kept with their segments through batches and
merges, and a ledger made before them (or with a filter that cannot be read) still exact."""

from __future__ import annotations

import logging
import os

import pytest

from voucherbot.codes import CodeSpec, generate
from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import Ledger, codes, filters, segments, shape_key
from voucherbot.ledger.filters import Filter

SET = CouponSet(id="s1", name="Welcome", type="multiple", assigned=0, available=0, quantity=0)
SMALL = CodeSpec(alphabet="digits", length=4, check_symbol=False)  # 10,000 codes in all


def random_prints(n: int) -> list[bytes]:
    return sorted(os.urandom(16) for _ in range(n))


def old_batch(ledger: Ledger, count: int, shape: str) -> int:
    cursor = ledger.db.execute(
        "INSERT INTO batches (coupon_set_id, count, shape, status, created_at) "
        "VALUES ('old', ?, ?, 'finished', '2026-01-01T00:00:00Z')",
        (count, shape),
    )
    return int(cursor.lastrowid or 0)


def plant(ledger: Ledger, prints: list[bytes], shape: str = "old") -> segments.Segment:
    with ledger.db:
        return segments.plant(ledger.db, old_batch(ledger, len(prints), shape), prints)


def kept(ledger: Ledger) -> dict[int, int]:
    """Each segment with a filter, and its power."""
    rows = ledger.db.execute("SELECT segment_id, power FROM segment_filters")
    return {int(i): int(p) for i, p in rows}


@pytest.mark.parametrize("hashes", [1, 2, 3])
@pytest.mark.parametrize("power", [3, 10, 17, 21])
def test_a_filter_never_rules_out_a_fingerprint_it_was_given(power: int, hashes: int) -> None:
    held = random_prints(20_000)
    made = Filter(power, hashes)
    made.add(filters.tops(b"".join(held)))
    assert made.maybe(filters.tops(b"".join(held))) == list(range(len(held)))


def test_a_filter_rules_out_most_fingerprints_it_was_not_given() -> None:
    """At the sizes a batch's and a merge's filters take: 2.5-5 and 8-16 bits a fingerprint."""
    held, others = random_prints(100_000), filters.tops(b"".join(random_prints(100_000)))
    for made, at_most in ((Filter.fresh(len(held)), 0.30), (Filter.merged(len(held)), 0.04)):
        made.add(filters.tops(b"".join(held)))
        assert len(made.maybe(others)) < at_most * len(held)


def test_filter_sizes() -> None:
    # a batch's filter: what its transaction writes stays small (at most 5 bits a fingerprint)
    assert Filter.fresh(1_000_000).power == 22 and Filter.fresh(1_000_000).size == 2**19
    assert Filter.fresh(10_000_000).size * 8 <= 5 * 10_000_000
    assert Filter.merged(16_000_000).power == 27  # 8.4 bits a fingerprint
    assert Filter.fresh(0).power == Filter.merged(1).power == 3
    assert Filter.merged(10**12).power == filters.MAX_POWER
    assert (Filter.fresh(10).hashes, Filter.merged(10).hashes) == (2, 3)
    with pytest.raises(ValueError, match="holds 3 bytes"):
        Filter(10, 3, b"abc")
    with pytest.raises(ValueError, match="4 hashes"):
        Filter(10, 4)


def test_every_batch_and_merge_keeps_a_filter_with_its_segment() -> None:
    with Ledger.memory() as ledger:
        for n in range(segments.RATIO):
            batch = ledger.draw_batch(None, SET, CodeSpec(), 300 + n)
            ledger.mark_abandoned(batch.id, "test")
            assert set(kept(ledger)) == {s.id for s in segments.listed(ledger.db)}
        assert ledger.merge_segments() == sum(300 + n for n in range(segments.RATIO))
        (merged,) = segments.listed(ledger.db)
        assert kept(ledger) == {merged.id: Filter.merged(merged.rows).power}
        ledger.new_batch(None, SET, ["GIVEN1", "GIVEN2"], None)
        assert set(kept(ledger)) == {s.id for s in segments.listed(ledger.db)}


def test_a_batch_left_empty_leaves_no_filter_behind() -> None:
    with Ledger.memory() as ledger:
        ledger.new_batch(None, SET, [], None)
        assert segments.listed(ledger.db) == [] and kept(ledger) == {}


def test_planted_codes_are_never_issued_again_whatever_the_filters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """4,000 of a 10,000-code shape among 200,000 other fingerprints: in segments with a
    filter, in one whose filter is gone (made before filters), in one whose filter will not
    fit in memory, and in one whose filter is damaged. 1,000 drawn in chunks of 97 hold none
    of them, and none twice."""
    monkeypatch.setattr(codes, "CHUNK", 97)
    taken = generate(SMALL, 4_000)
    with Ledger.memory() as ledger:
        planted = []
        for part in range(4):
            plant(ledger, random_prints(50_000))
            quarter = taken[part * 1000 : (part + 1) * 1000]
            prints = [ledger.fingerprint(c) for c in quarter]
            planted.append(plant(ledger, prints, shape_key(SMALL)))
        with ledger.db:
            ledger.db.execute("DELETE FROM segment_filters WHERE segment_id = ?", (planted[0].id,))
            ledger.db.execute(
                "UPDATE segment_filters SET bits = x'00' WHERE segment_id = ?", (planted[1].id,)
            )
            # the largest filter is left out when they do not all fit
            ledger.db.execute(
                "UPDATE segment_filters SET power = 24, bits = zeroblob(2097152) "
                "WHERE segment_id = ?",
                (planted[2].id,),
            )
        monkeypatch.setattr(filters, "MEMORY", 2**20)
        batch = ledger.draw_batch(None, SET, SMALL, 1_000)
        drawn = list(ledger.kept_codes(batch.id) or ())
        assert len(drawn) == len(set(drawn)) == 1_000
        assert not set(drawn) & set(taken)


def test_a_damaged_filter_is_not_used_and_said(caplog: pytest.LogCaptureFixture) -> None:
    with Ledger.memory() as ledger:
        seg = plant(ledger, [ledger.fingerprint("OLD1")])
        with ledger.db:
            ledger.db.execute("UPDATE segment_filters SET bits = x'00ff'")
        with (
            caplog.at_level(logging.WARNING, logger="voucherbot.ledger"),
            pytest.raises(Exception, match="issued before"),
        ):
            ledger.new_batch(None, SET, ["OLD1"], None)
        assert f"segment {seg.id}" in caplog.text and "filter" in caplog.text


def test_segments_get_full_filters_while_runs_wait_those_without_one_first() -> None:
    """What migration m010 leaves: segments without filters. They are looked up in full until
    merge_segments (called while imports run) gives them filters, one at a time, before it
    gives a batch's small filter a full-size one."""
    with Ledger.memory() as ledger:
        old = [plant(ledger, random_prints(2000))]  # RATIO - 1 segments: no merge is due
        given = plant(ledger, [ledger.fingerprint("OLD1")])
        with ledger.db:
            ledger.db.execute("DELETE FROM segment_filters")
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)
        with ledger.db:  # and one with a batch's small filter
            fresh = plant(ledger, random_prints(500))
        assert filters.wanting(ledger.db) == [given.id, old[0].id, fresh.id]
        rows = {seg.id: seg.rows for seg in segments.listed(ledger.db)}
        for n, seg in enumerate([given, *old]):
            assert ledger.merge_segments() == rows[seg.id]  # nothing due: a filter instead
            assert len(kept(ledger)) == n + 2
        assert kept(ledger)[fresh.id] == Filter.fresh(500).power
        assert ledger.merge_segments() == 500  # the full-size one
        assert ledger.merge_segments() == 0  # nothing left to do
        assert filters.wanting(ledger.db) == []
        assert kept(ledger) == {i: Filter.merged(n).power for i, n in rows.items()}
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)
