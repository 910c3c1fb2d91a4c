"""One error hierarchy for voucherbot.

Every expected failure is a :class:`VoucherbotError` whose message says what happened *and what
to do about it*. The CLI prints ``Error: <message>`` on one line and exits with ``exit_code``:

====  ==========================================================
0     success, or nothing to do
1     a refill or import failed (and most API failures)
2     usage or configuration error
3     authentication or permission refused by the API
75    another run holds the lock
====  ==========================================================

Messages never contain a secret: the client removes the API key (and every secret given to
:func:`hide`) from each answer where it enters voucherbot, before anything reads it, and the CLI
and the log handler pass every line through :func:`redact` once more.
"""

from __future__ import annotations

import json
import threading
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_LOCKED = 75


class VoucherbotError(Exception):
    """Base class: an expected failure with a message that tells the user what to do."""

    exit_code = EXIT_FAILED


class ConfigError(VoucherbotError):
    """Bad configuration or arguments (rules.toml, environment, command-line values)."""

    exit_code = EXIT_USAGE


class LockedError(VoucherbotError):
    """Another voucherbot run holds the ledger lock."""

    exit_code = EXIT_LOCKED


class RefillError(VoucherbotError):
    """A refill could not be carried out or its import did not succeed."""


# --- talking to the API --------------------------------------------------------------------


class ApiError(VoucherbotError):
    """The Connectif API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.status = status
        self.detail = detail


class AuthError(ApiError):
    """401: the API key was rejected."""

    exit_code = EXIT_AUTH


class PermissionDeniedError(ApiError):
    """403: the key lacks a permission (scope), or the account is blocked."""

    exit_code = EXIT_AUTH


class NotFoundError(ApiError):
    """404: the resource does not exist."""


class BadRequestError(ApiError):
    """400 without a more specific meaning."""


class ImportQueueFullError(BadRequestError):
    """400 E0401: ten imports are already queued on the account."""


class PayloadTooLargeError(ApiError):
    """413: the import file is over the 50 MB limit."""


class UnsupportedMediaTypeError(ApiError):
    """415: the request was not multipart/form-data (or JSON where JSON is expected)."""


class ValidationFailedError(ApiError):
    """422: the server listed validation errors."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 422,
        detail: str | None = None,
        validation_errors: tuple[tuple[str, str], ...] = (),
    ):
        super().__init__(message, status=status, detail=detail)
        self.validation_errors = validation_errors


class RateLimitedError(ApiError):
    """429 that persisted after every allowed wait."""


class ServerError(ApiError):
    """5xx from the server (after retries, for idempotent requests)."""


class BadResponseError(ApiError):
    """The server answered, but not with what the API documents (non-JSON, missing fields)."""


class InvalidItemError(BadResponseError):
    """One item of a list (a coupon set, an import) has a field voucherbot cannot trust: a
    counter that is not a count, an id that is not an id. The item is skipped, not the list."""


class ImportUnconfirmedError(ApiError):
    """The import POST may have created an import, but its answer does not say so: a 5xx, a
    2xx without a usable import, or a connection that broke after the upload went out.
    Nothing may be sent again until GET /imports/ shows whether the import exists."""


class NetworkError(ApiError):
    """The server could not be reached, or the connection broke or timed out."""

    def __init__(self, message: str, *, sent: bool):
        super().__init__(message)
        #: False only when it is certain the request never reached the server
        #: (connection refused or DNS failure before anything was sent).
        self.sent = sent
        #: the answer did not come within the request deadline (not worth asking again)
        self.over_deadline = False


#: Secrets known to this process (the API key, webhook secrets and URLs): never shown.
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()  # several stores' threads read their keys at once


def hide(*secrets: str | None) -> None:
    """Remember secrets so that :func:`redact` removes them from every text from now on."""
    with _SECRETS_LOCK:
        for secret in secrets:
            if secret and len(secret) >= 6:
                _SECRETS.add(secret)
                _SECRETS.update(p for p in secret.split(":") if len(p) >= 6)


def _pieces(secrets: tuple[str | None, ...]) -> list[str]:
    """The remembered secrets and those given, with their parts around ``:``, longest first."""
    with _SECRETS_LOCK:
        pieces = set(_SECRETS)
    for secret in secrets:
        if secret:
            pieces.update({secret, *(p for p in secret.split(":") if len(p) >= 6)})
    return sorted(pieces, key=len, reverse=True)


def redact(text: str, *secrets: str | None) -> str:
    """Replace every occurrence of each non-empty secret given or remembered with
    :func:`hide` (and its parts around ``:``) in text."""
    for piece in _pieces(secrets):
        if piece in text:
            text = text.replace(piece, "<hidden>")
    return text


def holds_secret(text: str) -> bool:
    """Whether text contains a secret given to :func:`hide`."""
    return redact(text) != text


def redact_bytes(data: bytes, *secrets: str | None) -> bytes:
    """:func:`redact` for a body as it came off the wire, before anything parses it."""
    for piece in _pieces(secrets):
        raw = piece.encode("utf-8", "surrogatepass")
        if raw in data:
            data = data.replace(raw, b"<hidden>")
    return data


def redact_body(content: bytes, key: str) -> bytes:
    """The body with every secret taken out; in JSON with escapes (a key written with
    ``\\u002d`` for ``-`` shows itself only once decoded) the strings are cleared one by one."""
    content = redact_bytes(content, key)
    if b"\\u" not in content:
        return content
    try:
        doc = json.loads(content)
    except (ValueError, RecursionError):
        return content
    return json.dumps(_redacted_json(doc, key), ensure_ascii=False).encode()


def _redacted_json(doc: Any, key: str) -> Any:
    """``doc`` with :func:`~voucherbot.errors.redact` applied to every string in it."""
    if isinstance(doc, str):
        return redact(doc, key)
    if isinstance(doc, list):
        return [_redacted_json(item, key) for item in doc]
    if isinstance(doc, dict):
        return {redact(str(k), key): _redacted_json(v, key) for k, v in doc.items()}
    return doc
