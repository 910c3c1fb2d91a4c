"""A local WooCommerce-like coupon API: the part of the WooCommerce REST API v3 that
voucherbot's ``woocommerce`` sink uses, faithful to its documented behaviour.

* ``GET /wp-json/wc/v3/coupons?code=&page=&per_page=``: coupons, newest first, filtered by code
  (case-insensitive, as WooCommerce stores codes lower-cased); ``X-WP-Total`` and
  ``X-WP-TotalPages`` headers; ``per_page`` at most 100.
* ``GET /wp-json/wc/v3/coupons/<id>``.
* ``POST /wp-json/wc/v3/coupons/batch`` with ``{"create": [...]}``: at most ``batch_limit``
  items, creates, updates and deletes together (WooCommerce's default 100, the
  ``woocommerce_rest_batch_items_limit`` filter), else 413
  ``woocommerce_rest_request_entity_too_large``; each item answered in order, a coupon or
  ``{"id": 0, "error": {"code", "message", "data": {"status": 400}}}``. Codes are
  lower-cased; one that exists is ``woocommerce_rest_coupon_code_already_exists``.
* ``GET /wp-json/wc/v3/orders?after=&dates_are_gmt=&page=&per_page=``: orders, newest first,
  each with its ``status`` and ``coupon_lines`` (``[{"id", "code", "discount"}]``); ``after``
  keeps those created after an ISO 8601 time. :meth:`WooState.redeem` places them.
* Authentication: HTTP Basic with the consumer key and secret (or the ``consumer_key`` and
  ``consumer_secret`` query parameters). An unknown key runs as nobody: 401
  ``woocommerce_rest_cannot_view`` (``woocommerce_rest_cannot_batch`` for a batch); a known key
  with another secret is 401 ``woocommerce_rest_authentication_error``. Real WooCommerce tries
  Basic and query-string authentication only over HTTPS (plain HTTP needs OAuth 1.0a); the
  sandbox accepts them over its plain loopback HTTP.

Fault switches on :class:`WooState`: ``fail_next(status, times)`` (5xx, 429, an HTML page
with ``html=True``), ``refuse`` (codes answered with an error), ``refuse_every`` (every n-th
code, for partial failures); :meth:`WooState.add_coupon` makes a code some other coupon has.
This module imports nothing of the product.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

PREFIX = "/wp-json/wc/v3/coupons"
ORDERS = "/wp-json/wc/v3/orders"

#: what a template's copy carries over; the rest belongs to each coupon
COPIED = (
    "amount",
    "discount_type",
    "description",
    "date_expires",
    "individual_use",
    "product_ids",
    "excluded_product_ids",
    "usage_limit",
    "usage_limit_per_user",
    "limit_usage_to_x_items",
    "free_shipping",
    "product_categories",
    "excluded_product_categories",
    "exclude_sale_items",
    "minimum_amount",
    "maximum_amount",
    "email_restrictions",
)


@dataclass
class Failure:
    status: int
    times: int
    html: bool = False


@dataclass
class WooState:
    """The shop's coupons and its switches (thread-safe: the server is threaded)."""

    consumer_key: str = "ck_sandbox"
    consumer_secret: str = "cs_sandbox"  # noqa: S105 - the sandbox's own credentials
    batch_limit: int = 100
    coupons: dict[int, dict[str, Any]] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)  #: code -> message
    #: refuse every n-th code created (0: none), as a shop's plugin might (partial failures)
    refuse_every: int = 0
    refused: list[str] = field(default_factory=list)  #: every code answered with an error
    requests: list[tuple[str, str]] = field(default_factory=list)  #: (method, path)
    orders: list[dict[str, Any]] = field(default_factory=list)  #: oldest first
    _failures: list[Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_id: int = 100
    _asked: int = 0
    _by_code: dict[str, int] = field(default_factory=dict)

    def add_coupon(self, code: str, **fields: Any) -> dict[str, Any]:
        """A coupon in the shop (a template, or a code someone else took)."""
        with self._lock:
            return self._create({"code": code, **fields}, meta=[])

    def fail_next(self, status: int, times: int = 1, *, html: bool = False) -> None:
        with self._lock:
            self._failures.append(Failure(status, times, html))

    def by_code(self, code: str) -> dict[str, Any] | None:
        found = self._by_code.get(code.strip().lower())
        return self.coupons.get(found) if found is not None else None

    def codes(self) -> set[str]:
        return {c["code"] for c in self.coupons.values()}

    def redeem(
        self, code: str, times: int = 1, *, status: str = "processing", at: datetime | None = None
    ) -> None:
        """A customer used the code at checkout: an order each time (``status``: a cancelled
        or refunded order gives its coupon back, so the count does not move)."""
        coupon = self.by_code(code)
        assert coupon is not None, "no such coupon"
        when = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        with self._lock:
            if status not in ("cancelled", "failed", "refunded", "trash"):
                coupon["usage_count"] += times
            for _ in range(times):
                number = len(self.orders) + 1
                line = {"id": number * 10, "code": coupon["code"], "discount": coupon["amount"]}
                self.orders.append(
                    {
                        "id": number,
                        "status": status,
                        "date_created": when,
                        "date_created_gmt": when,
                        "coupon_lines": [line],
                    }
                )

    def _create(self, item: dict[str, Any], meta: list[Any]) -> dict[str, Any]:
        self._next_id += 1
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        coupon: dict[str, Any] = {
            "id": self._next_id,
            "code": str(item["code"]).strip().lower(),
            "amount": "0",
            "status": "publish",
            "date_created": now,
            "date_created_gmt": now,
            "discount_type": "fixed_cart",
            "description": "",
            "date_expires": None,
            "date_expires_gmt": None,
            "usage_count": 0,
            "individual_use": False,
            "product_ids": [],
            "excluded_product_ids": [],
            "usage_limit": None,
            "usage_limit_per_user": None,
            "limit_usage_to_x_items": None,
            "free_shipping": False,
            "product_categories": [],
            "excluded_product_categories": [],
            "exclude_sale_items": False,
            "minimum_amount": "0.00",
            "maximum_amount": "0.00",
            "email_restrictions": [],
            "used_by": [],
            "meta_data": [],
        }
        coupon.update({k: v for k, v in item.items() if k in COPIED})
        if coupon["date_expires"]:
            coupon["date_expires_gmt"] = coupon["date_expires"]
        coupon["meta_data"] = [
            {"id": self._next_id * 10 + i, "key": m.get("key"), "value": m.get("value")}
            for i, m in enumerate(meta)
            if isinstance(m, dict)
        ]
        self.coupons[self._next_id] = coupon
        self._by_code[coupon["code"]] = self._next_id
        return coupon


def _error(status: int, code: str, message: str) -> Response:
    body = {"code": code, "message": message, "data": {"status": status}}
    return Response(json.dumps(body), status=status, content_type="application/json")


def _json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(value), status=status, content_type="application/json", headers=headers
    )


