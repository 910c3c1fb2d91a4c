"""The HTML report: one self-contained page, readable in a browser or a mail client.

Nothing is fetched from anywhere: the CSS and the few lines of JavaScript are inline, the bars
and the sparklines are inline SVG (:mod:`voucherbot.report.svg`), and no ``src`` or ``href``
attribute points anywhere. The markup is also
well-formed XML (every tag closed, every attribute quoted, no named entities), and every text
that comes from the account (set and workflow names, reasons, warnings) is escaped.

The table is complete without JavaScript (as in most mail clients) and without SVG (the
numbers are in their own columns); the script only makes the column headers sort the rows
(click again to reverse; the "#" column restores the plan order). When any set has a forecast
or a recorded history, three more columns show the burn rate, the days left (with the empty
date) and a sparkline of ``available`` over the history (with the forecast's note).
"""

from __future__ import annotations

import html
import math

from voucherbot.report.model import REPORT_VERSION, Report, ReportRow, workflow_status
from voucherbot.report.svg import COLOURS as SPARK_COLOURS
from voucherbot.report.svg import sparkline
from voucherbot.report.terminal import action_text, burn_text, days_text, empty_text, number
from voucherbot.text import clean

__all__ = ["render_html"]

BAR_WIDTH = 160
BAR_HEIGHT = 14
COLOURS = {
    "low": "#c62828",  # available below the threshold
    "ok": "#2e7d32",
    "plain": "#78909c",  # single sets: no threshold
    "threshold": "#212121",
    "target": "#1565c0",
}

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #212121; margin: 1.5em; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .3em; }
.meta { color: #616161; margin: 0 0 1em; }
.summary { font-size: 1.15em; }
.warnings { background: #fff8e1; border-left: 4px solid #f9a825; padding: .3em 1em; }
.leak { color: #b71c1c; font-weight: bold; }
table { border-collapse: collapse; margin-top: 1em; }
th, td { border: 1px solid #cfd8dc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eceff1; white-space: nowrap; }
th.sortable { cursor: pointer; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.refill { background: #fff3e0; }
tr.refill td.action { font-weight: bold; color: #b71c1c; }
code { font: 12px/1.3 ui-monospace, Menlo, Consolas, monospace; color: #455a64; }
.wf { white-space: nowrap; }
.wf.off { color: #757575; }
.status { color: #757575; font-size: .85em; }
.legend { color: #616161; font-size: .9em; }
svg.bar { display: block; }
svg.spark { display: block; margin-bottom: 2px; }
"""

# No "<" and no "&" in the script, so it is also well-formed XML without a CDATA section.
_JS = """
(function () {
  "use strict";
  var table = document.getElementById("sets");
  if (!table || !table.tHead || !table.tBodies.length) { return; }
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function key(row, col) {
    var cell = row.cells[col];
    var value = cell.getAttribute("data-sort");
    return value === null ? cell.textContent.trim().toLowerCase() : value;
  }
  function isNumber(value) { return value === "" ? false : !isNaN(Number(value)); }
  function compare(a, b) {
    if (isNumber(a) ? isNumber(b) : false) { return Number(a) - Number(b); }
    return a.localeCompare(b);
  }
  function sortBy(col) {
    var th = heads[col];
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r, s) {
      var a = key(r, col), b = key(s, col);
      if ((a === "") !== (b === "")) { return a === "" ? 1 : -1; }  // blanks last
      return dir * compare(a, b) || compare(key(r, 0), key(s, 0));
    });
    Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    th.className += " sortable";
    th.tabIndex = 0;
    th.title = "Sort by this column (click again to reverse)";
    th.addEventListener("click", function () { sortBy(col); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(col); }
    });
  });
}());
"""

_COLUMNS = (
    "#", "Set", "Type", "Available", "Quantity", "Assigned", "Level", "Threshold", "Target",
    "Action", "Why", "Workflows", "Rule",
)  # fmt: skip
#: the forecast columns, after "Target" when the report has forecasts or history
_FORECAST_COLUMNS = ("Burn/day", "Days left", "History")


def _e(text: str) -> str:
    """Escaped text (control characters replaced first: XML does not allow them)."""
    return html.escape(clean(text), quote=True)


def _sort_value(value: int | None) -> str:
    return "" if value is None else str(value)


def render_html(report: Report) -> str:
    """The whole page as text (UTF-8, ``<!DOCTYPE html>`` first, newline at the end)."""
    title = f"Coupon set report, {report.generated_text}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8"/>',
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Coupon set report</h1>",
        f'<p class="meta">Generated {_e(report.generated_text)} from '
        f"<code>{_e(report.source)}</code></p>",
        f'<p class="summary"><strong>{_e(report.summary)}</strong></p>',
    ]
    if report.warnings:
        parts.append('<div class="warnings"><h2>Warnings</h2><ul>')
        parts += [f"<li>{_e(w)}</li>" for w in report.warnings]
        parts.append("</ul></div>")
    if report.rows:
        forecasts = report.has_forecasts
        columns: tuple[str, ...] = _COLUMNS
        if forecasts:
            at = _COLUMNS.index("Target") + 1
            columns = (*_COLUMNS[:at], *_FORECAST_COLUMNS, *_COLUMNS[at:])
        parts.append('<table id="sets" border="1" cellpadding="4" cellspacing="0">')
        parts.append("<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns))
        parts.append("</tr></thead>")
        parts.append("<tbody>")
        parts += [_row(i, r, forecasts) for i, r in enumerate(report.rows, start=1)]
        parts.append("</tbody>")
        parts.append("</table>")
        parts.append(_legend(forecasts))
    parts.append(
        f'<p class="legend">voucherbot report, format version {REPORT_VERSION}. Sets that need '
        "codes come first; click a column header to sort.</p>"
    )
    parts += [f"<script>{_JS}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _legend(forecasts: bool = False) -> str:
    def swatch(colour: str) -> str:
        return (
            f'<svg width="10" height="10" viewBox="0 0 10 10" aria-hidden="true">'
            f'<rect width="10" height="10" fill="{colour}"/></svg>'
        )

    text = (
        '<p class="legend">Level: the bar shows the available codes, '
        f"{swatch(COLOURS['ok'])} at or above the threshold, "
        f"{swatch(COLOURS['low'])} below it; the black tick marks the threshold and the "
        "blue tick the refill target. Hover a bar for its numbers."
    )
    if forecasts:
        text += (
            " Burn/day: codes handed out per day, recent days weighing more; days left: "
            "available divided by that rate (? when there is not enough history yet). "
            f"History: {swatch(SPARK_COLOURS['line'])} available codes at each recorded run, "
            f"the dashed line the threshold, {swatch(SPARK_COLOURS['empty'])} the runs that "
            "found the set empty."
        )
    return text + "</p>"


def _td(content: str, *, sort: str | None = None, cls: str | None = None) -> str:
    attrs = ""
    if cls:
        attrs += f' class="{cls}"'
    if sort is not None:
        attrs += f' data-sort="{html.escape(sort, quote=True)}"'
    return f"<td{attrs}>{content}</td>"


def _num(value: int | None) -> str:
    return _td(_e(number(value, "–")), sort=_sort_value(value), cls="num")


def _forecast_cells(r: ReportRow) -> list[str]:
    """Burn/day, days left (with the empty date) and the sparkline (with the note)."""
    burn = r.burn_per_day
    days = r.days_left
    days_sort = "" if days is None else "Infinity" if math.isinf(days) else f"{days:.4f}"
    days_cell = _e(days_text(r, compact=False))
    if r.empty_at is not None:
        days_cell += f'<br/> <span class="status">empty by {_e(empty_text(r))}</span>'
    spark = sparkline(r.history, threshold=r.threshold)
    note = _e(r.forecast_note) if r.forecast_note else ""
    if not spark and not note:
        history = '<span class="status">no history</span>'
    else:
        note_html = f'<span class="status">{note}</span>' if note else ""
        history = spark + ("<br/> " if spark and note else "") + note_html
    return [
        _td(_e(burn_text(burn) or "–"), sort="" if burn is None else f"{burn:.4f}", cls="num"),
        _td(days_cell, sort=days_sort, cls="num"),
        _td(history, sort=str(len(r.history))),
    ]


def _row(position: int, r: ReportRow, forecasts: bool = False) -> str:
    level = (r.available or 0) / r.threshold if r.threshold else None
    cells = [
        _td(str(position), sort=str(position), cls="num"),
        _td(f"<strong>{_e(r.name)}</strong><br/> <code>{_e(r.set_id)}</code>",
            sort=clean(r.name).casefold()),
        _td(_e(r.type)),
        _num(r.available),
        _num(r.quantity),
        _num(r.assigned),
        _td(_bar(r), sort="" if level is None else f"{level:.6f}"),
        _num(r.threshold),
        _num(r.target),
        _td(_e(action_text(r)), sort=str(r.count), cls="action"),
        _td(_e(r.reason) + _shop_note(r)),
        _td(_workflows(r), sort=str(len(r.active_workflows))),
        _td(_e(r.rule)),
    ]  # fmt: skip
    if forecasts:
        at = _COLUMNS.index("Target") + 1
        cells[at:at] = _forecast_cells(r)
    cls = ' class="refill"' if r.is_refill else ""
    return f"<tr{cls}>" + "".join(cells) + "</tr>"


def _workflows(r: ReportRow) -> str:
    if not r.workflows:
        return '<span class="status">none</span>'
    active = {wid for wid, _ in r.active_workflows}
    head = f'<span class="status">{len(active)} of {len(r.workflows)} active</span>'
    items = [
        f'<span class="wf{"" if ref[0] in active else " off"}">{_e(ref[1])} '
        f'<span class="status">({_e(workflow_status(ref))})</span></span>'
        for ref in r.workflows
    ]
    return head + "".join("<br/> " + item for item in items)  # lines even without CSS


def _bar(r: ReportRow) -> str:
    """Available codes against threshold and target, as a small inline SVG with a tooltip."""
    if r.available is None:
        return _e("unlimited" if r.type == "single" and r.quantity is None else "–")
    scale = max(r.target or 0, r.available, r.quantity or 0, r.threshold or 0, 1)

    def x(value: int) -> float:
        return round(min(max(value / scale * BAR_WIDTH, 0.0), float(BAR_WIDTH)), 1)

    if r.threshold is None:
        colour = COLOURS["plain"]
    else:
        colour = COLOURS["low"] if r.below_threshold else COLOURS["ok"]
    fill = max(x(r.available), 2.0) if r.available > 0 else 0.0  # a sliver stays visible
    tip = f"{r.available:,} available"
    if r.quantity is not None:
        tip += f" of {r.quantity:,}"
    if r.threshold is not None:
        tip += f"; refill below {r.threshold:,}"
    if r.target is not None:
        tip += f", up to {r.target:,}"
    parts = [
        f'<svg class="bar" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" '
        f'viewBox="0 0 {BAR_WIDTH} {BAR_HEIGHT}" role="img" aria-label="{_e(tip)}">',
        f"<title>{_e(tip)}</title>",
        f'<rect x="0" y="2" width="{BAR_WIDTH}" height="10" fill="#eceff1"/>',
        f'<rect x="0" y="2" width="{fill}" height="10" fill="{colour}"/>',
    ]
    for value, key in ((r.threshold, "threshold"), (r.target, "target")):
        if value is not None:
            pos = min(max(x(value), 1.0), BAR_WIDTH - 1.0)
            parts.append(
                f'<line x1="{pos}" y1="0" x2="{pos}" y2="{BAR_HEIGHT}" '
                f'stroke="{COLOURS[key]}" stroke-width="2"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _shop_note(r: ReportRow) -> str:
    """Where the codes come from, under the reason (refills and pooled sets only), and what
    the shop said back (sets whose shop was read)."""
    notes = []
    if r.shop and (r.is_refill or r.pool_remaining is not None):
        left = "" if r.pool_remaining is None else f"; {r.pool_remaining:,} left"
        notes.append(f'<br /><small class="shop">{_e(r.shop + left)}</small>')
    if r.shop_facts is not None:
        leak = " leak" if r.shop_facts.leaked else ""
        notes.append(f'<br /><small class="shop{leak}">in the shop: {_e(r.shop_text)}</small>')
    return "".join(notes)
