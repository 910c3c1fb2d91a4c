"""The HTML report: one self-contained page, readable in a browser or a mail client, on
any screen from a phone to a wide monitor.

From the top: the headline, what needs a person and the refills the bot will make
(:mod:`voucherbot.report.attention`), an overview chart of the days left of every set, the
warnings, then every set. On a wide screen the sets are a table that sorts (click a column
header; again to reverse; "#" restores the plan order) and filters (by words, or to the
refills or the sets that need a person); below 1,100 px each set is a card of labelled lines,
so nothing scrolls sideways. Per set, a bar of available codes against the threshold and the
target, and, with a history or a forecast, a chart of ``available`` over time with the
forecast to the empty date, the threshold and the refills (:mod:`voucherbot.report.svg`).

Nothing is fetched from anywhere: the CSS and the few lines of JavaScript are inline, the
charts are inline SVG, and no ``src`` or ``href`` attribute points anywhere. The markup is
also well-formed XML (every tag closed, every attribute quoted, no named entities), and every
text that comes from the account (set and workflow names, reasons, warnings) is escaped. The
page is complete without JavaScript (as in most mail clients: the filter controls then stay
hidden) and without SVG (Gmail shows none: every number is also text), and the attention list
keeps its look inline where a mail client drops the style sheet.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime

from voucherbot.report.attention import Item, attention, headline
from voucherbot.report.model import REPORT_VERSION, Report, ReportRow, workflow_status
from voucherbot.report.svg import COLOURS as CHART_COLOURS
from voucherbot.report.svg import DaysBar, days_chart, level_chart
from voucherbot.report.terminal import action_text, days_text, empty_text, number
from voucherbot.text import clean, format_rate

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
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #212121; margin: 1em auto; padding: 0 1em; max-width: 1880px;
       overflow-wrap: anywhere; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.15em; margin: 1.2em 0 .4em; }
.meta { color: #616161; margin: 0 0 .6em; }
.headline { font-size: 1.2em; font-weight: bold; margin: .4em 0; }
.attention { max-width: 60em; }
.items { list-style: none; padding: 0; margin: 0; }
.items li { border-left: 5px solid #90a4ae; background: #f5f7f8; margin: 0 0 .4em;
            padding: .4em .7em; }
.items li.person { border-left-color: #c62828; background: #ffebee; }
.items li.refill { border-left-color: #1565c0; background: #e3f2fd; }
.mark { font-weight: bold; margin-right: .4em; }
.warnings { background: #fff8e1; border-left: 4px solid #f9a825; padding: .3em 1em;
            max-width: 60em; }
.leak { color: #b71c1c; font-weight: bold; }
.controls { margin: .6em 0; }
.controls label { margin-right: 1em; white-space: nowrap; }
table { border-collapse: collapse; margin-top: .6em; width: 100%; }
th, td { border: 1px solid #cfd8dc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eceff1; white-space: nowrap; }
th.sortable { cursor: pointer; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.why { min-width: 14em; }
tr.refill { background: #fff3e0; }
tr.refill td.action { font-weight: bold; color: #b71c1c; }
code { font: 12px/1.3 ui-monospace, Menlo, Consolas, monospace; color: #455a64; }
.wf.off { color: #757575; }
.status { color: #616161; font-size: .88em; }
.legend { color: #616161; font-size: .9em; max-width: 60em; }
svg { max-width: 100%; height: auto; }
svg.bar, svg.chart { display: block; }
svg.chart { width: 100%; min-width: 160px; max-width: 320px; }
svg.days { display: block; width: 100%; max-width: 480px; }
@media (max-width: 1099px) {
  #sets, #sets tbody, #sets tr, #sets td { display: block; width: auto; }
  #sets thead { display: none; }
  #sets tr { border: 1px solid #b0bec5; border-radius: 6px; margin: 0 0 .9em;
             padding: .5em .7em; }
  #sets td { border: none; padding: .15em 0; text-align: left; white-space: normal;
             min-width: 0; }
  #sets td[data-label]::before { content: attr(data-label) ": "; font-weight: 600;
                                 color: #546e7a; }
  #sets td.first::before { content: ""; }
  .controls label { display: block; margin: 0 0 .4em; }
}
@media (min-width: 640px) and (max-width: 1099px) {
  #sets tr { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr);
             column-gap: 1.5em; }
  #sets td.first, #sets td.why { grid-column: 1 / -1; }
}
@media print {
  .controls { display: none; }
  .items li, #sets tr { break-inside: avoid; }
  tr.refill { background: none; }
}
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
  var controls = document.getElementById("controls");
  var words = document.getElementById("filter");
  var show = document.getElementById("show");
  if (!controls || !words || !show) { return; }
  function filter() {
    var wanted = words.value.trim().toLowerCase();
    var kind = show.value;
    Array.prototype.forEach.call(body.rows, function (row) {
      var said = wanted === "" || row.textContent.toLowerCase().indexOf(wanted) !== -1;
      var shown = kind === "" || row.getAttribute("data-kind") === kind;
      row.hidden = !(said ? shown : false);
    });
  }
  words.addEventListener("input", filter);
  show.addEventListener("change", filter);
  controls.hidden = false;
}());
"""

