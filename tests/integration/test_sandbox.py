"""The sandbox: a local Connectif-compatible API (voucherbot.sandbox).

Most tests drive the WSGI app in-process through werkzeug's test Client; a few start the real
threaded server and talk to it with requests (127.0.0.1 only, never the internet).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import Client, TestResponse

from voucherbot.sandbox import (
    WORKFLOW_STATUSES,
    SandboxConfig,
    SandboxState,
    make_app,
    start_sandbox,
)
from voucherbot.sandbox.config import DEFAULT_ANCHOR
from voucherbot.sandbox.data import generate
from voucherbot.sandbox.imports import (
    REASON_DUPLICATE_IN_FILE,
    REASON_EMPTY,
    REASON_EXISTS_IN_SET,
    CsvProblem,
    ImportRecord,
    read_codes,
)

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = Path(__file__).resolve().parents[3] / "shared/conformance/sandbox_conformance.py"
ANCHOR = datetime(2025, 3, 1, tzinfo=UTC)
HEX24 = re.compile(r"^[0-9a-f]{24}$")
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
FORM = {
    "type": "coupons",
    "delimiter": ",",
    "overrideExisting": "false",
    "updateOnlyEmptyFields": "false",
}

# A clock where nothing moves unless the test advances it: imports wait 10 s in the queue,
# then run at 10 rows per second.
SLOW = {"import_queue_delay": 10.0, "import_rows_per_second": 10.0}


class Sandbox:
    """An in-process sandbox: the state plus a test client that authenticates by default."""

    def __init__(self, **config: Any) -> None:
        config.setdefault("anchor", ANCHOR)
        config.setdefault("counter_lag", 0)  # tests of the lag ask for it
        self.state = SandboxState(SandboxConfig(**config))
        self.client = Client(make_app(self.state))
        self.auth = {"Authorization": f"apiKey {self.state.api_key}"}

    def get(self, path: str, *, auth: bool = True, **kw: Any) -> TestResponse:
        return self.client.get(path, headers=self.auth if auth else {}, **kw)

    def all(self, path: str) -> list[dict[str, Any]]:
        """Every item of a list endpoint, following links.next."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        while url:
            page = self.get(url).json
            items += page["results"]
            url = page["links"].get("next")
        return items

    def multiple_id(self, n: int = 0) -> str:
        return [s.id for s in self.state.coupon_sets() if s.type == "multiple"][n]

    def single_id(self) -> str:
        return next(s.id for s in self.state.coupon_sets() if s.type == "single")

    def post_import(
        self, csv: bytes | None = b"code\nA1\n", set_id: str | None = None, **fields: str | None
    ) -> TestResponse:
        data: dict[str, Any] = {**FORM, "couponSetId": set_id or self.multiple_id()}
        data.update(fields)
        data = {k: v for k, v in data.items() if v is not None}
        if csv is not None:
            data["file"] = (io.BytesIO(csv), "codes.csv", "text/csv")
        return self.client.post(
            "/imports/", data=data, headers=self.auth, content_type="multipart/form-data"
        )

    def run_import(self, csv: bytes, set_id: str | None = None) -> dict[str, Any]:
        response = self.post_import(csv, set_id)
        assert response.status_code == 201, response.json
        self.state.advance(3600)
        done = self.get(f"/imports/{response.json['id']}").json
        assert done["status"] == "finished"
        return done


@pytest.fixture
def sbx() -> Sandbox:
    return Sandbox()


@pytest.fixture
def make_sbx() -> Callable[..., Sandbox]:
    return Sandbox


def assert_error(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.json
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/coupon-sets/", "/workflows/", "/imports/", "/coupon-sets/abc", "/no-such-endpoint"]
)
@pytest.mark.parametrize(
    "header",
    [None, "apiKey wrong-key", "Bearer KEY", "KEY", "apiKey "],
    ids=["none", "wrong", "bearer", "bare", "empty"],
)
def test_requests_without_the_right_key_get_401(
    sbx: Sandbox, path: str, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header.replace("KEY", sbx.state.api_key)}
    response = sbx.client.get(path, headers=headers)
    body = assert_error(response, 401)
    assert sbx.state.api_key not in json.dumps(body)
    assert response.headers["X-RateLimit-Limit"] == "100"


def test_the_right_key_is_accepted_with_any_case_of_the_scheme(sbx: Sandbox) -> None:
    response = sbx.client.get(
        "/coupon-sets/", headers={"Authorization": f"APIKEY {sbx.state.api_key}"}
    )
    assert response.status_code == 200


def test_api_key_is_generated_once_or_taken_from_config() -> None:
    state = SandboxState()
    assert re.fullmatch(r"sbx-[0-9a-f]{24}", state.api_key)
    assert state.api_key == state.api_key
    assert SandboxState(SandboxConfig(api_key="k-123")).api_key == "k-123"
    assert SandboxState().api_key != state.api_key


