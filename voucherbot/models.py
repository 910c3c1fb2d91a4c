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
from typing import Any

from voucherbot.errors import BadResponseError

SINGLE = "single"
MULTIPLE = "multiple"

#: Import statuses after which nothing more happens to an import.
TERMINAL_IMPORT_STATUSES = frozenset({"finished", "error", "cancelled"})


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


def _required_str(doc: Mapping[str, Any], key: str, what: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise BadResponseError(f"the server sent a {what} without a valid {key!r} field")
    return value


def _opt_int(doc: Mapping[str, Any], key: str) -> int | None:
    value = doc.get(key)
    # bool is an int subclass; a boolean counter is as good as missing
    if isinstance(value, bool) or not isinstance(value, int):
        return None
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
        set_id = _required_str(doc, "id", "coupon set")
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
            assigned=_opt_int(doc, "assigned") or 0,
            quantity=_opt_int(doc, "quantity"),
            available=_opt_int(doc, "available"),
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
    def from_json(cls, raw: Any) -> Workflow:
        doc = _mapping(raw, "workflow")
        wid = _required_str(doc, "id", "workflow")
        return cls(
            id=wid,
            name=_opt_str(doc, "name") or wid,
            status=_opt_str(doc, "status"),
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
        return self.status == "finished" and self.errors == 0

    @classmethod
    def from_json(cls, raw: Any) -> Import:
        doc = _mapping(raw, "import")
        import_id = _required_str(doc, "id", "import")
        status = doc.get("status")
        if not isinstance(status, str) or not status:
            raise BadResponseError(f"the server sent import {import_id} without a 'status' field")
        options = doc.get("options")
        opts: Mapping[str, Any] = options if isinstance(options, Mapping) else {}
        return cls(
            id=import_id,
            status=status,
            type=_opt_str(doc, "type"),
            origin=_opt_str(doc, "origin"),
            total=_opt_int(doc, "total"),
            success=_opt_int(doc, "success") or 0,
            errors=_opt_int(doc, "errors") or 0,
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
