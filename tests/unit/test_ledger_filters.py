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


def own(ledger: Ledger) -> dict[int, int]:
    """Each segment with a filter of its own (a batch's small one), and its power."""
    rows = ledger.db.execute("SELECT segment_id, power FROM segment_filters")
    return {int(i): int(p) for i, p in rows}


def tiers(ledger: Ledger) -> dict[int, int]:
    """Each tier with a filter, and its power."""
    rows = ledger.db.execute("SELECT tier, power FROM tier_filters")
    return {int(t): int(p) for t, p in rows}


def upkeep(ledger: Ledger) -> None:
    """All the upkeep there is, as a run does while its imports run."""
    while ledger.merge_segments():
        pass


@pytest.mark.parametrize("hashes", [1, 2, 3])
@pytest.mark.parametrize("power", [3, 10, 17, 21])
def test_a_filter_never_rules_out_a_fingerprint_it_was_given(power: int, hashes: int) -> None:
    held = random_prints(20_000)
    made = Filter(power, hashes)
    made.add(filters.tops(b"".join(held)))
    assert made.maybe(filters.tops(b"".join(held))) == list(range(len(held)))


def test_a_filter_rules_out_most_fingerprints_it_was_not_given() -> None:
    """At the sizes a batch's and a tier's filters take: 2-4 and 8-16 bits a fingerprint."""
    held, others = random_prints(100_000), filters.tops(b"".join(random_prints(100_000)))
    for made, at_most in ((Filter.fresh(len(held)), 0.40), (Filter.for_tier(len(held)), 0.04)):
        made.add(filters.tops(b"".join(held)))
        assert len(made.maybe(others)) < at_most * len(held)


def test_filter_sizes() -> None:
    # a batch's filter: what its transaction writes stays small (at most 4 bits a fingerprint)
    assert Filter.fresh(1_000_000).power == 21 and Filter.fresh(1_000_000).size == 2**18
    assert Filter.fresh(10_000_000).size * 8 <= 4 * 10_000_000
    assert Filter.for_tier(16_000_000).power == 27  # 8.4 bits a fingerprint
    assert Filter.fresh(0).power == Filter.for_tier(1).power == 3
    assert Filter.for_tier(10**12).power == filters.MAX_POWER
    assert (Filter.fresh(10).hashes, Filter.for_tier(10).hashes) == (2, 3)
    with pytest.raises(ValueError, match="holds 3 bytes"):
        Filter(10, 3, b"abc")
    with pytest.raises(ValueError, match="4 hashes"):
        Filter(10, 4)


def test_a_batch_keeps_a_small_filter_until_upkeep_files_it_in_its_tier() -> None:
    with Ledger.memory() as ledger:
        drawn: list[str] = []
        for n in range(segments.RATIO - 1):
            batch = ledger.draw_batch(None, SET, CodeSpec(), 300 + n)
            ledger.mark_abandoned(batch.id, "test")
            drawn += ledger.kept_codes(batch.id) or ()
            newest = segments.listed(ledger.db)[0]
            assert own(ledger) == {newest.id: Filter.fresh(300 + n).power}
            assert not newest.filed
            assert ledger.merge_segments() == 300 + n  # nothing due: filed instead
            assert own(ledger) == {} and segments.listed(ledger.db)[0].filed
            # room for RATIO - 1 segments like the first
            assert tiers(ledger) == {0: Filter.for_tier((segments.RATIO - 1) * 300).power}
        assert ledger.issued(drawn) == set(drawn)  # through the tier's filter
        batch = ledger.draw_batch(None, SET, CodeSpec(), 400)
        ledger.mark_abandoned(batch.id, "test")
        drawn += ledger.kept_codes(batch.id) or ()
        assert len(drawn) == len(set(drawn)) == 1303
        assert ledger.merge_segments() == 1303  # a merge is due: the merged segment is filed
        (merged,) = segments.listed(ledger.db)
        assert merged.filed and own(ledger) == {} and list(tiers(ledger)) == [merged.tier]
        assert ledger.issued([*drawn, "NEVER1"]) == set(drawn)
        given = ledger.new_batch(None, SET, ["GIVEN1", "GIVEN2"], None)
        ledger.mark_abandoned(given.id, "test")
        assert len(own(ledger)) == 1
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, [drawn[0]], None)
        upkeep(ledger)
        assert own(ledger) == {} and all(seg.filed for seg in segments.listed(ledger.db))
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["GIVEN2"], None)


def test_a_tier_filter_as_large_as_a_filter_gets_takes_more_fingerprints_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(filters, "MAX_POWER", 12)  # 4,096 bits
    with Ledger.memory() as ledger:
        plant(ledger, random_prints(1000))
        plant(ledger, [ledger.fingerprint("OLD1")])
        plant(ledger, random_prints(2000))
        upkeep(ledger)
        assert tiers(ledger) == {0: 12} and all(s.filed for s in segments.listed(ledger.db))
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)


def test_a_tier_too_full_for_its_filter_gets_a_larger_one() -> None:
    with Ledger.memory() as ledger:
        plant(ledger, [ledger.fingerprint("OLD1")])
        upkeep(ledger)
        assert tiers(ledger) == {0: Filter.for_tier(3).power}  # room for 3 segments of 1
        plant(ledger, random_prints(2000))
        upkeep(ledger)  # 2,001 fingerprints: made again from both segments' rows
        assert tiers(ledger) == {0: Filter.for_tier(3 * 2000).power}
        assert all(seg.filed for seg in segments.listed(ledger.db))
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)


