"""The report renderers (voucherbot.report.model, voucherbot.report.html).

Unit tests run on a hand-built plan; the end-to-end tests read a real sandbox (127.0.0.1 only)
and check that every format shows every coupon set once, with the sandbox's numbers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from voucherbot.config import Config, parse_config
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.errors import ConfigError
from voucherbot.planning.forecast import Snapshot
from voucherbot.planning.planner import Plan, plan
from voucherbot.refill.results import RefillResult, RunResult
from voucherbot.report.data import to_json
from voucherbot.report.formats import FORMATS, ReportFormatError, render
from voucherbot.report.model import CSV_COLUMNS, REPORT_VERSION, Report, ReportRow, build_report
from voucherbot.report.svg import CHART_HEIGHT, CHART_WIDTH, DaysBar, days_chart, level_chart
from voucherbot.report.terminal import render_run
from voucherbot.sandbox import SandboxConfig, start_sandbox

NOW = datetime(2026, 3, 1, 9, 30, 15, tzinfo=UTC)
SOURCE = "https://api.connectif.cloud"
RULES = b"""
[[rule]]
name = "welcome"
match = { name = "Welcome*" }
min_available = 200
refill_to = 2000
"""

EVIL = '<script>alert(1)</script> & "x" | y'
LONG = "Autumn loyalty campaign for returning customers in the north-east region 2026 – 15%"
WIDE = "夏のセール 20% 割引クーポン コード 夏のセール 20% 割引クーポン コード"
FORMULA = '=HYPERLINK("http://evil.example","click")'
ESCAPE = "Red\x1b[31m alert\nsecond line"


def _id(n: int) -> str:
    return f"{n:024x}"


S_EVIL, S_WELCOME, S_DRAFT, S_SINGLE, S_FORMULA, S_LONG, S_WIDE, S_ESC = (
    _id(n) for n in range(1, 9)
)
WORKFLOWS = (
    Workflow("wf-active-1", "Welcome series", "active"),
    Workflow("wf-active-2", "Cart | reminder", "active"),
    Workflow("wf-draft", "Draft campaign", "draft"),
    Workflow("wf-odd", "Odd status", "archived"),
)


def _set(
    set_id: str,
    name: str,
    available: int | None,
    quantity: int | None,
    workflows: tuple[str, ...] = (),
    kind: str = "multiple",
) -> CouponSet:
    assigned = (quantity or 0) - (available or 0) if kind == "multiple" else 12
    return CouponSet(
        id=set_id,
        name=name,
        type=kind,
        assigned=assigned,
        quantity=quantity,
        available=available,
        used_in_workflows=workflows,
    )


SETS = (
    _set(S_WELCOME, "Welcome 10%", 50, 3000, ("wf-active-1", "wf-draft")),
    _set(S_EVIL, EVIL, 10, 1000, ("wf-active-2",)),
    _set(S_LONG, LONG, 8000, 10000, ("wf-active-1",)),
    _set(S_SINGLE, "Free shipping", None, None, ("wf-active-1",), kind="single"),
    _set(S_DRAFT, "Draft only", 100, 1000, ("wf-draft", "wf-missing")),
    _set(S_FORMULA, FORMULA, 5000, 5000),
    _set(S_WIDE, WIDE, 3000, 3000, ("wf-active-1", "wf-active-2")),
    _set(S_ESC, ESCAPE, 700, 900, ("wf-active-2",)),
)
#: plan order: refills by urgency (10/500, 50/200), then skips by urgency
ORDER = (S_EVIL, S_WELCOME, S_DRAFT, S_SINGLE, S_ESC, S_WIDE, S_FORMULA, S_LONG)
NAMES = {cs.id: cs.name for cs in SETS}


@pytest.fixture(scope="module")
def the_plan() -> Plan:
    return plan(SETS, WORKFLOWS, parse_config(RULES), [], NOW)


@pytest.fixture(scope="module")
def report(the_plan: Plan) -> Report:
    return build_report(the_plan, WORKFLOWS, generated_at=NOW, source=SOURCE)


def test_the_hand_built_plan_is_what_the_tests_expect(the_plan: Plan) -> None:
    assert tuple(d.coupon_set.id for d in the_plan.decisions) == ORDER
    assert [d.coupon_set.id for d in the_plan.refills] == [S_EVIL, S_WELCOME]
    assert len(the_plan.warnings) == 2  # unknown status 'archived', unknown workflow id


# --- the model ---------------------------------------------------------------------------------


def test_rows_follow_the_plan_and_carry_every_field(report: Report) -> None:
    assert tuple(r.set_id for r in report.rows) == ORDER
    rows = {r.set_id: r for r in report.rows}
    welcome = rows[S_WELCOME]
    assert welcome == ReportRow(
        set_id=S_WELCOME,
        name="Welcome 10%",
        type="multiple",
        available=50,
        quantity=3000,
        assigned=2950,
        active_workflows=(("wf-active-1", "Welcome series"),),
        workflows=(
            ("wf-active-1", "Welcome series", "active"),
            ("wf-draft", "Draft campaign", "draft"),
        ),
        rule="rule 'welcome'",
        action="refill",
        count=1950,
        skip=None,
        reason="available 50 < 200; 1 active workflow",
        threshold=200,
        target=2000,
        shop="codes NOT registered with the shop (no [shop] sink)",
    )
    assert rows[S_SINGLE].shop == ""
    assert rows[S_EVIL].count == 4990 and rows[S_EVIL].rule == "defaults"
    assert rows[S_EVIL].target == 5000 and rows[S_EVIL].threshold == 500
    single = rows[S_SINGLE]
    assert (single.action, single.skip, single.threshold, single.target) == (
        "skip",
        "single-set",
        None,
        None,
    )
    assert rows[S_DRAFT].workflows == (
        ("wf-draft", "Draft campaign", "draft"),
        ("wf-missing", "wf-missing", None),
    )
    assert rows[S_DRAFT].skip == "no-active-workflow"
    assert rows[S_LONG].skip == "above-threshold" and rows[S_LONG].count == 0
    assert report.refills == (rows[S_EVIL], rows[S_WELCOME])
    assert report.total_codes == 4990 + 1950
    assert report.generated_at == NOW and report.source == SOURCE
    assert any("wf-missing" in w for w in report.warnings)
    assert any("'archived'" in w for w in report.warnings)


def test_summary_sentences(the_plan: Plan) -> None:
    def summary(decisions: Any) -> str:
        return build_report(
            Plan(tuple(decisions)), WORKFLOWS, generated_at=NOW, source=SOURCE
        ).summary

    assert summary(the_plan.decisions) == "2 of 8 sets need codes: 6,940 codes in all."
    assert summary(the_plan.decisions[1:]) == "1 of 7 sets needs codes: 1,950 codes in all."
    assert summary(the_plan.decisions[2:]) == "No set needs codes (6 sets checked)."
    assert summary(()) == "No coupon sets found."


def test_build_report_wants_an_aware_time_and_keeps_it_in_utc(the_plan: Plan) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_report(the_plan, WORKFLOWS, generated_at=datetime(2026, 3, 1), source=SOURCE)
    cet = NOW.astimezone(timezone(timedelta(hours=1)))
    built = build_report(the_plan, WORKFLOWS, generated_at=cet, source=SOURCE)
    assert built.generated_at == NOW and built.generated_at.utcoffset() == timedelta(0)
    assert to_json(built)["generatedAt"] == "2026-03-01T09:30:15Z"


def test_credentials_in_the_source_url_are_dropped(the_plan: Plan) -> None:
    built = build_report(
        the_plan, WORKFLOWS, generated_at=NOW, source="https://key:secret@example.test/x?t=s3"
    )
    assert built.source == "https://example.test/x"
    for fmt in FORMATS:
        assert "secret" not in render(built, fmt)


@pytest.mark.parametrize("fmt", ["pdf", "", "tables"])
def test_an_unknown_format_is_a_usage_error(report: Report, fmt: str) -> None:
    with pytest.raises(ReportFormatError, match="choose one of: table, markdown") as info:
        render(report, fmt)
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_a_newline_and_is_case_insensitive(report: Report, fmt: str) -> None:
    text = render(report, fmt)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert render(report, fmt.upper()) == text


# --- table -------------------------------------------------------------------------------------


def _header(lines: list[str]) -> list[str]:
    """The table's header, after the attention list."""
    return next(line for line in lines if line.startswith("Set ")).split()


