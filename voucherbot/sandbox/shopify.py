"""A local Shopify-like Admin GraphQL endpoint: the operations voucherbot's ``shopify`` sink
sends, answered as Shopify documents them.

``POST /admin/api/<version>/graphql.json`` with ``{"query", "variables"}`` and the header
``X-Shopify-Access-Token``. This is not a GraphQL server: each request is recognised by the
root field its query names, and answered from its variables:

* ``discountRedeemCodeBulkAdd(discountId, codes)``: more than 250 codes is a top-level
  ``MAX_INPUT_SIZE_EXCEEDED`` error; an unknown discount is a ``userErrors`` entry (``INVALID``,
  "Code discount does not exist."); otherwise a ``bulkCreation { id }`` job, ``done`` once
  ``job_seconds`` have passed since it was started;
* ``discountRedeemCodeBulkCreation(id)``: ``done``, ``codesCount``, ``importedCount``,
  ``failedCount`` and ``codes(first, after)`` with each code's ``errors``, which carry a
  message and no code, as Shopify's do (a code any discount of the shop has, in any case,
  "must be unique. Please try a different code.": Shopify treats codes case-insensitively);
* ``codeDiscountNodeByCode(code)``: the discount that has the code (or null), with its
  ``status``, ``endsAt`` and the code's ``asyncUsageCount``;
* ``codeDiscountNode(id)``: the discount (or null), with its ``status``, ``endsAt`` and
  ``codes(first, after, query)``, where a ``query`` of ``times_used:>0`` keeps the codes used
  at least once (the only filter the sandbox knows).

Every answer carries ``extensions.cost`` with a leaky bucket (``maximum`` points, 2,000 as a
development store shows, refilled at ``restore_rate`` a second, 100 as on the Standard plan).
A request that costs more than is available is answered ``{"errors": [{"message":
"Throttled", "extensions": {"code": "THROTTLED"}}]}`` with HTTP 200 (``throttle_status``: 429,
as some stores' proxies answer). A wrong token is HTTP 401.
Fault switches: ``fail_next(status, times, html=)``, ``never_done`` (jobs stay queued),
``refuse_every`` (every n-th code fails), ``storm(n)`` (the next n requests find the bucket
empty). This module imports nothing of the product.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

MAX_CODES = 250
#: what each operation costs, in points (a documented choice: Shopify computes it per query)
COSTS = {
    "discountRedeemCodeBulkAdd": 10,
    "discountRedeemCodeBulkCreation": 5,
    "codeDiscountNodeByCode": 2,
    "codeDiscountNode": 12,
}
_OPERATION = re.compile(r"\b(" + "|".join(COSTS) + r")\b")


@dataclass
class Discount:
    id: str
    title: str
    status: str = "ACTIVE"
    ends_at: str | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)  #: folded code -> code


@dataclass
class Job:
    id: str
    discount: Discount
    codes: list[str]
    started: float = 0.0
    results: list[dict[str, Any]] | None = None


@dataclass
class ShopifyState:
    """The store's code discounts, jobs and switches (thread-safe)."""

    token: str = "shpat_sandbox"  # noqa: S105 - the sandbox's own token
    maximum: float = 2000.0
    restore_rate: float = 100.0
    job_seconds: float = 0.0
    never_done: bool = False
    refuse_every: int = 0
    throttle_status: int = 200  #: the HTTP status of a THROTTLED answer
    clock: Callable[[], float] = time.monotonic
    discounts: dict[str, Discount] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)  #: the operation of each request
    throttled: int = 0  #: requests answered THROTTLED
    _available: float = -1.0
    _at: float = 0.0
    _storm: int = 0
    _failures: list[tuple[int, int, bool]] = field(default_factory=list)
    _created: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_discount(
        self, number: int, title: str, *, status: str = "ACTIVE", ends_at: str | None = None
    ) -> Discount:
        discount = Discount(f"gid://shopify/DiscountCodeNode/{number}", title, status, ends_at)
        self.discounts[discount.id] = discount
        return discount

    def fail_next(self, status: int, times: int = 1, *, html: bool = False) -> None:
        with self._lock:
            self._failures.append((status, times, html))

    def storm(self, requests: int) -> None:
        """The next ``requests`` requests find the bucket empty (a throttling storm)."""
        with self._lock:
            self._storm = requests

    def owner(self, code: str) -> Discount | None:
        folded = code.casefold()
        return next((d for d in self.discounts.values() if folded in d.codes), None)

    def redeem(self, code: str, times: int = 1) -> None:
        discount = self.owner(code)
        assert discount is not None, "no such code"
        discount.codes[code.casefold()]["asyncUsageCount"] += times

    def _spend(self, cost: float) -> dict[str, Any] | None:
        """Take ``cost`` points from the bucket; the throttle status when there were too few."""
        now = self.clock()
        if self._available < 0:
            self._available, self._at = self.maximum, now
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now
        if self._storm > 0:
            self._storm -= 1
            self._available = 0.0
        if cost > self._available:
            return self._status()
        self._available -= cost
        return None

    def _status(self) -> dict[str, Any]:
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": round(self._available, 1),
            "restoreRate": self.restore_rate,
        }