@pytest.mark.parametrize(
    "bad",
    [
        {"port": -1},
        {"page_size": 0},
        {"page_size": 101},
        {"rate_limit": -1},
        {"max_upload_bytes": 0},
        {"max_queued_imports": 0},
        {"import_rows_per_second": 0},
        {"workflow_statuses": ("a", "a", "b", "c")},
        {"api_key": ""},
        {"import_queue_delay": -1},
    ],
)
def test_invalid_config_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid sandbox configuration"):
        SandboxConfig(**bad)


# --- seed data --------------------------------------------------------------------------


def _snapshot(state: SandboxState) -> tuple[list[Any], list[Any]]:
    return ([s.to_json() for s in state.coupon_sets()], [w.to_json() for w in state.workflows()])


def test_same_seed_gives_identical_data_and_other_seeds_differ() -> None:
    one = _snapshot(SandboxState(SandboxConfig(seed=5, anchor=ANCHOR)))
    again = _snapshot(SandboxState(SandboxConfig(seed=5, anchor=ANCHOR)))
    other = _snapshot(SandboxState(SandboxConfig(seed=6, anchor=ANCHOR)))
    assert one == again
    assert {s["id"] for s in one[0]}.isdisjoint({s["id"] for s in other[0]})
    assert [s["name"] for s in one[0]] != [s["name"] for s in other[0]]
    assert [w["name"] for w in one[1]] != [w["name"] for w in other[1]]


def test_default_anchor_is_fixed_and_every_seed_timestamp_falls_before_it() -> None:
    state = SandboxState()
    assert state.config.anchor == DEFAULT_ANCHOR
    newest = max(s.updated_at for s in state.coupon_sets())
    assert newest <= DEFAULT_ANCHOR.timestamp()


SEED_DUMP = """
import json
from voucherbot.sandbox import SandboxConfig, SandboxState
state = SandboxState(SandboxConfig(seed=1, demand=False))
print(json.dumps([[s.to_json() for s in state.coupon_sets()],
                  [w.to_json() for w in state.workflows()]]))
"""


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (.ci/run installs it)")
def test_seed_data_does_not_depend_on_the_clock() -> None:
    """The same seed, with the clock moved by months either way: byte-identical data."""

    def dump(*prefix: str) -> str:
        out = subprocess.run(
            [*prefix, sys.executable, "-c", SEED_DUMP],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        )
        return out.stdout

    today = dump()
    assert "Win-back" in today
    for shift in ("+104d", "-200d", "+3y"):
        assert dump("faketime", "-f", shift) == today, shift


def _is_low(s: dict[str, Any]) -> bool:
    return bool(s["available"] < 200 and s["available"] < s["quantity"] * 0.1)


@pytest.mark.parametrize("seed", range(1, 21))
def test_seed_data_has_the_promised_shape(seed: int) -> None:
    data = generate(seed, ANCHOR)
    sets = [s.to_json() for s in data.coupon_sets]
    workflows = {w.id: w.status for w in data.workflows}
    assert len(sets) >= 14 and len(workflows) >= 10
    assert set(workflows.values()) == set(WORKFLOW_STATUSES)
    ids = [s["id"] for s in sets] + list(workflows)
    assert len(ids) == len(set(ids)) and all(HEX24.match(i) for i in ids)
    assert [s["createdAt"] for s in sets] == sorted(s["createdAt"] for s in sets)
    multiples = [s for s in sets if s["type"] == "multiple"]
    singles = [s for s in sets if s["type"] == "single"]
    assert len(multiples) == 10 and len(singles) == 4

    def users(s: dict[str, Any]) -> set[str]:
        return {workflows[u["workflowId"]] for u in s["usedInWorkflows"]}

    assert all(u["workflowId"] in workflows for s in sets for u in s["usedInWorkflows"])
    assert all(len(s["usedInWorkflows"]) <= 3 for s in sets)
    assert len([s for s in multiples if users(s) and "active" not in users(s)]) >= 2
    assert [s for s in multiples if not users(s)]
    assert len([s for s in multiples if _is_low(s) and "active" in users(s)]) >= 3
    assert [s for s in multiples if s["available"] == s["quantity"]]
    for s in multiples:
        assert s["quantity"] == s["assigned"] + s["available"]
        assert "code" not in s
    assert any(s["quantity"] is None and s["available"] is None for s in singles)
    assert any(isinstance(s["quantity"], int) for s in singles)
    assert all(re.fullmatch(r"[A-Z]+[0-9]*", s["code"]) for s in singles)
    names = [s["name"] for s in sets]
    assert len(set(names)) == len(names)


def test_workflow_statuses_can_be_renamed(make_sbx: Callable[..., Sandbox]) -> None:
    statuses = ("DRAFT", "STARTED", "STOPPED", "FINISHED")
    renamed = make_sbx(workflow_statuses=statuses)
    default = Sandbox()
    got = [w["status"] for w in renamed.all("/workflows/")]
    expected = [statuses[WORKFLOW_STATUSES.index(w["status"])] for w in default.all("/workflows/")]
    assert got == expected


