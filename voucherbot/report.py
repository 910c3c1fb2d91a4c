"""``voucherbot report``: every coupon set and what the bot would do, for people and scripts.

:func:`build_report` turns a :class:`~voucherbot.planner.Plan` (plus the workflows, for their
names and statuses) into a :class:`Report`; :func:`render` writes it in one of :data:`FORMATS`:

``table``
    Plain text for a terminal, no line wider than ``width`` (default 100), no colours. Per
    set a line of columns (name, type, available/quantity, active of referencing workflows,
    action; a long name is cut with "…"), a line with the set's id (to copy into
    ``voucherbot refill ID``) and the reason, and a line naming its active workflows. Then a
    summary line and the warnings. Below 80 columns or so the type column is left out.
``markdown``
    A GitHub-flavoured Markdown document: title with time and source, summary, warnings and
    one table row per set with every field.
``csv``
    One header row, then one row per set (columns below). Warnings are not included.
``json``
    The stable, versioned shape below, for scripts.
``html``
    One self-contained page (inline CSS, a little inline JavaScript, inline SVG; nothing
    fetched from anywhere), readable in a mail client: summary, warnings, a table sortable by
    clicking a column header, and per set a bar of available codes against the threshold and
    the refill target. See :mod:`voucherbot.report_html`.

Every format lists the sets in plan order: the sets that need codes first (emptiest first),
then the others. Every output ends with a newline. An unknown format raises
:class:`ReportFormatError`, a :class:`~voucherbot.errors.ConfigError` (exit 2) that is also a
``ValueError``. Names from the account are shown safely everywhere: control characters
(terminal escapes, line breaks) are neutralised in the table, Markdown and HTML, Markdown
escapes ``|`` and HTML tags, HTML escapes everything, and CSV defuses formulas (below).

JSON shape (``"version": 1``)
-----------------------------

Keys are never removed or renamed within a version; a new version number announces any such
change. Numbers are plain integers; a value the API did not give is ``null``::

    {
      "version": 1,
      "generatedAt": "2026-03-01T09:30:00Z",  // when the account was read, ISO 8601 UTC
      "source": "https://api.connectif.cloud", // the API base URL (credentials removed)
      "summary": {
        "sets": 14,       // coupon sets in the report
        "refills": 3,     // sets the bot would refill
        "codes": 14763    // codes it would import in all
      },
      "warnings": ["..."],  // planner warnings (unknown workflow statuses, ...), as text
      "sets": [             // one object per coupon set, in plan order
        {
          "id": "680a964917921e6c8b8e8f4e",
          "name": "VIP Autumn 30% off",
          "type": "multiple",          // "multiple" (pool of codes) or "single" (one code)
          "available": 23,             // codes left to hand out, or null
          "quantity": 2500,            // codes in the set, or null (e.g. unlimited single set)
          "assigned": 2477,            // codes already handed out
          "threshold": 500,            // refill below this many available; null: single set
          "target": 5000,              // refill up to this many (refill_to); null: single set
          "rule": "rule 'vip'",        // the rules.toml rule that applies, or "defaults"
          "action": "refill",          // "refill" or "skip"
          "count": 4977,               // codes the bot would import (0 when skipping)
          "skip": null,                // why it skips: "single-set", "disabled",
                                       // "no-active-workflow", "import-in-flight",
                                       // "above-threshold", "cooldown", "at-target"; or null
          "reason": "available 23 < 500; 1 active workflow",  // the same, for people
          "activeWorkflows": [         // active workflows that use the set
            {"id": "6685d73edf561d802a759159", "name": "Browse abandonment – headphones"}
          ],
          "workflows": [               // every workflow that references it (status null when
            {"id": "6685d73edf561d802a759159",     // unknown; name = id when the workflow
             "name": "Browse abandonment – headphones",  // is not in the account's list)
             "status": "active"}
          ]
        }
      ]
    }

CSV columns
-----------

``id, name, type, available, quantity, assigned, threshold, target, rule, action, count,
skip, reason, active_workflows, active_workflow_ids, workflows, workflow_ids``

The first thirteen are the JSON fields of a set; numbers are plain integers (no separators)
and a missing value is an empty cell. ``active_workflows`` holds the names of the active
workflows and ``workflows`` every referencing workflow as ``name (status)``, each joined with
``"; "``; ``active_workflow_ids`` and ``workflow_ids`` hold their ids in the same order. A text
cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'`` so that spreadsheet programs show it as text instead of running it as a formula (CSV
injection). Lines end with ``\\n``; write the text as UTF-8 (``utf-8-sig`` helps Excel).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from voucherbot.errors import ConfigError
from voucherbot.models import Workflow
from voucherbot.planner import Action, Decision, Plan
from voucherbot.report_text import (
    clean,
    encodable,
    number,
    plural,
    render_table,
    safe_source,
    workflow_status,
    workflow_text,
)

REPORT_VERSION = 1
FORMATS = ("table", "markdown", "csv", "json", "html")
CSV_COLUMNS = (
    "id", "name", "type", "available", "quantity", "assigned", "threshold", "target", "rule",
    "action", "count", "skip", "reason", "active_workflows", "active_workflow_ids", "workflows",
    "workflow_ids",
)  # fmt: skip
LIST_SEPARATOR = "; "


class ReportFormatError(ConfigError, ValueError):
    """An unknown report format (a usage error: exit 2)."""


@dataclass(frozen=True)
class ReportRow:
    """One coupon set and the planner's decision about it."""

    set_id: str
    name: str
    type: str
    available: int | None
    quantity: int | None
    assigned: int
    active_workflows: tuple[tuple[str, str], ...]  #: (id, name) of active workflows using it
    workflows: tuple[tuple[str, str, str | None], ...]  #: (id, name, status) of all that do
    rule: str  #: the rule label, e.g. "rule 'welcome'", or "defaults"
    action: str  #: "refill" or "skip"
    count: int  #: codes the bot would import (0 for skip)
    skip: str | None  #: the Skip value, e.g. "above-threshold"
    reason: str
    threshold: int | None  #: refill below this many available (None for single sets)
    target: int | None  #: refill_to (None for single sets)

    @property
    def is_refill(self) -> bool:
        return self.action == Action.REFILL.value

    @property
    def below_threshold(self) -> bool:
        return self.threshold is not None and (self.available or 0) < self.threshold


