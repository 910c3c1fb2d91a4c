"""The report for scripts and spreadsheets: ``csv`` and ``json`` (the fields are described in
:mod:`voucherbot.report.model`)."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC
from typing import Any

from voucherbot.report.model import (
    CSV_COLUMNS,
    LIST_SEPARATOR,
    REPORT_VERSION,
    Report,
    ReportRow,
    workflow_text,
)
from voucherbot.text import json_safe, spreadsheet_cell

# --- csv ---------------------------------------------------------------------------------------


def render_csv(report: Report) -> str:
    """One header row (:data:`CSV_COLUMNS`), then one row per set; see the module doc."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        cells = [
            "" if v is None else str(v) if isinstance(v, int) else spreadsheet_cell(v)
            for v in _scalars(r).values()
        ]
        lists = (
            [name for _, name in r.active_workflows],
            [wid for wid, _ in r.active_workflows],
            [workflow_text(w) for w in r.workflows],
            [w[0] for w in r.workflows],
        )
        forecast = [
            "" if v is None else str(v) if isinstance(v, int | float) else spreadsheet_cell(v)
            for v in _forecast_fields(r).values()
        ]
        shop = [
            spreadsheet_cell(r.shop),
            "" if r.pool_remaining is None else str(r.pool_remaining),
            *("" if v is None else str(v) for v in _shop_fields(r).values()),
        ]
        writer.writerow(
            cells
            + [spreadsheet_cell(LIST_SEPARATOR.join(items)) for items in lists]
            + forecast
            + shop
        )
    return buffer.getvalue()


# --- json --------------------------------------------------------------------------------------

#: The plain fields of a set, in JSON and CSV order (the ReportRow attribute is set_id for id).
_SCALAR_KEYS = CSV_COLUMNS[:13]


def _scalars(r: ReportRow) -> dict[str, str | int | None]:
    return {key: getattr(r, "set_id" if key == "id" else key) for key in _SCALAR_KEYS}


def _forecast_fields(r: ReportRow) -> dict[str, str | float | None]:
    """The forecast of a set for JSON (and, in the same order, the last CSV columns)."""
    days = r.days_left
    empty = r.empty_at.astimezone(UTC).isoformat(timespec="seconds") if r.empty_at else None
    return {
        "burnPerDay": None if r.burn_per_day is None else round(r.burn_per_day, 2),
        "daysLeft": None if days is None or math.isinf(days) else round(days, 2),
        "emptyAt": empty.replace("+00:00", "Z") if empty else None,
        "forecastNote": r.forecast_note or None,
    }


def _shop_fields(r: ReportRow) -> dict[str, str | int | bool | None]:
    """What the set's shop connector read back, for JSON (and the last CSV columns)."""
    f = r.shop_facts
    if f is None:
        return dict.fromkeys(("shopEndsAt", "shopRedeemable", "shopRedeemed", "shopLeaked"))
    ends = f.ends_at.astimezone(UTC).isoformat(timespec="seconds") if f.ends_at else None
    return {
        "shopEndsAt": ends.replace("+00:00", "Z") if ends else None,
        "shopRedeemable": f.live,
        "shopRedeemed": f.redeemed,
        "shopLeaked": f.leaked,
    }


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
                **_forecast_fields(r),
                "shop": r.shop or None,
                "poolRemaining": r.pool_remaining,
                **_shop_fields(r),
                "activeWorkflows": [{"id": i, "name": n} for i, n in r.active_workflows],
                "workflows": [{"id": i, "name": n, "status": s} for i, n, s in r.workflows],
            }
            for r in report.rows
        ],
    }


def render_json(report: Report) -> str:
    """:func:`to_json` as indented UTF-8 JSON text."""
    return json_safe(json.dumps(to_json(report), indent=2, ensure_ascii=False)) + "\n"