def test_coupon_set_json_has_exactly_the_documented_fields(sbx: Sandbox) -> None:
    common = {
        "id",
        "name",
        "type",
        "quantity",
        "available",
        "assigned",
        "createdAt",
        "updatedAt",
        "usedInWorkflows",
    }
    for s in sbx.all("/coupon-sets/"):
        assert set(s) == (common | {"code"} if s["type"] == "single" else common)
        assert ISO_Z.match(s["createdAt"]) and ISO_Z.match(s["updatedAt"])
        assert isinstance(s["assigned"], int)
    one = sbx.get(f"/coupon-sets/{sbx.single_id()}").json
    assert one == sbx.state.get_set(sbx.single_id()).to_json()


def test_workflow_json_fields(sbx: Sandbox) -> None:
    for w in sbx.all("/workflows/"):
        assert set(w) == {"id", "name", "status", "createdAt", "updatedAt"}
        assert sbx.get(f"/workflows/{w['id']}").json == w


# --- pagination and routing -------------------------------------------------------------


@pytest.mark.parametrize("path", ["/coupon-sets/", "/workflows/"])
def test_pagination_returns_every_item_once_in_creation_order(sbx: Sandbox, path: str) -> None:
    first = sbx.get(path).json
    assert len(first["results"]) == 5 and "prev" not in first["links"]
    assert first["links"]["next"].startswith("http://localhost/")
    items, pages, url = [], 0, path
    while url:
        page = sbx.get(url).json
        pages += 1
        items += page["results"]
        if pages > 1:
            assert page["links"]["prev"].startswith("http://localhost" + path)
        url = page["links"].get("next")
    assert len(items) == len({i["id"] for i in items})
    assert pages == math.ceil(len(items) / 5)
    assert [i["createdAt"] for i in items] == sorted(i["createdAt"] for i in items)
    assert sbx.get(path + "?limit=100").json["results"] == items


def test_limit_offset_and_links(sbx: Sandbox) -> None:
    page = sbx.get("/coupon-sets/?offset=3&limit=4").json
    everything = sbx.get("/coupon-sets/?limit=1000").json  # capped at 100
    assert everything["links"] == {}
    assert page["results"] == everything["results"][3:7]
    assert page["links"]["next"] == "http://localhost/coupon-sets/?offset=7&limit=4"
    assert page["links"]["prev"] == "http://localhost/coupon-sets/?offset=0&limit=4"
    beyond = sbx.get("/coupon-sets/?offset=500").json
    assert beyond["results"] == [] and "next" not in beyond["links"]


@pytest.mark.parametrize(
    "query", ["offset=-1", "offset=abc", "limit=0", "limit=1.5", "limit=", "offset=%C2%B2"]
)
def test_invalid_pagination_parameters_get_400(sbx: Sandbox, query: str) -> None:
    body = assert_error(sbx.get("/workflows/?" + query), 400)
    assert "offset" in body["detail"] or "limit" in body["detail"]


def test_paths_work_with_and_without_trailing_slash(sbx: Sandbox) -> None:
    set_id = sbx.multiple_id()
    assert sbx.get("/coupon-sets").json == sbx.get("/coupon-sets/").json
    assert sbx.get(f"/coupon-sets/{set_id}/").json["id"] == set_id
    assert sbx.get("/imports").status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/coupon-sets/nope", "/workflows/5f0c00000000000000000000", "/imports/nope", "/exports/", "/"],
)
def test_unknown_resources_get_404(sbx: Sandbox, path: str) -> None:
    assert_error(sbx.get(path), 404)


def test_wrong_method_gets_405_with_allow(sbx: Sandbox) -> None:
    response = sbx.client.delete("/coupon-sets/", headers=sbx.auth)
    assert_error(response, 405)
    assert "GET" in response.headers["Allow"]


# --- import validation ------------------------------------------------------------------


def test_non_multipart_import_gets_415(sbx: Sandbox) -> None:
    as_json = sbx.client.post("/imports/", json={"type": "coupons"}, headers=sbx.auth)
    assert_error(as_json, 415)
    as_form = sbx.client.post("/imports/", data={"type": "coupons"}, headers=sbx.auth)
    assert_error(as_form, 415)


