"""The Connectif resources voucherbot reads, as frozen dataclasses parsed leniently.

Parsing follows CONNECTIF_API.md: unknown fields are ignored, optional fields may be missing or
``null``. Only what the bot cannot work without is required (an ``id`` everywhere, a ``type`` on
coupon sets, a ``status`` on imports); when that is missing or has the wrong type the parser
raises :class:`~voucherbot.errors.BadResponseError`, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from voucherbot.errors import BadResponseError, InvalidItemError
from voucherbot.text import valid_id

SINGLE = "single"
MULTIPLE = "multiple"


class ImportStatus(StrEnum):
    """The statuses Connectif gives an import (CONNECTIF_API.md). :attr:`Import.status` keeps
    the text the server sent, so a status it does not document is shown as it came."""

    QUEUED = "queued"
    IN_PROGRESS = "inProgress"
    FINISHED = "finished"
    ERROR = "error"
    CANCELLED = "cancelled"


#: Import statuses after which nothing more happens to an import.
TERMINAL_IMPORT_STATUSES = frozenset(
    {ImportStatus.FINISHED, ImportStatus.ERROR, ImportStatus.CANCELLED}
)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (UTC when it has no offset), or None if
    absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


#: The largest counter believed: JSON's exact integers (a larger one is not a count of codes).
MAX_COUNTER = 2**53
#: Ids go into URL paths and the ledger: at most this long, printable, no path or query marks.


def _required_str(doc: Mapping[str, Any], key: str, what: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise BadResponseError(f"the server sent a {what} without a valid {key!r} field")
    return value


def _id(doc: Mapping[str, Any], what: str) -> str:
    value = _required_str(doc, "id", what)
    if not valid_id(value):
        raise InvalidItemError(f"a {what} has an 'id' that is not an id ({value[:40]!r})")
    return value


def _opt_int(doc: Mapping[str, Any], key: str, what: str) -> int | None:
    """A counter: missing or null is None; anything but a whole number from 0 to
    :data:`MAX_COUNTER` makes the item untrustworthy."""
    value = doc.get(key)
    if value is None:
        return None
    # bool is an int subclass; a counter of true is not a count
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNTER:
        shown = repr(value)[:40]
        raise InvalidItemError(f"{what} has a {key!r} field that is not a count ({shown})")
    return value


def _opt_str(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    return value if isinstance(value, str) else None


def _opt_bool(doc: Mapping[str, Any], key: str) -> bool | None:
    value = doc.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadResponseError(f"the server sent a {what} that is not a JSON object")
    return value


@dataclass(frozen=True)
class CouponSet:
    """A coupon set: ``multiple`` sets pool single-use codes; ``single`` sets share one code."""

    id: str
    name: str
    type: str
    assigned: int
    quantity: int | None = None
    available: int | None = None
    code: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    used_in_workflows: tuple[str, ...] = ()

    @property
    def is_multiple(self) -> bool:
        return self.type == MULTIPLE

    @classmethod
    def from_json(cls, raw: Any) -> CouponSet:
        doc = _mapping(raw, "coupon set")
        set_id = _id(doc, "coupon set")
        what = f"coupon set {set_id}"
        kind = doc.get("type")
        if not isinstance(kind, str):
            raise BadResponseError(f"the server sent coupon set {set_id} without a 'type' field")
        workflows: list[str] = []
        refs = doc.get("usedInWorkflows")
        if isinstance(refs, list):
            for ref in refs:
                wid = ref.get("workflowId") if isinstance(ref, Mapping) else None
                if isinstance(wid, str) and wid and wid not in workflows:
                    workflows.append(wid)
        return cls(
            id=set_id,
            name=_opt_str(doc, "name") or set_id,
            type=kind,
            assigned=_opt_int(doc, "assigned", what) or 0,
            quantity=_opt_int(doc, "quantity", what),
            available=_opt_int(doc, "available", what),
            code=_opt_str(doc, "code"),
            created_at=parse_time(doc.get("createdAt")),
            updated_at=parse_time(doc.get("updatedAt")),
            used_in_workflows=tuple(workflows),
        )


@dataclass(frozen=True)
class Workflow:
    """A workflow. Connectif does not document ``status``; it is kept as the raw string."""

    id: str
    name: str
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_json(cls, raw: Any, *, status_field: str = "status") -> Workflow:
        """``status_field`` names the field that holds the status ([connectif]
        workflow_status_field), since Connectif does not document it."""
        doc = _mapping(raw, "workflow")
        wid = _id(doc, "workflow")
        return cls(
            id=wid,
            name=_opt_str(doc, "name") or wid,
            status=_opt_str(doc, status_field),
            created_at=parse_time(doc.get("createdAt")),
            updated_at=parse_time(doc.get("updatedAt")),
        )


@dataclass(frozen=True)
class Import:
    """An import job (``POST /imports/``), with its progress counters."""

    id: str
    status: str
    type: str | None = None
    origin: str | None = None
    total: int | None = None
    success: int = 0
    errors: int = 0
    error_report_file_url: str | None = None
    coupon_set_id: str | None = None
    delimiter: str | None = None
    override_existing: bool | None = None
    update_only_empty_fields: bool | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_IMPORT_STATUSES

    @property
    def processed(self) -> int:
        return self.success + self.errors

    @property
    def succeeded_cleanly(self) -> bool:
        """Finished, no row rejected, and every row imported (a "finished" import that
        imported 0 of N rows did not succeed, whatever its status says)."""
        return (
            self.status == ImportStatus.FINISHED
            and self.errors == 0
            and (self.total is None or self.success == self.total)
        )

    @classmethod
    def from_json(cls, raw: Any) -> Import:
        doc = _mapping(raw, "import")
        import_id = _id(doc, "import")
        what = f"import {import_id}"
        status = doc.get("status")
        if not isinstance(status, str) or not status:
            raise BadResponseError(f"the server sent import {import_id} without a 'status' field")
        options = doc.get("options")
        opts: Mapping[str, Any] = options if isinstance(options, Mapping) else {}
        total = _opt_int(doc, "total", what)
        success = _opt_int(doc, "success", what) or 0
        errors = _opt_int(doc, "errors", what) or 0
        if total is not None and success + errors > total:
            raise InvalidItemError(
                f"{what} counts more rows ('success' {success:,} + 'errors' "
                f"{errors:,}) than its 'total' ({total:,})"
            )
        return cls(
            id=import_id,
            status=status,
            type=_opt_str(doc, "type"),
            origin=_opt_str(doc, "origin"),
            total=total,
            success=success,
            errors=errors,
            error_report_file_url=_opt_str(doc, "errorReportFileUrl"),
            coupon_set_id=_opt_str(opts, "couponSetId"),
            delimiter=_opt_str(opts, "delimiter"),
            override_existing=_opt_bool(opts, "overrideExisting"),
            update_only_empty_fields=_opt_bool(opts, "updateOnlyEmptyFields"),
            created_at=parse_time(doc.get("createdAt")),
            started_at=parse_time(doc.get("startedAt")),
            finished_at=parse_time(doc.get("finishedAt")),
            cancelled_at=parse_time(doc.get("cancelledAt")),
        )
