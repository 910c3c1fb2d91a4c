"""Reading TOML tables with clear errors, and checking URLs that carry secrets.

The one table reader of rules.toml, its ``[shop]`` and ``[notify]`` included: every error reads
``<file>: <table>: <what is wrong>``, with a "did you mean" for a misspelt key.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlsplit, urlunsplit

from voucherbot.config.durations import MAX_DURATION, duration_seconds
from voucherbot.errors import ConfigError, hide

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: The largest whole number any setting takes (JSON's exact integers).
MAX_NUMBER = 2**53


class TableReader:
    """Reads one TOML table; every error reads ``<where>: <context>: <what is wrong>`` (the
    file's top level has the context "": ``<where>: <what is wrong>``).

    Each getter checks a given key and returns its ``default`` (or None) for a missing one.
    The rules parser reads with ``rules_words`` (see :func:`kind_of`), as its messages always
    have.
    """

    def __init__(
        self,
        table: Any,
        where: str,
        context: str,
        known: Sequence[str],
        *,
        rules_words: bool = False,
    ) -> None:
        self.where, self.context, self.rules_words = where, context, rules_words
        if not isinstance(table, Mapping):
            raise self.fail(f"must be a table, not {self.kind(table)}")
        self.table: Mapping[str, Any] = table
        for key in table:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.fail(f"unknown key '{key}'{hint}; known keys: {', '.join(known)}")

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def fail(self, message: str, *, context: str | None = None) -> ConfigError:
        """The error to raise, in this reader's context (or another one of the same file)."""
        context = self.context if context is None else context
        return ConfigError(
            f"{self.where}: {context}: {message}" if context else f"{self.where}: {message}"
        )

    def kind(self, value: Any) -> str:
        return kind_of(value, rules_words=self.rules_words)

    def child(self, table: Any, context: str, known: Sequence[str]) -> TableReader:
        """A reader of a table inside this one: the same file, the same words."""
        return TableReader(table, self.where, context, known, rules_words=self.rules_words)

    def table_at(self, key: str, *, example: str | None = None) -> Mapping[str, Any]:
        """The sub-table ``key`` ({} if missing), its keys not checked yet (see :meth:`sub`)."""
        value = self.table.get(key, {})
        if not isinstance(value, Mapping):
            shape = f" such as {example}" if example else f", not {self.kind(value)}"
            raise self.fail(f"'{key}' must be a table{shape}")
        return value

    def sub(self, key: str, context: str, known: Sequence[str]) -> TableReader:
        """A reader of the sub-table ``key`` (empty if missing), its keys checked."""
        return self.child(self.table_at(key), context, known)

    def string(self, key: str) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{key}' must be a non-empty string, not {self.kind(value)}")
        return value

    def strings(self, key: str) -> frozenset[str] | None:
        """A list of non-empty strings, or None if missing."""
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(f"'{key}' must be a list of strings, such as [\"active\"]")
        return frozenset(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"'{key}' must be true or false, not {self.kind(value)}")
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
        default: float | None = None,
        *,
        integer: bool = False,
        minimum: float = 0,
        above: bool = False,
        maximum: float = MAX_NUMBER,
    ) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            wanted = "a whole number" if integer else "a number"
            raise self.fail(f"'{key}' must be {wanted}, not {self.kind(value)}")
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise self.fail(
                f"'{key}' must be {'above' if above else 'at least'} {minimum:g}, not {value}"
            )
        if value > maximum:
            most = f"{int(maximum):,}" if maximum == int(maximum) else f"{maximum:g}"
            raise self.fail(f"'{key}' must be at most {most}, not {value:,}")
        return value

    @overload
    def duration(self, key: str) -> float | None: ...
    @overload
    def duration(self, key: str, default: float) -> float: ...
    def duration(self, key: str, default: float | None = None) -> float | None:
        """Seconds: a number, or a text such as "6h" or "1d12h" (see :func:`parse_duration`)."""
        if key not in self.table:
            return default
        value = self.table[key]
        seconds = duration_seconds(value)
        if seconds is None:
            raise self.fail(
                f'\'{key}\' must be seconds or a duration such as "6h" or "1d12h", not {value!r}'
            )
        if seconds > MAX_DURATION:
            raise self.fail(f"'{key}' must be at most 10 years, not {value!r}")
        return seconds

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

    def variable(self, key: str, *, example: str = "") -> str | None:
        """The name of an environment variable (``url_env``, ``secret_env``...), checked;
        ``example`` shows one in the message."""
        name = self.string(key)
        if name is not None and not _VARIABLE.fullmatch(name):
            such = f", such as {example}" if example else ""
            raise self.fail(f"'{key}' must be the name of an environment variable{such}")
        return name

    def secret_url(
        self, key: str, env_key: str, env: Mapping[str, str], *, unset: str = ""
    ) -> str | None:
        """A URL that is a secret, from ``key`` or from the variable ``env_key`` names
        (read from ``env`` now; ``unset``: what to do when it is empty), checked and hidden
        from every message from here on."""
        url = self.url(key)
        name = self.variable(env_key)
        if name is not None:
            if url is not None:
                raise self.fail(f"give either '{key}' or '{env_key}', not both")
            url = env.get(name, "").strip()
            if not url:
                raise self.fail(f"'{env_key}' names {name}, which is not set or empty{unset}")
            problem = url_problem(url)
            if problem:
                raise self.fail(f"the URL in {name} {problem}")
        if url is not None:
            hide_url(url)
        return url


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


def kind_of(value: Any, *, rules_words: bool = False) -> str:
    """How a message names a TOML value: "a whole number (3)", "a string ('x')", "a list".

    The rules parser's words (``rules_words``) call a dict "a table" and name a date or time
    bare ("datetime"); [shop] and [notify] say "a dict" and "a datetime". Both are kept, as
    every message stays what it was.
    """
    names: dict[type, str] = {bool: "a boolean", int: "a whole number", float: "a number"}
    names[str] = "a string"
    if rules_words:
        names.update({list: "a list", dict: "a table"})
        name = names.get(type(value), type(value).__name__)
    else:
        name = names.get(type(value), f"a {type(value).__name__}")
    shown = isinstance(value, int | float | str) and not isinstance(value, bool)
    return name + (f" ({value!r})" if shown else "")


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