@pytest.mark.parametrize(
    ("fields", "csv", "path"),
    [
        ({"type": None}, b"code\nA\n", "type"),
        ({"type": "sandwiches"}, b"code\nA\n", "type"),
        ({"type": "contacts"}, b"code\nA\n", "type"),
        ({"delimiter": None}, b"code\nA\n", "delimiter"),
        ({"delimiter": "|"}, b"code\nA\n", "delimiter"),
        ({"overrideExisting": None}, b"code\nA\n", "overrideExisting"),
        ({"overrideExisting": "yes"}, b"code\nA\n", "overrideExisting"),
        ({"updateOnlyEmptyFields": None}, b"code\nA\n", "updateOnlyEmptyFields"),
        ({"updateOnlyEmptyFields": "true"}, b"code\nA\n", "updateOnlyEmptyFields"),
        ({"couponSetId": ""}, b"code\nA\n", "couponSetId"),
        ({"couponSetId": "no-such-set"}, b"code\nA\n", "couponSetId"),
        ({}, None, "file"),
        ({}, b"code\n\xff\xfeA\n", "file"),
        ({}, b"coupon\nA\n", "file"),
        ({}, b"", "file"),
        ({"delimiter": ";"}, b"id,code\n1,A\n", "file"),
    ],
    ids=[
        "no-type",
        "bad-type",
        "contacts",
        "no-delimiter",
        "bad-delimiter",
        "no-override",
        "bad-override",
        "no-update-only",
        "update-only-without-override",
        "no-set",
        "unknown-set",
        "no-file",
        "not-utf8",
        "no-code-column",
        "empty-file",
        "header-split-by-other-delimiter",
    ],
)
def test_invalid_imports_get_422_naming_the_field(
    sbx: Sandbox, fields: dict[str, str | None], csv: bytes | None, path: str
) -> None:
    body = assert_error(sbx.post_import(csv, **fields), 422)
    assert path in [e["path"] for e in body["validationErrors"]]
    assert all(e["reason"] for e in body["validationErrors"])
    assert sbx.state.imports == []


def test_import_into_a_single_set_is_refused(sbx: Sandbox) -> None:
    body = assert_error(sbx.post_import(set_id=sbx.single_id()), 422)
    assert body["validationErrors"][0]["path"] == "couponSetId"
    assert "multiple" in body["validationErrors"][0]["reason"]


def test_422_lists_every_problem_at_once(sbx: Sandbox) -> None:
    body = assert_error(sbx.post_import(None, delimiter="|", overrideExisting="no"), 422)
    assert {e["path"] for e in body["validationErrors"]} == {
        "delimiter",
        "overrideExisting",
        "file",
    }


def test_update_only_empty_fields_with_override_is_accepted(sbx: Sandbox) -> None:
    response = sbx.post_import(overrideExisting="true", updateOnlyEmptyFields="TRUE")
    assert response.status_code == 201
    assert response.json["options"]["overrideExisting"] is True
    assert response.json["options"]["updateOnlyEmptyFields"] is True


def test_body_over_the_limit_gets_413(make_sbx: Callable[..., Sandbox]) -> None:
    small = make_sbx(max_upload_bytes=2000)
    big = b"code\n" + b"X" * 3000 + b"\n"
    assert_error(small.post_import(big), 413)
    assert small.post_import(b"code\nFITS\n").status_code == 201


def test_content_length_alone_decides_413(make_sbx: Callable[..., Sandbox]) -> None:
    small = make_sbx(max_upload_bytes=100)
    response = small.client.post(
        "/imports/",
        data=b"tiny",
        headers={**small.auth, "Content-Type": "multipart/form-data; boundary=x"},
        environ_overrides={"CONTENT_LENGTH": "101"},
    )
    assert_error(response, 413)


def test_streamed_body_over_the_limit_gets_413() -> None:
    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n\r\n'
        for _ in range(20):
            yield b"A" * 1000

    with start_sandbox(SandboxConfig(max_upload_bytes=5000)) as sandbox:
        response = requests.post(
            sandbox.url + "/imports/",
            data=chunks(),
            timeout=10,
            headers={
                "Authorization": f"apiKey {sandbox.api_key}",
                "Content-Type": "multipart/form-data; boundary=b",
            },
        )
        assert response.status_code == 413
        assert response.json()["status"] == 413


