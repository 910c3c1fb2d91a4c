"""Where the fingerprints of issued codes are kept: append-only sorted segments, tiered.

Every batch writes its fingerprints as a new *segment*: a ``WITHOUT ROWID`` table keyed by
fingerprint (``codes_<n>``), listed in the manifest ``code_segments``. A refill's own segment
holds its fingerprints only (its batch is in the manifest); a merged one holds each
fingerprint's batch beside it. When :data:`RATIO` segments of about the same size exist they
are merged into one (:func:`merge_due`), so the segments stay few: at most ``RATIO - 1`` per
power of ``RATIO`` of the ledger's size. Why this layout, and what it costs:
``docs/ledger-scale.md``.

Uniqueness rests on a check of *every* segment: :func:`clashes` joins the fingerprints being
checked (put in a temporary table, :func:`stage`) against each segment the manifest lists, in
the same transaction as the insert that records them. Nothing probabilistic decides
anything. Two nets under it: a segment's key refuses a fingerprint twice within a batch, and
a merge into a keyed table fails on any fingerprint held twice.

A refill does not look every fingerprint up in every segment: filters
(:mod:`voucherbot.ledger.filters`) prove most fingerprints absent, and only the others are
looked up (:class:`Check`). A batch's segment has a small filter of its own (small, to keep
what its transaction writes small); while a run waits for its imports, upkeep *files* it
(:func:`file_one`): its fingerprints go into the one filter of its tier, which covers every
filed segment of the tier, so a refill reads one filter a tier. A merge files the segment it
makes. A segment without a filter (made before filters) is looked up in full until filed.

The view ``codes (fingerprint, batch_id, state)`` shows every segment as one table, for people
reading the ledger with ``sqlite3``; it is rebuilt whenever the segments change. Rejected codes
are kept in ``rejected_codes`` (few: those an import's error report lists).
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from voucherbot.ledger import filters
from voucherbot.ledger.filters import Filter
from voucherbot.ledger.sql import transaction

log = logging.getLogger("voucherbot.ledger")  # its name in logs since before the subpackages

#: Segments of about the same size (the same *tier*) are merged when this many exist.
RATIO = 4
#: Segments under ``BASE * RATIO`` fingerprints are all in the lowest tier.
BASE = 100_000

_STAGE = "temp.staged"
_VARIANTS = "temp.variants"
_MAYBE = "temp.maybe"  # the staged fingerprints a segment's filter did not rule out
#: Bytes in a fingerprint.
WIDTH = 16


@dataclass(frozen=True)
class Segment:
    """One segment of the manifest: its table, how many fingerprints it holds, its batch
    (None for a merged segment, whose rows carry their batch), and whether it holds
    fingerprints made before codes were fingerprinted case-insensitively (``legacy``: they
    are probed in every case the caller stages, see :func:`stage`), and whether its
    fingerprints are in a tier's filter: ``filed_in``, that tier, stored when it was filed and
    never worked out again, so that a change of :data:`BASE` or :data:`RATIO` cannot move a
    segment out from under the filter that covers it)."""

    id: int
    rows: int
    batch_id: int | None
    legacy: bool = False
    filed_in: int | None = None

    @property
    def filed(self) -> bool:
        return self.filed_in is not None

    @property
    def table(self) -> str:
        return f"codes_{self.id}"

    @property
    def tier(self) -> int:
        return 0 if self.rows < BASE else int(math.log(self.rows / BASE, RATIO))

    def select(self) -> str:
        """The segment's rows as ``(fingerprint, batch_id)``."""
        batch = "batch_id" if self.batch_id is None else str(int(self.batch_id))
        return f"SELECT fingerprint, {batch} AS batch_id FROM {self.table}"  # noqa: S608


def listed(db: sqlite3.Connection) -> list[Segment]:
    """Every segment, the newest first."""
    rows = db.execute(
        "SELECT id, rows, batch_id, legacy, filed_in FROM code_segments ORDER BY id DESC"
    )
    return [Segment(i, n, batch, bool(legacy), tier) for i, n, batch, legacy, tier in rows]


