"""The report of several stores (``[[store]]``): a section per store, then the total.

* table and Markdown: each store's own report under a heading, a store that could not be
  read as its error, then a total line;
* JSON: ``{"version", "stores": [{"store": NAME, ...one store's report... | "error"}],
  "summary"}``; CSV: a ``store`` column before one store's columns;
* HTML (and the mail, and the Slack digest): one page over :func:`combined`, every store's
  sets in one list (their names after their store's), with a line per store at the top.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from voucherbot.report.attention import attention, headline
from voucherbot.report.data import render_csv, to_json
from voucherbot.report.html import render_html
from voucherbot.report.markdown import render_markdown
from voucherbot.report.model import REPORT_VERSION, Report
from voucherbot.report.terminal import render_table
from voucherbot.text import clean, json_safe, plural, spreadsheet_cell


@dataclass(frozen=True)
class StoreSection:
    """One store's part: its report, or the error that kept it from being read."""

    store: str
    report: Report | None
    error: str | None = None


def total_line(sections: Sequence[StoreSection]) -> str:
    """One sentence over every store: sets, refills, codes, and the stores not read."""
    reports = [s.report for s in sections if s.report is not None]
    sets = sum(len(r.rows) for r in reports)
    refills = sum(len(r.refills) for r in reports)
    codes = sum(r.total_codes for r in reports)
    people = sum(len({i.row.set_id for i in attention(r) if i.needs_person}) for r in reports)
    line = (
        f"Total, {plural(len(sections), 'store')}: {refills:,} of {plural(sets, 'set')} "
        f"need codes, {plural(codes, 'code')} in all"
    )
    if people:
        line += f"; {plural(people, 'set')} need a person"
    failed = [s.store for s in sections if s.report is None]
    if failed:
        line += f"; NOT read: {', '.join(failed)}"
    return line + "."


def combined(sections: Sequence[StoreSection]) -> Report:
    """Every store's sets in one report, each set's name after its store's."""
    reports = [(s.store, s.report) for s in sections if s.report is not None]
    rows = tuple(
        replace(row, name=f"{store} · {row.name}") for store, r in reports for row in r.rows
    )
    warnings = tuple(f"store {store}: {w}" for store, r in reports for w in r.warnings)
    errors = tuple(f"store {s.store} was not read: {s.error}" for s in sections if s.report is None)
    generated = max((r.generated_at for _, r in reports), default=None)
    if generated is None:
        raise ValueError("no store's report to combine")
    return Report(generated, f"{plural(len(sections), 'store')}", rows, errors + warnings)


def render_stores(sections: Sequence[StoreSection], fmt: str, *, width: int = 100) -> str:
    """The report of every store in ``fmt`` (see the module doc)."""
    if fmt == "json":
        return _json(sections)
    if fmt == "csv":
        return _csv(sections)
    if fmt == "html":
        lines = [f"{s.store}: {headline(s.report) if s.report else 'NOT read: ' + (s.error or '')}"
                 for s in sections]  # fmt: skip
        return render_html(combined(sections), stores=(*lines, total_line(sections)))
    markdown = fmt == "markdown"
    parts: list[str] = []
    for s in sections:
        if markdown:
            body = _demoted(render_markdown(s.report)) if s.report else f"Error: {s.error}\n"
            parts.append(f"## Store {clean(s.store)}\n\n{body}")
        else:
            body = render_table(s.report, width=width) if s.report else f"Error: {s.error}\n"
            parts.append(f"== store {clean(s.store)}\n{body}")
    total = total_line(sections)
    return "\n".join(parts) + ("\n**" + total + "**\n" if markdown else "\n" + total + "\n")


def _demoted(markdown: str) -> str:
    """One level down for every heading: the store's title sits under its store's."""
    return re.sub(r"^(#{1,5}) ", r"#\1 ", markdown, flags=re.MULTILINE)


def _json(sections: Sequence[StoreSection]) -> str:
    stores = [
        {"store": s.store, **to_json(s.report)}
        if s.report
        else {"store": s.store, "error": s.error}
        for s in sections
    ]
    reports = [s.report for s in sections if s.report is not None]
    summary = {
        "stores": len(sections),
        "storesNotRead": sum(s.report is None for s in sections),
        "sets": sum(len(r.rows) for r in reports),
        "refills": sum(len(r.refills) for r in reports),
        "codes": sum(r.total_codes for r in reports),
    }
    doc = {"version": REPORT_VERSION, "stores": stores, "summary": summary}
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"


def _csv(sections: Sequence[StoreSection]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header_written = False
    for s in sections:
        if s.report is None:
            continue
        rows = list(csv.reader(io.StringIO(render_csv(s.report))))
        if not header_written:
            writer.writerow(["store", *rows[0]])
            header_written = True
        for row in rows[1:]:
            writer.writerow([spreadsheet_cell(s.store), *row])
    return out.getvalue()
