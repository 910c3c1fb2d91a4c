"""Text that reaches a terminal or a spreadsheet: the one cleaning function for every string
from outside (set names and ids, import ids and statuses, server messages), the one
plain-text table every command prints, and the one way to say numbers and spans to people
(:func:`plural`, :func:`format_duration` in words, :func:`format_span` for table cells).

Pure: no I/O. Wide (CJK) characters count as two terminal columns.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections.abc import Collection, Sequence

MAX_ID_LENGTH = 128

_SURROGATES = re.compile(r"[\ud800-\udfff]")
#: Bidirectional overrides and isolates could reorder the rest of a line in a terminal.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BREAKS = "\t\n\r\v\f\x85\u2028\u2029"


def encodable(text: str) -> str:
    """Text that can be encoded: lone surrogates (possible in JSON input) become U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def clean(text: str) -> str:
    """Text safe to show on one line: line breaks and tabs become spaces, other control
    characters (terminal escapes, NUL, bidirectional overrides) become U+FFFD."""
    out = []
    for ch in text:
        if ch in _BREAKS:
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def clean_lines(text: str) -> str:
    """:func:`clean` for each line of a block, keeping its line breaks."""
    return "\n".join(clean(line) for line in text.split("\n"))


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def cells(ch: str) -> int:
    """Terminal cells of one character: 2 for wide (CJK, most emoji), else 1."""
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text: str) -> int:
    return sum(cells(ch) for ch in text)


def fit(text: str, room: int) -> str:
    """``text`` cut with "…" to at most ``room`` cells (and characters)."""
    if width(text) <= room:
        return text
    if room <= 0:
        return ""
    out, used = [], 0
    for ch in text:
        if used + cells(ch) > room - 1:
            break
        out.append(ch)
        used += cells(ch)
    return "".join(out).rstrip() + "…"


def pad(text: str, room: int, *, right: bool = False) -> str:
    text = fit(text, room)
    fill = " " * (room - width(text))
    return fill + text if right else text + fill


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Collection[int] = (),
    *,
    fit_to: int | None = None,
) -> list[str]:
    """The one text table: a header, a rule and one line per row. Every cell is cleaned,
    columns are as wide as their widest cell, those in ``right`` aligned right; with
    ``fit_to`` the first column (the name) is cut with "…" so that lines fit that many
    cells, as far as the other columns leave room."""
    data = [[clean(c) for c in row] for row in rows]
    widths = [max(width(h), *(width(r[i]) for r in data)) for i, h in enumerate(headers)]
    if fit_to is not None:
        room = fit_to - sum(widths[1:]) - 2 * (len(headers) - 1)
        widths[0] = min(widths[0], max(width(headers[0]), room))

    def line(row: Sequence[str]) -> str:
        return "  ".join(pad(c, widths[i], right=i in right) for i, c in enumerate(row)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in data)]


_FORMULA_START = ("=", "+", "-", "@")


def spreadsheet_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula and a terminal will not obey: control
    characters but line breaks and tabs become U+FFFD, and a cell that starts with a formula
    character, after any spaces, is prefixed with ``'``. (Write it with
    ``lineterminator="\\r\\n"``, so that a carriage return inside is quoted, not a new row.)"""
    value = "".join(ch if ch in "\r\n\t" else clean(ch) for ch in value)
    first = next((ch for ch in value if ch.isprintable() and not ch.isspace()), "")
    return "'" + value if first in _FORMULA_START else value


_RAW_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_safe(text: str) -> str:
    """JSON text with the control characters json.dumps leaves raw (C1 controls, line and
    bidirectional marks) written as ``\\uXXXX``: the same data, nothing a terminal obeys."""
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def valid_id(value: str) -> bool:
    """An opaque id that is safe as one URL path segment and in the ledger."""
    return (
        0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and value.isascii()
        and not any(c in value for c in "/?#%\\ ")
        and value not in (".", "..")
    )


# -- numbers and spans for people ------------------------------------------------------------

YEAR = 365.25 * 24 * 3600
_UNITS = (("second", 1.0), ("minute", 60.0), ("hour", 3600.0), ("day", 86400.0), ("year", YEAR))
_BIG = ((1e12, "trillion"), (1e9, "billion"), (1e6, "million"))


def _amount(value: float, unit: str) -> str:
    text = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{round(value):,}"
    return f"{text} {unit}" + ("" if text == "1" else "s")


def format_duration(seconds: float) -> str:
    """A duration in words, for messages: "less than a second", "3.5 hours", "2.1 million years"."""
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {seconds!r}")
    if math.isinf(seconds):
        return "forever"
    if seconds < 1:
        return "less than a second"
    for (unit, size), (_, next_size) in itertools.pairwise(_UNITS):
        if seconds < next_size:
            return _amount(seconds / size, unit)
    years = seconds / YEAR
    if years >= 1e15:
        return f"{years:.1e} years"
    for size, word in _BIG:
        if years >= size:
            return f"{_amount(years / size, word).removesuffix('s')} years"
    return _amount(years, "year")


def _short(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def format_span(seconds: float) -> str:
    """A span for a table cell: "3 h", "23.5 h", "14 days", "2.5 days"."""
    hours = seconds / 3600
    if hours < 48:
        return f"{_short(hours)} h"
    days = seconds / 86400
    return f"{_short(days)} days"


def format_rate(burn_per_day: float) -> str:
    """A burn rate for people: "410/day", "2.5/day", "0.04/day"."""
    if burn_per_day >= 100:
        return f"{burn_per_day:,.0f}/day"
    if burn_per_day >= 1 or burn_per_day == 0:
        return f"{_short(burn_per_day)}/day"
    return f"{burn_per_day:.2g}/day"


def format_days(days: float) -> str:
    """Days left for people: "0.4 days", "1 day", "2.3 days", "45 days", "never"."""
    if math.isinf(days):
        return "never"
    text = f"{days:,.0f}" if days >= 100 else _short(days)
    return f"{text} day" + ("" if text == "1" else "s")


def format_ago(seconds: float) -> str:
    """How long ago, or how long a wait: "40 s", "12 min", "3.5 h", "2.0 days"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
