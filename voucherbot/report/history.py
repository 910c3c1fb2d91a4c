"""Plain-text views of the ledger (`voucherbot history`) and of imports (`voucherbot imports`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from voucherbot.connectif.models import Import
from voucherbot.ledger import Batch, Run
from voucherbot.text import clean, table


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_history(runs: Sequence[Run], batches: Sequence[Batch], set_id: str | None = None) -> str:
    """Recent runs, then recent batches, newest first (only ``set_id``'s, when given)."""
    lines: list[str] = []
    if runs:
        lines += ["Runs", *_runs_table(runs), ""]
    if batches:
        lines += ["Batches", *_batches_table(batches)]
        problems = [b for b in batches if b.error]
        if problems:
            lines.append("")
            lines += [f"batch {b.id}: {clean(b.error or '')}" for b in problems]
    if not lines:
        lines = [
            f"The ledger has no batches for coupon set {clean(set_id)}."
            if set_id
            else "The ledger has no runs or batches yet."
        ]
    return "".join(line + "\n" for line in lines)


def _runs_table(runs: Sequence[Run]) -> list[str]:
    return table(
        ("Run", "Command", "Started (UTC)", "Finished (UTC)", "Outcome"),
        [
            (
                str(r.id),
                r.command,
                _when(r.started_at),
                _when(r.finished_at),
                r.outcome or "running",
            )
            for r in runs
        ],
        {0},
    )


def _batches_table(batches: Sequence[Batch]) -> list[str]:
    return table(
        (
            "Batch",
            "Run",
            "Coupon set",
            "Codes",
            "Status",
            "Import",
            "Imported",
            "Rejected",
            "Created (UTC)",
        ),
        [
            (
                str(b.id),
                _n(b.run_id),
                f"{b.coupon_set_name} ({b.coupon_set_id})",
                _n(b.count),
                b.status,
                b.import_id or "-",
                _n(b.success),
                _n(b.errors),
                _when(b.created_at),
            )
            for b in batches
        ],
        {0, 1, 3, 6, 7},
    )


def render_imports(imports: Sequence[Import]) -> str:
    """Imports as a table: id, set, status, progress, errors, times."""
    if not imports:
        return "No imports.\n"
    lines = table(
        ("Import", "Coupon set", "Status", "Imported", "Failed", "Total", "Created (UTC)"),
        [
            (
                i.id,
                i.coupon_set_id or "-",
                i.status,
                _n(i.success),
                _n(i.errors),
                _n(i.total),
                _when(i.created_at),
            )
            for i in imports
        ],
        {3, 4, 5},
    )
    reports = [i for i in imports if i.errors and i.error_report_file_url]
    if reports:
        lines.append("")
        lines += [clean(f"{i.id}: error report {i.error_report_file_url}") for i in reports]
    return "".join(line + "\n" for line in lines)
