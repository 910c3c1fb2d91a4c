"""Reading small TOML tables with clear errors, and checking URLs that carry secrets.

Shared by the ``[shop]`` and ``[notify]`` settings: every error reads
``<file>: <table>: <what is wrong>``, with a "did you mean" for a misspelt key.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from voucherbot.errors import ConfigError, hide

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class TableReader:
    """Reads one TOML table; every error reads ``<where>: <context>: <what is wrong>``."""

    def __init__(self, table: Any, where: str, context: str, known: Sequence[str]) -> None:
        self.where, self.context = where, context
        if not isinstance(table, Mapping):
            raise self.fail(f"must be a table, not {kind_of(table)}")
        self.table: Mapping[str, Any] = table
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(f"unknown key '{key}'{hint}; known keys: {', '.join(known)}")

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {self.context}: {message}")

    def string(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{key}' must be a non-empty string, not {kind_of(value)}")
        return value

    def choice(self, key: str, choices: Sequence[str], default: str) -> str:
        value = self.string(key) or default
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise self.fail(f"'{key}' must be one of {', '.join(choices)}, not {value!r}{hint}")
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        integer: bool = False,
        minimum: float = 0,
        above: bool = False,
        maximum: float = 2**53,
    ) -> Any:
        value = self.table.get(key, default)
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            wanted = "a whole number" if integer else "a number"
            raise self.fail(f"'{key}' must be {wanted}, not {kind_of(value)}")
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise self.fail(
                f"'{key}' must be {'above' if above else 'at least'} {minimum:g}, not {value}"
            )
        if value > maximum:
            most = f"{int(maximum):,}" if maximum == int(maximum) else f"{maximum:g}"
            raise self.fail(f"'{key}' must be at most {most}, not {value:,}")
        return value

    def path(self, key: str, base_dir: Path | None) -> Path | None:
        text = self.string(key)
        if text is None:
            return None
        path = Path(text).expanduser()
        return path if path.is_absolute() or base_dir is None else base_dir / path

    def url(self, key: str) -> str | None:
        value = self.string(key)
        problem = url_problem(value) if value is not None else None
        if problem:
            raise self.fail(f"'{key}' {problem}")
        return value


def url_problem(url: str) -> str | None:
    """Why ``url`` may not carry codes or secrets (https only; http just for loopback), or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    return (
        "must be an https:// URL (plain http:// is allowed only for 127.0.0.1, localhost "
        "and ::1, for testing)"
    )


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the Connectif API's base URL (it carries the API key), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"is not a valid URL: {url!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an https:// URL such as https://api.connectif.cloud, not {url!r}"
    if not re.fullmatch(r"[A-Za-z0-9.-]+|[0-9A-Fa-f:.]+", parts.hostname):
        return f"has a host name that is not one ({parts.hostname!r}): {url!r}"
    if parts.port == 0:
        return f"has port 0, which no server listens on: {url!r}"
    if parts.query or parts.fragment or parts.username or parts.password:
        return f"must not have a query, a fragment or credentials: {origin(url)}"
    problem = url_problem(url)
    if problem:
        return f"{problem}, so that the API key never travels in clear text, not {url!r}"
    return None


def same_origin_key(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in: ``https://h`` and
    ``https://H:443/`` are the same server, ``http://h`` is not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", url, None)
    scheme = parts.scheme.lower()
    default = {"https": 443, "http": 80}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port if port is not None else default)


def hide_url(url: str) -> None:
    """Keep a secret-bearing URL's path, query and password out of every message and log
    line (urllib3 logs request paths at -vv); its origin stays readable."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        hide(url)
        return
    hide(parts.path + (f"?{parts.query}" if parts.query else ""), password)
    hide(parts.query)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL: no credentials, path or query (they may be secret)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"


def kind_of(value: Any) -> str:
    names = {bool: "a boolean", int: "a whole number", float: "a number", str: "a string"}
    shown = isinstance(value, int | float | str) and not isinstance(value, bool)
    return names.get(type(value), f"a {type(value).__name__}") + (f" ({value!r})" if shown else "")


def public_url(url: str) -> str:
    """``url`` as it may be shown or sent on: without credentials, query or fragment (where
    tokens live); text that is not a URL loses the same parts."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return "<invalid URL>"
    if not parts.scheme or not parts.netloc:
        return url.rpartition("@")[2].split("?")[0].split("#")[0]
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
