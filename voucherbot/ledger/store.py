"""The ledger: what voucherbot has issued, where it went, and how each refill ended.

One SQLite file (WAL mode, mode 0600) holds:

* ``runs``: one row per ``run``/``refill`` (start, end, outcome, config hash);
* ``batches``: one row per refill of one coupon set (count, status, import id, totals,
  error-report URL, timestamps), the unit of the write-ahead protocol
  (:mod:`voucherbot.ledger.batches`);
* every code ever issued, as a keyed fingerprint (HMAC-SHA256, first 16 bytes) with the batch it
  belongs to, never as plaintext, in sorted segments (:mod:`voucherbot.ledger.segments`; the
  view ``codes`` shows them as one table);
* ``snapshots``: every coupon set's counters at every run (for forecasting);
* ``alerts``: the day each set was last warned of, so a warning goes out once a day.

The HMAC key is a per-ledger secret kept beside the database (:mod:`voucherbot.ledger.opening`).
Plaintext codes live on disk only while they are needed (:mod:`voucherbot.ledger.pending`);
:meth:`Ledger.sweep_pending` removes what belongs to settled batches at the start of every run.
:meth:`Ledger.lock` allows one run at a time (:mod:`voucherbot.ledger.lock`).

Schema changes are numbered migrations (:mod:`voucherbot.ledger.migrations`) recorded in
``_voucherbot_migrations`` and applied on every open.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import socket
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import opening
from voucherbot.ledger.batches import BatchStore
from voucherbot.ledger.lock import RunLock
from voucherbot.ledger.migrations import migrate
from voucherbot.ledger.pending import KeptCodes, PendingCodes
from voucherbot.ledger.records import (
    OPEN_STATUSES,
    RUN_FIELDS,
    TERMINAL_STATUSES,
    Batch,
    BatchStatus,
    Run,
    Totals,
    now_text,
    shape_key,
    stamp,
    stored_time,
)
from voucherbot.planning.forecast import Snapshot

__all__ = [
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "Batch",
    "BatchStatus",
    "Ledger",
    "Run",
    "shape_key",
]


class Ledger(BatchStore):
    """The SQLite ledger; open with :meth:`open` and use as a context manager."""

    def __init__(self, path: Path | None, db: sqlite3.Connection, secret: bytes, *, readonly: bool):
        super().__init__(db, secret, PendingCodes(path))
        self.path = path
        self.readonly = readonly
        self._lock: RunLock | None = None

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Ledger:
        """Open (creating it and its secret, mode 0600, in an existing folder, if needed).

        Raises ConfigError with a one-line message for a folder that does not exist, a file
        that is not an SQLite database, a read-only ledger, or a ledger whose secret file is
        missing or is not its own.
        """
        path = Path(path)
        opening.prepare(path, readonly=readonly)
        secret_path = opening.secret_path_of(path)
        secret = opening.read_secret(secret_path)
        try:
            ledger = cls(path, opening.connect(path, readonly=readonly), secret, readonly=readonly)
            ledger._migrate()
            ledger._check_secret(secret_path)
        except sqlite3.DatabaseError as exc:
            raise opening.db_error(path, exc) from None
        return ledger

    def _check_secret(self, secret_path: Path) -> None:
        """Refuse a secret file that is not this ledger's (kept from its first open on)."""
        check = opening.secret_check(self._secret)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'secret_check'").fetchone()
        if row is None:
            if not self.readonly:
                with self._transaction():
                    self.db.execute("INSERT INTO meta VALUES ('secret_check', ?)", (check,))
            return
        if not hmac.compare_digest(str(row[0]), check):
            self.db.close()
            raise opening.foreign_secret(secret_path, self.path)

    @classmethod
    def memory(cls) -> Ledger:
        """A throw-away ledger in memory (library use and tests): nothing survives the process."""
        db = sqlite3.connect(":memory:", isolation_level=None)
        opening.configure(db)
        ledger = cls(None, db, secrets.token_bytes(32), readonly=False)
        ledger._migrate()
        ledger._check_secret(Path("(in memory)"))
        return ledger

    def _migrate(self) -> None:
        migrate(self.db, readonly=self.readonly, path=self.path)

    def close(self) -> None:
        self.unlock()
        self.db.close()
        self._pending.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the run lock --------------------------------------------------------------------------

    @contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold the ledger's run lock for the block, or raise LockedError naming the holder."""
        if self.path is None:  # an in-memory ledger belongs to this process alone
            yield
            return
        held = RunLock(self.path)
        held.acquire(command)
        self._lock = held
        try:
            yield
        finally:
            self.unlock()

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # --- runs ----------------------------------------------------------------------------------

    def start_run(self, command: str, config_hash: str) -> int:
        """Record a new run; earlier runs left unfinished (killed) are marked 'interrupted'."""
        with self._transaction():
            self.db.execute(
                "UPDATE runs SET outcome = 'interrupted' "
                "WHERE finished_at IS NULL AND outcome IS NULL"
            )
            cursor = self.db.execute(
                "INSERT INTO runs (command, started_at, config_hash, pid, host) "
                "VALUES (?, ?, ?, ?, ?)",
                (command, now_text(), config_hash, os.getpid(), socket.gethostname()),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, stats: dict[str, Any] | None = None) -> None:
        with self._transaction():
            self.db.execute(
                "UPDATE runs SET finished_at = ?, outcome = ?, stats = ? WHERE id = ?",
                (now_text(), outcome, json.dumps(stats) if stats else None, run_id),
            )

    def run_outcome(self, run_id: int) -> str:
        """How the batches of a run that ended without an error came out: "nothing to do"
        (it made none), "failed" (one did not finish, or its import rejected rows) or "ok"."""
        made, failed = self.db.execute(
            "SELECT COUNT(*), SUM(status != ? OR COALESCE(errors, 0) > 0) FROM batches "
            "WHERE run_id = ?",
            (BatchStatus.FINISHED, run_id),
        ).fetchone()
        return "nothing to do" if not made else ("failed" if failed else "ok")

    def runs(self, limit: int = 20) -> list[Run]:
        rows = self.db.execute(
            f"SELECT {', '.join(RUN_FIELDS)} FROM runs ORDER BY id DESC LIMIT ?",  # noqa: S608
            (limit,),
        )
        return [Run.from_row(row) for row in rows.fetchall()]

    def totals(self) -> Totals:
        """What the metrics count from the first run on (:class:`Totals`)."""
        imported, failed = self.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN status = ? THEN success END), 0), "
            "COALESCE(SUM(status = ?), 0) FROM batches",
            (BatchStatus.FINISHED, BatchStatus.FAILED),
        ).fetchone()
        kinds = ("list", "get", "import", "poll", "error-report")
        sums = ", ".join(
            f"COALESCE(SUM(json_extract(stats, '$.requests.\"{kind}\"')), 0)" for kind in kinds
        )
        requests = self.db.execute(f"SELECT {sums} FROM runs").fetchone()  # noqa: S608
        last = self.db.execute(
            "SELECT MAX(finished_at), MAX(CASE WHEN outcome IN ('ok', 'nothing to do') "
            "THEN finished_at END) FROM runs WHERE command = 'run'"
        ).fetchone()
        return Totals(
            codes_imported=int(imported),
            refill_failures=int(failed),
            requests=dict(zip(kinds, (int(n) for n in requests), strict=True)),
            last_run=stored_time(last[0]),
            last_success=stored_time(last[1]),
        )

    def warned(self, set_id: str, kind: str, day: str) -> bool:
        """Whether a ``kind`` warning of the set went out on ``day`` (an ISO date)."""
        row = self.db.execute(
            "SELECT day FROM alerts WHERE coupon_set_id = ? AND kind = ?", (set_id, kind)
        ).fetchone()
        return row is not None and row[0] == day

    def mark_warned(self, set_id: str, kind: str, day: str) -> None:
        """Remember that a ``kind`` warning of the set went out on ``day``."""
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO alerts VALUES (?, ?, ?)", (set_id, kind, day))

    # --- the ledger's identity -----------------------------------------------------------------

    @property
    def ledger_id(self) -> str:
        """A random id of this ledger, so batch ids from another ledger never collide."""
        return str(self.db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()[0])

    def sink_batch_id(self, batch: Batch) -> str:
        """The id a shop sink sees for a batch: the same on every re-delivery."""
        return f"{self.ledger_id}-{batch.id}"

    # --- each batch's codes, on disk while they are on their way (see ledger.pending) ---------

    def kept_codes(self, batch_id: int) -> KeptCodes | None:
        """The codes of a batch not yet imported (its coupon CSV, read as it is gone
        through), or None when none are kept."""
        return self._pending.kept(batch_id)

    def forget_codes(self, batch_id: int) -> None:
        self._pending.forget(batch_id)

    def sweep_pending(self) -> int:
        """Remove the plaintext codes no batch needs any more: those of every batch but the
        ones still being delivered to the shop (a POST is over when a run starts). Call it
        under the run lock. Returns how many files went."""
        delivering = (BatchStatus.DELIVERING, BatchStatus.DELIVERED)
        return self._pending.sweep([b.id for b in self.open_batches() if b.status in delivering])

    # --- snapshots -----------------------------------------------------------------------------

    def record_snapshots(
        self, run_id: int, coupon_sets: Iterable[CouponSet], taken_at: datetime
    ) -> None:
        when = stamp(taken_at)
        with self._transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (run_id, cs.id, when, cs.available, cs.assigned, cs.quantity)
                    for cs in coupon_sets
                ),
            )

    def snapshots(self, *, since: datetime | None = None) -> dict[str, list[Snapshot]]:
        """Every recorded snapshot by coupon set id, oldest first."""
        floor = stamp(since) if since else ""
        history: dict[str, list[Snapshot]] = {}
        for set_id, taken, available, assigned, quantity in self.db.execute(
            "SELECT coupon_set_id, taken_at, available, assigned, quantity FROM snapshots "
            "WHERE taken_at >= ? ORDER BY coupon_set_id, taken_at",
            (floor,),
        ):
            history.setdefault(set_id, []).append(
                Snapshot(datetime.fromisoformat(taken), available, assigned, quantity)
            )
        return history
