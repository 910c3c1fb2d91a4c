"""A hostile Connectif for the bad-input tests: a small, correct fake of the API on
pytest-httpserver whose every answer a test can replace with a bad one.

By default it holds one ``multiple`` coupon set that is low on codes and used by one active
workflow, lists imports, and creates and finishes an import for each ``POST /imports/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

SET_ID = "5f00000000000000000000a1"
WORKFLOW_ID = "6a00000000000000000000b1"
RULES = """\
[connectif]
retry_backoff = 0.01
counter_lag = 0
lookup_delay = 0.1

[polling]
interval = 0.05
max_interval = 0.2
timeout = 2

[defaults]
min_available = 100
refill_to = 200
"""
Handler = Callable[[Request], Response]


def coupon_set(**fields: Any) -> dict[str, Any]:
    return {
        "id": SET_ID,
        "name": "Welcome 10%",
        "type": "multiple",
        "quantity": 1000,
        "available": 10,
        "assigned": 990,
        "usedInWorkflows": [{"workflowId": WORKFLOW_ID}],
        **fields,
    }


def page(results: list[Any], next_url: str | None = None) -> dict[str, Any]:
    return {"results": results, "links": {"next": next_url}}


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc), status=status, content_type="application/json")


@dataclass
class Fake:
    """The fake account. ``answers`` maps ``"METHOD /path"`` to a handler that replaces the
    normal answer (``/path`` without its query string)."""

    server: HTTPServer
    sets: list[dict[str, Any]] = field(default_factory=lambda: [coupon_set()])
    workflows: list[dict[str, Any]] = field(
        default_factory=lambda: [{"id": WORKFLOW_ID, "name": "Welcome", "status": "active"}]
    )
    imports: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, Handler] = field(default_factory=dict)
    #: how the import of each POST ends: a function of (import, rows) that edits it
    finish: Callable[[dict[str, Any], int], None] | None = None
    #: the id the next POST's import gets (None: a fresh one)
    next_id: Callable[[int], str] = lambda n: f"7c{n:022d}"
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    #: the bodies of requests outside the API (notifications)
    bodies: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    @property
    def posts(self) -> int:
        return sum(
            1 for method, path, _ in self.requests if (method, path) == ("POST", "/imports/")
        )

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if request.path.startswith("/services/"):
            self.bodies.append(request.get_data(as_text=True))
        special = self.answers.get(f"{request.method} {request.path}")
        if special is not None:
            return special(request)
        if request.headers.get("Authorization", "").split(" ")[-1] == "":
            return json_response({"detail": "no key"}, 401)
        path = request.path
        if request.method == "GET" and path == "/coupon-sets/":
            return json_response(page(self.sets))
        if request.method == "GET" and path.startswith("/coupon-sets/"):
            found = [s for s in self.sets if s.get("id") == path.split("/")[2]]
            return json_response(found[0]) if found else json_response({"detail": "no"}, 404)
        if request.method == "GET" and path == "/workflows/":
            return json_response(page(self.workflows))
        if request.method == "GET" and path == "/imports/":
            return json_response(page(list(reversed(self.imports))))
        if request.method == "GET" and path.startswith("/imports/"):
            found = [i for i in self.imports if i["id"] == path.split("/")[2]]
            return json_response(found[0]) if found else json_response({"detail": "no"}, 404)
        if request.method == "POST" and path == "/imports/":
            return json_response(self.create(request), 201)
        return json_response({"detail": f"no {path}"}, 404)

    def create(self, request: Request) -> dict[str, Any]:
        rows = request.files["file"].read().decode().strip().split("\n")[1:]
        now = datetime.now(UTC).isoformat()
        imp: dict[str, Any] = {
            "id": self.next_id(len(self.imports) + 1),
            "type": "coupons",
            "origin": "api",
            "status": "finished",
            "total": len(rows),
            "success": len(rows),
            "errors": 0,
            "createdAt": now,  # by the clock the server's Date header follows
            "finishedAt": now,
            "options": {"couponSetId": request.form["couponSetId"]},
        }
        if self.finish is not None:
            self.finish(imp, len(rows))
        self.imports.append(imp)
        return {**imp, "status": "queued", "success": 0}
