"""The Markdown report: a GitHub-flavoured document with one table row per set.

Title with time and source, what needs a person and the refills the bot will make
(:mod:`voucherbot.report.attention`), warnings, then a table with every field of every set
(the forecast ones included). Names from the account cannot break the table: control
characters are neutralised, ``|`` and backticks escaped, HTML tags defused.
"""

from __future__ import annotations

from voucherbot.report.attention import attention, headline
from voucherbot.report.model import Report, workflow_status
from voucherbot.report.terminal import burn_text, days_text, empty_text, number
from voucherbot.text import clean

__all__ = ["render_markdown"]

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
        f"**{_md(headline(report))}**",
        "",
    ]
    items = attention(report)
    for title, wanted in (("Needs a person", True), ("The bot will refill", False)):
        chosen = [i for i in items if i.needs_person is wanted]
        if chosen:
            lines += [f"## {title}", ""]
            lines += [f"- {_md(i.text)}" for i in chosen]
            lines.append("")
    if report.warnings:
        lines += ["## Warnings", ""]
        lines += [f"- {_md(w)}" for w in report.warnings]
        lines.append("")
    if report.rows:
        headers = [
            ("Set", False), ("ID", False), ("Type", False), ("Available", True),
            ("Quantity", True), ("Assigned", True), ("Threshold", True), ("Target", True),
            ("Burn/day", True), ("Days left", True), ("Empty by", False),
            ("Action", False), ("Count", True), ("Skip", False), ("Reason", False),
            ("Rule", False), ("Active workflows", False), ("Workflows", False),
            ("Forecast", False), ("Shop", False), ("Pool left", True), ("In the shop", False),
        ]  # fmt: skip
        lines.append("| " + " | ".join(h for h, _ in headers) + " |")
        lines.append("|" + "|".join("---:" if num else "---" for _, num in headers) + "|")
        for r in report.rows:
            cells = [
                _md(r.name), _md_code(r.set_id), _md(r.type), number(r.available, ""),
                number(r.quantity, ""), number(r.assigned), number(r.threshold, ""),
                number(r.target, ""), burn_text(r.burn_per_day), days_text(r, compact=False),
                empty_text(r), f"**{r.action}**" if r.is_refill else r.action,
                number(r.count), r.skip or "", _md(r.reason), _md(r.rule),
                _md(", ".join(name for _, name in r.active_workflows)),
                _md(", ".join(_workflow_with_id(w) for w in r.workflows)),
                _md(r.forecast_note), _md(r.shop), number(r.pool_remaining, ""), _md(r.shop_text),
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines).rstrip("\n") + "\n"


def _workflow_with_id(ref: tuple[str, str, str | None]) -> str:
    wid, name, _ = ref
    status = workflow_status(ref)
    return f"{wid} ({status})" if name == wid else f"{name} ({status}, {wid})"