def test_table_content_and_order(report: Report) -> None:
    text = render(report, "table")
    lines = text.splitlines()
    assert lines[0] == f"voucherbot report · 2026-03-01 09:30 UTC · {SOURCE}"
    assert _header(lines) == ["Set", "Type", "Avail/Qty", "Active", "WFs", "Action"]
    positions = [text.index(set_id) for set_id in ORDER]
    assert positions == sorted(positions)
    table = text[text.index("\nSet ") : text.rindex("2 of 8 sets need codes")]  # not warnings
    for set_id in ORDER:
        assert table.count(set_id) == 1
    row = next(line for line in lines if line.startswith("Welcome 10%"))
    assert row.split() == ["Welcome", "10%", "multiple", "50/3,000", "1/2", "refill", "1,950"]
    detail = lines[lines.index(row) + 1]
    assert detail == f"    {S_WELCOME}  available 50 < 200; 1 active workflow"
    assert lines[lines.index(row) + 2] == "    active: Welcome series"
    single = next(line for line in lines if line.startswith("Free shipping"))
    assert single.split()[2:] == ["single", "unlimited", "1/1", "skip"]
    assert "available 8,000 is not below the threshold 500" in text
    assert "active: Cart | reminder, " not in text  # one active workflow for the evil set
    assert f"{S_EVIL}  available 10 < 500; 1 active workflow" in text
    summary = lines.index("2 of 8 sets need codes: 6,940 codes in all.")
    assert lines[summary + 1].startswith("Warning: workflow 'Odd status' (wf-odd) has unknown")
    assert any("wf-missing" in line for line in lines[summary + 1 :])


@pytest.mark.parametrize("width", [100, 80, 60, 40, 132])
def test_no_table_line_is_wider_than_asked(report: Report, width: int) -> None:
    lines = render(report, "table", width=width).splitlines()
    assert max(len(line) for line in lines) <= width
    wide = next(line for line in lines if line.startswith("夏"))
    assert _cells(wide) <= width  # CJK characters take two terminal cells
    assert all(line == line.rstrip() for line in lines)
    header = _header(lines)
    if width >= 80:
        assert header == ["Set", "Type", "Avail/Qty", "Active", "WFs", "Action"]
    elif width == 60:  # narrow: the type column goes, to leave room for the names
        assert header == ["Set", "Avail/Qty", "WFs", "Action"]
    if width >= 40:  # the ids stay whole, to copy into `voucherbot refill ID`
        assert all(set_id in "\n".join(lines) for set_id in ORDER)


def test_long_names_are_cut_with_an_ellipsis(report: Report) -> None:
    text = render(report, "table", width=100)
    assert LONG not in text
    cut = next(line for line in text.splitlines() if line.startswith("Autumn loyalty"))
    assert "…" in cut and cut.split("…")[0].rstrip() in LONG
    assert LONG in render(report, "table", width=200)


def test_table_is_plain_text_without_control_characters(report: Report) -> None:
    text = render(report, "table")
    assert "\x1b" not in text and "\t" not in text and "\r" not in text
    assert "Red\ufffd[31m alert second line" in text  # the escape is defused, the line joined


def test_table_of_an_empty_account(the_plan: Plan) -> None:
    empty = build_report(Plan(()), [], generated_at=NOW, source=SOURCE)
    assert render(empty, "table").splitlines()[1:] == ["", "No coupon sets found."]


