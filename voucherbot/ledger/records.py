"""What the ledger records: a batch's :class:`BatchStatus`, :class:`Batch` and :class:`Run`.

Statuses are :class:`~enum.StrEnum` members: each is the very text the ledger stores and the
JSON and CSV outputs show.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from voucherbot.codes import CodeSpec


class BatchStatus(StrEnum):
    """Where a batch is in the write-ahead protocol (:mod:`voucherbot.ledger.batches`)."""

    PREPARED = "prepared"  #: committed with its codes' fingerprints; nothing has left
    DELIVERING = "delivering"  #: being handed to the shop's sink (its codes kept)
    DELIVERED = "delivered"  #: the shop has the codes; Connectif not yet
    SUBMITTING = "submitting"  #: its import POST is under way (or was, when a run stopped)
    SUBMITTED = "submitted"  #: its import exists and is being followed
    #: its POST's answer was lost and GET /imports/ could not show what happened: settled only
    #: by a person, with ``voucherbot resolve``
    UNRESOLVED = "unresolved"
    FINISHED = "finished"  #: its import finished
    FAILED = "failed"  #: refused by the shop or Connectif, or its import ended badly
    ABANDONED = "abandoned"  #: its codes never reached Connectif


#: A batch in one of these holds its set: no other refill of the set starts.
OPEN_STATUSES = (
    BatchStatus.PREPARED,
    BatchStatus.DELIVERING,
    BatchStatus.DELIVERED,
    BatchStatus.SUBMITTING,
    BatchStatus.SUBMITTED,
    BatchStatus.UNRESOLVED,
)
#: A batch in one of these is settled: nothing more happens to it.
TERMINAL_STATUSES = (BatchStatus.FINISHED, BatchStatus.FAILED, BatchStatus.ABANDONED)


def stamp(when: datetime) -> str:
    """A moment as the ledger stores it: UTC, ISO 8601, milliseconds."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def now_text() -> str:
    return stamp(datetime.now(UTC))


def stored_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


@dataclass(frozen=True)
class Batch:
    """One refill of one coupon set, as the ledger knows it."""

    id: int
    run_id: int | None
    coupon_set_id: str
    coupon_set_name: str
    count: int
    shape: str
    status: BatchStatus
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

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Batch:
        """A row of :data:`BATCH_FIELDS`, as the ledger stores it."""
        values: dict[str, Any] = dict(zip(BATCH_FIELDS, row, strict=True))
        values["status"] = BatchStatus(values["status"])
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        for name in ("submitted_at", "settled_at", "posted_at", "import_finished_at"):
            values[name] = stored_time(values[name])
        return cls(**values)

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
            "submittedAt": _iso(self.submitted_at),
            "postedAt": _iso(self.posted_at),
            "importFinishedAt": _iso(self.import_finished_at),
            "settledAt": _iso(self.settled_at),
        }


BATCH_FIELDS = tuple(f.name for f in fields(Batch))


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

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Run:
        """A row of :data:`RUN_FIELDS`, as the ledger stores it."""
        started, finished, stats = row[2], row[3], row[8]
        return cls(
            row[0],
            row[1],
            datetime.fromisoformat(started),
            stored_time(finished),
            row[4],
            row[5],
            row[6],
            row[7],
            json.loads(stats) if stats else None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": _iso(self.finished_at),
            "outcome": self.outcome,
            "configHash": self.config_hash,
            "pid": self.pid,
            "host": self.host,
            "stats": self.stats,
        }


@dataclass(frozen=True)
class Totals:
    """What a ledger counts over its whole life, for the metrics."""

    codes_imported: int  #: codes of finished imports
    refill_failures: int  #: batches that failed
    requests: dict[str, int]  #: API requests by kind, over every recorded run
    last_run: datetime | None  #: when the latest ``run`` ended
    last_success: datetime | None  #: when the latest ``run`` without a failure ended


#: The columns of ``runs`` that make a :class:`Run`, in its fields' order.
RUN_FIELDS = tuple(f.name for f in fields(Run))


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
