"""Generating codes (the package docstring, :mod:`voucherbot.codes`, says how); checking the
codes people type is in :mod:`voucherbot.codes.reading` (its names are re-exported here).

Pure: no I/O besides :func:`os.urandom`, no clock."""

from __future__ import annotations

import math
import os
from collections.abc import Container, Sized
from dataclasses import dataclass, field
from functools import cache, lru_cache

from voucherbot.codes.blocklist import CANON_BYTES
from voucherbot.codes.capacity import (
    CapacityError,
    check_capacity,
    room_hint,
)
from voucherbot.codes.spec import (
    CodeSpec,
    Layout,
    compile_spec,
)
from voucherbot.errors import ConfigError

__all__ = ["MAX_FILL", "MAX_ROUNDS", "Batch", "blocked_word", "generate", "generate_batch"]

MAX_ROUNDS = 40  #: redraw rounds before generation gives up
#: at most this share of a shape's space is ever issued, so that codes stay hard to guess
MAX_FILL = 0.5


@dataclass(frozen=True)
class Batch:
    """Codes from :func:`generate_batch` and what it took to find them."""

    codes: list[str] = field(repr=False)
    drawn: int = 0  #: candidates drawn
    blocked: int = 0  #: candidates redrawn because they contained a blocked word
    duplicates: int = 0  #: candidates that repeated an earlier candidate
    already_issued: int = 0  #: candidates found in ``issued``
    rounds: int = 0  #: draw rounds used


# --- generation -----------------------------------------------------------------------------


def generate(
    spec: CodeSpec,
    count: int,
    *,
    issued: Container[str] = frozenset(),
    issued_count: int | None = None,
    max_fill: float = MAX_FILL,
) -> list[str]:
    """``count`` new unique codes of shape ``spec``, none in ``issued``, none blocked.

    ``issued`` may be any container; it is asked once per distinct candidate.
    ``issued_count`` (default: ``len(issued)`` when it has one, else 0) is how many codes of
    this shape exist already; if they plus ``count`` would exceed ``max_fill`` of the space,
    CapacityError is raised before anything is drawn.
    """
    return generate_batch(
        spec, count, issued=issued, issued_count=issued_count, max_fill=max_fill
    ).codes


def generate_batch(
    spec: CodeSpec,
    count: int,
    *,
    issued: Container[str] = frozenset(),
    issued_count: int | None = None,
    max_fill: float = MAX_FILL,
) -> Batch:
    """Like :func:`generate`, but also report what was drawn, blocked and redrawn."""
    return _generate(spec, count, issued, issued_count, max_fill, vectorised=True)


@dataclass
class _Tally:
    """What the rounds of one :func:`_generate` drew, and why candidates were redrawn."""

    drawn: int = 0
    blocked: int = 0
    duplicates: int = 0
    already_issued: int = 0
    rounds: int = 0


def _generate(
    spec: CodeSpec,
    count: int,
    issued: Container[str],
    issued_count: int | None,
    max_fill: float,
    *,
    vectorised: bool,
) -> Batch:
    """Draw rounds of candidates until ``count`` codes are new, unique and not blocked."""
    issued_count = _check_request(spec, count, issued, issued_count, max_fill)
    layout = compile_spec(spec)
    ask_issued = not (isinstance(issued, Sized) and len(issued) == 0)
    codes: list[str] = []
    seen: set[str] = set()
    tally = _Tally()
    draw = count
    while len(codes) < count:
        if tally.rounds == MAX_ROUNDS:
            raise _gave_up(spec, tally, len(codes), count, issued_count + count, max_fill)
        tally.rounds += 1
        rows, hits = _draw(layout, draw, vectorised=vectorised)
        tally.drawn += draw
        tally.blocked += len(hits)
        candidates = _without(rows, hits)
        del rows
        unique, seen = _unseen(candidates, seen)
        tally.duplicates += len(candidates) - len(unique)
        del candidates
        fresh = [c for c in unique if c not in issued] if ask_issued else unique
        tally.already_issued += len(unique) - len(fresh)
        codes.extend(fresh[: count - len(codes)])
        draw = _next_draw(count, count - len(codes), draw, len(fresh))
    t = tally
    return Batch(codes, t.drawn, t.blocked, t.duplicates, t.already_issued, t.rounds)