class WooApp:
    """The WSGI application over a :class:`WooState`."""

    def __init__(self, state: WooState) -> None:
        self.state = state

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = _error(exc.code or 500, "rest_invalid", exc.description or "")
        return response(environ, start_response)

    def _refusal(self, request: Request) -> Response | None:
        """The 401 a request without the shop's key and secret gets, or None."""
        state = self.state
        key = request.args.get("consumer_key", "")
        secret = request.args.get("consumer_secret", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                key = secret = ""
        if not hmac.compare_digest(key, state.consumer_key):
            if request.method == "POST":
                return _error(
                    401,
                    "woocommerce_rest_cannot_batch",
                    "Sorry, you are not allowed to batch manipulate this resource.",
                )
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if not hmac.compare_digest(secret, state.consumer_secret):
            return _error(
                401, "woocommerce_rest_authentication_error", "Consumer secret is invalid."
            )
        return None

    def dispatch(self, request: Request) -> Response:
        state = self.state
        with state._lock:
            state.requests.append((request.method, request.path))
            failure = state._failures[0] if state._failures else None
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    state._failures.pop(0)
        if failure is not None:
            if failure.html:
                page = "<html><body><h1>There has been a critical error.</h1></body></html>"
                return Response(page, status=failure.status, content_type="text/html")
            return _error(failure.status, "rest_error", "Sandbox fault")
        if not request.path.startswith((PREFIX, ORDERS)):
            return _error(404, "rest_no_route", "No route was found matching the URL.")
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if request.path.rstrip("/") == ORDERS and request.method == "GET":
            return self.list_orders(request)
        rest = request.path[len(PREFIX) :].strip("/")
        if request.method == "GET" and rest == "":
            return self.list(request)
        if request.method == "GET" and rest.isdigit():
            coupon = state.coupons.get(int(rest))
            if coupon is None:
                return _error(404, "woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")
            return _json(coupon)
        if request.method == "POST" and rest == "batch":
            return self.batch(request)
        return _error(404, "rest_no_route", "No route was found matching the URL and method.")

    def list(self, request: Request) -> Response:
        with self.state._lock:
            found = sorted(self.state.coupons.values(), key=lambda c: -int(c["id"]))
        code = request.args.get("code")
        if code is not None:
            one = self.state.by_code(code)
            found = [one] if one is not None else []
        return _page(request, found)

    def list_orders(self, request: Request) -> Response:
        after = request.args.get("after")
        with self.state._lock:
            found = [
                o
                for o in reversed(self.state.orders)
                if after is None or o["date_created_gmt"] > after
            ]
        return _page(request, found)

    def batch(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _error(400, "rest_invalid_json", "Invalid JSON body passed.")
        creates = body.get("create", []) if isinstance(body, dict) else None
        if not isinstance(creates, list):
            return _error(400, "rest_invalid_param", "Invalid parameter(s): create")
        items = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if items > self.state.batch_limit:
            return _error(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {self.state.batch_limit} items for this request.",
            )
        answered = []
        with self.state._lock:
            for item in creates:
                answered.append(self._create_one(item))
        return _json({"create": answered})

    def _create_one(self, item: Any) -> dict[str, Any]:
        answer = self._answer_one(item)
        if "error" in answer and isinstance(item, dict):
            self.state.refused.append(str(item.get("code", "")))
        return answer

    def _answer_one(self, item: Any) -> dict[str, Any]:
        state = self.state
        state._asked += 1
        code = str(item.get("code", "")).strip().lower() if isinstance(item, dict) else ""
        if not code:
            return _item_error(
                "woocommerce_rest_empty_coupon_code", "The coupon code cannot be empty."
            )
        if code in state.refuse or code.upper() in state.refuse:
            why = state.refuse.get(code) or state.refuse[code.upper()]
            return _item_error("woocommerce_rest_invalid_coupon", why)
        if state.by_code(code) is not None:
            return _item_error(
                "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists"
            )
        if state.refuse_every and state._asked % state.refuse_every == 0:
            return _item_error("woocommerce_rest_invalid_coupon", "Coupon code is not allowed.")
        meta = item.get("meta_data", [])
        return state._create(item, meta if isinstance(meta, list) else [])


def _page(request: Request, found: list[dict[str, Any]]) -> Response:
    """One page of a list (``page``, ``per_page`` at most 100), with the total headers."""
    try:
        page = max(1, int(request.args.get("page", "1")))
        per_page = int(request.args.get("per_page", "10"))
    except ValueError:
        return _error(400, "rest_invalid_param", "Invalid parameter(s): page, per_page")
    if not 1 <= per_page <= 100:
        return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
    pages = max(1, math.ceil(len(found) / per_page))
    chunk = found[(page - 1) * per_page : page * per_page]
    headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)}
    return _json(chunk, headers=headers)


def _item_error(code: str, message: str) -> dict[str, Any]:
    return {"id": 0, "error": {"code": code, "message": message, "data": {"status": 400}}}
