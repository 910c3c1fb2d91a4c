"""Building the sandbox's HTTP answers: JSON bodies and Connectif-style errors."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Response


class Problem(Exception):
    """An HTTP error answered as an HttpError JSON body ``{"status", "title", "detail"}``."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra

    def response(self) -> Response:
        doc = {"status": self.status, "title": title(self.status), "detail": self.detail}
        return json_response({**doc, **self.extra}, self.status)


def title(status: int) -> str:
    """The reason phrase of a status code ("Error" for codes Python does not know)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(json.dumps(doc), status=status, mimetype="application/json")


def unprocessable(errors: list[tuple[str, str]]) -> Problem:
    """A 422 listing every ``(path, reason)`` problem, like Connectif's validation errors."""
    detail = "Validation failed: " + "; ".join(f"{path}: {reason}" for path, reason in errors)
    return Problem(422, detail, validationErrors=[{"path": p, "reason": r} for p, r in errors])


def shown(value: str) -> str:
    """A client-supplied value, shortened for an error message."""
    return repr(value if len(value) <= 40 else value[:40] + "…")
