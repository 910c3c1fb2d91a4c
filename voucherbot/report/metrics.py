"""The Prometheus text format (version 0.0.4) of a run's figures, for node_exporter's textfile
collector: per set, its counters and days left; per store, its latest run and its totals.

Pure: :func:`render_metrics` takes plain values and returns the file's text. Label values are
escaped as the format says (backslash, double quote, line feed), and cleaned of control
characters first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from voucherbot.text import clean

#: the store label of a rules file without [[store]]
DEFAULT_STORE = "default"


@dataclass(frozen=True)
class SetFigures:
    set_id: str
    name: str
    available: int | None
    quantity: int | None
    days_left: float | None  #: None when unknown; inf when nothing is used


@dataclass(frozen=True)
class StoreFigures:
    store: str
    sets: Sequence[SetFigures] = ()
    last_run: datetime | None = None
    last_success: datetime | None = None
    codes_imported: int = 0
    refill_failures: int = 0
    requests: dict[str, int] = field(default_factory=dict)


# name, type, help
_FAMILIES = (
    ("voucherbot_coupon_set_available", "gauge", "Codes a coupon set can still hand out."),
    ("voucherbot_coupon_set_quantity", "gauge", "Codes a coupon set holds in all."),
    ("voucherbot_coupon_set_days_left", "gauge", "Days until the set is empty, by forecast."),
    ("voucherbot_last_run_timestamp_seconds", "gauge", "When the latest run ended."),
    (
        "voucherbot_last_success_timestamp_seconds",
        "gauge",
        "When the latest run without a failure ended.",
    ),
    ("voucherbot_codes_imported_total", "counter", "Codes imported into Connectif."),
    ("voucherbot_refill_failures_total", "counter", "Refills that failed."),
    ("voucherbot_api_requests_total", "counter", "Connectif API requests, by kind."),
)


def render_metrics(stores: Sequence[StoreFigures]) -> str:
    """Every family once, with its HELP and TYPE, then its samples; newline at the end."""
    samples: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for s in stores:
        store = f'store="{_label(s.store)}"'
        for cs in s.sets:
            labels = f'{{{store},set_id="{_label(cs.set_id)}",set="{_label(cs.name)}"}}'
            for name, value in (
                ("voucherbot_coupon_set_available", cs.available),
                ("voucherbot_coupon_set_quantity", cs.quantity),
                ("voucherbot_coupon_set_days_left", cs.days_left),
            ):
                if value is not None:
                    samples[name].append(f"{name}{labels} {_number(value)}")
        for name, when in (
            ("voucherbot_last_run_timestamp_seconds", s.last_run),
            ("voucherbot_last_success_timestamp_seconds", s.last_success),
        ):
            if when is not None:
                samples[name].append(f"{name}{{{store}}} {_number(when.timestamp())}")
        samples["voucherbot_codes_imported_total"].append(
            f"voucherbot_codes_imported_total{{{store}}} {s.codes_imported}"
        )
        samples["voucherbot_refill_failures_total"].append(
            f"voucherbot_refill_failures_total{{{store}}} {s.refill_failures}"
        )
        for kind, count in sorted(s.requests.items()):
            samples["voucherbot_api_requests_total"].append(
                f'voucherbot_api_requests_total{{{store},kind="{_label(kind)}"}} {count}'
            )
    lines: list[str] = []
    for name, kind, text in _FAMILIES:
        if samples[name]:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    text = clean(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if isinstance(value, float) and value != int(value):
        return repr(round(value, 3))
    return str(int(value))