@dataclass(frozen=True)
class Report:
    """Everything a report shows; :func:`render` writes it in any of :data:`FORMATS`."""

    generated_at: datetime  #: timezone-aware, UTC
    source: str
    rows: tuple[ReportRow, ...]
    warnings: tuple[str, ...] = ()

    @property
    def refills(self) -> tuple[ReportRow, ...]:
        return tuple(r for r in self.rows if r.is_refill)

    @property
    def total_codes(self) -> int:
        return sum(r.count for r in self.refills)

    @property
    def summary(self) -> str:
        """One sentence, e.g. "3 of 14 sets need codes: 14,763 codes in all."."""
        n, refills = len(self.rows), len(self.refills)
        if n == 0:
            return "No coupon sets found."
        if refills == 0:
            return f"No set needs codes ({plural(n, 'set')} checked)."
        verb = "needs" if refills == 1 else "need"
        codes = plural(self.total_codes, "code")
        return f"{refills:,} of {plural(n, 'set')} {verb} codes: {codes} in all."

    @property
    def generated_text(self) -> str:
        """The time for people: "2026-03-01 09:30 UTC"."""
        return self.generated_at.strftime("%Y-%m-%d %H:%M UTC")


def build_report(
    plan: Plan, workflows: Iterable[Workflow], *, generated_at: datetime, source: str
) -> Report:
    """The report of ``plan``; ``workflows`` give the names and statuses of referenced workflows.

    ``generated_at`` must be timezone-aware (it is shown in UTC); ``source`` names where the
    data came from, usually the API base URL (any ``user:password@`` or query is dropped).
    """
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be a timezone-aware datetime, e.g. datetime.now(UTC)")
    known = {w.id: w for w in workflows}
    return Report(
        generated_at=generated_at.astimezone(UTC),
        source=safe_source(source),
        rows=tuple(_row(d, known) for d in plan.decisions),
        warnings=tuple(encodable(w) for w in plan.warnings),
    )


def _row(d: Decision, known: dict[str, Workflow]) -> ReportRow:
    cs = d.coupon_set
    refs: list[tuple[str, str, str | None]] = []
    for wid in d.workflow_ids:
        wf = known.get(wid)
        refs.append((wid, encodable(wf.name), wf.status) if wf else (wid, wid, None))
    return ReportRow(
        set_id=cs.id,
        name=encodable(cs.name),
        type=cs.type,
        available=cs.available,
        quantity=cs.quantity,
        assigned=cs.assigned,
        active_workflows=tuple((w.id, encodable(w.name)) for w in d.active_workflows),
        workflows=tuple(refs),
        rule=encodable(d.rule_label),
        action=d.action.value,
        count=d.count,
        skip=d.skip.value if d.skip is not None else None,
        reason=encodable(d.reason),
        threshold=d.threshold,
        target=d.settings.refill_to if cs.is_multiple else None,
    )