class ShopifyApp:
    """The WSGI application over a :class:`ShopifyState`."""

    def __init__(self, state: ShopifyState) -> None:
        self.state = state

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        return self.dispatch(Request(environ))(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        state = self.state
        with state._lock:
            failure = state._failures[0] if state._failures else None
            if failure is not None:
                status, times, html = failure
                if times <= 1:
                    state._failures.pop(0)
                else:
                    state._failures[0] = (status, times - 1, html)
        if failure is not None:
            status, _, html = failure
            if html:
                page = "<html><body><h1>Shopify is down for maintenance</h1></body></html>"
                return Response(page, status=status, content_type="text/html")
            return _json({"errors": "Internal error"}, status)
        if request.method != "POST" or not re.fullmatch(
            r"/admin/api/[0-9]{4}-[0-9]{2}/graphql\.json", request.path
        ):
            return _json({"errors": "Not Found"}, 404)
        token = request.headers.get("X-Shopify-Access-Token", "")
        if not hmac.compare_digest(token, state.token):
            return _json(
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                    "password)"
                },
                401,
            )
        try:
            body = json.loads(request.get_data() or b"{}")
            query, variables = str(body["query"]), dict(body.get("variables") or {})
        except (ValueError, KeyError, TypeError):
            return _json({"errors": [{"message": "Parse error on request body"}]}, 400)
        found = _OPERATION.search(query)
        if found is None:
            return _json({"errors": [{"message": "Field not supported by the sandbox"}]}, 200)
        operation = found[1]
        with state._lock:
            state.requests.append(operation)
            cost = COSTS[operation]
            throttled = state._spend(cost)
            if throttled is not None:
                state.throttled += 1
                return _json(
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": _cost(cost, None, throttled),
                    },
                    state.throttle_status,
                )
            try:
                data = getattr(self, operation)(variables)
            except TooLarge as too_large:
                problem = {
                    "message": f"The input array size of {too_large.size} is greater than the "
                    f"maximum allowed of {MAX_CODES}.",
                    "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"},
                }
                return _json({"errors": [problem], "data": None})
            return _json({"data": data, "extensions": _cost(cost, cost, state._status())})

    # --- the operations ------------------------------------------------------------------------

    def discountRedeemCodeBulkAdd(self, variables: dict[str, Any]) -> dict[str, Any]:
        state = self.state
        discount = state.discounts.get(str(variables.get("discountId")))
        codes = variables.get("codes")
        if isinstance(codes, list) and len(codes) > MAX_CODES:
            raise TooLarge(len(codes))
        errors = []
        if discount is None:
            errors.append(_user_error(["discountId"], "Code discount does not exist.", "INVALID"))
        if not isinstance(codes, list) or not codes:
            errors.append(_user_error(["codes"], "Codes can't be blank", "BLANK"))
        if errors or discount is None or not isinstance(codes, list):
            return {"discountRedeemCodeBulkAdd": {"bulkCreation": None, "userErrors": errors}}
        number = len(state.jobs) + 1
        job = Job(
            f"gid://shopify/DiscountRedeemCodeBulkCreation/{number}",
            discount,
            [str(c.get("code", "")) if isinstance(c, dict) else "" for c in codes],
            started=state.clock(),
        )
        state.jobs[job.id] = job
        return {"discountRedeemCodeBulkAdd": {"bulkCreation": {"id": job.id}, "userErrors": []}}

    def discountRedeemCodeBulkCreation(self, variables: dict[str, Any]) -> dict[str, Any]:
        job = self.state.jobs.get(str(variables.get("id")))
        if job is None:
            return {"discountRedeemCodeBulkCreation": None}
        ready = self.state.clock() - job.started >= self.state.job_seconds
        if job.results is None and not self.state.never_done and ready:
            job.results = [self._create(job.discount, code) for code in job.codes]
        done = job.results is not None
        results = job.results or []
        return {
            "discountRedeemCodeBulkCreation": {
                "id": job.id,
                "done": done,
                "codesCount": len(job.codes),
                "importedCount": sum(1 for r in results if not r["errors"]),
                "failedCount": sum(1 for r in results if r["errors"]),
                "codes": _connection(results, variables),
            }
        }

    def codeDiscountNodeByCode(self, variables: dict[str, Any]) -> dict[str, Any]:
        code = str(variables.get("code", ""))
        discount = self.state.owner(code)
        if discount is None:
            return {"codeDiscountNodeByCode": None}
        redeem = discount.codes[code.casefold()]
        return {
            "codeDiscountNodeByCode": {
                "id": discount.id,
                "codeDiscount": _basic(discount, {"nodes": [redeem]}),
            }
        }

    def codeDiscountNode(self, variables: dict[str, Any]) -> dict[str, Any]:
        discount = self.state.discounts.get(str(variables.get("id")))
        if discount is None:
            return {"codeDiscountNode": None}
        codes = list(discount.codes.values())
        if "times_used:>0" in str(variables.get("query") or ""):
            codes = [c for c in codes if c["asyncUsageCount"] > 0]
        return {
            "codeDiscountNode": {
                "id": discount.id,
                "codeDiscount": _basic(discount, _connection(codes, variables)),
            }
        }

    def _create(self, discount: Discount, code: str) -> dict[str, Any]:
        # per-code errors carry no code, only a message (as Shopify's do)
        state = self.state
        state._created += 1
        error = None
        if not code.strip():
            error = _user_error(["code"], "is too short (minimum is 1 character)", None)
        elif "\n" in code:
            error = _user_error(["code"], "cannot contain newline characters.", None)
        elif len(code) > 255:
            error = _user_error(["code"], "is too long (maximum is 255 characters)", None)
        elif state.owner(code) is not None:
            error = _user_error(["code"], "must be unique. Please try a different code.", None)
        elif state.refuse_every and state._created % state.refuse_every == 0:
            error = _user_error(["code"], "is not allowed by the store.", None)
        if error is not None:
            return {"code": code, "errors": [error], "discountRedeemCode": None}
        number = sum(len(d.codes) for d in state.discounts.values()) + 1
        redeem = {
            "id": f"gid://shopify/DiscountRedeemCode/{number}",
            "code": code,
            "asyncUsageCount": 0,
        }
        discount.codes[code.casefold()] = redeem
        return {"code": code, "errors": [], "discountRedeemCode": redeem}


class TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def _basic(discount: Discount, codes: dict[str, Any]) -> dict[str, Any]:
    """A discount as a ``DiscountCodeBasic``, with ``codes``."""
    return {
        "__typename": "DiscountCodeBasic",
        "title": discount.title,
        "status": discount.status,
        "endsAt": discount.ends_at,
        "codes": codes,
    }


def _connection(items: list[dict[str, Any]], variables: dict[str, Any]) -> dict[str, Any]:
    """A page of a connection: ``first`` (at most 250) items after the cursor ``after``."""
    first = min(int(variables.get("first") or 50), 250)
    after = int(variables.get("after") or 0)
    page = items[after : after + first]
    more = after + len(page) < len(items)
    return {"nodes": page, "pageInfo": {"hasNextPage": more, "endCursor": str(after + len(page))}}


def _user_error(path: list[str], message: str, code: str | None) -> dict[str, Any]:
    return {"field": path, "message": message, "code": code, "extraInfo": None}


def _cost(requested: float, actual: float | None, status: dict[str, Any]) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": status,
        }
    }


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, content_type="application/json")
