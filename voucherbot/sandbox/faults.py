"""Fault injection: make the sandbox misbehave on purpose, for crash-safety and retry tests.

Every sandbox has one :class:`FaultInjector` at ``state.faults`` (``sandbox.state.faults`` for
a :func:`~voucherbot.sandbox.start_sandbox` server). Tests running the sandbox in-process call
its methods; anyone else uses the HTTP admin API below. It is thread-safe. Example::

    faults = sandbox.state.faults
    faults.error(502, body="<html>Bad Gateway</html>", content_type="text/html", times=2)
    faults.rate_limit_storm(3, path="/coupon-sets/")
    faults.drop_after_accept()                # the next import is created, its answer is lost
    faults.import_outcome("reject_rows", rows=5)
    ...
    assert ("POST", "/imports/", "drop_after_accept") in faults.log
    faults.clear()

Faults
------

Each call adds one fault and returns a snapshot of it (a :class:`Fault`; ``fault.id`` names it
for :meth:`FaultInjector.remove`). ``method`` (any case; ``None``: every method) and ``path``
(a prefix of the request path; ``None``: every path) limit which requests a fault matches; the
path is compared with a trailing slash added, so ``"/imports/"`` matches ``/imports``,
``/imports/`` and ``/imports/{id}``. ``times`` is how many matching requests (or imports) it
affects before it expires (``None``: until cleared).

``error(status, body=None, *, content_type="application/json", headers=None,``
``method=None, path=None, times=None)``
    Answer with ``status`` and ``body`` instead of serving the request. ``body`` may be bytes or
    text (sent verbatim: an HTML page, non-JSON, truncated JSON such as ``{"results": [``) or a
    dict/list (sent as JSON, e.g. a 200 document with fields missing); ``None`` sends an
    HttpError JSON body for the status. ``headers`` are added to the answer.
``rate_limit_storm(n, *, headers=True, method=None, path=None)``
    Answer the next ``n`` matching requests (``None``: until cleared) with 429 and the body of
    the real limiter. With ``headers=True`` they carry ``X-RateLimit-Limit`` (the configured
    limit, 100 if limiting is off), ``X-RateLimit-Remaining: 0``, ``X-RateLimit-Reset``
    (``ceil(now) + 1`` on the sandbox clock) and ``Retry-After: 1``; ``headers=False`` sends
    none.
``latency(seconds, *, method=None, path=None, times=None)``
    Sleep ``seconds`` of real time, then serve the request normally (even if the client has
    gone away meanwhile: a slow server still does the work).
``drop_after_accept(*, method="POST", path="/imports/", times=1)``
    Serve the request completely (for ``POST /imports/``: the import IS created, exactly as
    normal), then close the connection without sending any HTTP answer: the client sees
    "Remote end closed connection without response" (``requests.ConnectionError``). It fires
    only on requests that were served with a 2xx status; refused requests (422, 429, ...) are
    answered normally and do not use it up.
``answer_after_accept(status=502, body=None, *, content_type="text/html",``
``method="POST", path="/imports/", times=1)``
    Serve the request completely (for ``POST /imports/``: the import IS created), then send
    ``status`` and ``body`` instead of the real answer: what a gateway does when the upstream
    answer is lost after the work was done. ``body`` is as for ``error``; ``None`` sends a
    gateway's HTML page for the status. A 201 with a body that is not JSON is
    ``answer_after_accept(201, "<html>Created</html>")``. Like ``drop_after_accept`` it fires
    only on requests that were served with a 2xx status.
``hang_before_accept(seconds, *, times=1)``
    For ``POST /imports/``: after the request has been read and validated, wait ``seconds``
    BEFORE creating the import, then proceed normally. If the client disconnects during the
    wait (killed, or timed out), no import is created and nothing is answered.
``import_outcome(outcome, *, rows=None, after_rows=0, rows_per_second=None,``
``coupon_set_id=None, times=1)``
    Changes how the next import(s) created (over HTTP or with ``state.create_import``;
    ``coupon_set_id`` limits it to one set) run. ``outcome`` is one of

    * ``"error"`` / ``"cancelled"``: the import is queued and in progress as usual, applies only
      its first ``after_rows`` rows (default none), and at the moment it would have finished
      it ends with status ``error`` (``finishedAt`` set) or ``cancelled`` (``cancelledAt``).
    * ``"slow"``: the import processes ``rows_per_second`` rows per second (default 0.1), so a
      10-row import takes 100 s of sandbox time, long enough to outlast a poll deadline. The
      imports queued behind it wait for it.
    * ``"reject_rows"``: the first ``rows`` rows of the file fail (counted in ``errors``, listed
      in the error report with the reason :data:`~voucherbot.sandbox.imports.REASON_REJECTED`
      ``"rejected by fault injection"``); the import still finishes, and the set's counters
      grow only by the rows that succeeded.

Rules: requests to the admin endpoints (``/_sandbox/clock/``, ``/_sandbox/faults``,
``/_sandbox/demand``) are never faulted; the error-report files under ``/_sandbox/files/``
are. Faults are checked in the order they were added. On one request every matching
``latency`` applies (their delays add up), then the first matching ``error`` or
``rate_limit_storm`` answers it (later ones are not used up). Injected answers come before
authentication and rate limiting: they need no API key and do not count against the limit.

``faults.clear()`` removes every fault (the log stays; ``clear_log()`` empties it),
``faults.remove(fault_id)`` one. ``faults.active`` lists the faults still in force.
``faults.log`` is the list of :class:`FaultEvent` ``(method, path, fault)`` tuples, one per
fault applied, in order; ``fault`` is the fault kind (``"error"``, ``"latency"``, ...), for
import outcomes ``"import_outcome:<outcome>"`` with the path ``/imports/``.

HTTP admin API
--------------

For a running ``voucherbot sandbox``. The endpoints need the sandbox's API key
(``Authorization: apiKey <key>``), are not rate limited and are never faulted themselves.
Bad bodies get a 422 with ``validationErrors``.

``POST /_sandbox/faults``
    Adds one fault; answers 201 with it (including its ``id``). The body is a JSON object:
    ``kind`` (one of the seven names above) plus the options of that kind in camelCase::

        {"kind": "error", "status": 502, "body": "<html>Bad Gateway</html>",
         "contentType": "text/html", "headers": {"X-Cache": "MISS"},
         "method": "GET", "path": "/coupon-sets/", "times": 2}
        {"kind": "error", "status": 200, "body": "{\\"results\\": ["}
        {"kind": "error", "status": 200, "body": {"results": [{"id": "x"}]}}
        {"kind": "rate_limit_storm", "times": 5, "headers": false}
        {"kind": "latency", "seconds": 3.5, "path": "/imports/", "times": null}
        {"kind": "drop_after_accept"}                   (POST /imports/, once)
        {"kind": "answer_after_accept", "status": 502}  (the import is created; a 502 page)
        {"kind": "answer_after_accept", "status": 201, "body": "Created",
         "contentType": "text/plain"}
        {"kind": "hang_before_accept", "seconds": 10}
        {"kind": "import_outcome", "outcome": "error", "afterRows": 5}
        {"kind": "import_outcome", "outcome": "slow", "rowsPerSecond": 0.5}
        {"kind": "import_outcome", "outcome": "reject_rows", "rows": 3,
         "couponSetId": "65f0..."}

    ``times`` defaults as in Python (``null``: until cleared); for ``rate_limit_storm`` it is
    the storm's ``n`` and is required. A string ``body`` is sent verbatim, an object or array
    as JSON.
``GET /_sandbox/faults``
    ``{"faults": [<fault>...], "log": [{"method", "path", "fault"}...]}``. A fault is shown
    as ``{"id", "kind", "method", "path", "remaining", ...its options}``.
``DELETE /_sandbox/faults``
    Removes every fault: ``{"cleared": <n>}``. ``DELETE /_sandbox/faults/{id}`` removes one
    (404 if it is unknown or used up).
``POST /_sandbox/clock/advance``
    ``{"seconds": N}`` moves the sandbox clock forward (imports progress, demand hands out
    codes): ``{"now": "<ISO time>"}``.
``GET /_sandbox/demand``
    ``{"seeded", "pattern", "sets": [{"couponSetId", "name", "type", "perDay",
    "consuming"}...]}``: the demand rate of every coupon set in codes per day, and whether it
    is consuming (rate above 0 and used by an active workflow); ``seeded`` is
    ``SandboxConfig.demand`` (false: every rate started at 0). See :mod:`.demand`.
``POST /_sandbox/demand``
    ``{"couponSetId": "...", "perDay": 250}`` sets one rate; answers with that set's entry.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from werkzeug.wrappers import Request, Response

from voucherbot.sandbox.faultspec import (
    ANSWER_AFTER_ACCEPT,
    DROP_AFTER_ACCEPT,
    ERROR,
    HANG_BEFORE_ACCEPT,
    IMPORT_OUTCOME,
    IMPORTS_PATH,
    KINDS,
    LATENCY,
    OUTCOMES,
    RATE_LIMIT_STORM,
    Fault,
    FaultEvent,
    ImportOutcome,
    InvalidFault,
    check_scope,
    check_seconds,
    check_times,
    make_outcome,
)
from voucherbot.sandbox.responses import title

__all__ = [
    "KINDS",
    "OUTCOMES",
    "Fault",
    "FaultEvent",
    "FaultInjector",
    "ImportOutcome",
    "InvalidFault",
]


class FaultInjector:
    """The faults in force for one sandbox, and the log of those applied. Thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        rate_limit: Callable[[], int] = lambda: 100,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._rate_limit = rate_limit
        self._sleep = sleep
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._log: list[FaultEvent] = []
        self._next_id = 1

    # --- adding faults --------------------------------------------------------------------

    def error(
        self,
        status: int,
        body: str | bytes | dict[str, Any] | list[Any] | None = None,
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """Answer matching requests with ``status`` and ``body`` instead of serving them."""
        if body is None and _valid_status(status):
            body = {"status": status, "title": title(status), "detail": "Injected sandbox fault"}
        return self._add(ERROR, method, path, times, **_answer(status, body, content_type, headers))

    def rate_limit_storm(
        self,
        n: int | None,
        *,
        headers: bool = True,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Answer the next ``n`` matching requests with 429 (with or without rate headers)."""
        check_times(n, "n")
        return self._add(RATE_LIMIT_STORM, method, path, n, rate_limit_headers=bool(headers))

    def latency(
        self,
        seconds: float,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """Sleep ``seconds`` (real time) before serving matching requests."""
        return self._add(LATENCY, method, path, times, seconds=check_seconds(seconds))

    def drop_after_accept(
        self,
        *,
        method: str | None = "POST",
        path: str | None = IMPORTS_PATH,
        times: int | None = 1,
    ) -> Fault:
        """Serve matching requests, then close the connection without an answer."""
        return self._add(DROP_AFTER_ACCEPT, method, path, times)

    def answer_after_accept(
        self,
        status: int = 502,
        body: str | bytes | dict[str, Any] | list[Any] | None = None,
        *,
        content_type: str = "text/html",
        method: str | None = "POST",
        path: str | None = IMPORTS_PATH,
        times: int | None = 1,
    ) -> Fault:
        """Serve matching requests, then answer ``status`` and ``body`` in place of the real
        answer (the work is done; the client is told something else)."""
        if body is None and _valid_status(status):
            body = (
                f"<html><head><title>{status} {title(status)}</title></head><body>"
                f"<h1>{status} {title(status)}</h1></body></html>"
            )
        return self._add(
            ANSWER_AFTER_ACCEPT, method, path, times, **_answer(status, body, content_type, None)
        )

    def hang_before_accept(self, seconds: float, *, times: int | None = 1) -> Fault:
        """Wait ``seconds`` before creating the next import(s) posted over HTTP."""
        return self._add(
            HANG_BEFORE_ACCEPT, "POST", IMPORTS_PATH, times, seconds=check_seconds(seconds)
        )

    def import_outcome(
        self,
        outcome: str,
        *,
        rows: int | None = None,
        after_rows: int = 0,
        rows_per_second: float | None = None,
        coupon_set_id: str | None = None,
        times: int | None = 1,
    ) -> Fault:
        """Make the next import(s) created end in error, be cancelled, run slowly or reject rows."""
        spec = make_outcome(outcome, rows, after_rows, rows_per_second)
        if coupon_set_id is not None and (not isinstance(coupon_set_id, str) or not coupon_set_id):
            raise InvalidFault("coupon_set_id", "must be a coupon set id, or None (any set)")
        return self._add(
            IMPORT_OUTCOME, "POST", IMPORTS_PATH, times, outcome=spec, coupon_set_id=coupon_set_id
        )

    def _add(
        self, kind: str, method: str | None, path: str | None, times: int | None, **options: Any
    ) -> Fault:
        method, path = check_scope(method, path)
        with self._lock:
            fault = Fault(f"f{self._next_id}", kind, method, path, check_times(times), **options)
            self._next_id += 1
            self._faults.append(fault)
            return replace(fault)

    # --- managing -------------------------------------------------------------------------

    @property
    def active(self) -> list[Fault]:
        """Snapshots of the faults still in force, in the order they were added."""
        with self._lock:
            return [replace(f) for f in self._faults]

    def remove(self, fault_id: str) -> None:
        """Remove one fault; KeyError if no fault in force has that id."""
        with self._lock:
            for fault in self._faults:
                if fault.id == fault_id:
                    self._faults.remove(fault)
                    return
        raise KeyError(fault_id)

    def clear(self) -> int:
        """Remove every fault (the log stays); returns how many there were."""
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    @property
    def log(self) -> list[FaultEvent]:
        """Every fault applied so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # --- hooks called by the app and the state --------------------------------------------

    def _take(self, kinds: tuple[str, ...], method: str, path: str) -> Fault | None:
        """The first matching fault of these kinds, used once (lock held)."""
        for fault in self._faults:
            if fault.kind in kinds and fault.matches(method, path):
                self._use(fault, method, path)
                return fault
        return None

    def _use(self, fault: Fault, method: str, path: str) -> None:
        self._log.append(FaultEvent(method, path, fault.name))
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)

    def before_request(self, request: Request) -> Response | None:
        """Apply latency, then answer in place of the API if an error or 429 storm matches."""
        method, path = request.method, request.path
        delay = 0.0
        with self._lock:
            for fault in [f for f in self._faults if f.kind == LATENCY]:
                if fault.matches(method, path):
                    delay += fault.seconds
                    self._use(fault, method, path)
            answer = self._take((ERROR, RATE_LIMIT_STORM), method, path)
        if delay > 0:
            self._sleep(delay)
        if answer is None:
            return None
        if answer.kind == ERROR:
            return _respond(answer)
        doc = {"status": 429, "title": title(429), "detail": "Requests rate limit reached"}
        response = Response(json.dumps(doc), status=429, mimetype="application/json")
        if answer.rate_limit_headers:
            response.headers.update(
                {
                    "X-RateLimit-Limit": str(self._rate_limit() or 100),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(math.ceil(self._clock()) + 1),
                    "Retry-After": "1",
                }
            )
        return response

    def take_drop(self, request: Request) -> bool:
        """Whether to drop the connection of a request served with a 2xx (uses the fault)."""
        with self._lock:
            return self._take((DROP_AFTER_ACCEPT,), request.method, request.path) is not None

    def take_answer(self, request: Request) -> Response | None:
        """The answer to send instead of the real one for a request served with a 2xx (uses
        the fault), or None."""
        with self._lock:
            fault = self._take((ANSWER_AFTER_ACCEPT,), request.method, request.path)
        return _respond(fault) if fault is not None else None

    def take_hang(self, request: Request) -> float:
        """Seconds to wait before creating the import this request posts (0: none)."""
        with self._lock:
            fault = self._take((HANG_BEFORE_ACCEPT,), request.method, request.path)
            return fault.seconds if fault is not None else 0.0

    def take_import_outcome(self, coupon_set_id: str) -> ImportOutcome | None:
        """The outcome of an import being created in ``coupon_set_id`` (None: normal)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == IMPORT_OUTCOME and fault.coupon_set_id in (None, coupon_set_id):
                    self._use(fault, "POST", IMPORTS_PATH)
                    return fault.outcome
        return None


def _valid_status(status: object) -> bool:
    return isinstance(status, int) and not isinstance(status, bool) and 200 <= status <= 599


def _answer(status: int, body: object, content_type: object, headers: object) -> dict[str, Any]:
    """The checked options of an injected answer (``error``, ``answer_after_accept``)."""
    if not _valid_status(status):
        raise InvalidFault("status", "must be an HTTP status code from 200 to 599")
    if isinstance(body, dict | list):
        data = json.dumps(body).encode()
    elif isinstance(body, str):
        data = body.encode()
    elif isinstance(body, bytes):
        data = body
    else:
        raise InvalidFault("body", "must be text, bytes, a dict, a list or None")
    if not isinstance(content_type, str) or not content_type or "\n" in content_type:
        raise InvalidFault("content_type", "must be a media type such as 'text/html'")
    if headers is not None and not isinstance(headers, Mapping):
        raise InvalidFault("headers", "must map header names to one-line strings")
    extra = dict(headers or {})
    for name, value in extra.items():
        text = f"{name}{value}" if isinstance(name, str) and isinstance(value, str) else "\n"
        if not name or "\n" in text or "\r" in text:
            raise InvalidFault("headers", "must map header names to one-line strings")
    return {"status": status, "body": data, "content_type": content_type, "headers": extra}


def _respond(fault: Fault) -> Response:
    response = Response(fault.body, status=fault.status, content_type=fault.content_type)
    response.headers.update(fault.headers)
    return response