# --- checking fingerprints against every segment ---------------------------------------------


@dataclass(frozen=True)
class Staged:
    """What :func:`stage` staged: the fingerprints in key order, and their tops (for filters)."""

    ordered: list[bytes]
    tops: filters.Tops


def stage(
    db: sqlite3.Connection,
    prints: Iterable[bytes],
    variants: Mapping[bytes, bytes] | None = None,
) -> Staged:
    """Put ``prints`` (16 bytes each) in the temporary table that :func:`clashes` and
    :func:`append` read (a few MB for a chunk of 100,000; in memory, never in the ledger's
    file). They go as one sorted blob that SQL cuts up: four times faster than a row each.
    ``variants`` maps the fingerprints of the same codes in other cases to theirs: legacy
    segments are probed with those too."""
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {_VARIANTS} "
        "(variant BLOB PRIMARY KEY, fingerprint BLOB NOT NULL) WITHOUT ROWID"
    )
    db.execute(f"DELETE FROM {_VARIANTS}")  # noqa: S608
    ordered = sorted(prints)
    blob = b"".join(ordered)
    _put(db, _STAGE, blob)
    if variants:
        db.executemany(
            f"INSERT OR IGNORE INTO {_VARIANTS} VALUES (?, ?)",  # noqa: S608
            sorted(variants.items()),
        )
    return Staged(ordered, filters.tops(blob))


