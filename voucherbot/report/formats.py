"""One entry for every report format: :func:`render` (``voucherbot report --format``)."""

from __future__ import annotations

from collections.abc import Callable

from voucherbot.errors import ConfigError
from voucherbot.report.data import render_csv, render_json
from voucherbot.report.html import render_html
from voucherbot.report.markdown import render_markdown
from voucherbot.report.model import Report
from voucherbot.report.terminal import render_table

FORMATS = ("table", "markdown", "csv", "json", "html")


class ReportFormatError(ConfigError, ValueError):
    """An unknown report format (a usage error: exit 2)."""


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
