"""The ledger's batches and their codes, and the write-ahead protocol as named transitions.

**Write-ahead protocol.** A batch and the fingerprints of its codes are committed before any
code leaves the process (:meth:`BatchStore.new_batch`, ``prepared``); codes for the shop go
to its sink first (``delivering``, then ``delivered``); the batch is marked ``submitting``
before the import POST (:meth:`~BatchStore.mark_submitting`) and ``submitted`` with the
import id as soon as the POST answers (:meth:`~BatchStore.mark_submitted`); it ends as
``finished``, ``failed`` or ``abandoned`` (its codes never reached Connectif), or stays
``unresolved`` until a person settles it. ``posted_at`` is committed just before the upload's
first byte leaves (:meth:`~BatchStore.mark_posted`): a ``submitting`` batch without it never
reached Connectif. Batches in any other status are *open*;
:meth:`voucherbot.refill.batch.Refiller.settle` finishes their story at the start of every
run. A coupon set has at most one refill open at a time.

Each transition names the statuses it may start from; asked of a batch in another status it
changes nothing and raises :class:`TransitionError` (a bug: the protocol never does that).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voucherbot.codes import CodeSpec
from voucherbot.connectif.models import CouponSet, Import
from voucherbot.errors import VoucherbotError
from voucherbot.files import chunked
from voucherbot.ledger import segments
from voucherbot.ledger.codes import CHUNK, CodeStore, OnChunk
from voucherbot.ledger.pending import CodeWriter, KeptCodes
from voucherbot.ledger.records import (
    BATCH_FIELDS,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    Batch,
    BatchStatus,
    now_text,
    shape_key,
    stamp,
)
from voucherbot.ledger.segments import Segment
from voucherbot.ledger.sql import marks

_COLUMNS = ", ".join(BATCH_FIELDS)

#: Open, and without an import yet: what may fail or be abandoned before Connectif has it.
_NOT_SENT = (
    BatchStatus.PREPARED,
    BatchStatus.DELIVERING,
    BatchStatus.DELIVERED,
    BatchStatus.SUBMITTING,
)


@dataclass(frozen=True)
class Fate:
    """Where an issued code went: its set, its batch, and whether Connectif got it (True: its
    import finished and did not reject it; False: never: refused by the shop, rejected by the
    import, or its batch ended before an import existed; None: not known, as its batch is still
    open or its import ended in error)."""

    coupon_set_id: str
    batch_id: int
    imported: bool | None


class TransitionError(Exception):
    """A transition was asked of a batch in a status it does not start from (a bug: the
    write-ahead protocol never does that); nothing was changed."""


class BatchStore(CodeStore):
    """The batches of a ledger's database and their codes (the base of its
    :class:`~voucherbot.ledger.store.Ledger`)."""

    # --- a new batch ---------------------------------------------------------------------------

    def new_batch(
        self,
        run_id: int | None,
        coupon_set: CouponSet,
        codes: Sequence[str],
        spec: CodeSpec | None,
        *,
        part_of: int | None = None,
        on_chunk: OnChunk = None,
    ) -> Batch:
        """Commit a batch of given ``codes`` and their fingerprints, before any code leaves;
        a VoucherbotError, with nothing recorded, when one was issued before.

        ``spec`` is the shape of generated codes; None for codes taken from the shop's pool.
        The batch's codes are then in its file (:meth:`~voucherbot.ledger.Ledger.kept_codes`).
        """
        shape = shape_key(spec) if spec is not None else "pool"
        return self._new(
            run_id,
            coupon_set,
            len(codes),
            shape,
            part_of,
            lambda seg, write: self._record_given(seg, codes, write, on_chunk),
        )

    def draw_batch(
        self,
        run_id: int | None,
        coupon_set: CouponSet,
        spec: CodeSpec,
        count: int,
        *,
        part_of: int | None = None,
        on_chunk: OnChunk = None,
    ) -> Batch:
        """Draw ``count`` codes of shape ``spec`` the ledger has never issued, and commit them
        as a new batch, before any code leaves. They are drawn, checked and recorded a chunk
        at a time (a refill of any size costs the same memory) and written to the batch's file
        (:meth:`~voucherbot.ledger.Ledger.kept_codes`) as they go.

        ``part_of`` names the first batch of a refill split into several imports. A set never
        has two refills open at once: another open batch of the set is refused.
        ``on_chunk`` is told how many codes are recorded so far, chunk by chunk (for progress).
        """
        return self._new(
            run_id,
            coupon_set,
            count,
            shape_key(spec),
            part_of,
            lambda seg, write: self._record_fresh(seg, spec, count, write, on_chunk),
        )

    def draw_more(self, batch_id: int, spec: CodeSpec, count: int) -> KeptCodes:
        """Draw ``count`` fresh codes into an existing batch, to replace codes its shop
        refused: recorded (a segment of their own) before they leave, and kept in the batch's
        second file until :meth:`settle_refused` folds them into the first."""
        with self._transaction():
            seg = segments.create(self.db, batch_id)
            with self._pending.writing_more(batch_id) as write:
                self._record_fresh(seg, spec, count, write, None, topping_up=True)
            segments.seal(self.db, seg)
        return KeptCodes(self._pending.more_path(batch_id))

    def kept_more(self, batch_id: int) -> KeptCodes | None:
        """The replacement codes of a batch not yet folded into its file (a killed run's)."""
        path = self._pending.more_path(batch_id)
        return KeptCodes(path) if path.exists() else None

    def settle_refused(self, batch_id: int, refused: Mapping[str, str]) -> KeptCodes:
        """Record the codes the shop refused (never imported, never issued again) and make
        the batch's file what the shop accepted: its codes and the replacements, less the
        refused ones. Returns that file."""
        with self._transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO shop_refused VALUES (?, ?, ?)",
                ((self.fingerprint(code), batch_id, why) for code, why in refused.items()),
            )
        return self._pending.rewrite(batch_id, set(refused))

    def fates(self, codes: Iterable[str]) -> dict[str, Fate]:
        """Where each of ``codes`` that the ledger issued went (codes it never issued are
        left out): the shop's redeemed codes, checked against what Connectif was given."""
        found: dict[str, Fate] = {}
        held = segments.listed(self.db)
        for chunk in chunked(codes, CHUNK):
            prints = [self.fingerprint(c) for c in chunk]
            segments.stage(self.db, prints, self._variants(chunk, prints, held))
            owner = segments.owners(self.db, held)
            lost = segments.staged_in(self.db, "shop_refused") | segments.staged_in(
                self.db, "rejected_codes"
            )
            ids = sorted(set(owner.values()))
            batches = {
                int(i): (str(set_id), _imported(BatchStatus(st), import_id))
                for i, set_id, st, import_id in self.db.execute(
                    "SELECT id, coupon_set_id, status, import_id FROM batches "  # noqa: S608
                    f"WHERE id IN ({marks(ids)})",
                    ids,
                )
            }
            for code, fp in zip(chunk, prints, strict=True):
                if fp in owner and owner[fp] in batches:
                    set_id, imported = batches[owner[fp]]
                    found[code] = Fate(set_id, owner[fp], False if fp in lost else imported)
        return found

    def first_batch_at(self, set_ids: Collection[str]) -> datetime | None:
        """When the first batch of any of ``set_ids`` was made (None: none was)."""
        ids = sorted(set_ids)
        row = self.db.execute(
            f"SELECT MIN(created_at) FROM batches WHERE coupon_set_id IN ({marks(ids)})",  # noqa: S608
            ids,
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def shop_job(self, batch_id: int, part: str) -> str | None:
        """The shop's job for a part of a batch's delivery, if one was started."""
        row = self.db.execute(
            "SELECT job_id FROM shop_jobs WHERE batch_id = ? AND part = ?", (batch_id, part)
        ).fetchone()
        return str(row[0]) if row else None

    def record_shop_job(self, batch_id: int, part: str, job_id: str) -> None:
        """Commit the shop's job for a part of a batch's delivery, as soon as it exists."""
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO shop_jobs VALUES (?, ?, ?)", (batch_id, part, job_id)
            )

    def _new(
        self,
        run_id: int | None,
        coupon_set: CouponSet,
        count: int,
        shape: str,
        part_of: int | None,
        record: Callable[[Segment, CodeWriter], object],
    ) -> Batch:
        """One transaction: the batch's row, its codes (``record``) in its own segment and in
        its file."""
        with self._transaction():
            self._refuse_if_busy(coupon_set.id, part_of)
            cursor = self.db.execute(
                "INSERT INTO batches (run_id, coupon_set_id, coupon_set_name, count, shape, "
                "status, created_at, part_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    coupon_set.id,
                    coupon_set.name,
                    count,
                    shape,
                    BatchStatus.PREPARED,
                    now_text(),
                    part_of,
                ),
            )
            batch_id = int(cursor.lastrowid or 0)
            seg = segments.create(self.db, batch_id)
            with self._pending.writing(batch_id) as write:
                record(seg, write)
            segments.seal(self.db, seg)
        return self.batch(batch_id)

    def merge_segments(self) -> int:
        """One step of upkeep of the code segments (each batch adds one; see
        :mod:`voucherbot.ledger.segments`): merge the lowest tier that is due, or else file
        the segment that most wants it in its tier's filter. Returns the fingerprints merged
        or filed (0: nothing was left to do). A refill calls it while it waits for its
        imports, so it costs the refill no time."""
        return segments.merge_due(self.db) or segments.file_one(self.db)

    def _refuse_if_busy(self, set_id: str, part_of: int | None) -> None:
        """Refuse a refill of a set that has another refill open (its own parts aside)."""
        open_marks = marks(OPEN_STATUSES)
        busy = self.db.execute(
            f"SELECT id FROM batches WHERE coupon_set_id = ? AND status IN ({open_marks}) "  # noqa: S608
            "AND COALESCE(part_of, id) != ? LIMIT 1",
            (set_id, *OPEN_STATUSES, part_of or -1),
        ).fetchone()
        if busy is not None:
            raise VoucherbotError(
                f"coupon set {set_id} already has a refill in "
                "flight; it is finished before a new one starts"
            )

    # --- the transitions of the write-ahead protocol (the module doc) --------------------------

    def mark_delivering(self, batch_id: int) -> Batch:
        """The batch's codes (kept meanwhile) are about to go to the shop's sink."""
        return self._move(batch_id, (BatchStatus.PREPARED,), status=BatchStatus.DELIVERING)

    def mark_delivered(self, batch_id: int, count: int | None = None) -> Batch:
        """The shop's sink took the batch's codes (``count`` of them, when it refused some)."""
        if count is None:
            return self._move(batch_id, (BatchStatus.DELIVERING,), status=BatchStatus.DELIVERED)
        return self._move(
            batch_id, (BatchStatus.DELIVERING,), status=BatchStatus.DELIVERED, count=count
        )

    def mark_submitting(self, batch_id: int, when: datetime) -> Batch:
        """About to POST the batch (``when``: the server's clock). A batch whose earlier
        upload may have made an import keeps its first mark: that import is not older."""
        self._set(
            batch_id,
            (BatchStatus.PREPARED, BatchStatus.DELIVERED),
            "status = ?, submitted_at = COALESCE(submitted_at, ?)",
            (BatchStatus.SUBMITTING, stamp(when)),
        )
        return self.batch(batch_id)

    def mark_posted(self, batch_id: int, when: datetime) -> None:
        """The upload's first byte is about to leave (the first upload's time is kept)."""
        self._set(
            batch_id,
            (BatchStatus.SUBMITTING,),
            "posted_at = COALESCE(posted_at, ?)",
            (stamp(when),),
        )

    def mark_unsent(self, batch_id: int, status: BatchStatus, *, uploaded_before: bool) -> Batch:
        """The POST was refused with nothing created (E0401): back to ``status`` (the one it
        had before, ``prepared`` or ``delivered``). Its marks are cleared, unless an earlier
        upload of it had an ambiguous answer (``uploaded_before``): then they stay, and
        recovery looks for that import first."""
        if status not in (BatchStatus.PREPARED, BatchStatus.DELIVERED):
            raise TransitionError(f"batch {batch_id}: an unsent batch is not put back {status}")
        if uploaded_before:
            return self._move(batch_id, (BatchStatus.SUBMITTING,), status=status)
        return self._move(
            batch_id, (BatchStatus.SUBMITTING,), status=status, submitted_at=None, posted_at=None
        )

    def mark_submitted(self, batch_id: int, imp: Import) -> Batch:
        """The batch's import exists (answered by the POST, or adopted, by recovery or by a
        person): commit its id."""
        return self._move(
            batch_id,
            (
                BatchStatus.SUBMITTING,
                BatchStatus.PREPARED,
                BatchStatus.DELIVERED,
                BatchStatus.UNRESOLVED,
            ),
            status=BatchStatus.SUBMITTED,
            import_id=imp.id,
            import_status=imp.status,
            total=imp.total,
            error=None,
        )

    def mark_waiting(self, batch_id: int, why: str) -> Batch:
        """The batch stays as it is, open, for the next run (its POST could not be
        confirmed, or Connectif's queue is full): record why."""
        return self._move(batch_id, (BatchStatus.SUBMITTING, BatchStatus.DELIVERED), error=why)

    def mark_still_running(self, batch_id: int, last: Import) -> Batch:
        """The poll deadline passed: the batch stays open, with the last state seen."""
        return self._move(
            batch_id,
            (BatchStatus.SUBMITTED,),
            import_status=last.status,
            success=last.success,
            errors=last.errors,
        )

    def mark_unresolved(self, batch_id: int, why: str) -> Batch:
        """Nobody can tell whether the batch's import exists: hold the set for a person."""
        return self._move(
            batch_id,
            (BatchStatus.SUBMITTING, BatchStatus.PREPARED, BatchStatus.DELIVERED),
            status=BatchStatus.UNRESOLVED,
            error=why,
        )

    def mark_finished(
        self, batch_id: int, imp: Import, *, ended: datetime, rejected: int | None = None
    ) -> Batch:
        """The batch's import finished (``ended``, by Connectif's clock); ``rejected``: how
        many of its codes the error report lists, when that is known."""
        return self._move(
            batch_id,
            (BatchStatus.SUBMITTED,),
            status=BatchStatus.FINISHED,
            **_ended(imp, ended),
            rejected=rejected,
        )

    def mark_failed(
        self, batch_id: int, error: str, *, imp: Import | None = None, ended: datetime | None = None
    ) -> Batch:
        """The batch failed: refused by the shop or Connectif, or its import ``imp`` ended
        badly (``ended``, by Connectif's clock)."""
        counters = _ended(imp, ended) if imp is not None and ended is not None else {}
        return self._move(
            batch_id,
            (*_NOT_SENT, BatchStatus.SUBMITTED),
            status=BatchStatus.FAILED,
            **counters,
            error=error,
        )

    def mark_abandoned(self, batch_id: int, why: str) -> Batch:
        """The batch's codes never reached Connectif (or a person says so): it ends, and its
        set is planned afresh."""
        return self._move(
            batch_id,
            (*_NOT_SENT, BatchStatus.UNRESOLVED),
            status=BatchStatus.ABANDONED,
            error=why,
        )

    def _move(self, batch_id: int, allowed: Collection[BatchStatus], **fields: Any) -> Batch:
        """Set ``fields`` of a batch in one of the ``allowed`` statuses (a batch that ends
        is stamped ``settled_at``)."""
        if fields.get("status") in TERMINAL_STATUSES:
            fields["settled_at"] = now_text()
        columns = ", ".join(f"{name} = ?" for name in fields)
        self._set(batch_id, allowed, columns, tuple(fields.values()))
        return self.batch(batch_id)

    def _set(
        self,
        batch_id: int,
        allowed: Collection[BatchStatus],
        assignments: str,
        values: Sequence[object],
    ) -> None:
        with self._transaction():
            changed = self.db.execute(
                f"UPDATE batches SET {assignments} WHERE id = ? AND status IN ({marks(allowed)})",  # noqa: S608
                (*values, batch_id, *allowed),
            ).rowcount
            if not changed:
                found = self.find_batch(batch_id)
                raise TransitionError(
                    f"batch {batch_id} is {found.status}, not {' or '.join(allowed)}"
                    if found is not None
                    else f"the ledger has no batch {batch_id}"
                )

    # --- reading batches -----------------------------------------------------------------------

    def _batches(self, where: str, args: Sequence[Any]) -> list[Batch]:
        rows = self.db.execute(f"SELECT {_COLUMNS} FROM batches {where}", args)  # noqa: S608
        return [Batch.from_row(row) for row in rows.fetchall()]

    def batch(self, batch_id: int) -> Batch:
        (found,) = self._batches("WHERE id = ?", (batch_id,))
        return found

    def find_batch(self, batch_id: int) -> Batch | None:
        found = self._batches("WHERE id = ?", (batch_id,))
        return found[0] if found else None

    def open_batches(self) -> list[Batch]:
        return self._batches(f"WHERE status IN ({marks(OPEN_STATUSES)}) ORDER BY id", OPEN_STATUSES)

    def batches(self, *, set_id: str | None = None, limit: int = 50) -> list[Batch]:
        if set_id is None:
            return self._batches("ORDER BY id DESC LIMIT ?", (limit,))
        return self._batches("WHERE coupon_set_id = ? ORDER BY id DESC LIMIT ?", (set_id, limit))

    def recent_batches(self, per_set: int = 20) -> dict[str, list[Batch]]:
        """The latest ``per_set`` batches of every set, newest first, by coupon set id."""
        found: dict[str, list[Batch]] = {}
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER "  # noqa: S608
            "(PARTITION BY coupon_set_id ORDER BY id DESC) AS n FROM batches) "
            "WHERE n <= ? ORDER BY id DESC",
            (per_set,),
        )
        for row in rows:
            batch = Batch.from_row(row)
            found.setdefault(batch.coupon_set_id, []).append(batch)
        return found

    def shortfalls(self) -> dict[str, int]:
        """Per coupon set, the codes its latest refill failed to import (rejected rows, or an
        import that ended in error or was cancelled), when there are any."""
        rows = self.db.execute(
            "SELECT coupon_set_id, count - COALESCE(success, 0) FROM batches b WHERE id = "
            "(SELECT MAX(id) FROM batches WHERE coupon_set_id = b.coupon_set_id AND status != "
            "?) AND status IN (?, ?) AND import_id IS NOT NULL",
            (BatchStatus.ABANDONED, BatchStatus.FINISHED, BatchStatus.FAILED),
        )
        return {set_id: missed for set_id, missed in rows if missed > 0}

    def latest_closed_batches(self) -> list[Batch]:
        """The newest finished or failed batch of each coupon set."""
        return self._batches(
            "WHERE id IN (SELECT MAX(id) FROM batches WHERE status IN (?, ?) "
            "GROUP BY coupon_set_id) ORDER BY id",
            (BatchStatus.FINISHED, BatchStatus.FAILED),
        )

    def known_import_ids(self) -> set[str]:
        return {
            row[0]
            for row in self.db.execute("SELECT import_id FROM batches WHERE import_id IS NOT NULL")
        }


def _ended(imp: Import, ended: datetime) -> dict[str, Any]:
    """The columns that record how a batch's import ended."""
    return {
        "import_status": imp.status,
        "total": imp.total,
        "success": imp.success,
        "errors": imp.errors,
        "error_report_url": imp.error_report_file_url,
        "import_finished_at": stamp(ended),
    }


def _imported(status: BatchStatus, import_id: str | None) -> bool | None:
    """Whether a batch's codes reached Connectif (see :class:`Fate`)."""
    if status == BatchStatus.FINISHED:
        return True
    if status == BatchStatus.ABANDONED or (status == BatchStatus.FAILED and not import_id):
        return False
    return None
