"""The plain-text renderers: the ``report`` table and the summary of a ``run``.

Also the text helpers every renderer shares: :func:`clean` (control characters out),
:func:`number`, :func:`stock` and friends. No line is wider than the width asked for; wide
(CJK) characters count as two columns.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from voucherbot.report.attention import attention, headline
from voucherbot.text import clean, plural, table
from voucherbot.text import fit as _fit
from voucherbot.text import width as _width

if TYPE_CHECKING:
    from voucherbot.refill.results import RefillResult, RunResult
    from voucherbot.report.model import Report, ReportRow


def number(value: int | None, missing: str = "?") -> str:
    """``1,234``; ``missing`` for None."""
    return missing if value is None else f"{value:,}"


def stock(row: ReportRow) -> str:
    """Available of quantity, e.g. "23/2,500"; "unlimited" for a single set without limits."""
    if row.available is None and row.quantity is None:
        return "unlimited" if row.type == "single" else "?"
    return f"{number(row.available)}/{number(row.quantity)}"


def burn_text(burn_per_day: float | None) -> str:
    """A burn rate without its unit: "1,234", "12.5", "0.04", "0"; "" when unknown."""
    if burn_per_day is None:
        return ""
    if burn_per_day >= 100:
        return f"{burn_per_day:,.0f}"
    if burn_per_day >= 1 or burn_per_day == 0:
        return f"{burn_per_day:.1f}".removesuffix(".0")
    return f"{burn_per_day:.2g}"


def days_text(row: ReportRow, *, compact: bool = True) -> str:
    """Days left: "4.9", "45", "1,234" ("999+" when compact), "never" (no demand),
    "?" (forecast unknown) or "-" (no forecast made)."""
    days = row.days_left
    if days is None:
        return "?" if row.has_forecast else "-"
    if math.isinf(days):
        return "never"
    if days < 10:
        return f"{days:.1f}"
    if compact and days >= 1000:
        return "999+"
    return f"{days:,.0f}"


def empty_text(row: ReportRow) -> str:
    """When the set runs out, "2026-03-05 21:07 UTC"; "" when unknown or never."""
    return row.empty_at.strftime("%Y-%m-%d %H:%M UTC") if row.empty_at else ""


def action_text(row: ReportRow) -> str:
    return f"refill {row.count:,}" if row.is_refill else "skip"


def active_ratio(row: ReportRow) -> str:
    return f"{len(row.active_workflows)}/{len(row.workflows)}"


# --- table -------------------------------------------------------------------------------------

_GAP = "  "
_INDENT = "    "


def render_table(report: Report, *, width: int = 100) -> str:
    """Plain text for a terminal: no line is wider than ``width`` cells."""
    if width < 1:
        raise ValueError(f"width must be positive, not {width}")
    lines = [f"voucherbot report · {report.generated_text} · {clean(report.source)}", ""]
    lines += _attention_lines(report, width)
    if report.rows:
        lines += _table_lines(report.rows, width)
        lines.append("")
    lines += textwrap.wrap(report.summary, width) or [report.summary]
    for warning in report.warnings:
        lines += textwrap.wrap(
            "Warning: " + clean(warning), width, subsequent_indent=_INDENT, break_on_hyphens=False
        )
    return "".join(_fit(line, width).rstrip() + "\n" for line in lines)


_MIN_NAME = 20
#: how each kind of attention item is marked (readable without colour)
_MARKS = {"stuck": "!", "failing": "!", "leak": "!", "refill": "+"}


def _attention_lines(report: Report, width: int) -> list[str]:
    """What needs a person, then the refills, before the table (see report.attention)."""
    items = attention(report)
    lines = [*textwrap.wrap(headline(report), width), ""] if items else []
    for title, wanted in (("Needs a person:", True), ("The bot will refill:", False)):
        chosen = [i for i in items if i.needs_person is wanted]
        if chosen:
            lines.append(title)
            for item in chosen:
                lines += textwrap.wrap(
                    clean(item.text),
                    width,
                    initial_indent=f"  {_MARKS[item.kind]} ",
                    subsequent_indent="    ",
                    break_on_hyphens=False,
                )
    return [*lines, ""] if lines else []


def _name_room(headers: Sequence[str], data: Sequence[Sequence[str]], width: int) -> int:
    """The room the other columns leave the first (the name) in ``width`` cells."""
    widths = [max(_width(h), *(_width(d[i]) for d in data)) for i, h in enumerate(headers)]
    return width - sum(widths[1:]) - len(_GAP) * (len(headers) - 1)


def _table_lines(rows: Sequence[ReportRow], width: int) -> list[str]:
    """A header, then per set a line of columns, a line with the id and the reason, and a
    line with the names of the active workflows (if any). The "Days left" column is there
    only when some set has a forecast or a history."""
    days = any(r.has_forecast or r.history for r in rows)
    headers: tuple[str, ...] = ("Set", "Type", "Avail/Qty", "Active WFs", "Action")
    right: tuple[bool, ...] = (False, False, True, True, False)
    data: list[tuple[str, ...]] = [
        (clean(r.name), clean(r.type), stock(r), active_ratio(r), action_text(r)) for r in rows
    ]
    if days:
        headers = (*headers[:3], "Days left", *headers[3:])
        right = (*right[:3], True, *right[3:])
        data = [(*d[:3], days_text(r), *d[3:]) for r, d in zip(rows, data, strict=True)]
    if _name_room(headers, data, width) < _MIN_NAME:  # narrow: names matter more than types
        keep = [i for i in range(len(headers)) if i != 1]
        headers = tuple(
            "WFs" if h == "Active WFs" else "Days" if h == "Days left" else h
            for i, h in enumerate(headers)
            if i in keep
        )
        right = tuple(right[i] for i in keep)
        data = [tuple(d[i] for i in keep) for d in data]
    head, rule, *body = table(headers, data, {i for i, r in enumerate(right) if r}, fit_to=width)
    out = [head, f"{_INDENT}{'ID':<24}{_GAP}Why", rule]
    for row, cells in zip(rows, body, strict=True):
        out.append(cells)
        out += _reason_lines(f"{_INDENT}{clean(row.set_id)}{_GAP}", clean(row.reason), width)
        if row.active_workflows:
            names = ", ".join(clean(name) for _, name in row.active_workflows)
            out.append(f"{_INDENT}active: {names}")
        if row.shop and (row.is_refill or row.pool_remaining is not None):
            left = "" if row.pool_remaining is None else f"; {row.pool_remaining:,} left"
            out += _reason_lines(f"{_INDENT}shop: ", clean(row.shop) + left, width)
        if row.shop_facts is not None:
            out += _reason_lines(f"{_INDENT}in the shop: ", clean(row.shop_text), width)
    return out


def _reason_lines(prefix: str, reason: str, width: int) -> list[str]:
    """The id and the reason, the reason wrapped under itself when the line would be too
    long (when there is room for at least 30 columns of it; otherwise it is cut)."""
    room = width - len(prefix)
    if _width(reason) <= room or room < 30:
        return [prefix + reason]
    wrapped = textwrap.wrap(reason, room, break_on_hyphens=False, break_long_words=True)
    return [prefix + wrapped[0], *(" " * len(prefix) + rest for rest in wrapped[1:])]


def render_run(result: RunResult, *, width: int = 100) -> str:
    """What a run did: a table with one row per refill (batches an earlier run left open
    first), problems wrapped under their row, then a total."""
    rows = result.all
    if not rows:
        return result.summary() + "\n"
    lines = [*_run_table(rows, width), "", *_run_totals(result, width)]
    return "".join(text.rstrip() + "\n" for text in lines)


_RUN_HEADERS = ("Set", "Codes", "Import", "Status", "Imported", "Failed")
_RUN_RIGHT = frozenset({1, 4, 5})  #: the columns of numbers


def _run_table(rows: Sequence[RefillResult], width: int) -> list[str]:
    """The header, then per refill its line of columns and the lines under it."""
    data = [_run_cells(r) for r in rows]
    head, rule, *body = table(_RUN_HEADERS, data, _RUN_RIGHT, fit_to=width)
    lines = [head, rule]
    for r, cells in zip(rows, body, strict=True):
        lines.append(cells)
        lines += _run_row_notes(r, width)
    return lines


def _run_cells(r: RefillResult) -> tuple[str, ...]:
    imp = r.final
    return tuple(
        clean(cell)
        for cell in (
            r.coupon_set.name,
            f"{r.requested:,}",
            imp.id if imp else "-",
            _run_status(r),
            number(imp.success if imp else None, "-"),
            number(imp.errors if imp else None, "-"),
        )
    )


def _run_status(r: RefillResult) -> str:
    imp = r.final
    if r.abandoned:
        return "abandoned"
    if r.unresolved:
        return "UNRESOLVED"
    if r.error and (imp is None or not imp.is_terminal):
        return "FAILED"
    return imp.status if imp else "-"


def _run_row_notes(r: RefillResult, width: int) -> list[str]:
    """Under a refill's row: the set's id (and its batch, when an earlier run left it open),
    its note, and its error or else where the import's error report is."""
    earlier = f" (batch {r.batch_id}, left open by an earlier run)" if r.resumed else ""
    lines = [f"{_INDENT}{clean(r.coupon_set.id)}{earlier}"]
    if r.note:
        lines += _wrapped(r.note, width)
    if r.error:
        lines += _wrapped(r.error, width)
    elif r.final is not None and r.final.errors and r.final.error_report_file_url:
        lines += _wrapped(f"error report: {r.final.error_report_file_url}", width)
    return lines


def _run_totals(result: RunResult, width: int) -> list[str]:
    """How many refills succeeded and codes were imported, what is left in the pools, and
    what a person should know: codes no shop knows about, batches of earlier runs that failed."""
    lines = [result.summary(failures=False)]  # the table above names the failures
    for set_id, left in sorted(result.pool_remaining.items()):
        lines.append(f"Pool of {set_id}: {left:,} unused codes left.")
    unregistered = [d for d in result.plan.refills if not d.settings.shop.registers_codes]
    if unregistered:
        lines += _wrapped(
            f"Note: the codes of {plural(len(unregistered), 'set')} were NOT registered with "
            "the shop (no [shop] sink): make sure its checkout accepts them.",
            width,
        )
    failed_earlier = [r for r in result.settled if not r.ok]
    if failed_earlier:
        n = len(failed_earlier)
        lines.append(f"{n} {'batch' if n == 1 else 'batches'} of earlier runs failed.")
    return lines


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` cleaned and wrapped under a row, indented, long words (URLs) kept whole."""
    return textwrap.wrap(
        clean(text),
        width,
        initial_indent=_INDENT,
        subsequent_indent=_INDENT,
        break_long_words=False,
        break_on_hyphens=False,
    )
