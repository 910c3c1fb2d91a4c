"""The sandbox's own admin endpoints: the clock, fault injection and simulated demand.

They are documented, with their JSON bodies, in the "HTTP admin API" section of
:mod:`voucherbot.sandbox.faults`. The app routes them, authenticates them with the sandbox's
API key, never rate limits them and never applies faults to them.
"""

from __future__ import annotations

import math
from typing import Any

from werkzeug.wrappers import Request, Response

from voucherbot.sandbox.data import CouponSetRecord, iso
from voucherbot.sandbox.faultspec import (
    ERROR,
    HANG_BEFORE_ACCEPT,
    IMPORT_OUTCOME,
    KINDS,
    LATENCY,
    RATE_LIMIT_STORM,
    InvalidFault,
)
from voucherbot.sandbox.responses import Problem, json_response, shown, unprocessable
from voucherbot.sandbox.state import SandboxState

ADMIN_PREFIX = "/_sandbox/"

#: JSON name -> keyword argument of the FaultInjector method, for each kind.
_SCOPE = {"method": "method", "path": "path", "times": "times"}
_FAULT_FIELDS: dict[str, dict[str, str]] = {
    ERROR: {
        "status": "status",
        "body": "body",
        "contentType": "content_type",
        "headers": "headers",
        **_SCOPE,
    },
    RATE_LIMIT_STORM: {"times": "n", "headers": "headers", "method": "method", "path": "path"},
    LATENCY: {"seconds": "seconds", **_SCOPE},
    "drop_after_accept": dict(_SCOPE),
    "answer_after_accept": {
        "status": "status",
        "body": "body",
        "contentType": "content_type",
        **_SCOPE,
    },
    HANG_BEFORE_ACCEPT: {"seconds": "seconds", "times": "times"},
    IMPORT_OUTCOME: {
        "outcome": "outcome",
        "rows": "rows",
        "afterRows": "after_rows",
        "rowsPerSecond": "rows_per_second",
        "couponSetId": "coupon_set_id",
        "times": "times",
    },
}
_REQUIRED = {
    ERROR: ("status",),
    RATE_LIMIT_STORM: ("times",),
    LATENCY: ("seconds",),
    HANG_BEFORE_ACCEPT: ("seconds",),
    IMPORT_OUTCOME: ("outcome",),
}


def _json_object(request: Request) -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise unprocessable([("body", "required: a JSON object")])
    return body


def _number(value: object) -> float | None:
    """A JSON number (not a boolean) as a float, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class AdminApi:
    """Handlers for ``/_sandbox/clock/advance``, ``/_sandbox/faults`` and ``/_sandbox/demand``."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    # --- clock ----------------------------------------------------------------------------

    def advance_clock(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        seconds = _number(body.get("seconds")) if isinstance(body, dict) else None
        if seconds is None or seconds < 0:
            raise unprocessable([("seconds", "required: a JSON number of seconds, 0 or more")])
        self.state.advance(seconds)
        return json_response({"now": iso(self.state.now())})

    # --- faults ---------------------------------------------------------------------------

    def list_faults(self, request: Request) -> Response:
        faults = self.state.faults
        log = [{"method": m, "path": p, "fault": f} for m, p, f in faults.log]
        return json_response({"faults": [f.to_json() for f in faults.active], "log": log})

    def add_fault(self, request: Request) -> Response:
        body = _json_object(request)
        kind = body.get("kind")
        if kind not in KINDS:
            raise unprocessable([("kind", "required: one of " + ", ".join(KINDS))])
        fields = _FAULT_FIELDS[kind]
        errors = [
            (name, f"not an option of {kind}")
            for name in body
            if name != "kind" and name not in fields
        ]
        errors += [(name, "required") for name in _REQUIRED.get(kind, ()) if name not in body]
        if kind == RATE_LIMIT_STORM and not isinstance(body.get("headers", True), bool):
            errors.append(("headers", "must be true or false"))
        if kind == ERROR and not isinstance(body.get("headers") or {}, dict):
            errors.append(("headers", "must be an object of header names to strings"))
        set_id = body.get("couponSetId")
        if kind == IMPORT_OUTCOME and set_id is not None:
            errors += self._check_set(set_id)
        if errors:
            raise unprocessable(errors)
        kwargs = {fields[name]: value for name, value in body.items() if name != "kind"}
        try:
            fault = getattr(self.state.faults, kind)(**kwargs)
        except InvalidFault as exc:
            json_name = next(k for k, v in fields.items() if v == exc.option)
            raise unprocessable([(json_name, exc.reason)]) from None
        return json_response(fault.to_json(), 201)

    def clear_faults(self, request: Request) -> Response:
        return json_response({"cleared": self.state.faults.clear()})

    def remove_fault(self, request: Request, fault_id: str) -> Response:
        try:
            self.state.faults.remove(fault_id)
        except KeyError:
            raise Problem(404, f"No fault {shown(fault_id)} is in force") from None
        return json_response({"removed": fault_id})

    # --- demand ---------------------------------------------------------------------------

    def _entry(self, cs: CouponSetRecord, rates: dict[str, float]) -> dict[str, Any]:
        return {
            "couponSetId": cs.id,
            "name": cs.name,
            "type": cs.type,
            "perDay": rates[cs.id],
            "consuming": self.state.consuming(cs.id),
        }

    def get_demand(self, request: Request) -> Response:
        rates = self.state.demand_rates()
        return json_response(
            {
                "seeded": self.state.config.demand,
                "pattern": self.state.demand_pattern,
                "sets": [self._entry(cs, rates) for cs in self.state.coupon_sets()],
            }
        )

    def set_demand(self, request: Request) -> Response:
        body = _json_object(request)
        set_id, per_day = body.get("couponSetId"), _number(body.get("perDay"))
        errors = self._check_set(set_id)
        if per_day is None or per_day < 0:
            errors.append(("perDay", "required: a number of codes per day, 0 or more"))
        known = ("couponSetId", "perDay")
        errors += [(name, "unknown field") for name in body if name not in known]
        if errors or not isinstance(set_id, str) or per_day is None:
            raise unprocessable(errors)
        self.state.set_demand_rate(set_id, per_day)
        return json_response(self._entry(self.state.get_set(set_id), self.state.demand_rates()))

    def _check_set(self, set_id: object) -> list[tuple[str, str]]:
        if not isinstance(set_id, str) or not set_id:
            return [("couponSetId", "required: a coupon set id")]
        try:
            self.state.get_set(set_id)
        except KeyError:
            return [("couponSetId", f"no coupon set has the id {shown(set_id)}")]
        return []