def test_a_batch_left_empty_leaves_no_filter_behind() -> None:
    with Ledger.memory() as ledger:
        ledger.new_batch(None, SET, [], None)
        assert segments.listed(ledger.db) == [] and own(ledger) == tiers(ledger) == {}


def test_planted_codes_are_never_issued_again_whatever_the_filters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """4,000 of a 10,000-code shape among 500,000 other fingerprints: in filed segments of two
    tiers, in a batch's segment with its small filter, in one without a filter (made before
    filters), in one whose filter is damaged, and in one whose filter will not fit in memory.
    1,000 drawn in chunks of 97 hold none of them, and none twice."""
    monkeypatch.setattr(codes, "CHUNK", 97)
    taken = generate(SMALL, 4_000)
    quarters = [taken[n * 1000 : (n + 1) * 1000] for n in range(4)]
    with Ledger.memory() as ledger:

        def plant_quarter(n: int) -> segments.Segment:
            return plant(ledger, [ledger.fingerprint(c) for c in quarters[n]], shape_key(SMALL))

        plant(ledger, random_prints(400_000))  # tier 1
        plant_quarter(0)  # tier 0, with
        plant(ledger, random_prints(50_000))
        upkeep(ledger)
        filed = [seg.tier for seg in segments.listed(ledger.db) if seg.filed]
        assert sorted(filed) == [0, 0, 1]  # one filter for both segments of tier 0
        plant(ledger, random_prints(50_000))  # with its small filter
        loose = [plant_quarter(n) for n in (1, 2, 3)]
        with ledger.db:
            ledger.db.execute("DELETE FROM segment_filters WHERE segment_id = ?", (loose[0].id,))
            ledger.db.execute(
                "UPDATE segment_filters SET bits = x'00' WHERE segment_id = ?", (loose[1].id,)
            )
            # the largest filter is left out when they do not all fit
            ledger.db.execute(
                "UPDATE segment_filters SET power = 24, bits = zeroblob(2097152) "
                "WHERE segment_id = ?",
                (loose[2].id,),
            )
        monkeypatch.setattr(filters, "MEMORY", 2**20)
        batch = ledger.draw_batch(None, SET, SMALL, 1_000)
        drawn = list(ledger.kept_codes(batch.id) or ())
        assert len(drawn) == len(set(drawn)) == 1_000
        assert not set(drawn) & set(taken)
        assert ledger.issued(taken) == set(taken)


def test_a_damaged_tier_filter_is_not_used_and_made_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Ledger.memory() as ledger:
        plant(ledger, [ledger.fingerprint("OLD1")])
        plant(ledger, random_prints(100))
        upkeep(ledger)
        with ledger.db:
            ledger.db.execute("UPDATE tier_filters SET bits = x'00ff'")
        with (
            caplog.at_level(logging.WARNING, logger="voucherbot.ledger"),
            pytest.raises(Exception, match="issued before"),
        ):
            ledger.new_batch(None, SET, ["OLD1"], None)
        assert "tier 0" in caplog.text and "not whole" in caplog.text
        assert ledger.merge_segments() == 101  # made again from both segments
        assert tiers(ledger) == {0: Filter.for_tier(3 * 100).power}
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)


def test_segments_made_before_filters_are_filed_while_runs_wait_those_without_one_first() -> None:
    """What migration m010 leaves: segments without filters, not filed. They are looked up in
    full until merge_segments (called while imports run) files them, one at a time, before
    it files a batch's segment that has its small filter."""
    with Ledger.memory() as ledger:
        old = plant(ledger, random_prints(2000))
        given = plant(ledger, [ledger.fingerprint("OLD1")])
        with ledger.db:
            ledger.db.execute("DELETE FROM segment_filters")
            fresh = plant(ledger, random_prints(500))  # RATIO - 1 segments: no merge is due
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)
        for seg in (given, old, fresh):
            assert ledger.merge_segments() > 0
            assert {s.id for s in segments.listed(ledger.db) if s.filed} >= {seg.id}
        assert ledger.merge_segments() == 0  # nothing left to do
        assert own(ledger) == {} and list(tiers(ledger)) == [0]
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["OLD1"], None)


def test_a_filed_segment_stays_with_its_filter_when_the_tiers_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tier a segment was filed in is stored: another release's BASE or RATIO (which
    would work its tier out as another) cannot take it from under the filter that covers it."""
    monkeypatch.setattr(segments, "BASE", 5)
    with Ledger.memory() as ledger:
        plant(ledger, [ledger.fingerprint(f"A{n}") for n in range(30)])  # tier 1
        plant(ledger, random_prints(3))  # tier 0
        upkeep(ledger)
        assert sorted(seg.filed_in or 0 for seg in segments.listed(ledger.db)) == [0, 1]
        monkeypatch.setattr(segments, "BASE", 50)  # both would be tier 0 now
        with pytest.raises(Exception, match="issued before"):
            ledger.new_batch(None, SET, ["A7"], None)
