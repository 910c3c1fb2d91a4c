"""The pieces of a fault: kinds, :class:`Fault`, :class:`ImportOutcome`, log entries, checks.

See :mod:`voucherbot.sandbox.faults` for what each fault does and how to inject it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

ERROR = "error"
RATE_LIMIT_STORM = "rate_limit_storm"
LATENCY = "latency"
DROP_AFTER_ACCEPT = "drop_after_accept"
ANSWER_AFTER_ACCEPT = "answer_after_accept"
HANG_BEFORE_ACCEPT = "hang_before_accept"
IMPORT_OUTCOME = "import_outcome"
KINDS = (
    ERROR,
    RATE_LIMIT_STORM,
    LATENCY,
    DROP_AFTER_ACCEPT,
    ANSWER_AFTER_ACCEPT,
    HANG_BEFORE_ACCEPT,
    IMPORT_OUTCOME,
)
OUTCOMES = ("error", "cancelled", "slow", "reject_rows")
DEFAULT_SLOW_ROWS_PER_SECOND = 0.1
IMPORTS_PATH = "/imports/"


class InvalidFault(ValueError):
    """A fault option is out of range; ``option`` names the Python keyword argument."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


class FaultEvent(NamedTuple):
    """One application of a fault, as recorded in :attr:`FaultInjector.log`."""

    method: str
    path: str
    fault: str


@dataclass(frozen=True)
class ImportOutcome:
    """How one import runs (see :meth:`FaultInjector.import_outcome`)."""

    outcome: str
    rows: int = 0
    after_rows: int = 0
    rows_per_second: float | None = None

    @property
    def final_status(self) -> str:
        return self.outcome if self.outcome in ("error", "cancelled") else "finished"


@dataclass
class Fault:
    """One fault. The injector hands out copies; ``remaining`` is the count left then."""

    id: str
    kind: str
    method: str | None = None
    path: str | None = None
    remaining: int | None = None
    status: int = 0
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    rate_limit_headers: bool = True
    outcome: ImportOutcome | None = None
    coupon_set_id: str | None = None

    @property
    def name(self) -> str:
        """The fault's name in the log."""
        if self.outcome is not None:
            return f"{IMPORT_OUTCOME}:{self.outcome.outcome}"
        return self.kind

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and method.upper() != self.method:
            return False
        return self.path is None or (path.rstrip("/") + "/").startswith(self.path)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "remaining": self.remaining,
        }
        if self.kind in (ERROR, ANSWER_AFTER_ACCEPT):
            doc.update(
                status=self.status,
                body=self.body.decode("utf-8", "replace"),
                contentType=self.content_type,
                headers=dict(self.headers),
            )
        elif self.kind == RATE_LIMIT_STORM:
            doc["headers"] = self.rate_limit_headers
        elif self.kind in (LATENCY, HANG_BEFORE_ACCEPT):
            doc["seconds"] = self.seconds
        elif self.outcome is not None:
            doc.update(outcome=self.outcome.outcome, couponSetId=self.coupon_set_id)
            if self.outcome.outcome == "reject_rows":
                doc["rows"] = self.outcome.rows
            elif self.outcome.outcome == "slow":
                doc["rowsPerSecond"] = self.outcome.rows_per_second
            else:
                doc["afterRows"] = self.outcome.after_rows
        return doc


def check_times(times: int | None, option: str = "times") -> int | None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise InvalidFault(option, "must be a whole number of at least 1, or None (until cleared)")
    return times


def check_seconds(seconds: float) -> float:
    ok = isinstance(seconds, int | float) and not isinstance(seconds, bool)
    if not ok or not math.isfinite(seconds) or seconds < 0:
        raise InvalidFault("seconds", "must be a finite number of seconds, 0 or more")
    return float(seconds)


def check_scope(method: str | None, path: str | None) -> tuple[str | None, str | None]:
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise InvalidFault("method", "must be an HTTP method such as 'GET' or 'POST', or None")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise InvalidFault("path", "must be a path prefix starting with '/', or None")
    return (method.upper() if method else None), path


def make_outcome(
    outcome: str, rows: int | None, after_rows: int, rows_per_second: float | None
) -> ImportOutcome:
    """Check the options of ``FaultInjector.import_outcome`` and build the outcome."""
    if outcome not in OUTCOMES:
        raise InvalidFault("outcome", f"must be one of {', '.join(OUTCOMES)}")

    def count(value: object, option: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidFault(option, "must be a whole number, 0 or more")
        return value

    if outcome == "reject_rows":
        if rows is None:
            raise InvalidFault("rows", "required for reject_rows: how many rows fail")
        spec = ImportOutcome(outcome, rows=count(rows, "rows"))
    elif rows is not None:
        raise InvalidFault("rows", "only reject_rows takes rows")
    elif outcome == "slow":
        speed = DEFAULT_SLOW_ROWS_PER_SECOND if rows_per_second is None else rows_per_second
        numeric = isinstance(speed, int | float) and not isinstance(speed, bool)
        if not numeric or not math.isfinite(speed) or speed <= 0:
            raise InvalidFault("rows_per_second", "must be a positive number")
        spec = ImportOutcome(outcome, rows_per_second=float(speed))
    else:
        spec = ImportOutcome(outcome, after_rows=count(after_rows, "after_rows"))
    if rows_per_second is not None and outcome != "slow":
        raise InvalidFault("rows_per_second", "only slow takes rows_per_second")
    if after_rows and outcome not in ("error", "cancelled"):
        raise InvalidFault("after_rows", "only error and cancelled take after_rows")
    return spec