_COLUMNS = ("#", "Set", "Available", "Action", "Why", "Workflows")
#: the forecast columns, after "Available" when the report has forecasts or history
_FORECAST_COLUMNS = ("Days left", "Chart")
#: sets in the overview chart at most (the soonest empty)
OVERVIEW_SETS = 25
_ITEM_MARKS = {"stuck": "!", "failing": "!", "leak": "!", "refill": "+"}
#: the attention list styled inline too: mail clients that drop <style> keep these
_ITEM_STYLE = {
    "person": "border-left: 5px solid #c62828; background: #ffebee; padding: 6px 10px; "
    "margin: 0 0 6px; list-style: none;",
    "refill": "border-left: 5px solid #1565c0; background: #e3f2fd; padding: 6px 10px; "
    "margin: 0 0 6px; list-style: none;",
}


def _e(text: str) -> str:
    """Escaped text (control characters replaced first: XML does not allow them)."""
    return html.escape(clean(text), quote=True)


def _sort_value(value: int | None) -> str:
    return "" if value is None else str(value)


def render_html(report: Report, *, stores: Sequence[str] = ()) -> str:
    """The whole page as text (UTF-8, ``<!DOCTYPE html>`` first, newline at the end);
    ``stores``: a line per store and the total, under the headline (several stores)."""
    title = f"Coupon set report, {report.generated_text}"
    items = attention(report)
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
        f'<p class="headline" id="headline" style="font-size: 1.2em; font-weight: bold;">'
        f"{_e(headline(report))}</p>",
        *_stores(stores),
        *_attention(items),
        *_overview(report, items),
    ]
    if report.warnings:
        parts.append('<div class="warnings"><h2>Warnings</h2><ul>')
        parts += [f"<li>{_e(w)}</li>" for w in report.warnings]
        parts.append("</ul></div>")
    parts.append(f'<p class="summary">{_e(report.summary)}</p>')
    if report.rows:
        parts += _sets(report, {i.row.set_id for i in items if i.needs_person})
    parts.append(
        f'<p class="legend">voucherbot report, format version {REPORT_VERSION}. Sets that need '
        "codes come first; on a wide screen, click a column header to sort.</p>"
    )
    parts += [f"<script>{_JS}</script>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _stores(lines: Sequence[str]) -> list[str]:
    """The line of each store and the total (a report of several stores)."""
    if not lines:
        return []
    *each, total = lines
    return [
        '<section id="stores"><h2>Stores</h2><ul>',
        *(f"<li>{_e(line)}</li>" for line in each),
        f"</ul><p><strong>{_e(total)}</strong></p></section>",
    ]


def _attention(items: tuple[Item, ...]) -> list[str]:
    """What needs a person, then the refills (each list only when it has items)."""
    if not items:
        return []
    parts = ['<section class="attention" id="attention">']
    for title, wanted in (("Needs a person", True), ("The bot will refill", False)):
        chosen = [i for i in items if i.needs_person is wanted]
        if chosen:
            cls = "person" if wanted else "refill"
            parts.append(f"<h2>{title}</h2>")
            parts.append(f'<ul class="items {cls}">')
            parts += [
                f'<li class="{cls}" style="{_ITEM_STYLE[cls]}"><span class="mark">'
                f"{_ITEM_MARKS[i.kind]}</span> {_e(i.text)}</li>"
                for i in chosen
            ]
            parts.append("</ul>")
    parts.append("</section>")
    return parts


def _overview(report: Report, items: tuple[Item, ...]) -> list[str]:
    """The days left of the multiple sets, the soonest empty first (those without a
    forecast last), as one chart."""
    person = {i.row.set_id for i in items if i.needs_person}
    rows = [r for r in report.rows if r.type == "multiple" and r.available is not None]
    if not rows or not report.has_forecasts:
        return []
    rows.sort(key=lambda r: (0.0 if not r.available else r.days_left if r.days_left is not None
                             else math.inf, r.name))  # fmt: skip
    shown = rows[:OVERVIEW_SETS]
    bars = [
        DaysBar(
            r.name,
            r.days_left,
            r.available or 0,
            "refill" if r.is_refill else "person" if r.set_id in person else "ok",
        )
        for r in shown
    ]
    more = (
        f" The {len(shown)} of {len(rows):,} sets that run out first."
        if len(rows) > len(shown)
        else ""
    )
    return [
        '<section id="overview"><h2>Days left</h2>',
        days_chart(bars),
        '<p class="legend">Days of codes left at the forecast rate (60 or more: a full bar). '
        "Solid bars: the bot refills the set now; hatched: it needs a person; outlined: "
        f"fine.{more}</p>",
        "</section>",
    ]


def _sets(report: Report, person: set[str]) -> list[str]:
    forecasts = report.has_forecasts
    columns: tuple[str, ...] = _COLUMNS
    if forecasts:
        at = _COLUMNS.index("Available") + 1
        columns = (*_COLUMNS[:at], *_FORECAST_COLUMNS, *_COLUMNS[at:])
    parts = [
        '<section id="list"><h2>Every set</h2>',
        '<div class="controls" id="controls" hidden="hidden">'
        '<label>Filter <input id="filter" type="search" placeholder="name, id, reason"/></label>'
        '<label>Show <select id="show"><option value="">every set</option>'
        '<option value="refill">refills</option>'
        '<option value="person">sets that need a person</option></select></label></div>',
        '<table id="sets" border="1" cellpadding="4" cellspacing="0">',
        "<thead><tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr></thead>",
        "<tbody>",
    ]
    when = report.generated_at
    parts += [
        _row(i, r, columns, r.set_id in person, when) for i, r in enumerate(report.rows, start=1)
    ]
    parts += ["</tbody>", "</table>", _legend(forecasts), "</section>"]
    return parts


def _legend(forecasts: bool = False) -> str:
    def swatch(colour: str) -> str:
        return (
            f'<svg width="10" height="10" viewBox="0 0 10 10" aria-hidden="true">'
            f'<rect width="10" height="10" fill="{colour}"/></svg>'
        )

    text = (
        '<p class="legend">Available: the bar shows the available codes, '
        f"{swatch(COLOURS['ok'])} at or above the threshold, "
        f"{swatch(COLOURS['low'])} below it; the black tick marks the threshold and the "
        "blue tick the refill target."
    )
    if forecasts:
        text += (
            " Days left: available divided by the codes handed out per day, recent days "
            "weighing more (? when there is not enough history yet). Chart: "
            f"{swatch(CHART_COLOURS['line'])} available codes at each recorded run, the "
            f"dashed {swatch(CHART_COLOURS['forecast'])} line the forecast to the empty date, "
            "the dotted line the threshold, triangles the refills (hover for their size)."
        )
    return text + "</p>"


def _td(
    content: str, *, sort: str | None = None, cls: str | None = None, label: str | None = None
) -> str:
    attrs = ""
    if cls:
        attrs += f' class="{cls}"'
    if label:
        attrs += f' data-label="{label}"'
    if sort is not None:
        attrs += f' data-sort="{html.escape(sort, quote=True)}"'
    return f"<td{attrs}>{content}</td>"


def _forecast_cells(r: ReportRow, now: datetime) -> list[str]:
    """Days left (with the empty date and the burn rate) and the chart (with the note)."""
    days = r.days_left
    days_sort = "" if days is None else "Infinity" if math.isinf(days) else f"{days:.4f}"
    days_cell = f"<strong>{_e(days_text(r, compact=False))}</strong>"
    if r.empty_at is not None:
        days_cell += f'<br/> <span class="status">empty by {_e(empty_text(r))}</span>'
    if r.burn_per_day is not None:
        days_cell += f'<br/> <span class="status">{_e(format_rate(r.burn_per_day))}</span>'
    chart = ""
    if r.type == "multiple":
        chart = level_chart(
            r.history,
            now=now,
            available=r.available,
            threshold=r.threshold,
            empty_at=r.empty_at,
            refills=r.refills,
        )
    note = _e(r.forecast_note) if r.forecast_note else ""
    if not chart and not note:
        shown = '<span class="status">no history</span>'
    else:
        note_html = f'<span class="status">{note}</span>' if note else ""
        shown = chart + ("<br/> " if chart and note else "") + note_html
    return [
        _td(days_cell, sort=days_sort, cls="num", label="Days left"),
        _td(shown, sort=str(len(r.history)), label="Chart"),
    ]


def _row(position: int, r: ReportRow, columns: tuple[str, ...], person: bool, now: datetime) -> str:
    kind = f"{r.type} · {r.rule}"
    cells = {
        "#": _td(str(position), sort=str(position), cls="num first"),
        "Set": _td(
            f'<strong>{_e(r.name)}</strong><br/> <span class="status">{_e(kind)}</span><br/> '
            f"<code>{_e(r.set_id)}</code>",
            sort=clean(r.name).casefold(),
            label="Set",
        ),
        "Available": _td(
            _available(r),
            sort=_sort_value(r.available),
            cls="num",
            label="Available",
        ),
        "Action": _td(_e(action_text(r)), sort=str(r.count), cls="action", label="Action"),
        "Why": _td(_e(r.reason) + _shop_note(r), cls="why", label="Why"),
        "Workflows": _td(_workflows(r), sort=str(len(r.active_workflows)), label="Workflows"),
    }
    if "Chart" in columns:
        cells["Days left"], cells["Chart"] = _forecast_cells(r, now)
    cls = ' class="refill"' if r.is_refill else ""
    what = "refill" if r.is_refill else "person" if person else "other"
    return f'<tr{cls} data-kind="{what}">' + "".join(cells[c] for c in columns) + "</tr>"


def _available(r: ReportRow) -> str:
    """The available codes, of how many, the bar, and the threshold and target in words."""
    if r.available is None:
        return _e("unlimited" if r.type == "single" and r.quantity is None else "–")
    text = f"<strong>{_e(number(r.available))}</strong>"
    of = [f"of {r.quantity:,}"] if r.quantity is not None else []
    of.append(f"{r.assigned:,} assigned")
    text += f' <span class="status">{_e(" · ".join(of))}</span>'
    text += _bar(r)
    words = []
    if r.threshold is not None:
        words.append(f"refill below {r.threshold:,}")
    if r.target is not None:
        words.append(f"up to {r.target:,}")
    if words:
        text += f' <span class="status">{_e(", ".join(words))}</span>'
    return text


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