def _check_request(
    spec: CodeSpec, count: int, issued: Container[str], issued_count: int | None, max_fill: float
) -> int:
    """Refuse a bad request, or one the shape has no room for; return ``issued_count``."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ConfigError(f"the number of codes must be a whole number, 0 or more: {count!r}")
    if not 0 < max_fill <= 1:
        raise ConfigError(f"max_fill must be above 0 and at most 1, got {max_fill!r}")
    if issued_count is None:
        issued_count = len(issued) if isinstance(issued, Sized) else 0
    if not isinstance(issued_count, int) or issued_count < 0:
        raise ConfigError(f"issued_count must be a whole number, 0 or more: {issued_count!r}")
    if count:
        check_capacity(spec, count, issued_count, max_fill)
    return issued_count


def _unseen(candidates: list[str], seen: set[str]) -> tuple[list[str], set[str]]:
    """The candidates not seen before (each once), and ``seen`` with them added."""
    if not seen and len(set_ := set(candidates)) == len(candidates):
        return candidates, set_  # the common case: nothing repeated
    unique = [c for c in dict.fromkeys(candidates) if c not in seen]
    seen.update(unique)
    return unique, seen


def _next_draw(count: int, missing: int, draw: int, found: int) -> int:
    """How many to draw next: enough for what is ``missing`` at this round's success rate,
    with room to spare; four times as many after a round that found nothing; never without
    bound."""
    return min(
        math.ceil(missing * draw / found * 1.5) + 16 if found else draw * 4,
        16 * count + 4096,
    )


def _gave_up(
    spec: CodeSpec, tally: _Tally, found: int, count: int, wanted: int, max_fill: float
) -> CapacityError:
    """Why :data:`MAX_ROUNDS` rounds found only ``found`` of ``count`` codes, and what helps."""
    t = tally
    if t.blocked > t.duplicates + t.already_issued:  # longer codes hold the words more often
        advice = (
            "most codes contain a blocked word, and longer codes would contain "
            "one even more often: remove short words from the blocklist, or use "
            "an alphabet without their letters"
        )
    else:
        advice = f"this shape is too crowded: {room_hint(spec, wanted, max_fill / 4)}"
    return CapacityError(
        f"gave up after {t.rounds} rounds with {found:,} of {count:,} codes: of "
        f"{t.drawn:,} drawn, {t.blocked:,} contained a blocked word, {t.duplicates:,} were "
        f"duplicates and {t.already_issued:,} were already issued; {advice}"
    )


def _without(rows: list[str], hits: set[int]) -> list[str]:
    """``rows`` without the indexes in ``hits``, copying the runs between them."""
    if not hits:
        return rows
    kept: list[str] = []
    start = 0
    for i in sorted(hits):
        kept.extend(rows[start:i])
        start = i + 1
    kept.extend(rows[start:])
    return kept


@cache
def _sampling_tables(symbols: str) -> tuple[bytes, bytes, int]:
    n = len(symbols)
    limit = 256 - 256 % n
    raw = symbols.encode("ascii")
    table = bytes(raw[b % n] if b < limit else 0 for b in range(256))
    return table, bytes(range(limit, 256)), limit


def _random_symbols(symbols: str, count: int) -> bytes:
    """``count`` independent uniform symbols (as ASCII bytes), by rejection sampling."""
    table, reject, limit = _sampling_tables(symbols)
    out = b""
    while len(out) < count:
        short = count - len(out)
        # enough bytes that one pass almost always suffices (4 standard deviations spare)
        want = short * 256 // limit + 4 * math.isqrt(short) + 64
        out += os.urandom(want).translate(table, reject)
    return out[:count]


@lru_cache(maxsize=128)
def _weighted_tables(layout: Layout) -> tuple[tuple[bytes, ...], bytes, bytes]:
    """Per-position ``symbol -> w·value mod n`` tables, ``mod n``, and ``sum -> check symbol``."""
    assert layout.system is not None
    weights = layout.system.weights(layout.k)
    assert weights is not None
    w, f = weights
    n, raw = len(layout.symbols), layout.symbols.encode("ascii")
    per_position = tuple(
        bytes((wi * layout.value[chr(b)]) % n if chr(b) in layout.value else 0 for b in range(256))
        for wi in w
    )
    mod_n = bytes(b % n for b in range(256))
    final = bytes(raw[(f * b) % n] for b in range(256))
    return per_position, mod_n, final


def _check_column_weighted(layout: Layout, columns: list[bytes], m: int) -> bytes:
    """Check symbols of ``m`` codes at once: byte-lane sums of ``wᵢ·xᵢ mod n`` (cyclic only)."""
    per_position, mod_n, final = _weighted_tables(layout)
    top = len(layout.symbols) - 1
    total, bound = 0, 0
    for column, table in zip(columns, per_position, strict=True):
        if bound + top > 255:  # the next add could carry into the neighbouring lane: reduce
            total = int.from_bytes(total.to_bytes(m, "little").translate(mod_n), "little")
            bound = top
        total += int.from_bytes(column.translate(table), "little")
        bound += top
    return total.to_bytes(m, "little").translate(final)


def _check_column_generic(layout: Layout, columns: list[bytes], m: int) -> bytes:
    """Check symbols of ``m`` codes, row by row through the group tables (any family)."""
    assert layout.system is not None
    steps, final = layout.system.step_tables(layout.k)
    raw = layout.symbols.encode("ascii")
    state = [0] * m
    for column, table in zip(columns, steps, strict=True):
        values = column.translate(layout.value_table)
        state = [table[p + x] for p, x in zip(state, values, strict=True)]
    return bytes([raw[final[p]] for p in state])


def _draw(layout: Layout, m: int, *, vectorised: bool) -> tuple[list[str], set[int]]:
    """``m`` candidate codes and the indexes of those containing a blocked word."""
    out, hits = _build(layout, m, vectorised=vectorised)
    rows = out.decode("ascii").split("\n")
    del out
    rows.pop()
    if layout.match_cells is None:  # symbols that are not letters or digits: code by code
        hits = {i for i, row in enumerate(rows) if layout.blocklist.find(row)}
    return rows, hits


def _build(layout: Layout, m: int, *, vectorised: bool) -> tuple[bytearray, set[int]]:
    """``m`` codes as ``\n``-terminated rows of one buffer, and the rows that are blocked."""
    k, cells = layout.k, layout.cells
    symbols = _random_symbols(layout.symbols, m * k)
    columns = [symbols[i::k] for i in range(k)]
    del symbols
    check = b""
    if layout.system is not None:
        if vectorised and layout.system.family == "cyclic":
            check = _check_column_weighted(layout, columns, m)
        else:
            check = _check_column_generic(layout, columns, m)

    def column(cell: int | str) -> bytes:
        if isinstance(cell, str):
            return cell.encode("ascii") * m
        return check if cell < 0 else columns[cell]

    def interleave(indexes: range | tuple[int, ...]) -> bytearray:
        width = len(indexes) + 1
        buffer = bytearray(m * width)
        for j, index in enumerate(indexes):
            buffer[j::width] = column(cells[index])
        buffer[width - 1 :: width] = b"\n" * m
        return buffer

    out = interleave(range(len(cells)))
    hits: set[int] = set()
    if layout.match_cells is not None:
        same = len(layout.match_cells) == len(cells)
        match = (out if same else interleave(layout.match_cells)).translate(CANON_BYTES)
        hits = layout.blocklist.scan(match, len(layout.match_cells) + 1, layout.char_weight)
    return out, hits


def blocked_word(spec: CodeSpec, code: str) -> str | None:
    """The (look-alike folded) blocked word that ``code`` contains, or None."""
    return compile_spec(spec).blocklist.find(code)