def _put(db: sqlite3.Connection, table: str, blob: bytes) -> None:
    """Make temporary ``table`` hold the fingerprints laid end to end in ``blob``, sorted."""
    db.execute(f"CREATE TABLE IF NOT EXISTS {table} (fingerprint BLOB PRIMARY KEY) WITHOUT ROWID")
    db.execute(f"DELETE FROM {table}")  # noqa: S608
    if blob:
        db.execute(
            "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < ?1) "  # noqa: S608
            f"INSERT OR IGNORE INTO {table} SELECT substr(?2, n * ?3 + 1, ?3) FROM i",
            (len(blob) // WIDTH - 1, blob, WIDTH),
        )


def clashes(
    db: sqlite3.Connection, segments: Iterable[Segment], *, batch_id: int | None = None
) -> set[bytes]:
    """The staged fingerprints that any of ``segments`` holds (only those of batch
    ``batch_id`` when it is given). One indexed probe per staged fingerprint and segment."""
    found: set[bytes] = set()
    for seg in segments:
        if batch_id is not None and seg.batch_id not in (None, batch_id):
            continue
        where = "" if batch_id is None or seg.batch_id is not None else " AND s.batch_id = ?"
        args = (batch_id,) if where else ()
        found |= _held(db, _STAGE, seg, where, args)
        if seg.legacy:
            rows = db.execute(
                f"SELECT v.fingerprint FROM {_VARIANTS} v CROSS JOIN {seg.table} s "  # noqa: S608
                f"ON s.fingerprint = v.variant{where}",
                args,
            )
            found.update(bytes(fp) for (fp,) in rows)
    return found


def _held(
    db: sqlite3.Connection,
    table: str,
    seg: Segment,
    where: str = "",
    args: Sequence[int | None] = (),
) -> set[bytes]:
    """The fingerprints of temporary ``table`` that ``seg`` holds: a lookup each."""
    rows = db.execute(
        f"SELECT p.fingerprint FROM {table} p CROSS JOIN {seg.table} s "  # noqa: S608
        f"ON s.fingerprint = p.fingerprint{where}",
        args,
    )
    return {bytes(fp) for (fp,) in rows}


class Check:
    """Checks a batch's fingerprints, a staged chunk at a time, against every segment but the
    batch's own, and against the batch's own earlier chunks (inside the batch's transaction).
    Where a filter covers segments (a tier's filter its filed segments, a batch's small filter
    its segment), they are looked up only for the fingerprints it does not rule out; the other
    segments are looked up in full. The batch's own segment gets its small filter here
    (:meth:`keep`)."""

    def __init__(self, db: sqlite3.Connection, own: Segment, rows: int) -> None:
        self._db = db
        self.own = own
        self.older = [seg for seg in listed(db) if seg.id != own.id]
        # legacy segments are looked up in several cases of each code: row by row
        usable = [seg for seg in self.older if not seg.legacy]
        filed: dict[int, list[Segment]] = {}
        for seg in usable:
            if seg.filed_in is not None:
                filed.setdefault(seg.filed_in, []).append(seg)
        loose = [seg for seg in usable if not seg.filed]
        tiers, owns = filters.load(db, filed, (seg.id for seg in loose))
        self._covered = [(tiers[t], held) for t, held in filed.items() if t in tiers]
        self._covered += [(owns[seg.id], [seg]) for seg in loose if seg.id in owns]
        covered = {seg.id for _, held in self._covered for seg in held}
        self._in_full = [seg for seg in self.older if seg.id not in covered]
        self._own = Filter.fresh(rows)

    def clashes(self, staged: Staged) -> set[bytes]:
        """The staged fingerprints that a segment holds (the batch's own: its earlier chunks)."""
        found = clashes(self._db, self._in_full)
        for kept, held in [*self._covered, (self._own, [self.own])]:
            maybe = kept.maybe(staged.tops)
            if maybe:
                _put(self._db, _MAYBE, b"".join(staged.ordered[i] for i in maybe))
                for seg in held:
                    found |= _held(self._db, _MAYBE, seg)
        return found

    def added(self, staged: Staged) -> None:
        """The staged fingerprints went into the batch's segment (some may have been left out:
        a filter may hold more than its segment)."""
        self._own.add(staged.tops)

    def keep(self) -> None:
        """Keep the batch's filter with its segment (:func:`seal` drops both if it is empty)."""
        filters.save_own(self._db, self.own.id, self._own)


def owners(db: sqlite3.Connection, segments: Iterable[Segment]) -> dict[bytes, int]:
    """The batch of each staged fingerprint that any of ``segments`` holds."""
    found: dict[bytes, int] = {}
    for seg in segments:
        sources = [(_STAGE, "p.fingerprint", "p.fingerprint")]
        if seg.legacy:
            sources.append((_VARIANTS, "p.fingerprint", "p.variant"))
        for table, mine, probe in sources:
            rows = db.execute(
                f"SELECT {mine}, {'s.batch_id' if seg.batch_id is None else seg.batch_id} "  # noqa: S608
                f"FROM {table} p CROSS JOIN {seg.table} s ON s.fingerprint = {probe}"
            )
            found.update((bytes(fp), int(batch)) for fp, batch in rows)
    return found


def staged_in(db: sqlite3.Connection, table: str) -> set[bytes]:
    """The staged fingerprints that ``table`` (keyed by ``fingerprint``) holds."""
    rows = db.execute(
        f"SELECT p.fingerprint FROM {_STAGE} p CROSS JOIN {table} t "  # noqa: S608
        "ON t.fingerprint = p.fingerprint"
    )
    return {bytes(fp) for (fp,) in rows}


def unstage(db: sqlite3.Connection, prints: Iterable[bytes]) -> None:
    """Take ``prints`` out of the staged ones."""
    db.executemany(f"DELETE FROM {_STAGE} WHERE fingerprint = ?", ((p,) for p in prints))  # noqa: S608


# --- writing ---------------------------------------------------------------------------------


def create(db: sqlite3.Connection, batch_id: int) -> Segment:
    """A new, empty segment for a batch's fingerprints (inside the batch's transaction)."""
    cursor = db.execute("INSERT INTO code_segments (rows, batch_id) VALUES (0, ?)", (batch_id,))
    seg = Segment(int(cursor.lastrowid or 0), 0, batch_id)
    db.execute(f"CREATE TABLE {seg.table} (fingerprint BLOB PRIMARY KEY) WITHOUT ROWID")
    return seg


def append(db: sqlite3.Connection, seg: Segment) -> int:
    """Add the staged fingerprints to a batch's segment, in key order; returns how many were
    added (one the segment holds already is not). ``OR IGNORE``: a statement that cannot fail
    half-way needs no statement journal, which would otherwise hold, in memory, every page of
    the segment that it changes (about the whole segment: a refill's memory would grow with it)."""
    return db.execute(
        f"INSERT OR IGNORE INTO {seg.table} SELECT fingerprint FROM {_STAGE}"  # noqa: S608
    ).rowcount


def seal(db: sqlite3.Connection, seg: Segment) -> None:
    """Record how many fingerprints a segment holds (empty: dropped) and show it in the view."""
    rows = db.execute(f"SELECT COUNT(*) FROM {seg.table}").fetchone()[0]  # noqa: S608
    if rows:
        db.execute("UPDATE code_segments SET rows = ? WHERE id = ?", (rows, seg.id))
    else:
        db.execute(f"DROP TABLE {seg.table}")
        db.execute("DELETE FROM code_segments WHERE id = ?", (seg.id,))
        filters.drop_own(db, [seg.id])
    rebuild_view(db)


def plant(db: sqlite3.Connection, batch_id: int, prints: Iterable[bytes]) -> Segment:
    """A segment of given fingerprints for a batch (tests and benchmarks build large
    ledgers with it; a caller's transaction)."""
    seg = create(db, batch_id)
    ordered = sorted(prints)
    db.executemany(f"INSERT INTO {seg.table} VALUES (?)", ((p,) for p in ordered))  # noqa: S608
    kept = Filter.fresh(len(ordered))
    kept.add(filters.tops(b"".join(ordered)))
    filters.save_own(db, seg.id, kept)
    seal(db, seg)
    return seg


def rebuild_view(db: sqlite3.Connection) -> None:
    """``codes``: every segment as one table, with each code's state. (Migrations call it:
    it reads only the manifest's first columns.)"""
    segments = [
        Segment(i, 0, batch)
        for i, batch in db.execute("SELECT id, batch_id FROM code_segments ORDER BY id DESC")
    ]
    rows = (
        " UNION ALL ".join(seg.select() for seg in segments)
        if segments
        else "SELECT NULL AS fingerprint, NULL AS batch_id WHERE 0"
    )
    db.execute("DROP VIEW IF EXISTS codes")
    db.execute(
        "CREATE VIEW codes (fingerprint, batch_id, state) AS SELECT s.fingerprint, s.batch_id, "  # noqa: S608
        "CASE WHEN r.fingerprint IS NULL THEN 'issued' ELSE 'rejected' END "
        f"FROM ({rows}) s LEFT JOIN rejected_codes r ON r.fingerprint = s.fingerprint"
    )


# --- merging ---------------------------------------------------------------------------------


def due(segments: Iterable[Segment]) -> list[Segment]:
    """The segments to merge next: the lowest tier holding :data:`RATIO` segments or more
    (none when no tier does)."""
    tiers: dict[int, list[Segment]] = {}
    for seg in segments:
        tiers.setdefault(seg.tier, []).append(seg)
    full = sorted(tier for tier, held in tiers.items() if len(held) >= RATIO)
    return tiers[full[0]] if full else []


def merge_due(db: sqlite3.Connection) -> int:
    """Merge one tier that is due, if any, in its own transaction (a crash leaves the old
    segments whole), then empty the WAL it filled. Returns the fingerprints merged."""
    db.execute("BEGIN IMMEDIATE")
    try:
        merging = due(listed(db))
        if merging:
            merged = _merge(db, merging)
    except sqlite3.IntegrityError:
        db.execute("ROLLBACK")
        log.error(
            "the ledger holds a fingerprint in two segments, which voucherbot never writes; "
            "the segments are left unmerged. Keep the ledger and report this"
        )
        return 0
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    if not merging:
        return 0
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return merged


def _merge(db: sqlite3.Connection, merging: list[Segment]) -> int:
    legacy = any(seg.legacy for seg in merging)
    cursor = db.execute(
        "INSERT INTO code_segments (rows, batch_id, legacy) VALUES (0, NULL, ?)", (legacy,)
    )
    into = Segment(int(cursor.lastrowid or 0), 0, None, legacy)
    db.execute(
        f"CREATE TABLE {into.table} "
        "(fingerprint BLOB PRIMARY KEY, batch_id INTEGER NOT NULL) WITHOUT ROWID"
    )
    # each segment is read in key order: SQLite merges them as they stream, with no sort
    union = " UNION ALL ".join(seg.select() for seg in merging)
    rows = db.execute(
        f"INSERT INTO {into.table} SELECT fingerprint, batch_id FROM ({union}) "  # noqa: S608
        "ORDER BY fingerprint"
    ).rowcount
    for seg in merging:
        db.execute(f"DROP TABLE {seg.table}")
    db.execute(
        f"DELETE FROM code_segments WHERE id IN ({','.join('?' * len(merging))})",  # noqa: S608
        [seg.id for seg in merging],
    )
    filters.drop_own(db, [seg.id for seg in merging])
    db.execute("UPDATE code_segments SET rows = ? WHERE id = ?", (rows, into.id))
    held = listed(db)
    filters.drop_tiers(db, {seg.filed_in for seg in held if seg.filed_in is not None})
    if not legacy:
        merged = Segment(into.id, rows, None)
        _file(db, merged.tier, held, merged)
    rebuild_view(db)
    return int(rows)


def file_one(db: sqlite3.Connection) -> int:
    """One step of upkeep besides merges, in its own transaction: make again the filter of a
    tier whose filter is missing or damaged, or else file the segment that most wants it
    (one without a filter, then one with a batch's small filter; the smallest first).
    Returns the fingerprints filed (0: nothing was left to do)."""
    with transaction(db):
        held = listed(db)
        broken = filters.unwhole_tiers(
            db, {seg.filed_in for seg in held if seg.filed_in is not None}
        )
        if broken:
            return _file(db, broken[0], held)
        own = filters.whole_own(db)
        loose = [seg for seg in held if not seg.filed and not seg.legacy]
        if not loose:
            return 0
        chosen = min(loose, key=lambda seg: (seg.id in own, seg.rows, seg.id))
        return _file(db, chosen.tier, held, chosen)


def _file(
    db: sqlite3.Connection, tier: int, held: list[Segment], new: Segment | None = None
) -> int:
    """Put the fingerprints of segment ``new`` in the filter of ``tier``, its tier. The filter
    is made again from every segment filed in the tier when it would be too full, or when
    there is no ``new`` (it was missing or damaged). Returns the fingerprints added."""
    members = [seg for seg in held if seg.filed_in == tier and (new is None or seg.id != new.id)]
    kept = filters.read_tier(db, tier) if members and new is not None else None
    sizes = [seg.rows for seg in members] + ([new.rows] if new is not None else [])
    too_full = kept is not None and sum(sizes) * filters.TIER_MIN_BITS > 2**kept.power
    if kept is None or (too_full and kept.power < filters.MAX_POWER):
        # made anew, with room for the tier to fill: RATIO - 1 segments about this size
        kept = Filter.for_tier(max(sum(sizes), (RATIO - 1) * max(sizes)))
        for seg in members:
            _add_rows(db, seg, kept)
    if new is None:
        filters.save_tier(db, tier, kept)
        return sum(sizes)
    _add_rows(db, new, kept)
    filters.save_tier(db, tier, kept)
    db.execute("UPDATE code_segments SET filed_in = ? WHERE id = ?", (tier, new.id))
    filters.drop_own(db, [new.id])
    return new.rows


def _add_rows(db: sqlite3.Connection, seg: Segment, kept: Filter) -> None:
    """Add a segment's fingerprints to a filter (read in key order, a chunk at a time)."""
    cursor = db.execute(f"SELECT fingerprint FROM {seg.table}")  # noqa: S608
    while chunk := cursor.fetchmany(100_000):
        kept.add(filters.tops(b"".join(fp for (fp,) in chunk)))
