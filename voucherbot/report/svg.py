"""Inline SVG for the HTML report: per set, a chart of ``available`` over the recorded history
with the forecast to the empty date, the threshold and the refills (:func:`level_chart`), and
an overview of the days left of every set (:func:`days_chart`).

Readable without colour: the forecast is dashed, the threshold dotted and labelled, refills
are triangles, and the overview's bars are patterned by what happens to the set (solid: the
bot refills it; hatched: it needs a person; outlined: fine) and end with their days in words.

The markup is self-contained (no external reference, no script, no style sheet) and
well-formed XML: every attribute quoted, every element closed, text escaped. Each graphic has
a ``<title>`` (shown as a tooltip) and an ``aria-label`` saying the same in words.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from voucherbot.text import format_days, format_span

__all__ = ["DaysBar", "days_chart", "level_chart"]

COLOURS = {
    "line": "#1565c0",
    "threshold": "#212121",
    "forecast": "#b71c1c",
}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _thin(points: Sequence[tuple[float, int]], columns: int) -> list[tuple[float, int]]:
    """At most two points per pixel column (its lowest and highest, in time order), so that a
    long history stays small without hiding a drop to zero."""
    if len(points) <= 2 * columns:
        return list(points)
    buckets: dict[int, list[tuple[float, int]]] = {}
    for x, value in points:
        buckets.setdefault(int(x), []).append((x, value))
    out: list[tuple[float, int]] = []
    for column in sorted(buckets):
        group = buckets[column]
        low = min(group, key=lambda p: p[1])
        high = max(group, key=lambda p: p[1])
        out.extend(sorted({low, high}))
    return out


# --- the chart of one set -------------------------------------------------------------------

CHART_WIDTH = 320
CHART_HEIGHT = 110
_LEFT, _RIGHT, _TOP, _BOTTOM = 4.0, 4.0, 14.0, 16.0


def level_chart(
    history: Sequence[tuple[datetime, int]],
    *,
    now: datetime,
    available: int | None,
    threshold: int | None = None,
    empty_at: datetime | None = None,
    refills: Sequence[tuple[datetime, int]] = (),
) -> str:
    """Available codes over time: the history (solid), the forecast from now to the empty
    date (dashed, cut at the chart's end when that is far), the threshold (dotted, labelled)
    and each refill (a triangle at its time, with its size in the tooltip). "" when there is
    neither a history of two points nor a forecast."""
    points = [(t, a) for t, a in history if t <= now]
    if available is not None and (not points or points[-1][0] < now):
        points.append((now, available))
    if len(points) < 2 and empty_at is None:
        return ""
    start = points[0][0] if len(points) > 1 else now - timedelta(days=1)
    span = max((now - start).total_seconds(), 3600.0)
    end = now + timedelta(seconds=max(span * 0.5, 86400.0))
    if empty_at is not None and empty_at <= now + timedelta(seconds=span * 2):
        end = max(end, empty_at)
    seconds = (end - start).total_seconds()
    top = max([a for _, a in points] + [threshold or 0, 1])
    inner_w = CHART_WIDTH - _LEFT - _RIGHT
    inner_h = CHART_HEIGHT - _TOP - _BOTTOM

    def x(t: datetime) -> float:
        return round(_LEFT + inner_w * min(max((t - start).total_seconds() / seconds, 0), 1), 1)

    def y(value: float) -> float:
        return round(_TOP + inner_h * (1 - max(value, 0) / top), 1)

    tip = _chart_tip(points, threshold, empty_at, refills, now)
    parts = [
        f'<svg class="chart" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" aria-label="{_e(tip)}">',
        f"<title>{_e(tip)}</title>",
        f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" fill="#fafafa"/>',
        f'<line x1="{_LEFT}" y1="{y(0)}" x2="{CHART_WIDTH - _RIGHT}" y2="{y(0)}" '
        'stroke="#90a4ae" stroke-width="1"/>',
    ]
    if threshold:
        ty = y(threshold)
        parts.append(
            f'<line x1="{_LEFT}" y1="{ty}" x2="{CHART_WIDTH - _RIGHT}" y2="{ty}" '
            f'stroke="{COLOURS["threshold"]}" stroke-width="1" stroke-dasharray="1 2"/>'
            f'<text x="{_LEFT + 2}" y="{ty - 3}" font-size="9" fill="#212121">'
            f"threshold {threshold:,}</text>"
        )
    if len(points) > 1:
        scaled = _thin([(x(t), a) for t, a in points], int(inner_w))
        line = " ".join(f"{px},{y(a)}" for px, a in scaled)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{COLOURS["line"]}" '
            'stroke-width="1.8" stroke-linejoin="round"/>'
        )
    if empty_at is not None and available:
        parts.append(_forecast_line(now, available, empty_at, end, x, y))
    for when, count in refills:
        if start <= when <= now:
            rx = x(when)
            parts.append(
                f'<path d="M{rx - 4},{CHART_HEIGHT - 2} L{rx + 4},{CHART_HEIGHT - 2} '
                f'L{rx},{CHART_HEIGHT - 9} Z" fill="#2e7d32">'
                f"<title>refilled {count:,} codes, {when:%Y-%m-%d %H:%M} UTC</title></path>"
            )
    parts.append(
        f'<line x1="{x(now)}" y1="{_TOP - 4}" x2="{x(now)}" y2="{y(0)}" stroke="#b0bec5" '
        'stroke-width="1"/>'
        f'<text x="{min(x(now), CHART_WIDTH - 30)}" y="9" font-size="9" fill="#455a64">now</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _forecast_line(
    now: datetime,
    available: int,
    empty_at: datetime,
    end: datetime,
    x: Callable[[datetime], float],
    y: Callable[[float], float],
) -> str:
    """The dashed forecast from now to the empty date (cut at ``end``), labelled."""
    stop = min(empty_at, end)
    total = (empty_at - now).total_seconds() or 1.0
    left = available * (1 - (stop - now).total_seconds() / total)
    label = f"empty {empty_at:%Y-%m-%d}" + ("" if empty_at <= end else " (later)")
    return (
        f'<line x1="{x(now)}" y1="{y(available)}" x2="{x(stop)}" y2="{y(left)}" '
        f'stroke="{COLOURS["forecast"]}" stroke-width="1.5" stroke-dasharray="5 3"/>'
        f'<text x="{CHART_WIDTH - _RIGHT}" y="{y(0) + 12}" font-size="9" fill="#b71c1c" '
        f'text-anchor="end">{_e(label)}</text>'
    )


def _chart_tip(
    points: Sequence[tuple[datetime, int]],
    threshold: int | None,
    empty_at: datetime | None,
    refills: Sequence[tuple[datetime, int]],
    now: datetime,
) -> str:
    """The chart in words."""
    values = [a for _, a in points]
    seconds = (points[-1][0] - points[0][0]).total_seconds()
    tip = f"Available now {values[-1]:,}"
    if len(points) > 1:
        tip = (
            f"Available over {format_span(seconds)}: now {values[-1]:,}, lowest "
            f"{min(values):,}, highest {max(values):,}"
        )
    if threshold is not None:
        tip += f"; threshold {threshold:,}"
    if empty_at is not None:
        tip += f"; forecast: empty {empty_at:%Y-%m-%d %H:%M} UTC"
    shown = [r for r in refills if points[0][0] <= r[0] <= now]
    if shown:
        tip += f"; {len(shown):,} refills ({sum(c for _, c in shown):,} codes)"
    return tip


# --- the overview: days left of every set ---------------------------------------------------


@dataclass(frozen=True)
class DaysBar:
    """One set in the overview."""

    name: str
    days: float | None  #: None: unknown; math.inf: no demand
    available: int
    kind: str  #: "refill" (the bot refills it), "person" (needs a person) or "ok"


DAYS_WIDTH = 360
_ROW = 36
_CAP = 60.0  #: days beyond which the bars stop growing
_FILL = {"refill": "#1565c0", "person": "url(#vb-hatch)", "ok": "#ffffff"}
_WHAT = {"refill": "the bot refills it", "person": "needs a person", "ok": "fine"}


def days_chart(bars: Sequence[DaysBar]) -> str:
    """Horizontal bars of days left, one per set in the given order, each with its name
    above it and its days (and what happens to it) in words at its end."""
    if not bars:
        return ""
    height = _ROW * len(bars) + 6
    label_w = DAYS_WIDTH - 205.0
    words = []
    parts = [
        '<defs><pattern id="vb-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffebee"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#c62828" stroke-width="3"/></pattern></defs>',
    ]
    for i, bar in enumerate(bars):
        top = i * _ROW + 4
        text = _days_words(bar)
        words.append(f"{bar.name}: {text}, {_WHAT[bar.kind]}")
        share = _CAP if bar.days is None or math.isinf(bar.days) else min(bar.days, _CAP)
        width = round(max(label_w * share / _CAP, 3.0), 1) if bar.days is not None else 0.0
        parts.append(
            f'<text x="0" y="{top + 12}" font-size="13" font-weight="600" fill="#212121">'
            f"{_e(_short(bar.name))}</text>"
        )
        if width:
            parts.append(
                f'<rect x="0" y="{top + 16}" width="{width}" height="14" fill="{_FILL[bar.kind]}" '
                'stroke="#37474f" stroke-width="1"/>'
            )
        parts.append(
            f'<text x="{width + 6}" y="{top + 28}" font-size="13" fill="#212121">'
            f"{_e(text)} ({_e(_WHAT[bar.kind])})</text>"
        )
    tip = _e("Days left per set: " + "; ".join(words))
    head = (
        f'<svg class="days" width="{DAYS_WIDTH}" height="{height}" '
        f'viewBox="0 0 {DAYS_WIDTH} {height}" role="img" aria-label="{tip}"><title>{tip}</title>'
    )
    return head + "".join(parts) + "</svg>"


def _days_words(bar: DaysBar) -> str:
    if bar.available <= 0:
        return "EMPTY"
    if bar.days is None:
        return "days left unknown"
    if math.isinf(bar.days):
        return "no demand"
    more = "+" if bar.days > _CAP else ""
    return f"{format_days(min(bar.days, _CAP))}{more} left"


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
