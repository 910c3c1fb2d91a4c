"""The hook where fault injection plugs in (a no-op today).

Every API request, before authentication and rate limiting, calls
``state.faults.before_request(request)``. A replacement object may sleep (latency), raise an
exception to make the server drop the connection, or return a ready
:class:`werkzeug.wrappers.Response` (a 500, a 429 storm, a malformed body) that is sent as is.
Returning ``None`` lets the request through. Assign a new object to ``state.faults`` at any time.
"""

from __future__ import annotations

from typing import Protocol

from werkzeug.wrappers import Request, Response


class FaultInjector(Protocol):
    def before_request(self, request: Request) -> Response | None: ...


class NoFaults:
    """The default: every request goes through untouched."""

    def before_request(self, request: Request) -> Response | None:
        return None