def test_e0401_when_the_queue_is_full(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(max_queued_imports=3)
    sandbox.state.pause_imports()
    for n in range(3):
        assert sandbox.post_import(f"code\nQ{n}\n".encode()).status_code == 201
    sandbox.state.advance(600)  # paused: time passes, nothing moves
    body = assert_error(sandbox.post_import(b"code\nQ9\n"), 400)
    assert body["code"] == "E0401"
    assert [i.status for i in sandbox.state.imports] == ["queued"] * 3
    sandbox.state.resume_imports()
    sandbox.state.advance(1)
    assert [i.status for i in sandbox.state.imports] == ["finished"] * 3
    assert sandbox.post_import(b"code\nQ9\n").status_code == 201


# --- rate limiting ----------------------------------------------------------------------


def test_rate_limit_headers_429_and_recovery(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(rate_limit=3)
    start = sandbox.state.now()
    remaining = [sandbox.get("/workflows/").headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    for _ in range(2):  # answered 429s do not count
        limited = sandbox.get("/coupon-sets/")
        body = assert_error(limited, 429)
        assert body["detail"] == "Requests rate limit reached"
        assert limited.headers["X-RateLimit-Limit"] == "3"
        assert limited.headers["X-RateLimit-Remaining"] == "0"
        reset = int(limited.headers["X-RateLimit-Reset"])
        assert math.ceil(start + 60) <= reset <= math.ceil(start + 61)
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
    sandbox.state.advance(61)
    recovered = sandbox.get("/workflows/")
    assert recovered.status_code == 200
    assert recovered.headers["X-RateLimit-Remaining"] == "2"


def test_rate_limit_is_per_key_and_covers_401(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(rate_limit=2)
    sandbox.get("/workflows/")
    sandbox.get("/workflows/")
    assert sandbox.get("/workflows/").status_code == 429
    stranger = sandbox.client.get("/workflows/", headers={"Authorization": "apiKey other"})
    assert_error(stranger, 401)
    assert stranger.headers["X-RateLimit-Remaining"] == "1"


def test_retry_after_can_be_switched_off(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(rate_limit=1, retry_after_header=False)
    sandbox.get("/workflows/")
    limited = sandbox.get("/workflows/")
    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert "X-RateLimit-Reset" in limited.headers


def test_rate_limit_changes_at_run_time(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(rate_limit=0)
    assert "X-RateLimit-Limit" not in sandbox.get("/workflows/").headers
    sandbox.state.set_rate_limit(2)
    assert sandbox.get("/workflows/").headers["X-RateLimit-Remaining"] == "1"
    sandbox.get("/workflows/")
    assert sandbox.get("/workflows/").status_code == 429
    sandbox.state.set_rate_limit(0)
    assert all(sandbox.get("/workflows/").status_code == 200 for _ in range(5))
    with pytest.raises(ValueError, match="rate limit"):
        sandbox.state.set_rate_limit(-1)


def test_clock_endpoint_needs_auth_but_not_budget(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(rate_limit=1)
    sandbox.get("/workflows/")
    assert sandbox.get("/workflows/").status_code == 429
    before = sandbox.state.now()
    no_auth = sandbox.client.post("/_sandbox/clock/advance", json={"seconds": 61})
    assert_error(no_auth, 401)
    response = sandbox.client.post(
        "/_sandbox/clock/advance", json={"seconds": 61}, headers=sandbox.auth
    )
    assert response.status_code == 200 and ISO_Z.match(response.json["now"])
    assert sandbox.state.now() - before >= 61
    assert sandbox.get("/workflows/").status_code == 200


@pytest.mark.parametrize("body", [{}, {"seconds": -1}, {"seconds": "5"}, {"seconds": True}, [5]])
def test_clock_endpoint_validates(sbx: Sandbox, body: Any) -> None:
    response = sbx.client.post("/_sandbox/clock/advance", json=body, headers=sbx.auth)
    assert assert_error(response, 422)["validationErrors"][0]["path"] == "seconds"


def test_clock_only_moves_forward(sbx: Sandbox) -> None:
    with pytest.raises(ValueError, match="forward"):
        sbx.state.advance(-1)


# --- import lifecycle -------------------------------------------------------------------


def test_listed_counters_trail_an_import_by_counter_lag() -> None:
    sb = Sandbox(counter_lag=10, **SLOW)
    set_id = sb.multiple_id()
    listed = sb.get(f"/coupon-sets/{set_id}").json
    imp = sb.post_import(("code\n" + "".join(f"LAG{n}\n" for n in range(20))).encode(), set_id).json
    sb.state.advance(12)  # 10 s queued, then 20 rows at 10 a second: finished at +12 s
    assert sb.get(f"/imports/{imp['id']}").json["status"] == "finished"
    true = sb.state.get_set(set_id)
    assert true.available == listed["available"] + 20  # the truth, for tests
    for path in (f"/coupon-sets/{set_id}", "/coupon-sets/?limit=100"):
        body = sb.get(path).json
        shown = body if "id" in body else next(r for r in body["results"] if r["id"] == set_id)
        assert (shown["available"], shown["quantity"]) == (listed["available"], listed["quantity"])
    sb.state.advance(9.5)  # the last rows were applied 9.5 s ago: still hidden
    assert sb.get(f"/coupon-sets/{set_id}").json["available"] < true.available
    sb.state.advance(0.6)
    shown = sb.get(f"/coupon-sets/{set_id}").json
    assert (shown["available"], shown["quantity"]) == (true.available, true.quantity)


def test_import_lifecycle_queued_in_progress_finished(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(**SLOW)
    set_id = sandbox.multiple_id()
    before = sandbox.state.get_set(set_id)
    csv = b"code\n" + b"".join(f"LIFE{n:03d}\n".encode() for n in range(25))
    created = sandbox.post_import(csv, set_id)
    assert created.status_code == 201
    imp = created.json
    assert created.headers["Location"] == f"http://localhost/imports/{imp['id']}"
    assert HEX24.match(imp["id"])
    assert imp["status"] == "queued" and imp["origin"] == "api" and imp["type"] == "coupons"
    assert (imp["total"], imp["success"], imp["errors"]) == (25, 0, 0)
    assert imp["options"] == {
        "couponSetId": set_id,
        "delimiter": ",",
        "overrideExisting": False,
        "updateOnlyEmptyFields": False,
    }
    assert "startedAt" not in imp and "finishedAt" not in imp
    assert "errorReportFileUrl" not in imp

    sandbox.state.advance(10)
    running = sandbox.get(f"/imports/{imp['id']}").json
    assert running["status"] == "inProgress" and ISO_Z.match(running["startedAt"])
    sandbox.state.advance(1)
    running = sandbox.get(f"/imports/{imp['id']}").json
    assert running["status"] == "inProgress" and running["success"] in (10, 11)
    assert sandbox.state.get_set(set_id).available == before.available + running["success"]

    sandbox.state.advance(2)
    done = sandbox.get(f"/imports/{imp['id']}").json
    assert done["status"] == "finished" and ISO_Z.match(done["finishedAt"])
    assert (done["total"], done["success"], done["errors"]) == (25, 25, 0)
    assert "errorReportFileUrl" not in done
    after = sandbox.state.get_set(set_id)
    assert after.available == before.available + 25
    assert after.quantity == (before.quantity or 0) + 25
    assert after.assigned == before.assigned
    assert sandbox.state.codes_in_set(set_id) == {f"LIFE{n:03d}" for n in range(25)}
    assert sandbox.get(f"/coupon-sets/{set_id}").json["available"] == after.available


def test_imports_run_one_at_a_time_and_list_newest_first(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(**SLOW)
    first = sandbox.post_import(b"code\nF\nG\nH\nI\nJ\n").json
    second = sandbox.post_import(b"code\nK\n").json
    sandbox.state.advance(10.1)
    statuses = {i["id"]: i["status"] for i in sandbox.all("/imports/")}
    assert statuses == {first["id"]: "inProgress", second["id"]: "queued"}
    assert [i["id"] for i in sandbox.all("/imports/")] == [second["id"], first["id"]]
    sandbox.state.advance(1)
    assert [i.status for i in sandbox.state.imports] == ["finished", "finished"]


def test_paused_imports_stop_moving_and_skip_the_paused_time(
    make_sbx: Callable[..., Sandbox],
) -> None:
    sandbox = make_sbx(**SLOW)
    imp = sandbox.post_import(b"code\n" + b"".join(b"P%d\n" % n for n in range(40))).json
    sandbox.state.advance(11)
    sandbox.state.pause_imports()
    assert sandbox.state.imports_paused
    frozen = sandbox.get(f"/imports/{imp['id']}").json
    sandbox.state.advance(100)
    assert sandbox.get(f"/imports/{imp['id']}").json == frozen
    sandbox.state.resume_imports()
    sandbox.state.advance(1)
    assert sandbox.get(f"/imports/{imp['id']}").json["success"] - frozen["success"] in (10, 11)


def test_row_failures_and_the_error_report(sbx: Sandbox) -> None:
    set_id = sbx.multiple_id()
    other_set = sbx.multiple_id(1)
    sbx.run_import(b"code\nOLD1\nSHARED\n", set_id)
    sbx.run_import(b"code\nSHARED\n", other_set)  # duplicates are per set: this one succeeds
    done = sbx.run_import(b'code\nNEW1\nOLD1\nNEW1\n\n   \nNEW2\n"A,B"\nLAST\n\n', set_id)
    assert (done["total"], done["success"], done["errors"]) == (9, 4, 5)
    assert sbx.state.codes_in_set(set_id) == {"OLD1", "SHARED", "NEW1", "NEW2", "A,B", "LAST"}
    assert sbx.state.codes_in_set(other_set) == {"SHARED"}
    url = done["errorReportFileUrl"]
    assert re.fullmatch(
        r"http://localhost/_sandbox/files/import-errors/" + done["id"] + r"-[0-9a-f]{32}\.csv", url
    )
    report = sbx.client.get(url)  # no Authorization: like a signed storage URL
    assert report.status_code == 200 and report.mimetype == "text/csv"
    assert report.get_data(as_text=True) == (
        "row,code,reason\n"
        f"2,OLD1,{REASON_EXISTS_IN_SET}\n"
        f"3,NEW1,{REASON_DUPLICATE_IN_FILE}\n"
        f"4,,{REASON_EMPTY}\n"
        f"5,,{REASON_EMPTY}\n"
        f"9,,{REASON_EMPTY}\n"
    )
    assert sbx.client.get(url.replace(".csv", "0.csv")).status_code == 404
    assert sbx.client.get(re.sub(r"-[0-9a-f]{32}", "-" + "0" * 32, url)).status_code == 404


def test_error_report_appears_only_when_finished(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(**SLOW)
    imp = sandbox.post_import(b"code\nD\nD\nE\n").json
    name = f"{imp['id']}-{sandbox.state.get_import(imp['id']).report_token}.csv"
    assert sandbox.client.get("/_sandbox/files/import-errors/" + name).status_code == 404
    sandbox.state.advance(10.25)  # two of the three rows
    running = sandbox.get(f"/imports/{imp['id']}").json
    assert running["errors"] == 1 and "errorReportFileUrl" not in running
    sandbox.state.advance(5)
    assert sandbox.client.get("/_sandbox/files/import-errors/" + name).status_code == 200


@pytest.mark.parametrize(
    ("csv", "delimiter", "total", "codes"),
    [
        (b"code\nA\nB", ",", 2, ["A", "B"]),
        (b"code\nA\nB\n", ",", 2, ["A", "B"]),
        (b"code\nA\n\nB\n", ",", 3, ["A", "", "B"]),
        (b"code\nA\n\n", ",", 2, ["A", ""]),
        (b"code\r\nA\r\nB\r\n", ",", 2, ["A", "B"]),
        (b"\xef\xbb\xbfcode\nA\n", ",", 1, ["A"]),
        (b"id;code;note\n1;A;x\n2;B\n3\n", ";", 3, ["A", "B", ""]),
        (b" code ,x\n A ,1\n", ",", 1, ["A"]),
        (b"code\n", ",", 0, []),
        ("code\nÑANDÚ-€\n".encode(), ",", 1, ["ÑANDÚ-€"]),
    ],
    ids=[
        "no-final-newline",
        "final-newline",
        "blank-middle",
        "blank-last",
        "crlf",
        "bom",
        "semicolon-extra-columns",
        "spaces",
        "header-only",
        "unicode",
    ],
)
def test_rows_are_counted_as_documented(
    sbx: Sandbox, csv: bytes, delimiter: str, total: int, codes: list[str]
) -> None:
    assert read_codes(io.BytesIO(csv), delimiter) == codes
    response = sbx.post_import(csv, delimiter=delimiter)
    assert response.status_code == 201 and response.json["total"] == total


def test_an_empty_import_finishes_at_once(sbx: Sandbox) -> None:
    done = sbx.run_import(b"code\n")
    assert (done["total"], done["success"], done["errors"]) == (0, 0, 0)


def test_cancel_and_fail_end_an_import(make_sbx: Callable[..., Sandbox]) -> None:
    sandbox = make_sbx(**SLOW)
    one = sandbox.post_import(b"code\nC1\n").json["id"]
    two = sandbox.post_import(b"code\nC2\n").json["id"]
    sandbox.state.cancel_import(one)
    sandbox.state.fail_import(two)
    cancelled = sandbox.get(f"/imports/{one}").json
    failed = sandbox.get(f"/imports/{two}").json
    assert cancelled["status"] == "cancelled" and ISO_Z.match(cancelled["cancelledAt"])
    assert failed["status"] == "error" and ISO_Z.match(failed["finishedAt"])
    with pytest.raises(ValueError, match="already ended"):
        sandbox.state.cancel_import(one)
    third = sandbox.post_import(b"code\nC3\n").json["id"]
    sandbox.state.advance(11)
    assert sandbox.state.get_import(third).status == "finished"


def test_set_available_makes_a_set_low_or_full(sbx: Sandbox) -> None:
    set_id = sbx.multiple_id()
    before = sbx.state.get_set(set_id)
    assert before.quantity is not None
    sbx.state.set_available(set_id, 3)
    low = sbx.get(f"/coupon-sets/{set_id}").json
    assert (low["available"], low["quantity"], low["assigned"]) == (
        3,
        before.quantity,
        before.quantity - 3,
    )
    sbx.state.set_available(set_id, before.quantity + 10)
    assert sbx.state.get_set(set_id).quantity == low["assigned"] + before.quantity + 10
    unlimited = next(s.id for s in sbx.state.coupon_sets() if s.quantity is None)
    with pytest.raises(ValueError, match="unlimited"):
        sbx.state.set_available(unlimited, 5)
    with pytest.raises(KeyError):
        sbx.state.get_set("nope")


def test_fault_injector_can_answer_instead_of_the_api(sbx: Sandbox) -> None:
    sbx.state.faults.error(503, "down", content_type="text/plain", path="/workflows/")
    assert sbx.get("/workflows/").status_code == 503
    assert sbx.get("/workflows/").get_data() == b"down"
    assert sbx.get("/coupon-sets/").status_code == 200


# --- the import rows as a property ------------------------------------------------------

_codes = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=6)
    | st.sampled_from(["EXIST", " EXIST ", "", "DUP"]),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(_codes)
def test_rows_property(codes: list[str]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code"])
    writer.writerows([c] for c in codes)
    parsed = read_codes(io.BytesIO(out.getvalue().encode()), ",")
    assert parsed == [c.strip() for c in codes]
    imp = ImportRecord(
        id="i",
        coupon_set_id="s",
        delimiter=",",
        override_existing=False,
        update_only_empty_fields=False,
        created_at=0.0,
        codes=parsed,
        report_token="t",
    )
    store = {"EXIST": "earlier-import"}
    imp.apply_rows(len(parsed), store)
    fresh = {c for c in parsed if c and c != "EXIST"}
    assert imp.success == len(fresh) and imp.total == len(codes)
    assert imp.success + imp.errors == imp.total
    assert set(store) == fresh | {"EXIST"}
    assert [row for row, _, _ in imp.failures] == sorted(row for row, _, _ in imp.failures)
    for row, code, _ in imp.failures:
        assert parsed[row - 1] == code


def test_unreadable_csv_is_a_csv_problem() -> None:
    with pytest.raises(CsvProblem, match="not UTF-8"):
        read_codes(io.BytesIO(b"code\n\xc3\x28\n"), ",")
    with pytest.raises(CsvProblem, match="not valid CSV"):
        read_codes(io.BytesIO(b"code\n" + b"x" * 200_000 + b"\n"), ",")


# --- the real server --------------------------------------------------------------------


def test_start_sandbox_serves_over_http_and_stops() -> None:
    with start_sandbox(SandboxConfig(seed=3)) as sandbox:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url)
        assert sandbox.port == int(sandbox.url.rsplit(":", 1)[1]) != 0
        headers = {"Authorization": f"apiKey {sandbox.api_key}"}
        with start_sandbox(SandboxConfig(seed=3)) as twin:
            assert twin.url != sandbox.url and twin.api_key != sandbox.api_key
        response = requests.get(sandbox.url + "/coupon-sets/", headers=headers, timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["links"]["next"].startswith(sandbox.url + "/coupon-sets/?")
        set_id = response.json()["results"][0]["id"]
        if response.json()["results"][0]["type"] != "multiple":
            set_id = next(s.id for s in sandbox.state.coupon_sets() if s.type == "multiple")
        posted = requests.post(
            sandbox.url + "/imports/",
            headers=headers,
            timeout=5,
            data={**FORM, "couponSetId": set_id},
            files={"file": ("codes.csv", b"code\nHTTP1\nHTTP1\n", "text/csv")},
        )
        assert posted.status_code == 201
        sandbox.state.advance(1)
        done = requests.get(
            f"{sandbox.url}/imports/{posted.json()['id']}", headers=headers, timeout=5
        ).json()
        report = requests.get(done["errorReportFileUrl"], timeout=5)
        assert report.text.splitlines()[1].startswith("2,HTTP1,")
    sandbox.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(sandbox.url + "/coupon-sets/", timeout=2)


def test_requests_are_not_logged_unless_asked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    for log_requests in (False, True):
        with start_sandbox(SandboxConfig(log_requests=log_requests)) as sandbox:
            requests.get(sandbox.url + "/workflows/?marker", timeout=5)
        logged = [r for r in caplog.records if "marker" in r.getMessage()]
        assert bool(logged) is log_requests


def test_serve_prints_one_ready_line_and_stops_on_ctrl_c() -> None:
    code = (
        "from voucherbot.sandbox import serve, SandboxConfig; "
        "serve(SandboxConfig(api_key='sbx-test', seed=2))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"Sandbox listening: CONNECTIF_BASE_URL=(http://127\.0\.0\.1:\d+) "
            r"CONNECTIF_API_KEY=sbx-test\n",
            line,
        )
        assert match, line
        response = requests.get(
            match[1] + "/workflows/", timeout=5, headers={"Authorization": "apiKey sbx-test"}
        )
        assert response.status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out == "" and "Traceback" not in err and "sbx-test" not in err


def test_the_package_never_imports_click() -> None:
    code = "import sys, voucherbot.sandbox; assert 'click' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=30)


def test_conformance_script_passes() -> None:
    if not CONFORMANCE.exists():
        pytest.skip(f"{CONFORMANCE} not found")
    with start_sandbox() as sandbox:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(CONFORMANCE), sandbox.url, sandbox.api_key],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert result.stdout.rstrip().endswith("0 failure(s)")
    assert time.monotonic() - started < 60


def test_one_date_header_that_follows_the_sandbox_clock() -> None:
    """Over real HTTP: http.server must not add a wall-clock Date beside the app's own."""
    import http.client
    from email.utils import parsedate_to_datetime

    with start_sandbox(SandboxConfig(api_key="k")) as sb:
        sb.state.advance(3 * 86400)
        conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
        try:
            conn.request("GET", "/coupon-sets/", headers={"Authorization": "apiKey k"})
            response = conn.getresponse()
            response.read()
            dates = response.msg.get_all("Date") or []
        finally:
            conn.close()
        assert len(dates) == 1
        assert abs(parsedate_to_datetime(dates[0]).timestamp() - sb.state.now()) < 2
