"""Inline SVG for the HTML report: the sparkline of ``available`` over the recorded history.

The markup is self-contained (no external reference, no script, no style sheet) and
well-formed XML: every attribute quoted, every element closed, text escaped. Each graphic has
a ``<title>`` (shown as a tooltip) and an ``aria-label`` saying the same in words.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

from voucherbot.text import format_span

__all__ = ["SPARK_HEIGHT", "SPARK_WIDTH", "sparkline"]

SPARK_WIDTH = 160
SPARK_HEIGHT = 32
_PAD = 3.0
COLOURS = {
    "line": "#1565c0",
    "threshold": "#212121",
    "empty": "#c62828",  # points where nothing was available
    "last": "#1565c0",
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


def sparkline(
    history: Sequence[tuple[datetime, int]],
    *,
    threshold: int | None = None,
    width: int = SPARK_WIDTH,
    height: int = SPARK_HEIGHT,
) -> str:
    """An inline ``<svg>`` of available codes over time; "" with fewer than two points.

    ``history`` is (time, available), oldest first. The line is scaled from 0 to the highest
    value (or the threshold, if higher); a dashed line marks the threshold, red dots the
    moments the set was empty, and a dot the newest value.
    """
    if len(history) < 2:
        return ""
    start, end = history[0][0], history[-1][0]
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        return ""
    values = [a for _, a in history]
    top = max(max(values), threshold or 0, 1)
    inner_w, inner_h = width - 2 * _PAD, height - 2 * _PAD

    def y(value: int) -> float:
        return round(_PAD + inner_h * (1 - max(value, 0) / top), 1)

    scaled = [(_PAD + inner_w * (t - start).total_seconds() / seconds, a) for t, a in history]
    points = _thin(scaled, int(inner_w))
    tip = _tip(values, seconds, threshold)
    parts = [
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(tip)}">',
        f"<title>{_e(tip)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa"/>',
    ]
    if threshold is not None and threshold > 0:
        ty = y(threshold)
        parts.append(
            f'<line x1="{_PAD}" y1="{ty}" x2="{width - _PAD}" y2="{ty}" '
            f'stroke="{COLOURS["threshold"]}" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    line = " ".join(f"{round(x, 1)},{y(a)}" for x, a in points)
    parts.append(
        f'<polyline points="{line}" fill="none" stroke="{COLOURS["line"]}" '
        'stroke-width="1.5" stroke-linejoin="round"/>'
    )
    seen: set[int] = set()
    for x, a in points:
        if a <= 0 and round(x) not in seen:  # at most one dot per pixel column
            seen.add(round(x))
            parts.append(
                f'<circle cx="{round(x, 1)}" cy="{y(0)}" r="1.5" fill="{COLOURS["empty"]}"/>'
            )
    lx, la = points[-1]
    parts.append(f'<circle cx="{round(lx, 1)}" cy="{y(la)}" r="2.2" fill="{COLOURS["last"]}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _tip(values: Sequence[int], seconds: float, threshold: int | None) -> str:
    """The graphic in words: its span, the newest, lowest and highest values, the threshold,
    and how often the set was empty."""
    tip = (
        f"Available over {format_span(seconds)} ({len(values):,} snapshots): "
        f"now {values[-1]:,}, lowest {min(values):,}, highest {max(values):,}"
    )
    if threshold is not None:
        tip += f"; threshold {threshold:,}"
    empties = sum(1 for a in values if a <= 0)
    if empties:
        tip += f"; empty in {empties:,} of them"
    return tip