def render(report: Report, fmt: str, *, width: int = 100) -> str:
    """``report`` as text in format ``fmt`` (one of :data:`FORMATS`); ``width`` is for "table"."""
    renderers: dict[str, Callable[[Report], str]] = {
        "table": lambda r: render_table(r, width=width),
        "markdown": render_markdown,
        "csv": render_csv,
        "json": render_json,
        "html": render_html,
    }
    renderer = renderers.get(fmt.strip().lower())
    if renderer is None:
        raise ReportFormatError(
            f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}"
        )
    return renderer(report)


def render_html(report: Report) -> str:
    """A self-contained HTML page; see :mod:`voucherbot.report_html`."""
    from voucherbot.report_html import render_html as _render

    return _render(report)


# --- markdown ----------------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "&lt;", ">": "&gt;", "`": "\\`"})


def _md(text: str) -> str:
    """Text for a Markdown table cell: one line, ``|`` escaped, no HTML tags."""
    return clean(text).translate(_MD_SPECIAL).strip()


def _md_code(text: str) -> str:
    """Text as a code span in a table cell (ids: one click to select and copy)."""
    return "`" + clean(text).replace("`", "'").replace("|", "\\|") + "`"


def render_markdown(report: Report) -> str:
    """A GitHub-flavoured Markdown document with one table row per set."""
    lines = [
        f"# Coupon set report, {report.generated_text}",
        "",
        f"Source: {_md(report.source)}",
        "",
        f"**{report.summary}**",
        "",
    ]
    if report.warnings:
        lines += ["## Warnings", ""]
        lines += [f"- {_md(w)}" for w in report.warnings]
        lines.append("")
    if report.rows:
        headers = [
            ("Set", False), ("ID", False), ("Type", False), ("Available", True),
            ("Quantity", True), ("Assigned", True), ("Threshold", True), ("Target", True),
            ("Action", False), ("Count", True), ("Skip", False), ("Reason", False),
            ("Rule", False), ("Active workflows", False), ("Workflows", False),
        ]  # fmt: skip
        lines.append("| " + " | ".join(h for h, _ in headers) + " |")
        lines.append("|" + "|".join("---:" if num else "---" for _, num in headers) + "|")
        for r in report.rows:
            cells = [
                _md(r.name), _md_code(r.set_id), _md(r.type), number(r.available, ""),
                number(r.quantity, ""), number(r.assigned), number(r.threshold, ""),
                number(r.target, ""), f"**{r.action}**" if r.is_refill else r.action,
                number(r.count), r.skip or "", _md(r.reason), _md(r.rule),
                _md(", ".join(name for _, name in r.active_workflows)),
                _md(", ".join(_workflow_with_id(w) for w in r.workflows)),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).rstrip("\n") + "\n"


def _workflow_with_id(ref: tuple[str, str, str | None]) -> str:
    wid, name, _ = ref
    status = workflow_status(ref)
    return f"{wid} ({status})" if name == wid else f"{name} ({status}, {wid})"


# --- csv ---------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(report: Report) -> str:
    """One header row (:data:`CSV_COLUMNS`), then one row per set; see the module doc."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        cells = [
            "" if v is None else str(v) if isinstance(v, int) else _csv_text(v)
            for v in _scalars(r).values()
        ]
        lists = (
            [name for _, name in r.active_workflows],
            [wid for wid, _ in r.active_workflows],
            [workflow_text(w) for w in r.workflows],
            [w[0] for w in r.workflows],
        )
        writer.writerow(cells + [_csv_text(LIST_SEPARATOR.join(items)) for items in lists])
    return buffer.getvalue()


# --- json --------------------------------------------------------------------------------------

#: The plain fields of a set, in JSON and CSV order (the ReportRow attribute is set_id for id).
_SCALAR_KEYS = CSV_COLUMNS[:13]


def _scalars(r: ReportRow) -> dict[str, str | int | None]:
    return {key: getattr(r, "set_id" if key == "id" else key) for key in _SCALAR_KEYS}


def to_json(report: Report) -> dict[str, Any]:
    """The report as the documented JSON object (version :data:`REPORT_VERSION`)."""
    generated = report.generated_at.astimezone(UTC).isoformat(timespec="seconds")
    summary = {"sets": len(report.rows), "refills": len(report.refills)}
    return {
        "version": REPORT_VERSION,
        "generatedAt": generated.replace("+00:00", "Z"),
        "source": report.source,
        "summary": {**summary, "codes": report.total_codes},
        "warnings": list(report.warnings),
        "sets": [
            {
                **_scalars(r),
                "activeWorkflows": [{"id": i, "name": n} for i, n in r.active_workflows],
                "workflows": [{"id": i, "name": n, "status": s} for i, n, s in r.workflows],
            }
            for r in report.rows
        ],
    }


def render_json(report: Report) -> str:
    """:func:`to_json` as indented UTF-8 JSON text."""
    return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"


# --- the outcome of `voucherbot run` -----------------------------------------------------------