def _cells(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# --- markdown ----------------------------------------------------------------------------------

MD_HEADERS = [
    "Set",
    "ID",
    "Type",
    "Available",
    "Quantity",
    "Assigned",
    "Threshold",
    "Target",
    "Burn/day",
    "Days left",
    "Empty by",
    "Action",
    "Count",
    "Skip",
    "Reason",
    "Rule",
    "Active workflows",
    "Workflows",
    "Forecast",
    "Shop",
    "Pool left",
    "In the shop",
]


def _md_cells(line: str) -> list[str]:
    assert line.startswith("| ") and line.endswith(" |")
    return [c.strip() for c in re.split(r"(?<!\\)\|", line[2:-2])]


def _md_table(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = _md_cells(lines[0])
    assert re.fullmatch(r"\|(---:?\|)+", lines[1])
    return [dict(zip(header, _md_cells(line), strict=True)) for line in lines[2:]]


def test_markdown_table_has_every_set_and_field(report: Report) -> None:
    text = render(report, "markdown")
    assert text.startswith("# Coupon set report, 2026-03-01 09:30 UTC\n")
    assert f"Source: {SOURCE}" in text
    assert "**1 set needs a person. 2 of 8 sets need codes: 6,940 codes in all.**" in text
    assert (
        "## Needs a person\n\n- Draft only: 100 of 1,000 left; will NOT be refilled: no active "
        "workflow uses it\n\n## The bot will refill\n\n"
    ) in text
    assert "- Welcome 10%: refill 1,950 codes, to 2,000 available\n" in text
    table = _md_table(text)
    assert list(table[0]) == MD_HEADERS
    assert [row["ID"] for row in table] == [f"`{i}`" for i in ORDER]
    welcome = table[1]
    assert welcome == {
        "Set": "Welcome 10%",
        "ID": f"`{S_WELCOME}`",
        "Type": "multiple",
        "Available": "50",
        "Quantity": "3,000",
        "Assigned": "2,950",
        "Threshold": "200",
        "Target": "2,000",
        "Burn/day": "",
        "Days left": "-",  # no forecast: the plan had no history
        "Empty by": "",
        "Action": "**refill**",
        "Count": "1,950",
        "Skip": "",
        "Reason": "available 50 &lt; 200; 1 active workflow",
        "Rule": "rule 'welcome'",
        "Active workflows": "Welcome series",
        "Workflows": "Welcome series (active, wf-active-1), Draft campaign (draft, wf-draft)",
        "Forecast": "",
        "Shop": "codes NOT registered with the shop (no [shop] sink)",
        "Pool left": "",
        "In the shop": "",
    }
    draft = table[2]
    assert draft["Workflows"].endswith("wf-missing (not found)")
    assert draft["Skip"] == "no-active-workflow" and draft["Action"] == "skip"
    single = table[3]
    assert (single["Available"], single["Threshold"], single["Target"]) == ("", "", "")
    assert "## Warnings" in text and "- workflow 'Odd status'" in text


def test_markdown_escapes_pipes_and_html(report: Report) -> None:
    text = render(report, "markdown")
    evil = _md_table(text)[0]
    assert evil["Set"] == '&lt;script&gt;alert(1)&lt;/script&gt; & "x" \\| y'
    assert evil["Active workflows"] == "Cart \\| reminder"
    assert "<script>" not in text
    escape_row = next(r for r in _md_table(text) if r["ID"] == f"`{S_ESC}`")
    assert escape_row["Set"] == "Red\ufffd[31m alert second line"


# --- csv ---------------------------------------------------------------------------------------


def test_csv_parses_back_to_the_same_values(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["id"] for r in rows] == list(ORDER)
    for got, want in zip(rows, report.rows, strict=True):
        name = want.name if want.set_id != S_FORMULA else "'" + FORMULA
        # the same text, but no terminal escape survives (a line break does, quoted)
        assert got["name"] == name.replace("\x1b", "\ufffd")
        assert (got["type"], got["rule"], got["action"], got["reason"]) == (
            want.type,
            want.rule,
            want.action,
            want.reason,
        )
        for key in ("available", "quantity", "assigned", "threshold", "target", "count"):
            value = getattr(want, key)
            assert got[key] == ("" if value is None else str(value))
        assert got["skip"] == (want.skip or "")
    welcome = rows[1]
    assert welcome["active_workflows"] == "Welcome series"
    assert welcome["active_workflow_ids"] == "wf-active-1"
    assert welcome["workflows"] == "Welcome series (active); Draft campaign (draft)"
    assert welcome["workflow_ids"] == "wf-active-1; wf-draft"
    assert rows[2]["workflows"] == "Draft campaign (draft); wf-missing (not found)"
    wide = next(r for r in rows if r["id"] == S_WIDE)
    assert wide["active_workflows"] == "Welcome series; Cart | reminder"
    assert wide["available"] == "3000"  # plain integers, no separators
    # the text is kept but for the escape character (a terminal would obey it)
    assert next(r for r in rows if r["id"] == S_ESC)["name"] == ESCAPE.replace("\x1b", "\ufffd")


def test_csv_defuses_spreadsheet_formulas(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    formula = next(r for r in rows if r["id"] == S_FORMULA)
    assert formula["name"] == "'" + FORMULA
    assert all(not value.startswith(("=", "+", "-", "@")) for r in rows for value in r.values())


# --- json --------------------------------------------------------------------------------------

TOP_KEYS = {"version", "generatedAt", "source", "summary", "warnings", "sets"}
SUMMARY_KEYS = {"sets", "refills", "codes"}
SET_KEYS = {
    "id",
    "name",
    "type",
    "available",
    "quantity",
    "assigned",
    "threshold",
    "target",
    "rule",
    "action",
    "count",
    "skip",
    "reason",
    "burnPerDay",
    "daysLeft",
    "emptyAt",
    "forecastNote",
    "shop",
    "poolRemaining",
    "shopEndsAt",
    "shopRedeemable",
    "shopRedeemed",
    "shopLeaked",
    "activeWorkflows",
    "workflows",
}


def _check_json_shape(doc: dict[str, Any]) -> None:
    assert set(doc) == TOP_KEYS
    assert doc["version"] == REPORT_VERSION == 1
    assert set(doc["summary"]) == SUMMARY_KEYS
    assert all(isinstance(w, str) for w in doc["warnings"])
    for entry in doc["sets"]:
        assert set(entry) == SET_KEYS
        assert all(set(w) == {"id", "name"} for w in entry["activeWorkflows"])
        assert all(set(w) == {"id", "name", "status"} for w in entry["workflows"])
        assert entry["action"] in ("refill", "skip")
        for key in ("available", "quantity", "threshold", "target"):
            assert entry[key] is None or type(entry[key]) is int
        assert type(entry["count"]) is int and type(entry["assigned"]) is int
        for key in ("burnPerDay", "daysLeft"):
            assert entry[key] is None or type(entry[key]) is float
            assert entry[key] is None or entry[key] == round(entry[key], 2) >= 0
        assert entry["emptyAt"] is None or re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["emptyAt"]
        )
        assert entry["forecastNote"] is None or entry["forecastNote"]
        if entry["burnPerDay"] is None:
            assert entry["daysLeft"] is None and entry["emptyAt"] is None


def test_json_has_the_documented_shape_and_values(report: Report) -> None:
    text = render(report, "json")
    doc = json.loads(text)
    _check_json_shape(doc)
    assert doc == to_json(report)
    assert doc["generatedAt"] == "2026-03-01T09:30:15Z" and doc["source"] == SOURCE
    assert doc["summary"] == {"sets": 8, "refills": 2, "codes": 6940}
    assert doc["warnings"] == list(report.warnings)
    assert [s["id"] for s in doc["sets"]] == list(ORDER)
    assert doc["sets"][1] == {
        "id": S_WELCOME,
        "name": "Welcome 10%",
        "type": "multiple",
        "available": 50,
        "quantity": 3000,
        "assigned": 2950,
        "threshold": 200,
        "target": 2000,
        "rule": "rule 'welcome'",
        "action": "refill",
        "count": 1950,
        "skip": None,
        "reason": "available 50 < 200; 1 active workflow",
        "burnPerDay": None,
        "daysLeft": None,
        "emptyAt": None,
        "forecastNote": None,
        "shop": "codes NOT registered with the shop (no [shop] sink)",
        "poolRemaining": None,
        "shopEndsAt": None,
        "shopRedeemable": None,
        "shopRedeemed": None,
        "shopLeaked": None,
        "activeWorkflows": [{"id": "wf-active-1", "name": "Welcome series"}],
        "workflows": [
            {"id": "wf-active-1", "name": "Welcome series", "status": "active"},
            {"id": "wf-draft", "name": "Draft campaign", "status": "draft"},
        ],
    }
    by_id = {s["id"]: s for s in doc["sets"]}
    assert by_id[S_EVIL]["name"] == EVIL and by_id[S_ESC]["name"] == ESCAPE
    assert by_id[S_SINGLE]["available"] is None and by_id[S_SINGLE]["target"] is None
    assert by_id[S_DRAFT]["workflows"][1] == {
        "id": "wf-missing",
        "name": "wf-missing",
        "status": None,
    }
    assert WIDE in text  # UTF-8, not \\u escapes


def test_the_module_docstring_documents_every_json_key() -> None:
    import voucherbot.report.model as module

    doc = module.__doc__ or ""
    for key in TOP_KEYS | SUMMARY_KEYS | SET_KEYS:
        assert f'"{key}"' in doc
    assert ", ".join(CSV_COLUMNS) in " ".join(doc.split())


# --- html --------------------------------------------------------------------------------------


class _TagBalance(HTMLParser):
    """Checks that every start tag is closed, in order (void tags must be written as <x/>)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse_html(text: str) -> ET.Element:
    assert text.startswith("<!DOCTYPE html>\n")
    checker = _TagBalance()
    checker.feed(text)
    checker.close()
    assert checker.problems == [] and checker.stack == []
    return ET.fromstring(text.removeprefix("<!DOCTYPE html>\n"))  # noqa: S314 - our own output


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _seen(element: ET.Element) -> str:
    """The text a reader sees without the charts (whose titles are tooltips)."""
    parts: list[str] = []

    def walk(el: ET.Element) -> None:
        if el.tag == "svg":
            parts.append(" ")
        else:
            parts.append(el.text or "")
            for child in el:
                walk(child)
        parts.append(el.tail or "")

    walk(element)
    return " ".join("".join(parts[:-1]).split())  # the element's own tail is not its text


def _html_rows(root: ET.Element) -> list[dict[str, ET.Element]]:
    table = root.find(".//table[@id='sets']")
    assert table is not None
    headers = [_text(th) for th in table.iterfind("./thead/tr/th")]
    rows = []
    for tr in table.iterfind("./tbody/tr"):
        cells = tr.findall("td")
        assert len(cells) == len(headers)
        rows.append(dict(zip(headers, cells, strict=True)))
    return rows


def test_html_is_well_formed_and_self_contained(report: Report) -> None:
    text = render(report, "html")
    root = _parse_html(text)
    assert root.tag == "html"
    tags = {el.tag for el in root.iter()}
    assert not tags & {"link", "img", "iframe", "object", "embed", "audio", "video", "base"}
    for el in root.iter():
        assert "src" not in el.attrib and "href" not in el.attrib, el.tag
        assert not any(k.startswith("on") for k in el.attrib), el.tag  # no inline handlers
    scripts = root.findall(".//script")
    assert len(scripts) == 1 and not scripts[0].attrib
    style = root.find("./head/style")
    assert style is not None and "url(" not in (style.text or "")
    assert "@import" not in (style.text or "")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?:""", text, re.IGNORECASE)


def test_html_escapes_every_text(report: Report) -> None:
    text = render(report, "html")
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot; | y" in text
    assert text.count("<script>") == 1
    assert "\x1b" not in text
    rows = _html_rows(_parse_html(text))
    # the parser gives the original back
    assert _text(rows[0]["Set"]) == f"{EVIL} multiple · defaults {S_EVIL}"
    assert rows[0]["Set"].get("data-sort") == EVIL.casefold()


def test_html_table_content(report: Report) -> None:
    root = _parse_html(render(report, "html"))
    title = root.find("./head/title")
    assert title is not None and title.text == "Coupon set report, 2026-03-01 09:30 UTC"
    body = _text(root.find("body"))  # type: ignore[arg-type]
    assert "2 of 8 sets need codes: 6,940 codes in all." in body and SOURCE in body
    warnings = root.find(".//div[@class='warnings']")
    assert warnings is not None and len(warnings.findall(".//li")) == 2
    rows = _html_rows(root)
    assert [_text(r["Set"]).split()[-1] for r in rows] == list(ORDER)  # the id, under the name
    welcome = rows[1]
    assert {k: _seen(v) for k, v in welcome.items() if k != "Workflows"} == {
        "#": "2",
        "Set": f"Welcome 10% multiple · rule 'welcome' {S_WELCOME}",
        "Available": "50 of 3,000 · 2,950 assigned refill below 200, up to 2,000",
        "Action": "refill 1,950",
        "Why": "available 50 < 200; 1 active workflow"
        "codes NOT registered with the shop (no [shop] sink)",  # on a line of its own
    }
    assert _text(welcome["Workflows"]) == (
        "1 of 2 active Welcome series (active) Draft campaign (draft)"
    )
    assert welcome["Available"].get("data-sort") == "50"  # sort keys are plain numbers
    assert welcome["Action"].get("data-sort") == "1950"
    assert [td.get("data-label") for td in welcome.values()][1:] == list(welcome)[1:]  # cards
    assert _text(rows[2]["Workflows"]).endswith("wf-missing (not found)")
    assert _seen(rows[3]["Available"]) == "unlimited"
    assert [tr.get("class") for tr in root.iterfind(".//tbody/tr")][:3] == [
        "refill",
        "refill",
        None,
    ]
    kinds = [tr.get("data-kind") for tr in root.iterfind(".//tbody/tr")]
    assert kinds[:3] == ["refill", "refill", "person"]  # Draft only: low, no active workflow
    attention = root.find(".//section[@id='attention']")
    assert attention is not None
    assert [_text(li) for li in attention.iterfind(".//li")] == [
        "! Draft only: 100 of 1,000 left; will NOT be refilled: no active workflow uses it",
        f"+ {EVIL}: refill 4,990 codes, to 5,000 available",
        "+ Welcome 10%: refill 1,950 codes, to 2,000 available",
    ]
    headline = root.find(".//p[@id='headline']")
    assert headline is not None and _text(headline).startswith("1 set needs a person.")


def test_html_bars_show_available_against_threshold_and_target(report: Report) -> None:
    rows = _html_rows(_parse_html(render(report, "html")))
    welcome = rows[1]["Available"].find("svg")
    assert welcome is not None
    tip = welcome.find("title")
    assert tip is not None and tip.text == "50 available of 3,000; refill below 200, up to 2,000"
    rects = welcome.findall("rect")
    lines = welcome.findall("line")
    assert rects[1].get("fill") == "#c62828"  # below the threshold: red
    assert len(lines) == 2  # threshold and target ticks
    width = float(welcome.get("width") or 0)
    assert float(rects[1].get("width") or 0) == pytest.approx(50 / 3000 * width, abs=0.1)
    assert float(lines[0].get("x1") or 0) == pytest.approx(200 / 3000 * width, abs=0.1)
    assert float(lines[1].get("x1") or 0) == pytest.approx(2000 / 3000 * width, abs=0.1)
    healthy = rows[-1]["Available"].find("svg")  # 8,000 of 10,000, threshold 500
    assert healthy is not None and healthy.findall("rect")[1].get("fill") == "#2e7d32"


def test_html_sorting_script_is_inline_and_xml_safe(report: Report) -> None:
    text = render(report, "html")
    script = text[text.index("<script>") + 8 : text.index("</script>")]
    assert "<" not in script and "&" not in script
    assert 'getElementById("sets")' in script and "aria-sort" in script


_SORT_HARNESS = """
var heads = HEADS, data = DATA;
function Cell(c) { this.c = c; this.textContent = c.text; this.attrs = {}; this.on = {}; }
Cell.prototype.getAttribute = function (k) {
  if (k === "data-sort") { return this.c.sort; }
  return k in this.attrs ? this.attrs[k] : null;
};
Cell.prototype.setAttribute = function (k, v) { this.attrs[k] = v; };
Cell.prototype.removeAttribute = function (k) { delete this.attrs[k]; };
Cell.prototype.addEventListener = function (k, f) { this.on[k] = f; };
var ths = heads.map(function (h) { return new Cell({sort: null, text: h}); });
var body = {rows: data.map(function (r) {
  return {cells: r.map(function (c) { return new Cell(c); })};
})};
body.appendChild = function (row) {
  this.rows.splice(this.rows.indexOf(row), 1);
  this.rows.push(row);
};
var table = {tHead: {rows: [{cells: ths}]}, tBodies: [body]};
var document = {getElementById: function (id) { return id === "sets" ? table : null; }};
SCRIPT
var seen = [];
["Available", "Available", "Set", "#"].forEach(function (name) {
  var th = ths[heads.indexOf(name)];
  th.on.click();
  var order = body.rows.map(function (r) { return r.cells[0].textContent; });
  seen.push([th.attrs["aria-sort"], order]);
});
console.log(JSON.stringify(seen));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the script")
def test_html_sorting_script_sorts_the_rows(report: Report, tmp_path: Path) -> None:
    """Runs the page's script in Node against a minimal stand-in for the table's DOM."""
    text = render(report, "html")
    root = _parse_html(text)
    heads = [_text(th) for th in root.iterfind(".//thead/tr/th")]
    data = [
        [{"sort": td.get("data-sort"), "text": _text(td)} for td in tr.findall("td")]
        for tr in root.iterfind(".//tbody/tr")
    ]
    script = text[text.index("<script>") + 8 : text.index("</script>")]
    program = tmp_path / "sort.js"
    program.write_text(
        _SORT_HARNESS.replace("HEADS", json.dumps(heads))
        .replace("DATA", json.dumps(data))
        .replace("SCRIPT", script),
        encoding="utf-8",
    )
    run = subprocess.run(["node", str(program)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    by_available, reversed_, by_name, by_position = json.loads(run.stdout)
    # ORDER positions: the single set (4th) has no count and stays last both ways
    assert by_available == ["ascending", ["1", "2", "3", "5", "6", "7", "8", "4"]]
    assert reversed_ == ["descending", ["8", "7", "6", "5", "3", "2", "1", "4"]]
    names = [NAMES[ORDER[int(i) - 1]].casefold() for i in by_name[1]]
    assert by_name[0] == "ascending" and names == sorted(names)
    assert by_position == ["ascending", [str(i) for i in range(1, 9)]]


# --- forecasts ---------------------------------------------------------------------------------

FC_RULES = b"""
[defaults]
min_days_left = 7
cover_days = 30
"""
F_HOT, F_NEW, F_IDLE, F_ONE = (_id(n) for n in range(11, 15))
FC_SETS = (
    _set(F_HOT, "Hot deals", 2000, 20000, ("wf-active-1",)),
    _set(F_NEW, "New set", 300, 1000, ("wf-active-1",)),
    _set(F_IDLE, "Idle pool", 900, 1000, ("wf-active-2",)),
    _set(F_ONE, "Free shipping", None, None, ("wf-active-1",), kind="single"),
)


def _hot_history() -> list[Snapshot]:
    """410 a day for 10 days; empty 6 days ago, then refilled with 4,460 codes."""
    snaps = []
    for d in range(10, 0, -1):
        available = 2000 + 410 * d - (4460 if d >= 6 else 0)
        snaps.append(Snapshot(NOW - timedelta(days=d), available, 18000 - 410 * d, None))
    return snaps


FC_HISTORY: dict[str, list[Snapshot]] = {
    F_HOT: _hot_history(),
    F_IDLE: [Snapshot(NOW - timedelta(days=d), 900, 100, 1000) for d in range(10, 0, -1)],
    F_ONE: [Snapshot(NOW - timedelta(days=1), None, 10, None)],  # ignored: a single set
}
FC_ORDER = (F_NEW, F_HOT, F_ONE, F_IDLE)


@pytest.fixture(scope="module")
def fc_report() -> Report:
    the_plan = plan(FC_SETS, WORKFLOWS, parse_config(FC_RULES), [], NOW, history=FC_HISTORY)
    return build_report(the_plan, WORKFLOWS, generated_at=NOW, source=SOURCE, history=FC_HISTORY)


def test_forecast_rows_carry_the_figures_and_the_history(fc_report: Report) -> None:
    assert tuple(r.set_id for r in fc_report.rows) == FC_ORDER
    rows = {r.set_id: r for r in fc_report.rows}
    hot = rows[F_HOT]
    assert hot.burn_per_day == pytest.approx(410)
    assert hot.days_left == pytest.approx(2000 / 410)
    assert hot.empty_at == NOW + timedelta(days=2000 / 410)
    assert hot.forecast_note == "weighted over 10 days (10 intervals, half-life 3 days)"
    assert (hot.action, hot.count, hot.target) == ("refill", 12760, 14760)
    assert len(hot.history) == 11 and hot.history[-1] == (NOW, 2000)  # now is the newest
    assert [a for _, a in hot.history][1:6] == [1230, 820, 410, 0, 4050]  # 9 to 5 days ago
    assert hot.has_forecast
    new = rows[F_NEW]
    assert (new.burn_per_day, new.days_left, new.empty_at) == (None, None, None)
    assert new.forecast_note == "not enough history (1 snapshot; need 3 over 24 h)"
    assert new.history == () and new.has_forecast  # a forecast was tried: unknown
    assert "forecast unknown: not enough history" in new.reason
    idle = rows[F_IDLE]
    assert (idle.burn_per_day, idle.days_left, idle.empty_at) == (0.0, math.inf, None)
    one = rows[F_ONE]
    assert (one.burn_per_day, one.forecast_note, one.history) == (None, "", ())
    assert not one.has_forecast and fc_report.has_forecasts


def test_history_alone_gives_a_sparkline_without_forecast(the_plan: Plan) -> None:
    built = build_report(
        the_plan,
        WORKFLOWS,
        generated_at=NOW,
        source=SOURCE,
        history={S_WELCOME: [Snapshot(NOW - timedelta(days=1), 80, 2920, 3000)]},
    )
    row = next(r for r in built.rows if r.set_id == S_WELCOME)
    assert row.history == ((NOW - timedelta(days=1), 80), (NOW, 50))
    assert not row.has_forecast and built.has_forecasts
    assert not build_report(the_plan, WORKFLOWS, generated_at=NOW, source=SOURCE).has_forecasts


def test_forecast_table_shows_days_left(fc_report: Report) -> None:
    lines = render(fc_report, "table").splitlines()
    assert _header(lines) == ["Set", "Type", "Avail/Qty", "Days", "left", "Active", "WFs",
                                "Action"]  # fmt: skip
    days = {
        name: next(line for line in lines if line.startswith(name)).split()
        for name in ("Hot deals", "New set", "Idle pool", "Free shipping")
    }
    assert days["Hot deals"][-5:] == ["2,000/20,000", "4.9", "1/1", "refill", "12,760"]
    assert days["New set"][-5:] == ["300/1,000", "?", "1/1", "refill", "4,700"]
    assert days["Idle pool"][-4:] == ["900/1,000", "never", "1/1", "skip"]
    assert days["Free shipping"][-4:] == ["unlimited", "-", "1/1", "skip"]


def test_long_reasons_wrap_under_themselves(fc_report: Report) -> None:
    lines = render(fc_report, "table").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"    {F_HOT}  "))
    first, more = lines[at], lines[at + 1]
    assert more.startswith(" " * 30) and not more.startswith(" " * 31)
    text = first[30:] + " " + more[30:]
    assert text == (
        "empties in 4.9 days < min_days_left 7; burn 410/day; 1 active workflow; to 14,760 = "
        "30 days × 410/day × 1.2"
    )
    assert lines[at + 2] == "    active: Welcome series"


@pytest.mark.parametrize("width", [100, 80, 60, 40])
def test_forecast_table_fits_the_width(fc_report: Report, width: int) -> None:
    lines = render(fc_report, "table", width=width).splitlines()
    assert max(len(line) for line in lines) <= width
    if width == 60:
        assert _header(lines) == ["Set", "Avail/Qty", "Days", "WFs", "Action"]
    for set_id in FC_ORDER:
        assert set_id in "\n".join(lines)


def test_forecast_markdown(fc_report: Report) -> None:
    table = {row["ID"].strip("`"): row for row in _md_table(render(fc_report, "markdown"))}
    hot = table[F_HOT]
    assert (hot["Burn/day"], hot["Days left"], hot["Empty by"]) == (
        "410",
        "4.9",
        "2026-03-06 06:34 UTC",
    )
    assert hot["Forecast"] == "weighted over 10 days (10 intervals, half-life 3 days)"
    assert hot["Target"] == "14,760"
    new = table[F_NEW]
    assert (new["Burn/day"], new["Days left"], new["Empty by"]) == ("", "?", "")
    assert new["Forecast"] == "not enough history (1 snapshot; need 3 over 24 h)"
    assert (table[F_IDLE]["Burn/day"], table[F_IDLE]["Days left"]) == ("0", "never")
    assert (table[F_ONE]["Days left"], table[F_ONE]["Forecast"]) == ("-", "")


def test_forecast_csv(fc_report: Report) -> None:
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(render(fc_report, "csv")))}
    assert list(next(iter(rows.values())))[-10:-6] == [
        "burn_per_day",
        "days_left",
        "empty_at",
        "forecast_note",
    ]
    hot = rows[F_HOT]
    assert (hot["burn_per_day"], hot["days_left"], hot["empty_at"]) == (
        "410.0",
        "4.88",
        "2026-03-06T06:34:38Z",
    )
    assert hot["forecast_note"] == "weighted over 10 days (10 intervals, half-life 3 days)"
    new = rows[F_NEW]
    assert (new["burn_per_day"], new["days_left"], new["empty_at"]) == ("", "", "")
    assert new["forecast_note"].startswith("not enough history")
    idle = rows[F_IDLE]
    assert (idle["burn_per_day"], idle["days_left"], idle["empty_at"]) == ("0.0", "", "")
    assert rows[F_ONE]["forecast_note"] == ""


def test_forecast_json(fc_report: Report) -> None:
    doc = json.loads(render(fc_report, "json"))
    _check_json_shape(doc)
    sets = {s["id"]: s for s in doc["sets"]}
    hot = sets[F_HOT]
    assert (hot["burnPerDay"], hot["daysLeft"], hot["emptyAt"]) == (
        410.0,
        4.88,
        "2026-03-06T06:34:38Z",
    )
    assert hot["forecastNote"] == "weighted over 10 days (10 intervals, half-life 3 days)"
    assert hot["target"] == 14760 and hot["count"] == 12760
    new = sets[F_NEW]
    assert (new["burnPerDay"], new["daysLeft"], new["emptyAt"]) == (None, None, None)
    assert new["forecastNote"] == "not enough history (1 snapshot; need 3 over 24 h)"
    idle = sets[F_IDLE]
    assert (idle["burnPerDay"], idle["daysLeft"], idle["emptyAt"]) == (0.0, None, None)
    assert sets[F_ONE]["forecastNote"] is None
    assert "Infinity" not in render(fc_report, "json")  # strict JSON


def test_forecast_html_columns(fc_report: Report) -> None:
    text = render(fc_report, "html")
    root = _parse_html(text)
    heads = [_text(th) for th in root.iterfind(".//thead/tr/th")]
    assert heads == ["#", "Set", "Available", "Days left", "Chart", "Action", "Why", "Workflows"]
    rows = {_text(r["Set"]).split()[-1]: r for r in _html_rows(root)}
    hot = rows[F_HOT]
    assert _text(hot["Days left"]) == "4.9 empty by 2026-03-06 06:34 UTC 410/day"
    assert hot["Days left"].get("data-sort") == "4.8780"
    chart = hot["Chart"].find("svg")
    assert chart is not None
    assert chart.get("aria-label") == (
        "Available over 10 days: now 2,000, lowest 0, highest 4,050; threshold 500; "
        "forecast: empty 2026-03-06 06:34 UTC"
    )
    assert _seen(hot["Chart"]) == "weighted over 10 days (10 intervals, half-life 3 days)"
    assert rows[F_IDLE]["Days left"].get("data-sort") == "Infinity"
    assert _text(rows[F_IDLE]["Days left"]) == "never 0/day"
    assert _text(rows[F_NEW]["Days left"]) == "?"
    assert rows[F_NEW]["Days left"].get("data-sort") == ""  # blanks sort last
    assert _seen(rows[F_NEW]["Chart"]) == "not enough history (1 snapshot; need 3 over 24 h)"
    assert _text(rows[F_ONE]["Chart"]) == "no history"
    body = _text(root.find("body"))  # type: ignore[arg-type]
    assert "Days left: available divided by the codes handed out per day" in body


def test_html_without_forecasts_has_no_forecast_columns(report: Report) -> None:
    heads = [_text(th) for th in _parse_html(render(report, "html")).iterfind(".//thead/tr/th")]
    assert "Chart" not in heads and "Days left" not in heads


def test_chart_is_a_self_contained_readable_svg(fc_report: Report) -> None:
    root = _parse_html(render(fc_report, "html"))
    hot = {_text(r["Set"]).split()[-1]: r for r in _html_rows(root)}[F_HOT]
    svg = hot["Chart"].find("svg")
    assert svg is not None and svg.get("class") == "chart" and svg.get("role") == "img"
    title = svg.find("title")
    assert title is not None and title.text == svg.get("aria-label")
    for el in svg.iter():
        assert not {"href", "src", "style"} & set(el.attrib) and not el.tag.startswith("{")
    (line,) = svg.findall("polyline")
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 11  # ten snapshots and now
    width, height = float(svg.get("width") or 0), float(svg.get("height") or 0)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    assert [x for x, _ in points] == sorted(x for x, _ in points)  # oldest on the left
    assert points[4][1] == max(y for _, y in points)  # the empty day (SVG y grows downwards)
    labels = [_text(t) for t in svg.iterfind("text")]
    assert "threshold 500" in labels and "now" in labels  # labelled, not colour alone
    assert "empty 2026-03-06" in labels
    dashed = [ln for ln in svg.iterfind("line") if ln.get("stroke-dasharray")]
    assert len(dashed) == 2  # the threshold (dotted) and the forecast (dashed)
    forecast = next(ln for ln in dashed if ln.get("stroke-dasharray") == "5 3")
    assert float(forecast.get("x1") or 0) == pytest.approx(points[-1][0])  # from now...
    assert float(forecast.get("y2") or 0) == pytest.approx(points[4][1])  # ...down to empty


def test_chart_shapes() -> None:
    start = NOW - timedelta(days=30)
    assert level_chart([], now=NOW, available=None) == ""
    assert level_chart([(NOW, 5)], now=NOW, available=5) == ""  # one point, no forecast
    long = [(start + timedelta(minutes=10 * i), 1000 - i % 500) for i in range(4320)]
    long[2000] = (long[2000][0], 0)
    svg = ET.fromstring(  # noqa: S314 - our own output
        level_chart(long, now=NOW, available=1000, threshold=100, refills=[(start, 4460)])
    )
    (line,) = svg.findall("polyline")
    points = (line.get("points") or "").split()
    assert len(points) <= 2 * CHART_WIDTH  # thinned to at most two per pixel column
    zero = max(float(p.split(",")[1]) for p in points)
    assert zero == float(CHART_HEIGHT - 16.0)  # the drop to 0 survives the thinning
    (refill,) = svg.findall("path")  # a triangle per refill, its size in its tooltip
    assert refill.findtext("title") == "refilled 4,460 codes, 2026-01-30 09:30 UTC"
    assert "1 refills (4,460 codes)" in (svg.findtext("title") or "")
    # a forecast alone (no history yet) is a chart too
    alone = level_chart([], now=NOW, available=50, empty_at=NOW + timedelta(days=2))
    assert "forecast: empty" in alone and "<polyline" not in alone


def test_days_chart_says_everything_in_words() -> None:
    bars = [
        DaysBar("Spring", 4.94, 120, "refill"),
        DaysBar("Paused", 0.0, 0, "person"),
        DaysBar("Quiet", math.inf, 50, "ok"),
        DaysBar("New", None, 40, "ok"),
        DaysBar("Big", 400.0, 9000, "ok"),
    ]
    svg = ET.fromstring(days_chart(bars))  # noqa: S314 - our own output
    texts = [t.text for t in svg.iter("text")]
    assert texts == [
        "Spring", "4.9 days left (the bot refills it)", "Paused", "EMPTY (needs a person)",
        "Quiet", "no demand (fine)", "New", "days left unknown (fine)", "Big",
        "60 days+ left (fine)",
    ]  # fmt: skip
    rects = [r for r in svg.iter("rect") if r.get("height") == "14"]
    fills = [r.get("fill") for r in rects]
    assert fills == ["#1565c0", "url(#vb-hatch)", "#ffffff", "#ffffff"]  # patterns, not colour
    widths = [float(r.get("width") or 0) for r in rects]
    assert widths[0] < widths[1] or widths[1] == 3.0  # an empty set keeps a sliver
    assert widths[2] == widths[3]  # no demand and 60+ days: a full bar
    assert (svg.get("aria-label") or "").startswith("Days left per set: Spring: 4.9 days left")
    assert days_chart([]) == ""


# --- the sandbox, end to end -------------------------------------------------------------------


@dataclass
class SandboxReport:
    report: Report
    sets: dict[str, tuple[int | None, int | None]]  #: id -> (available, quantity) in the state
    active: dict[str, list[str]]  #: id -> names of the active workflows using it


@pytest.fixture(scope="module")
def sandbox_report() -> Iterator[SandboxReport]:
    with start_sandbox(SandboxConfig(seed=5, rate_limit=0)) as sb:
        client = ConnectifClient(sb.api_key, sb.url)
        with client:
            sets = client.list_coupon_sets()
            workflows = client.list_workflows()
        now = datetime.now(UTC)
        the_plan = plan(sets, workflows, Config(), [], now)
        built = build_report(the_plan, workflows, generated_at=now, source=sb.url)
        state = {
            cs.id: (sb.state.get_set(cs.id).available, sb.state.get_set(cs.id).quantity)
            for cs in sets
        }
        assert set(state) == {cs.id for cs in sb.state.coupon_sets()}
        active = {d.coupon_set.id: [w.name for w in d.active_workflows] for d in the_plan.decisions}
        yield SandboxReport(built, state, active)


@dataclass
class Seen:
    """What one format says about one set."""

    id: str
    available: int | None
    quantity: int | None
    refill: bool
    text: str  # everything the format shows for the set


def _int(text: str) -> int | None:
    text = text.strip().replace(",", "")
    return int(text) if text.isdigit() else None


def _seen_json(text: str) -> list[Seen]:
    doc = json.loads(text)
    _check_json_shape(doc)
    seen = []
    for s in doc["sets"]:
        text = json.dumps(s, ensure_ascii=False)
        seen.append(Seen(s["id"], s["available"], s["quantity"], s["action"] == "refill", text))
    return seen


def _seen_csv(text: str) -> list[Seen]:
    seen = []
    for r in csv.DictReader(io.StringIO(text)):
        available, quantity = _int(r["available"]), _int(r["quantity"])
        refill = r["action"] == "refill"
        seen.append(Seen(r["id"], available, quantity, refill, r["active_workflows"]))
    return seen


def _seen_markdown(text: str) -> list[Seen]:
    seen = []
    for r in _md_table(text):
        available, quantity = _int(r["Available"]), _int(r["Quantity"])
        refill = r["Action"] == "**refill**"
        seen.append(Seen(r["ID"].strip("`"), available, quantity, refill, r["Active workflows"]))
    return seen


def _seen_html(text: str) -> list[Seen]:
    seen = []
    for r in _html_rows(_parse_html(text)):
        code = r["Set"].find("code")
        assert code is not None
        shown = _seen(r["Available"]).split()
        available = _int(shown[0])
        quantity = _int(shown[2]) if len(shown) > 2 and shown[1] == "of" else None
        refill = _text(r["Action"]).startswith("refill")
        seen.append(Seen(_text(code), available, quantity, refill, _text(r["Workflows"])))
    return seen


def _seen_table(text: str) -> list[Seen]:
    lines = text.splitlines()
    seen = []
    for i, line in enumerate(lines):
        match = re.fullmatch(r" {4}([0-9a-f]{24})  .*", line)
        if not match:
            continue
        columns = re.search(r"  (\S+)  +\d+/\d+  (refill [\d,]+|skip)$", lines[i - 1])
        assert columns, lines[i - 1]
        available = quantity = None
        if columns[1] != "unlimited":
            available, quantity = (_int(n) for n in columns[1].split("/"))
        rest = [line for line in lines[i + 1 : i + 6] if not line.startswith(" " * 30)]
        after = rest[0] if rest else ""  # the line after the (possibly wrapped) reason
        active = after if after.startswith("    active: ") else ""
        seen.append(Seen(match[1], available, quantity, columns[2] != "skip", active))
    return seen


SEEN: dict[str, Callable[[str], list[Seen]]] = {
    "json": _seen_json,
    "csv": _seen_csv,
    "markdown": _seen_markdown,
    "html": _seen_html,
    "table": _seen_table,
}


def test_every_format_has_a_reader_here() -> None:
    assert set(SEEN) == set(FORMATS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_sandbox_report_shows_every_set_once_with_its_numbers(
    sandbox_report: SandboxReport, fmt: str
) -> None:
    text = render(sandbox_report.report, fmt)
    seen = SEEN[fmt](text)
    ids = [s.id for s in seen]
    assert sorted(ids) == sorted(sandbox_report.sets)  # every set, exactly once
    for s in seen:
        assert (s.available, s.quantity) == sandbox_report.sets[s.id], (fmt, s.id)
    refills = [s.refill for s in seen]
    assert any(refills)  # seed 5 has low sets used by active workflows
    assert refills == sorted(refills, reverse=True)  # refills first
    assert ids == [r.set_id for r in sandbox_report.report.rows]
    for s in seen:
        names = sandbox_report.active[s.id]
        for name in names:
            assert name in s.text, (fmt, s.id, name)
        if not names and fmt in ("csv", "markdown", "table"):
            assert s.text == ""
    if fmt == "table":
        assert max(len(line) for line in text.splitlines()) <= 100
        for set_id in sandbox_report.sets:
            assert text.count(set_id) == 1


def test_sandbox_sets_with_a_single_code_show_unlimited(sandbox_report: SandboxReport) -> None:
    unlimited = [i for i, (a, q) in sandbox_report.sets.items() if a is None and q is None]
    assert unlimited
    lines = render(sandbox_report.report, "table").splitlines()
    for set_id in unlimited:
        detail = next(i for i, line in enumerate(lines) if line.startswith(f"    {set_id}"))
        assert " single " in lines[detail - 1] and " unlimited " in lines[detail - 1]


# --- the outcome of `voucherbot run` -----------------------------------------------------------


def test_render_run_lists_each_refill_and_a_total(the_plan: Plan) -> None:
    refills = the_plan.refills
    done = Import(
        id="imp-ok",
        status="finished",
        total=refills[0].count,
        success=refills[0].count - 2,
        errors=2,
        error_report_file_url="https://files.example/r.csv",
    )
    results = (
        RefillResult(refills[0].coupon_set, refills[0].count, done),
        RefillResult(refills[1].coupon_set, refills[1].count, error="the import was refused"),
    )
    text = render_run(RunResult(the_plan, results))
    lines = text.splitlines()
    assert text.endswith("\n") and all(len(line) <= 100 for line in lines)
    assert lines[0].split() == ["Set", "Codes", "Import", "Status", "Imported", "Failed"]
    first = lines[2].split()
    assert first[-5:] == [
        f"{refills[0].count:,}",
        "imp-ok",
        "finished",
        f"{refills[0].count - 2:,}",
        "2",
    ]
    assert lines[3].strip() == refills[0].coupon_set.id
    assert lines[4].strip() == "error report: https://files.example/r.csv"
    assert lines[5].split()[-4:] == ["-", "FAILED", "-", "-"]
    assert lines[7].strip() == "the import was refused"
    assert f"0 of 2 refills succeeded; {refills[0].count - 2:,} codes imported." in lines
    assert "were NOT registered with the shop (no [shop] sink)" in " ".join(text.split())
    assert render_run(RunResult(the_plan, ())) == "Nothing to do: 8 sets checked.\n"
