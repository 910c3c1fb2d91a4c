"""A filter in front of each segment of fingerprints: what lets a refill skip nearly every
probe of a segment, so that its cost barely grows with the ledger.

A segment's filter is a bitmap of ``2**power`` bits. Every fingerprint the segment holds sets
two or three of its bits (a Bloom filter with two or three hashes): the ones named by the top
``power`` bits of its first, second and third 32 bits. A clear bit proves that the segment
does not hold a fingerprint; a set one proves nothing, and the fingerprint is then looked up
in the segment itself. So the filter only decides which lookups are skipped, never what is
issued: uniqueness stays exact. A filter may have more bits set than its segment needs (a
fingerprint that was then left out), never fewer: a segment gains rows only in the
transaction that makes it, where its filter is made too, or in a merge, which makes the
merged one's.

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

#: Bits of filter per fingerprint of a batch's own segment, at most: the batch's transaction
#: writes it, and it must keep what a refill writes under 3x its fingerprints' bytes (its
#: rows take 2.92x). The power of two at or below 5 bits a fingerprint: 2.5 to 5.
FRESH_BITS = 5
#: Bits per fingerprint of a merged segment's filter, at least (a merge writes it): 8 to 16.
MERGED_BITS = 8
#: The most filter a refill holds in memory. Past it (about 90 million fingerprints), the
#: smallest filters are loaded first and the segments left without one are looked up row by
#: row: slower, as exact, and the memory stays flat.
MEMORY = 96 * 2**20
#: The largest filter: 32 bits of a fingerprint name each of its bits.
MAX_POWER = 32
#: Bits a fingerprint sets, at most: a full-size filter's three leave 2.9% of absent ones to
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
    def merged(cls, rows: int) -> Filter:
        """An empty filter for a merged segment of ``rows`` fingerprints."""
        return cls(_power(math.ceil, MERGED_BITS * max(rows, 1)), 3)

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

#: SQL: a filter row's bitmap has the bytes its power says, made as this version reads them.
_WHOLE = (
    f"(f.power BETWEEN 3 AND {MAX_POWER} AND length(f.bits) = (1 << f.power) / 8 "
    f"AND f.hashes BETWEEN 1 AND {HASHES})"
)


def save(db: sqlite3.Connection, segment_id: int, kept: Filter) -> None:
    """Keep a segment's filter (inside the transaction that fills the segment)."""
    db.execute(
        "INSERT OR REPLACE INTO segment_filters (segment_id, power, hashes, bits) "
        "VALUES (?, ?, ?, ?)",
        (segment_id, kept.power, kept.hashes, bytes(kept.bits)),
    )


def drop(db: sqlite3.Connection, segment_ids: Iterable[int]) -> None:
    """Forget the filters of segments that are gone."""
    db.executemany("DELETE FROM segment_filters WHERE segment_id = ?", ((i,) for i in segment_ids))


def wanting(db: sqlite3.Connection) -> list[int]:
    """The segments that want a new filter, the neediest first: those without one (made before
    filters, or by a tool) or with one that is not whole, as they are looked up in full; then
    those with a batch's small one (:data:`FRESH_BITS`), the smallest first. Legacy segments
    aside (they are looked up in several cases of each code, row by row)."""
    rows = db.execute(
        f"SELECT s.id, s.rows, f.power, {_WHOLE} FROM code_segments s "  # noqa: S608
        "LEFT JOIN segment_filters f ON f.segment_id = s.id WHERE NOT s.legacy"
    )
    want = []
    for i, held, power, whole in rows:
        if power is None or not whole:
            want.append((0, held, int(i)))
        elif power < Filter.merged(held).power:
            want.append((1, held, int(i)))
    return [i for *_, i in sorted(want)]


def load(db: sqlite3.Connection, segment_ids: Iterable[int]) -> dict[int, Filter]:
    """The filters of these segments that fit in :data:`MEMORY`, the smallest first (a small
    filter skips as many lookups per fingerprint as a large one)."""
    wanted = set(segment_ids)
    sizes = []
    for i, power, whole in db.execute(
        f"SELECT segment_id, power, {_WHOLE} FROM segment_filters f"  # noqa: S608
    ):
        if i not in wanted:
            continue
        if whole:
            sizes.append((2**power // 8, int(i)))
        else:  # a tool's or a disk's doing: never guess, look the segment up in full
            log.warning(
                "segment %d of the ledger has a filter that is not whole; it is looked up in "
                "full until a run gives it a new one",
                i,
            )
    chosen, used = [], 0
    for size, i in sorted(sizes):
        if used + size > MEMORY:
            break
        chosen.append(i)
        used += size
    loaded: dict[int, Filter] = {}
    for i in chosen:
        power, hashes, bits = db.execute(
            "SELECT power, hashes, bits FROM segment_filters WHERE segment_id = ?", (i,)
        ).fetchone()
        loaded[i] = Filter(int(power), int(hashes), bytes(bits))
    return loaded
