"""The ledger: what voucherbot has issued, where it went, and how each refill ended.

One SQLite file (WAL mode, mode 0600) holds:

* ``runs``: one row per ``run``/``refill`` (start, end, outcome, config hash);
* ``batches``: one row per refill of one coupon set (count, status, import id, totals,
  error-report URL, timestamps), the unit of the write-ahead protocol below;
* ``codes``: every code ever issued, as a keyed fingerprint (HMAC-SHA256, first 16 bytes) with
  the batch it belongs to, never as plaintext;
* ``snapshots``: every coupon set's counters at every run (for forecasting).

The HMAC key is a per-ledger secret kept outside the database in ``<ledger>.secret`` (mode
0600): a copy of the database alone does not reveal whether a given code was issued. The
database keeps a check value derived from the secret, so a replaced or foreign secret file
(which would make every fingerprint meaningless) is refused.

**Write-ahead protocol.** A batch and the fingerprints of its codes are committed before any
code leaves the process (status ``prepared``); the batch is marked ``submitting`` before the
import POST and ``submitted`` with the import id as soon as the POST answers; it ends as
``finished``, ``failed`` or ``abandoned`` (its codes never reached Connectif), or stays
``unresolved`` until a person settles it. ``posted_at`` is committed just before the upload's
first byte leaves: a ``submitting`` batch without it never reached Connectif. Batches in any
other status are *open*; :meth:`voucherbot.refill.batch.Refiller.settle` finishes their story at the
start of every run. A coupon set has at most one refill open at a time.

Plaintext codes live on disk only while they are needed, in ``<ledger>.pending/`` (mode 0700,
files 0600): the upload CSV of a batch during its POST, and the codes of a batch being
delivered to the shop until its import is created. :meth:`Ledger.sweep_pending` removes what
belongs to settled batches at the start of every run.

**One run at a time.** :meth:`Ledger.lock` takes an exclusive ``flock`` on ``<ledger>.lock``
(beside the ledger's real file, symbolic links resolved); the operating system releases it
when the process dies, however it dies.

Schema changes are numbered migrations (``m001_...``) recorded in ``_voucherbot_migrations``
and applied on every open.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import logging
import os
import secrets
import socket
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voucherbot.codes import CodeSpec, format_duration, generate
from voucherbot.config import check_ledger_folder
from voucherbot.connectif.models import CouponSet, Import
from voucherbot.errors import ConfigError, LockedError, VoucherbotError
from voucherbot.files import code_csv, write_private
from voucherbot.ledger.schema import (
    BATCH_FIELDS,
    MIGRATIONS,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    Batch,
    Run,
    now_text,
    shape_key,
    stamp,
    stored_time,
)
from voucherbot.planning.forecast import Snapshot

__all__ = ["OPEN_STATUSES", "TERMINAL_STATUSES", "Batch", "Ledger", "Run", "shape_key"]

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 16
_CHUNK = 5000
_INSERT_CHUNK = 100_000
#: What the check value kept in the database is the HMAC of (see :func:`_secret_check`).
_CHECK_LABEL = b"voucherbot: this is the ledger's secret"


class Ledger:
    """The SQLite ledger; open with :meth:`open` and use as a context manager."""

    def __init__(self, path: Path | None, db: sqlite3.Connection, secret: bytes, *, readonly: bool):
        self.path = path
        self.db = db
        self.readonly = readonly
        self._secret = secret
        self._lock_fd: int | None = None
        self._pending: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # --- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Ledger:
        """Open (creating it and its secret, mode 0600, in an existing folder, if needed).

        Raises ConfigError with a one-line message for a folder that does not exist, a file
        that is not an SQLite database, a read-only ledger, or a ledger whose secret file is
        missing or is not its own.
        """
        path = Path(path)
        secret_path = secret_path_of(path)
        if readonly:
            if not path.exists():
                raise ConfigError(f"{path}: no ledger yet (it is created by the first run)")
        else:
            check_ledger_folder(path)
            if not path.exists():
                if secret_path.exists():
                    raise ConfigError(
                        f"{secret_path} exists but the ledger {path} does not; move the old "
                        "secret away (or restore the ledger from a backup)"
                    )
                try:
                    write_private(secret_path, [secrets.token_hex(32)])
                    write_private(path, [])
                except OSError as exc:
                    secret_path.unlink(missing_ok=True)
                    raise ConfigError(
                        f"cannot create the ledger {path}: "
                        f"{exc.strerror or exc}; choose another --ledger "
                        "path"
                    ) from None
                log.info(
                    "created a new ledger %s and its secret %s: back both up", path, secret_path
                )
        _refuse_if_foreign(path)
        try:
            secret = bytes.fromhex(secret_path.read_text().strip())
        except FileNotFoundError:
            raise ConfigError(
                f"the ledger's secret file {secret_path} is missing; without it voucherbot "
                "cannot recognise the codes it issued. Restore it from a backup"
            ) from None
        except (ValueError, OSError) as exc:
            raise ConfigError(f"{secret_path}: unreadable ledger secret ({exc})") from None
        if len(secret) < 16:
            raise ConfigError(f"{secret_path}: the ledger secret is too short")
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        try:
            db = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)
            db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
            ledger = cls(path, db, secret, readonly=readonly)
            ledger._migrate()
            ledger._check_secret(secret_path)
        except sqlite3.DatabaseError as exc:
            raise _db_error(path, exc) from None
        return ledger

    def _check_secret(self, secret_path: Path) -> None:
        """Refuse a secret file that is not this ledger's (kept from its first open on)."""
        check = _secret_check(self._secret)
        row = self.db.execute("SELECT value FROM meta WHERE key = 'secret_check'").fetchone()
        if row is None:
            if not self.readonly:
                with self._transaction():
                    self.db.execute("INSERT INTO meta VALUES ('secret_check', ?)", (check,))
            return
        if not hmac.compare_digest(str(row[0]), check):
            self.db.close()
            raise ConfigError(
                f"{secret_path} is not the secret of the ledger {self.path}: with another "
                "secret voucherbot cannot recognise the codes it issued and could issue them "
                "again. Restore the ledger's own secret file from a backup"
            )

    @classmethod
    def memory(cls) -> Ledger:
        """A throw-away ledger in memory (library use and tests): nothing survives the process."""
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.execute("PRAGMA foreign_keys = ON")
        ledger = cls(None, db, secrets.token_bytes(32), readonly=False)
        ledger._migrate()
        ledger._check_secret(Path("(in memory)"))
        return ledger

    def close(self) -> None:
        self.unlock()
        self.db.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        if not self.readonly:
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _voucherbot_migrations "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
        applied = {row[0] for row in self.db.execute("SELECT name FROM _voucherbot_migrations")}
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            if self.readonly:
                raise ConfigError(
                    f"{self.path}: the ledger needs migration {name}; run "
                    "'voucherbot run' or 'voucherbot refill' once to apply it"
                )
            with self._transaction():
                for statement in sql.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO _voucherbot_migrations VALUES (?, ?)", (name, now_text())
                )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # --- the run lock --------------------------------------------------------------------------

    @contextmanager
    def lock(self, command: str) -> Iterator[None]:
        """Hold the ledger's run lock for the block, or raise LockedError naming the holder."""
        if self.path is None:  # an in-memory ledger belongs to this process alone
            yield
            return
        lock_path = lock_path_of(self.path.resolve())  # one lock, whatever link led here
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"{lock_path}: cannot open the ledger's lock file "
                f"({exc.strerror or exc}); move what is there away"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip()
            os.close(fd)
            try:
                info = json.loads(holder)
                who = (
                    f"pid {info['pid']} on {info['host']} ('{info['command']}', "
                    f"started {info['started']}{_running_for(info['started'])})"
                )
            except (ValueError, KeyError, TypeError):
                who = "another process"
            raise LockedError(
                f"another voucherbot run holds the ledger lock {lock_path}: "
                f"{who}; try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": command,
                    "started": now_text(),
                }
            ).encode(),
        )
        self._lock_fd = fd
        try:
            yield
        finally:
            self.unlock()

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

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

    def runs(self, limit: int = 20) -> list[Run]:
        rows = self.db.execute(
            "SELECT id, command, started_at, finished_at, outcome, "
            "config_hash, pid, host, stats FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            Run(
                r[0],
                r[1],
                datetime.fromisoformat(r[2]),
                stored_time(r[3]),
                r[4],
                r[5],
                r[6],
                r[7],
                json.loads(r[8]) if r[8] else None,
            )
            for r in rows
        ]

    # --- codes ---------------------------------------------------------------------------------

    def fingerprint(self, code: str) -> bytes:
        return hmac.digest(self._secret, code.encode(), "sha256")[:FINGERPRINT_BYTES]

    def issued(self, codes: Sequence[str]) -> set[str]:
        """The subset of ``codes`` the ledger has issued before (in any batch, any set).

        Checked a few thousand at a time, so a million codes cost little memory.
        """
        found: set[str] = set()
        for start in range(0, len(codes), _CHUNK):
            chunk = codes[start : start + _CHUNK]
            by_print = {self.fingerprint(c): c for c in chunk}
            marks = ",".join("?" * len(by_print))
            for (fp,) in self.db.execute(
                f"SELECT fingerprint FROM codes WHERE fingerprint IN ({marks})",  # noqa: S608
                list(by_print),
            ):
                found.add(by_print[bytes(fp)])
        return found

    def issued_count(self, shape: str) -> int:
        row = self.db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM batches WHERE shape = ? AND status != 'abandoned'",
            (shape,),
        ).fetchone()
        return int(row[0])

    def fresh_codes(self, spec: CodeSpec, count: int, *, rounds: int = 32) -> list[str]:
        """``count`` new codes of shape ``spec`` that the ledger has never issued."""
        before = self.issued_count(shape_key(spec))
        chosen = generate(spec, count, issued_count=before)
        clash = self.issued(chosen)
        if not clash:  # nearly always: a fresh random code is almost never an old one
            return chosen
        chosen = [c for c in chosen if c not in clash]
        taken = set(chosen) | clash  # a code found issued is not drawn again
        for _ in range(rounds):
            more = generate(
                spec, count - len(chosen), issued=taken, issued_count=before + len(chosen)
            )
            clash = self.issued(more)
            fresh = [c for c in more if c not in clash]
            chosen += fresh
            taken.update(more)
            if len(chosen) == count:
                return chosen
        raise VoucherbotError(
            f"could not find {count:,} codes the ledger has not issued before "
            f"after {rounds} rounds; use a longer code shape"
        )

    def mark_rejected(self, batch_id: int, codes: Iterable[str]) -> int:
        """Mark the codes of a batch that the import rejected; returns how many matched."""
        fps = [(self.fingerprint(c), batch_id) for c in codes]
        with self._transaction():
            cursor = self.db.executemany(
                "UPDATE codes SET state = 'rejected' WHERE fingerprint = ? AND batch_id = ?", fps
            )
        return cursor.rowcount

    # --- batches -------------------------------------------------------------------------------

    def new_batch(
        self,
        run_id: int | None,
        coupon_set: CouponSet,
        codes: Sequence[str],
        spec: CodeSpec | None,
        *,
        part_of: int | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> Batch:
        """Commit a batch and the fingerprints of its codes, before any code leaves.

        ``spec`` is the shape of generated codes; None for codes taken from the shop's pool.
        ``part_of`` names the first batch of a refill split into several imports. A set never
        has two refills open at once: another open batch of the set is refused.
        ``on_chunk`` is told how many codes are recorded so far, chunk by chunk (for progress).
        """
        try:
            with self._transaction():
                marks = ",".join("?" * len(OPEN_STATUSES))
                busy = self.db.execute(
                    f"SELECT id FROM batches WHERE coupon_set_id = ? AND status IN ({marks}) "  # noqa: S608
                    "AND COALESCE(part_of, id) != ? LIMIT 1",
                    (coupon_set.id, *OPEN_STATUSES, part_of or -1),
                ).fetchone()
                if busy is not None:
                    raise _SetBusy
                cursor = self.db.execute(
                    "INSERT INTO batches (run_id, coupon_set_id, coupon_set_name, count, shape, "
                    "status, created_at, part_of) VALUES (?, ?, ?, ?, ?, 'prepared', ?, ?)",
                    (
                        run_id,
                        coupon_set.id,
                        coupon_set.name,
                        len(codes),
                        shape_key(spec) if spec is not None else "pool",
                        now_text(),
                        part_of,
                    ),
                )
                batch_id = int(cursor.lastrowid or 0)
                # sorted a chunk at a time: inserts land near each other in the index,
                # several times faster than in random order, for little memory
                for start in range(0, len(codes), _INSERT_CHUNK):
                    prints = sorted(map(self.fingerprint, codes[start : start + _INSERT_CHUNK]))
                    self.db.executemany(
                        "INSERT INTO codes (fingerprint, batch_id) VALUES (?, ?)",
                        ((fp, batch_id) for fp in prints),
                    )
                    if on_chunk is not None:
                        on_chunk(min(start + _INSERT_CHUNK, len(codes)))
        except _SetBusy:
            raise VoucherbotError(
                f"coupon set {coupon_set.id} already has a refill in "
                "flight; it is finished before a new one starts"
            ) from None
        except sqlite3.IntegrityError:
            raise VoucherbotError(
                "a code of this batch was issued before; not sending it "
                "(the ledger refuses duplicates)"
            ) from None
        return self.batch(batch_id)

    # --- the steps of the write-ahead protocol (the module doc) --------------------------------

    def mark_submitting(self, batch_id: int, when: datetime) -> Batch:
        """About to POST the batch (``when``: the server's clock). A batch whose earlier
        upload may have made an import keeps its first mark: that import is not older."""
        with self._transaction():
            self.db.execute(
                "UPDATE batches SET status = 'submitting', "
                "submitted_at = COALESCE(submitted_at, ?) WHERE id = ?",
                (stamp(when), batch_id),
            )
        return self.batch(batch_id)

    def mark_posted(self, batch_id: int, when: datetime) -> None:
        """The upload's first byte is about to leave (the first upload's time is kept)."""
        with self._transaction():
            self.db.execute(
                "UPDATE batches SET posted_at = COALESCE(posted_at, ?) WHERE id = ?",
                (stamp(when), batch_id),
            )

    def mark_unsent(self, batch_id: int, status: str, *, uploaded_before: bool) -> Batch:
        """The POST was refused with nothing created (E0401): back to ``status``. Its marks
        are cleared, unless an earlier upload of it had an ambiguous answer
        (``uploaded_before``): then they stay, and recovery looks for that import first."""
        if uploaded_before:
            return self.update(batch_id, status=status)
        return self.update(batch_id, status=status, submitted_at=None, posted_at=None)

    def mark_submitted(self, batch_id: int, imp: Import) -> Batch:
        """The batch's import exists (answered by the POST, or adopted): commit its id."""
        return self.update(
            batch_id,
            status="submitted",
            import_id=imp.id,
            import_status=imp.status,
            total=imp.total,
            error=None,
        )

    def mark_unresolved(self, batch_id: int, why: str) -> Batch:
        """Nobody can tell whether the batch's import exists: hold the set for a person."""
        return self.update(batch_id, status="unresolved", error=why)

    def update(self, batch_id: int, **fields: Any) -> Batch:
        """Set fields of a batch (status, import_id, totals...) in one committed transaction."""
        if fields.get("status") in TERMINAL_STATUSES:
            fields.setdefault("settled_at", now_text())
        columns = ", ".join(f"{name} = ?" for name in fields)
        with self._transaction():
            self.db.execute(
                f"UPDATE batches SET {columns} WHERE id = ?",  # noqa: S608
                (*fields.values(), batch_id),
            )
        return self.batch(batch_id)

    _BATCH_COLUMNS = ", ".join(BATCH_FIELDS)

    def _batches(self, where: str, args: Sequence[Any]) -> list[Batch]:
        rows = self.db.execute(
            f"SELECT {self._BATCH_COLUMNS} FROM batches {where}",  # noqa: S608
            args,
        ).fetchall()
        batches = []
        for row in rows:
            values: dict[str, Any] = dict(zip(BATCH_FIELDS, row, strict=True))
            values["created_at"] = datetime.fromisoformat(values["created_at"])
            for name in ("submitted_at", "settled_at", "posted_at", "import_finished_at"):
                values[name] = stored_time(values[name])
            batches.append(Batch(**values))
        return batches

    def batch(self, batch_id: int) -> Batch:
        (found,) = self._batches("WHERE id = ?", (batch_id,))
        return found

    def find_batch(self, batch_id: int) -> Batch | None:
        found = self._batches("WHERE id = ?", (batch_id,))
        return found[0] if found else None

    def open_batches(self) -> list[Batch]:
        marks = ",".join("?" * len(OPEN_STATUSES))
        return self._batches(f"WHERE status IN ({marks}) ORDER BY id", OPEN_STATUSES)

    def batches(self, *, set_id: str | None = None, limit: int = 50) -> list[Batch]:
        if set_id is None:
            return self._batches("ORDER BY id DESC LIMIT ?", (limit,))
        return self._batches("WHERE coupon_set_id = ? ORDER BY id DESC LIMIT ?", (set_id, limit))

    def shortfalls(self) -> dict[str, int]:
        """Per coupon set, the codes its latest refill failed to import (rejected rows, or an
        import that ended in error or was cancelled), when there are any."""
        rows = self.db.execute(
            "SELECT coupon_set_id, count - COALESCE(success, 0) FROM batches b WHERE id = "
            "(SELECT MAX(id) FROM batches WHERE coupon_set_id = b.coupon_set_id AND status != "
            "'abandoned') AND status IN ('finished', 'failed') AND import_id IS NOT NULL"
        )
        return {set_id: missed for set_id, missed in rows if missed > 0}

    @property
    def ledger_id(self) -> str:
        """A random id of this ledger, so batch ids from another ledger never collide."""
        return str(self.db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()[0])

    def sink_batch_id(self, batch: Batch) -> str:
        """The id a shop sink sees for a batch: the same on every re-delivery."""
        return f"{self.ledger_id}-{batch.id}"

    # --- codes kept for re-delivery (undelivered batches only) ---------------------------------

    def _pending_dir(self) -> Path:
        if self._pending is None:
            if self.path is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="voucherbot-pending-")
                self._pending = Path(self._tmp.name)
            else:
                self._pending = self.path.with_name(self.path.name + ".pending")
                try:
                    self._pending.mkdir(mode=0o700, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"{self._pending}: cannot make the ledger's private folder for codes "
                        f"on their way ({exc.strerror or exc}); move what is there away"
                    ) from None
        return self._pending

    def keep_codes(self, batch_id: int, codes: Sequence[str]) -> None:
        """Keep a batch's codes (mode 0600) until it is delivered and submitted."""
        path = self._pending_dir() / f"batch-{batch_id}.txt"
        path.unlink(missing_ok=True)
        write_private(path, code_csv(codes, header=False), sync=True)

    def kept_codes(self, batch_id: int) -> list[str] | None:
        """The kept codes of a batch, or None when none were kept."""
        path = self._pending_dir() / f"batch-{batch_id}.txt"
        try:
            return [c for c in path.read_text(encoding="utf-8").splitlines() if c]
        except FileNotFoundError:
            return None

    def forget_codes(self, batch_id: int) -> None:
        (self._pending_dir() / f"batch-{batch_id}.txt").unlink(missing_ok=True)

    def upload_path(self, batch_id: int) -> Path:
        """Where a batch's upload CSV is written during its POST (a fresh path: an earlier
        file of the batch is removed)."""
        path = self._pending_dir() / f"upload-{batch_id}.csv"
        path.unlink(missing_ok=True)
        return path

    def sweep_pending(self) -> int:
        """Remove the plaintext codes no batch needs any more: every upload CSV (a POST is
        over when a run starts) and the kept codes of batches no longer being delivered.
        Call it under the run lock. Returns how many files went."""
        keep = {
            f"batch-{b.id}.txt"
            for b in self.open_batches()
            if b.status in ("delivering", "delivered")
        }
        removed = 0
        for path in self._pending_dir().iterdir():
            if path.name not in keep and path.name.startswith(("batch-", "upload-")):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def latest_closed_batches(self) -> list[Batch]:
        """The newest finished or failed batch of each coupon set."""
        return self._batches(
            "WHERE id IN (SELECT MAX(id) FROM batches WHERE status IN ('finished', 'failed') "
            "GROUP BY coupon_set_id) ORDER BY id",
            (),
        )

    def known_import_ids(self) -> set[str]:
        return {
            row[0]
            for row in self.db.execute("SELECT import_id FROM batches WHERE import_id IS NOT NULL")
        }

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


