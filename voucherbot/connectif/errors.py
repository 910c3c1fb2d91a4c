"""Turning failed requests into voucherbot errors whose messages say what to do.

:func:`api_error` reads an error answer (status, ``detail``, ``validationErrors``, the
``E0401`` code) and :func:`network_error` a failure with no answer, noting whether the request
can have reached the server (the import POST is only re-sent when it cannot). Messages never
hold the API key: they are made of statuses, paths and the server's own words.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from voucherbot.config.tables import origin
from voucherbot.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    ImportQueueFullError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)

# Connectif does not publish its scope labels for coupon sets and workflows; these are the
# names its UI uses for other resources ("Read Contacts", Imports: Read/Write/Delete).
PERMISSIONS = {
    "coupon-sets": "Coupons: Read",
    "workflows": "Workflows: Read",
    "imports": "Imports: Read",
    "imports:post": "Imports: Write",
}


def kind_of(url: str, method: str) -> str:
    """Which permission a request needs, as a key of PERMISSIONS."""
    path = urlsplit(url).path or "/"
    for resource in ("coupon-sets", "workflows", "imports"):
        if path.startswith(f"/{resource}"):
            return "imports:post" if resource == "imports" and method == "POST" else resource
    return ""


def network_error(
    exc: requests.RequestException,
    what: str,
    timeout: float | tuple[float, float],
    url: str = "",
    source: str = "CONNECTIF_BASE_URL",
) -> NetworkError:
    """Translate a requests failure, noting whether the request can have reached the server."""
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            f"{what}: the TLS handshake with {origin(url)} failed; the server may not speak "
            "https on that port (plain http?), or its certificate is not trusted: check "
            f"{source}",
            sent=False,
        )
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.InvalidSchema
        | requests.exceptions.MissingSchema,
    ):
        return NetworkError(f"{what}: {url!r} is not a valid URL; check {source}", sent=False)
    if isinstance(exc, requests.ConnectTimeout):
        return NetworkError(
            f"{what}: could not connect to the server in time; check the network and {source}",
            sent=False,
        )
    if isinstance(exc, requests.Timeout):
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        return NetworkError(f"{what}: the server did not answer within {read:g} s", sent=True)
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc.args[0]) if exc.args else ""
        refused = any(
            s in text
            for s in (
                "NewConnectionError",
                "NameResolutionError",
                "Connection refused",
                "Failed to resolve",
            )
        )
        if refused:
            return NetworkError(
                f"{what}: cannot connect to the server (connection refused or "
                f"unknown host); check {source} and the network",
                sent=False,
            )
        return NetworkError(f"{what}: the connection broke before the server answered", sent=True)
    return NetworkError(f"{what}: request failed ({type(exc).__name__})", sent=True)


def error_body(response: requests.Response) -> dict[str, Any]:
    if "json" not in response.headers.get("Content-Type", ""):
        return {}
    try:
        doc = response.json()
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


# Longer than a screen on purpose: one flat table of statuses, read top to bottom.
def api_error(
    response: requests.Response, what: str, kind: str, key_source: str = "CONNECTIF_API_KEY"
) -> ApiError:
    """Turn an error answer into the matching ApiError, with a message that says what to do
    (``key_source``: where the key came from, for a 401)."""
    status = response.status_code
    body = error_body(response)
    detail = body.get("detail") if isinstance(body.get("detail"), str) else None
    said = f": {detail}" if detail else ""
    if status == 401:
        return AuthError(
            f"Connectif rejected the API key (401 Unauthorized) on {what}; check {key_source} "
            "(it is 'keyId:keySecret', as copied from Connectif's API Keys page)",
            status=status,
            detail=detail,
        )
    if status == 403:
        permission = PERMISSIONS.get(kind, "the needed")
        return PermissionDeniedError(
            f"Connectif refused {what} (403 Forbidden){said}. Enable the '{permission}' "
            "permission on the API key (Store settings > API and IP access > API Keys), "
            "or check that the account is not blocked",
            status=status,
            detail=detail,
        )
    if status == 404:
        return NotFoundError(f"{what}: not found (404){said}", status=status, detail=detail)
    if status == 413:
        return PayloadTooLargeError(
            f"{what}: the file is over Connectif's 50 MB import limit (413); "
            "split the refill into smaller imports",
            status=status,
            detail=detail,
        )
    if status == 415:
        return UnsupportedMediaTypeError(
            f"{what}: Connectif did not accept the request's content type (415){said}",
            status=status,
            detail=detail,
        )
    if status == 422:
        problems = tuple(
            (str(item.get("path", "?")), str(item.get("reason", "invalid")))
            for item in body.get("validationErrors") or []
            if isinstance(item, dict)
        )
        listed = "; ".join(f"{path}: {reason}" for path, reason in problems)
        return ValidationFailedError(
            f"{what}: Connectif rejected the request (422){said}"
            + (f" [{listed}]" if listed else ""),
            detail=detail,
            validation_errors=problems,
        )
    if status == 400 and body.get("code") == "E0401":
        return ImportQueueFullError(
            f"{what}: Connectif already has 10 imports queued for this account (E0401); "
            "wait until one has finished, then run again",
            status=status,
            detail=detail,
        )
    if status == 400:
        return BadRequestError(
            f"{what}: Connectif rejected the request (400){said}", status=status, detail=detail
        )
    if status == 429:
        return RateLimitedError(
            f"{what}: still rate limited (429) after waiting; the account's request budget is "
            "being used up elsewhere too, lower requests_per_minute or run later",
            status=status,
            detail=detail,
        )
    if status >= 500:
        return ServerError(
            f"{what}: Connectif had a server error ({status}){said}; try again later",
            status=status,
            detail=detail,
        )
    return ApiError(f"{what}: unexpected answer {status}{said}", status=status, detail=detail)
