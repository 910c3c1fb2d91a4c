"""The filters in front of the segments of fingerprints: what lets a refill skip nearly every
lookup, so that its cost barely grows with the ledger.

A filter is a bitmap of ``2**power`` bits. Every fingerprint it covers sets two or three of
its bits (a Bloom filter with two or three hashes): the ones named by the top ``power`` bits of
its first, second and third 32 bits. A clear bit proves that no segment the filter covers holds
a fingerprint; a set one proves nothing, and the fingerprint is then looked up in those
segments. So a filter only decides which lookups are skipped, never what is issued:
uniqueness stays exact. A filter may have more bits set than it needs (a fingerprint that was
then left out, a segment merged away), never fewer.

Two kinds: a batch's segment has a small filter of its own, made as its codes are drawn; upkeep
then *files* the segment in its tier's filter, which covers every filed segment of the tier
(see the functions below), so that a refill reads one filter a tier.

Why a bitmap of top bits: fingerprints are keyed hashes (uniform), and the chunk being checked
is sorted, so its first bits are read in order through every filter (0.15-0.3 s per million in
CPython, against 0.35-0.8 s for SQLite's lookup of the same million in a segment). The numbers
behind the sizes: ``docs/ledger-scale.md``.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import sys
from array import array
from collections.abc import Callable, Iterable
from itertools import chain
from typing import TypeAlias

from voucherbot.ledger.sql import marks

#: Bits of filter per fingerprint of a batch's own segment, at most: the batch's transaction
#: writes it, and it must keep what a refill writes under 3x its fingerprints' bytes (its
#: rows take 2.92x). The power of two at or below 4 bits a fingerprint: 2 to 4 (256 KiB for
#: 1M codes).
FRESH_BITS = 4
#: Bits per fingerprint of a tier's filter when it is made, at least: 8 to 16.
TIER_BITS = 8
#: The most filter a refill reads into memory, the smallest filters first; what the others
#: cover is looked up row by row: slower, as exact, and the memory stays flat.
MEMORY = 96 * 2**20
#: The largest filter, 64 MiB: past 64M fingerprints a tier's filter holds fewer bits each
#: (more of them are looked up) rather than more memory.
MAX_POWER = 29
#: Bits a fingerprint sets, at most: a tier's filter's three leave 2.9% of absent ones to
#: be looked up at 8.4 bits a fingerprint, where two left 4.5% (a lookup costs ten bit tests);
#: a batch's small filter sets two (at 2.5 bits a fingerprint, three would leave more).
HASHES = 3

log = logging.getLogger("voucherbot.ledger")

_WORDS_PER_PRINT = 4  # a fingerprint is 16 bytes: four 32-bit words
if array("I").itemsize != 4:  # pragma: no cover - every platform CPython builds on
    raise ImportError("voucherbot needs 32-bit unsigned ints in array('I')")


Tops: TypeAlias = "tuple[array[int], ...]"
"""The first :data:`HASHES` 32-bit words of fingerprints, as numbers, a sequence each: the
bits each fingerprint sets."""


def tops(blob: bytes) -> Tops:
    """The :data:`Tops` of the 16-byte fingerprints laid end to end in ``blob``, in order."""
    words = array("I")
    words.frombytes(blob)
    if sys.byteorder == "little":
        words.byteswap()
    return tuple(words[n::_WORDS_PER_PRINT] for n in range(HASHES))


class Filter:
    """The bitmap of one segment (see the module's text)."""

    __slots__ = ("_high", "_low", "bits", "hashes", "power")

    def __init__(self, power: int, hashes: int, bits: bytearray | bytes | None = None) -> None:
        if not 3 <= power <= MAX_POWER or not 1 <= hashes <= HASHES:
            raise ValueError(f"a filter of 2**{power} bits and {hashes} hashes")
        self.power, self.hashes = power, hashes
        self.bits = bytearray(2**power // 8) if bits is None else bits
        if len(self.bits) != 2**power // 8:
            raise ValueError(f"a filter of 2**{power} bits holds {len(self.bits)} bytes")
        self._low = 32 - power  # a top's bits below its slot
        self._high = self._low + 3  # ... and below its byte

    @classmethod
    def fresh(cls, rows: int) -> Filter:
        """An empty filter for a batch's segment of up to ``rows`` fingerprints."""
        return cls(_power(math.floor, FRESH_BITS * max(rows, 1)), 2)

    @classmethod
    def for_tier(cls, rows: int) -> Filter:
        """An empty filter for a tier that will hold ``rows`` fingerprints."""
        return cls(_power(math.ceil, TIER_BITS * max(rows, 1)), 3)

    def add(self, tops: Tops) -> None:
        """Set the bits of these fingerprints (in a filter being made, not one read back)."""
        bits, low, high = self.bits, self._low, self._high
        if not isinstance(bits, bytearray):
            raise TypeError("a filter read from the ledger is not added to")
        for top in chain(*tops[: self.hashes]):
            bits[top >> high] |= 1 << (top >> low & 7)

    def maybe(self, tops: Tops) -> list[int]:
        """The positions in ``tops`` of the fingerprints the segment may hold: every one it
        holds, and a few it does not. Each bit is read only where the ones before are set."""
        bits, low, high = self.bits, self._low, self._high
        first, *others = tops[: self.hashes]
        hits = [i for i, top in enumerate(first) if bits[top >> high] >> (top >> low & 7) & 1]
        for words in others:
            hits = [i for i in hits if bits[(top := words[i]) >> high] >> (top >> low & 7) & 1]
        return hits

    @property
    def size(self) -> int:
        """Bytes of memory the bitmap takes."""
        return len(self.bits)


def _power(rounding: Callable[[float], int], slots: float) -> int:
    return min(MAX_POWER, max(3, int(rounding(math.log2(slots)))))


# --- kept in the ledger ----------------------------------------------------------------------
#
# A batch's own segment keeps its small filter in ``segment_filters`` until upkeep *files* the
# segment: its fingerprints go into the filter of its tier (``tier_filters``), and
# ``code_segments.filed_in`` says which tier (stored, never worked out again). A tier's filter
# holds every fingerprint of every segment filed in it, so one test rules a fingerprint out of
# all of them at once; a merge files the segment it makes. A tier's filter is dropped when no
# segment filed in it is left.

#: SQL: a filter row's bitmap has the bytes its power says, made as this version reads them.
_WHOLE = (
    f"(f.power BETWEEN 3 AND {MAX_POWER} AND length(f.bits) = (1 << f.power) / 8 "
    f"AND f.hashes BETWEEN 1 AND {HASHES})"
)
#: A tier's filter is made again, larger, when it would hold fewer bits a fingerprint (unless
#: it is as large as a filter gets).
TIER_MIN_BITS = 6
_CHUNK = 2**20  # bytes of a large filter read or written at a time


def save_own(db: sqlite3.Connection, segment_id: int, kept: Filter) -> None:
    """Keep a batch's segment's own filter (inside the transaction that fills the segment)."""
    db.execute(
        "INSERT OR REPLACE INTO segment_filters (segment_id, power, hashes, bits) "
        "VALUES (?, ?, ?, ?)",
        (segment_id, kept.power, kept.hashes, bytes(kept.bits)),
    )


def drop_own(db: sqlite3.Connection, segment_ids: Iterable[int]) -> None:
    """Forget the own filters of segments that are gone or filed."""
    db.executemany("DELETE FROM segment_filters WHERE segment_id = ?", ((i,) for i in segment_ids))


def save_tier(db: sqlite3.Connection, tier: int, kept: Filter) -> None:
    """Keep a tier's filter, written a chunk at a time (it may be tens of MB)."""
    db.execute(
        "INSERT OR REPLACE INTO tier_filters (tier, power, hashes, bits) "
        "VALUES (?, ?, ?, zeroblob(?))",
        (tier, kept.power, kept.hashes, kept.size),
    )
    with db.blobopen("tier_filters", "bits", tier) as blob:
        view = memoryview(kept.bits)
        for start in range(0, kept.size, _CHUNK):
            blob.write(view[start : start + _CHUNK])


def read_tier(db: sqlite3.Connection, tier: int) -> Filter | None:
    """A tier's filter, to add to; None if it has none that is whole."""
    return _read(db, "tier_filters", "tier", tier)


def _read(db: sqlite3.Connection, table: str, column: str, key: int) -> Filter | None:
    """The filter in row ``key`` of ``table`` if it is whole, read a chunk at a time (a whole
    read would hold it twice: in SQLite's memory and in Python's)."""
    row = db.execute(
        f"SELECT f.power, f.hashes FROM {table} f WHERE f.{column} = ? AND {_WHOLE}",  # noqa: S608
        (key,),
    ).fetchone()
    if row is None:
        return None
    power, hashes = int(row[0]), int(row[1])
    bits = bytearray(2**power // 8)
    with db.blobopen(table, "bits", key, readonly=True) as blob:
        for start in range(0, len(bits), _CHUNK):
            bits[start : start + _CHUNK] = blob.read(_CHUNK)
    return Filter(power, hashes, bits)


def drop_tiers(db: sqlite3.Connection, keep: Iterable[int]) -> None:
    """Forget the filters of tiers other than ``keep`` (those with a filed segment)."""
    held = sorted(set(keep))
    db.execute(f"DELETE FROM tier_filters WHERE tier NOT IN ({marks(held)})", held)  # noqa: S608


def load(
    db: sqlite3.Connection, tiers: Iterable[int], segment_ids: Iterable[int]
) -> tuple[dict[int, Filter], dict[int, Filter]]:
    """The filters of these tiers and of these (unfiled) segments that fit in :data:`MEMORY`,
    the smallest first (a small filter saves as many lookups per fingerprint as a large one).
    A filter that is not whole is left out (said once): what it covers is looked up in full."""
    wanted = {("tier", int(t)) for t in tiers} | {("segment", int(i)) for i in segment_ids}
    sizes = []
    for kind, key, power, whole in db.execute(
        f"SELECT 'tier', f.tier, f.power, {_WHOLE} FROM tier_filters f UNION ALL "  # noqa: S608
        f"SELECT 'segment', f.segment_id, f.power, {_WHOLE} FROM segment_filters f"
    ):
        if (kind, key) not in wanted:
            continue
        if whole:
            sizes.append((2**power // 8, kind, int(key)))
        else:  # a tool's or a disk's doing: never guess, look the segments up in full
            log.warning(
                "%s %d of the ledger has a filter that is not whole; what it covers is looked "
                "up in full until a run makes it again",
                kind,
                key,
            )
    loaded: dict[str, dict[int, Filter]] = {"tier": {}, "segment": {}}
    used = 0
    for size, kind, key in sorted(sizes):
        if used + size > MEMORY:
            break
        used += size
        table, column = (
            ("tier_filters", "tier") if kind == "tier" else ("segment_filters", "segment_id")
        )
        kept = _read(db, table, column, key)
        if kept is not None:
            loaded[kind][key] = kept
    return loaded["tier"], loaded["segment"]


def unwhole_tiers(db: sqlite3.Connection, tiers: Iterable[int]) -> list[int]:
    """Those of ``tiers`` (with filed segments) whose filter is missing or not whole."""
    whole = {
        int(t)
        for (t,) in db.execute(f"SELECT f.tier FROM tier_filters f WHERE {_WHOLE}")  # noqa: S608
    }
    return sorted(set(tiers) - whole)


def whole_own(db: sqlite3.Connection) -> set[int]:
    """The segments with an own filter that is whole."""
    return {
        int(i)
        for (i,) in db.execute(f"SELECT f.segment_id FROM segment_filters f WHERE {_WHOLE}")  # noqa: S608
    }