class _SetBusy(Exception):
    """Another refill of the set is open (raised inside new_batch's transaction)."""


def _secret_check(secret: bytes) -> str:
    """A value the database keeps to recognise its secret (it reveals nothing of it)."""
    return hmac.digest(secret, _CHECK_LABEL, "sha256")[:12].hex()


def secret_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".secret")


def lock_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _running_for(started: str) -> str:
    """ ", running for 3 hours" (a run that has held the lock that long may hang)."""
    since = stored_time(started)
    if since is None or since.tzinfo is None:
        return ""
    return f", running for {format_duration((datetime.now(UTC) - since).total_seconds())}"


_SQLITE_MAGIC = b"SQLite format 3\x00"


def not_a_ledger(path: Path) -> str | None:
    """What the file at ``path`` is when it cannot be a voucherbot ledger (a device, an
    empty file, text, another application's database), else None."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            kind = (
                "a folder"
                if stat.S_ISDIR(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "not a regular file"
            )
            return kind
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not head:
        # an empty file next to its secret is a ledger whose first open was cut short
        return None if secret_path_of(path).exists() else "an empty file"
    if head != _SQLITE_MAGIC:
        return "not an SQLite database"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {
                r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return "a damaged SQLite database"
    if tables and "batches" not in tables:
        listed = ", ".join(sorted(tables)[:5])
        return f"another application's SQLite database (tables: {listed})"
    return None


def _refuse_if_foreign(path: Path) -> None:
    problem = not_a_ledger(path)
    if problem:
        raise ConfigError(
            f"{path} is {problem}, not a voucherbot ledger; point --ledger "
            "(or [ledger] path, VOUCHERBOT_LEDGER) at the ledger you use"
        )


def _db_error(path: Path, exc: sqlite3.DatabaseError) -> ConfigError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return ConfigError(
            f"{path} is not a voucherbot ledger (not an SQLite database); "
            "point --ledger at another file"
        )
    if "readonly" in text or "read-only" in text:
        return ConfigError(f"{path}: the ledger is read-only; voucherbot must be able to write it")
    return ConfigError(f"{path}: cannot use the ledger: {text}")
