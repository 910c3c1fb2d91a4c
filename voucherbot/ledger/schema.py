"""The ledger's schema (numbered migrations) and its records, :class:`Batch` and :class:`Run`.

Migrations are applied in order on every open and recorded in ``_voucherbot_migrations``;
once released, a migration is never edited: a change is a new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from voucherbot.codes import CodeSpec

#: A batch in one of these holds its set: no other refill of the set starts. ``unresolved``
#: (its POST's answer was lost and GET /imports/ could not show what happened) is settled only
#: by a person, with ``voucherbot resolve``.
OPEN_STATUSES = ("prepared", "delivering", "delivered", "submitting", "submitted", "unresolved")
TERMINAL_STATUSES = ("finished", "failed", "abandoned")

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "m001_initial",
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT,
            config_hash TEXT NOT NULL DEFAULT '',
            pid INTEGER,
            host TEXT,
            stats TEXT
        );
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            coupon_set_id TEXT NOT NULL,
            coupon_set_name TEXT NOT NULL DEFAULT '',
            count INTEGER NOT NULL,
            shape TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL,
            import_id TEXT UNIQUE,
            import_status TEXT,
            total INTEGER,
            success INTEGER,
            errors INTEGER,
            rejected INTEGER,
            error_report_url TEXT,
            error TEXT,
            created_at TEXT NOT NULL,
            submitted_at TEXT,
            settled_at TEXT
        );
        CREATE INDEX batches_by_set ON batches(coupon_set_id, id);
        CREATE UNIQUE INDEX one_open_batch_per_set ON batches(coupon_set_id)
            WHERE status IN ('prepared', 'delivering', 'delivered', 'submitting', 'submitted');
        CREATE TABLE codes (
            fingerprint BLOB PRIMARY KEY,
            batch_id INTEGER NOT NULL REFERENCES batches(id),
            state TEXT NOT NULL DEFAULT 'issued'
        ) WITHOUT ROWID;
        CREATE INDEX codes_by_batch ON codes(batch_id);
        CREATE TABLE snapshots (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            coupon_set_id TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            available INTEGER,
            assigned INTEGER NOT NULL,
            quantity INTEGER,
            PRIMARY KEY (coupon_set_id, run_id)
        );
    """,
    ),
    (
        "m002_ledger_id",
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('ledger_id', lower(hex(randomblob(6))));
    """,
    ),
    (
        # A refill too big for one import file is split into parts, one import each; the
        # parts of one refill may be open together (new_batch enforces one refill per set).
        "m003_batch_parts",
        """
        ALTER TABLE batches ADD COLUMN part_of INTEGER REFERENCES batches(id);
        DROP INDEX one_open_batch_per_set;
        CREATE INDEX open_batches_by_set ON batches(coupon_set_id, status);
    """,
    ),
    (
        # Nothing looks codes up by batch (rejected codes are found by fingerprint), and the
        # index made every insert of a big batch twice as slow.
        "m004_drop_codes_by_batch",
        """
        DROP INDEX codes_by_batch;
    """,
    ),
    (
        # posted_at: when the upload's first byte went out (a batch 'submitting' without it
        # never reached Connectif); import_finished_at: when its import ended, by Connectif's
        # clock (the set's counters may trail it). A batch an earlier version left
        # 'submitting' may have been uploaded: it is looked up, not abandoned.
        "m005_posted_and_finished",
        """
        ALTER TABLE batches ADD COLUMN posted_at TEXT;
        ALTER TABLE batches ADD COLUMN import_finished_at TEXT;
        UPDATE batches SET posted_at = COALESCE(submitted_at, created_at)
            WHERE status = 'submitting';
    """,
    ),
)


def stamp(when: datetime) -> str:
    """A moment as the ledger stores it: UTC, ISO 8601, milliseconds."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def now_text() -> str:
    return stamp(datetime.now(UTC))


def stored_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Batch:
    """One refill of one coupon set, as the ledger knows it."""

    id: int
    run_id: int | None
    coupon_set_id: str
    coupon_set_name: str
    count: int
    shape: str
    status: str
    import_id: str | None
    import_status: str | None
    total: int | None
    success: int | None
    errors: int | None
    rejected: int | None
    error_report_url: str | None
    error: str | None
    created_at: datetime
    submitted_at: datetime | None
    settled_at: datetime | None
    part_of: int | None = None  #: the first batch of a refill split into several imports
    posted_at: datetime | None = None  #: when the upload began (server clock)
    import_finished_at: datetime | None = None  #: when the import ended (server clock)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "runId": self.run_id,
            "couponSetId": self.coupon_set_id,
            "couponSetName": self.coupon_set_name,
            "count": self.count,
            "status": self.status,
            "importId": self.import_id,
            "importStatus": self.import_status,
            "total": self.total,
            "success": self.success,
            "errors": self.errors,
            "rejected": self.rejected,
            "errorReportUrl": self.error_report_url,
            "error": self.error,
            "createdAt": self.created_at.isoformat(),
            "submittedAt": self.submitted_at.isoformat() if self.submitted_at else None,
            "postedAt": self.posted_at.isoformat() if self.posted_at else None,
            "importFinishedAt": (
                self.import_finished_at.isoformat() if self.import_finished_at else None
            ),
            "settledAt": self.settled_at.isoformat() if self.settled_at else None,
        }


@dataclass(frozen=True)
class Run:
    id: int
    command: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    config_hash: str
    pid: int | None
    host: str | None
    stats: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
            "configHash": self.config_hash,
            "pid": self.pid,
            "host": self.host,
            "stats": self.stats,
        }


BATCH_FIELDS = tuple(f.name for f in fields(Batch))


def shape_key(spec: CodeSpec) -> str:
    """A stable description of a code shape, to count the codes issued in each space."""
    return json.dumps(
        {
            "alphabet": spec.symbols,
            "pattern": spec.pattern,
            "length": None if spec.pattern else spec.length,
            "prefix": spec.prefix,
            "suffix": spec.suffix,
            "check": spec.check_symbol,
        },
        sort_keys=True,
    )
