"""Fault injection in the sandbox (voucherbot.sandbox.faults), through real HTTP.

Every test starts the threaded server on 127.0.0.1 and talks to it with requests, the way
voucherbot's client does; faults are set from Python (``state.faults``) or over the admin API.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from voucherbot.sandbox import (
    FaultEvent,
    RunningSandbox,
    SandboxConfig,
    SandboxState,
    start_sandbox,
)
from voucherbot.sandbox.faults import InvalidFault
from voucherbot.sandbox.imports import REASON_EXISTS_IN_SET, REASON_REJECTED

FORM = {
    "type": "coupons",
    "delimiter": ",",
    "overrideExisting": "false",
    "updateOnlyEmptyFields": "false",
}


class Api:
    """A running sandbox plus an authenticated requests session."""

    def __init__(self, sandbox: RunningSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state
        self.faults = sandbox.state.faults
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"apiKey {sandbox.api_key}"

    def __call__(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 5)
        url = path if path.startswith("http") else self.sandbox.url + path
        return self.session.request(method, url, **kw)

    def multiple_id(self, n: int = 0) -> str:
        return [s.id for s in self.state.coupon_sets() if s.type == "multiple"][n]

    def post_import(
        self, codes: list[str], set_id: str | None = None, **kw: Any
    ) -> requests.Response:
        csv = ("code\n" + "".join(c + "\n" for c in codes)).encode()
        return self(
            "POST",
            "/imports/",
            data={**FORM, "couponSetId": set_id or self.multiple_id()},
            files={"file": ("codes.csv", csv, "text/csv")},
            **kw,
        )


def _api(**config: Any) -> Iterator[Api]:
    config.setdefault("counter_lag", 0)
    with start_sandbox(SandboxConfig(seed=4, **config)) as sandbox:
        api = Api(sandbox)
        yield api
        api.session.close()


@pytest.fixture
def api() -> Iterator[Api]:
    yield from _api()


@pytest.fixture
def slow_api() -> Iterator[Api]:
    """Imports wait 10 s in the queue, then run at 10 rows/s: nothing moves unless advanced."""
    yield from _api(import_queue_delay=10.0, import_rows_per_second=10.0)


# --- error ------------------------------------------------------------------------------


def test_error_with_the_default_json_body(api: Api) -> None:
    api.faults.error(500)
    response = api("GET", "/coupon-sets/")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == 500 and body["title"] == "Internal Server Error" and body["detail"]
    assert "X-RateLimit-Limit" not in response.headers  # answered before the limiter


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (502, "<html>Bad Gateway</html>", "text/html", b"<html>Bad Gateway</html>"),
        (200, "this is not json", "application/json", b"this is not json"),
        (200, '{"results": [', "application/json", b'{"results": ['),
        (200, {"results": [{"id": "x"}]}, "application/json", b'{"results": [{"id": "x"}]}'),
        (503, b"\xff\xfe", "application/octet-stream", b"\xff\xfe"),
    ],
    ids=["html-502", "not-json", "truncated-json", "missing-fields", "bytes"],
)
def test_error_answers_with_the_given_body(
    api: Api, status: int, body: Any, content_type: str, expected: bytes
) -> None:
    api.faults.error(status, body, content_type=content_type, headers={"X-Fault": "yes"})
    response = api("GET", "/workflows/")
    assert response.status_code == status
    assert response.content == expected
    assert response.headers["Content-Type"].startswith(content_type)
    assert response.headers["X-Fault"] == "yes"
    if expected == b'{"results": [':
        with pytest.raises(requests.JSONDecodeError):
            response.json()


def test_faults_are_scoped_by_method_path_and_count(api: Api) -> None:
    fault = api.faults.error(503, method="post", path="/imports/", times=2)
    assert (fault.method, fault.path, fault.remaining) == ("POST", "/imports/", 2)
    assert api("GET", "/imports/").status_code == 200  # other method
    assert api("GET", "/coupon-sets/").status_code == 200  # other path
    assert api.post_import(["S1"]).status_code == 503
    assert [f.remaining for f in api.faults.active] == [1]
    assert api("POST", "/imports").status_code == 503  # the prefix matches without the slash
    assert api.faults.active == []
    assert api.post_import(["S1"]).status_code == 201
    assert len(api.state.imports) == 1

    api.faults.error(500, path="/imports/")  # until cleared, every method, the whole subtree
    imp_id = api.state.imports[0].id
    for path in ("/imports/", "/imports", f"/imports/{imp_id}"):
        assert api("GET", path).status_code == 500
    assert api("GET", "/coupon-sets/").status_code == 200
    assert api.faults.clear() == 1
    assert api("GET", f"/imports/{imp_id}").status_code == 200


def test_the_first_matching_answer_wins_and_latencies_add_up(api: Api) -> None:
    api.faults.latency(0.1, path="/workflows/", times=1)
    api.faults.error(502, path="/workflows/", times=1)
    api.faults.latency(0.1, times=1)
    api.faults.error(504, times=1)
    started = time.monotonic()
    assert api("GET", "/workflows/").status_code == 502
    assert time.monotonic() - started >= 0.2
    assert [f.status for f in api.faults.active] == [504]
    assert api("GET", "/workflows/").status_code == 504
    assert api.faults.log == [
        ("GET", "/workflows/", "latency"),
        ("GET", "/workflows/", "latency"),
        ("GET", "/workflows/", "error"),
        ("GET", "/workflows/", "error"),
    ]


def test_error_reports_are_faulted_but_admin_endpoints_are_not(api: Api) -> None:
    done = api.post_import(["R1", "R1"]).json()
    api.state.advance(1)
    url = api("GET", f"/imports/{done['id']}").json()["errorReportFileUrl"]
    api.faults.error(500)
    api.faults.rate_limit_storm(None)
    assert requests.get(url, timeout=5).status_code == 500
    assert api("GET", "/_sandbox/faults").status_code == 200
    assert api("GET", "/_sandbox/demand").status_code == 200
    assert api("POST", "/_sandbox/clock/advance", json={"seconds": 1}).status_code == 200
    assert api("DELETE", "/_sandbox/faults").json() == {"cleared": 2}
    assert requests.get(url, timeout=5).status_code == 200


# --- 429 storms ---------------------------------------------------------------------------


def test_rate_limit_storm_with_headers_like_the_real_limiter(api: Api) -> None:
    api.faults.rate_limit_storm(2, path="/coupon-sets/")
    before = api.state.now()
    for _ in range(2):
        response = api("GET", "/coupon-sets/")
        assert response.status_code == 429
        assert response.json()["detail"] == "Requests rate limit reached"
        assert response.headers["X-RateLimit-Limit"] == "100"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert response.headers["Retry-After"] == "1"
        assert before < int(response.headers["X-RateLimit-Reset"]) <= api.state.now() + 2
    served = api("GET", "/coupon-sets/")
    assert served.status_code == 200
    assert served.headers["X-RateLimit-Remaining"] == "99"  # the storm did not spend budget
    assert api.faults.log == [("GET", "/coupon-sets/", "rate_limit_storm")] * 2


def test_rate_limit_storm_without_headers(api: Api) -> None:
    api.faults.rate_limit_storm(1, headers=False)
    response = api("GET", "/workflows/")
    assert response.status_code == 429
    assert not [h for h in response.headers if h.lower().startswith(("x-ratelimit", "retry"))]


def test_storm_limit_follows_the_configured_limit() -> None:
    for api in _api(rate_limit=0):
        api.faults.rate_limit_storm(1)
        assert api("GET", "/workflows/").headers["X-RateLimit-Limit"] == "100"
        api.state.set_rate_limit(7)
        api.faults.rate_limit_storm(1)
        assert api("GET", "/workflows/").headers["X-RateLimit-Limit"] == "7"


def test_a_storm_is_counted_exactly_under_concurrent_requests(api: Api) -> None:
    api.faults.rate_limit_storm(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with requests.Session() as session:
            session.headers.update(api.session.headers)
            for _ in range(5):
                status = session.get(api.sandbox.url + "/workflows/", timeout=5).status_code
                with lock:
                    statuses.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 20 + [429] * 20
    assert len(api.faults.log) == 20 and api.faults.active == []


# --- latency ------------------------------------------------------------------------------


def test_latency_delays_the_answer_and_can_time_a_client_out(api: Api) -> None:
    api.faults.latency(0.3, path="/workflows/", times=1)
    started = time.monotonic()
    assert api("GET", "/workflows/").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert api("GET", "/workflows/").status_code == 200
    assert time.monotonic() - started < 0.3

    api.faults.latency(3, times=1)
    with pytest.raises(requests.Timeout):
        api("GET", "/coupon-sets/", timeout=0.3)
    assert api("GET", "/coupon-sets/").status_code == 200  # the server is not blocked


# --- dropped connections ------------------------------------------------------------------


def test_drop_after_accept_creates_exactly_one_import(api: Api) -> None:
    set_id = api.multiple_id()
    before = api.state.get_set(set_id).available or 0
    api.faults.drop_after_accept()
    with pytest.raises(requests.ConnectionError):
        api.post_import(["DROP1", "DROP2"], set_id)
    [imp] = api.state.imports
    assert (imp.coupon_set_id, imp.total) == (set_id, 2)
    assert api.faults.log == [FaultEvent("POST", "/imports/", "drop_after_accept")]
    api.state.advance(1)
    assert api("GET", f"/imports/{imp.id}").json()["status"] == "finished"
    assert api.state.codes_in_set(set_id) == {"DROP1", "DROP2"}
    assert (api.state.get_set(set_id).available or 0) - before == 2
    assert [i["id"] for i in api("GET", "/imports/").json()["results"]] == [imp.id]
    assert api.post_import(["DROP3"], set_id).status_code == 201  # used up: answered again


def test_drop_after_accept_waits_for_a_request_that_is_served(api: Api) -> None:
    api.faults.drop_after_accept()
    refused = api.post_import(["X"], set_id="no-such-set")
    assert refused.status_code == 422  # refused requests are answered and keep the fault
    assert len(api.faults.active) == 1 and api.state.imports == []
    with pytest.raises(requests.ConnectionError):
        api.post_import(["X"])
    assert len(api.state.imports) == 1


def test_drop_after_accept_on_any_method_and_path(api: Api) -> None:
    api.faults.drop_after_accept(method="GET", path="/coupon-sets/", times=2)
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            api("GET", "/coupon-sets/")
    assert api("GET", "/coupon-sets/").status_code == 200


@pytest.mark.parametrize(
    ("status", "body", "content_type", "shown"),
    [
        (502, None, "text/html", "<h1>502 Bad Gateway</h1>"),
        (201, "Created", "text/plain", "Created"),
    ],
    ids=["502-page", "201-not-json"],
)
def test_answer_after_accept_creates_the_import_then_answers_otherwise(
    api: Api, status: int, body: str | None, content_type: str, shown: str
) -> None:
    set_id = api.multiple_id()
    api.faults.answer_after_accept(status, body, content_type=content_type)
    refused = api.post_import(["X"], set_id="no-such-set")
    assert refused.status_code == 422 and api.state.imports == []  # not served: not used up
    answer = api.post_import(["LOST1", "LOST2"], set_id)
    assert answer.status_code == status and shown in answer.text
    assert answer.headers["Content-Type"].startswith(content_type)
    [imp] = api.state.imports
    assert (imp.coupon_set_id, imp.total) == (set_id, 2)
    assert api.faults.log == [FaultEvent("POST", "/imports/", "answer_after_accept")]
    api.state.advance(1)
    assert api.state.codes_in_set(set_id) == {"LOST1", "LOST2"}
    assert api.post_import(["LOST3"], set_id).status_code == 201  # used up: answered again


def test_hang_before_accept_delays_the_import(api: Api) -> None:
    api.faults.hang_before_accept(0.4)
    started, clock = time.monotonic(), api.state.now()
    response = api.post_import(["HANG1"])
    assert response.status_code == 201 and time.monotonic() - started >= 0.4
    assert api.state.get_import(response.json()["id"]).created_at >= clock + 0.4
    assert api.faults.log == [("POST", "/imports/", "hang_before_accept")]


def test_a_client_that_times_out_during_the_hang_leaves_no_import(api: Api) -> None:
    api.faults.hang_before_accept(1.0)
    with pytest.raises(requests.Timeout):
        api.post_import(["GONE1"], timeout=0.3)
    time.sleep(1.0)  # past the end of the hang
    assert api.state.imports == []
    assert api.post_import(["GONE1"]).status_code == 201


def test_a_client_killed_during_the_hang_leaves_no_import(api: Api) -> None:
    api.faults.hang_before_accept(1.5)
    code = (
        "import sys, requests\n"
        "requests.post(sys.argv[1] + '/imports/', timeout=30,\n"
        "    headers={'Authorization': 'apiKey ' + sys.argv[2]},\n"
        f"    data={{**{FORM!r}, 'couponSetId': sys.argv[3]}},\n"
        "    files={'file': ('c.csv', b'code\\nKILL1\\n', 'text/csv')})\n"
    )
    args = [api.sandbox.url, api.sandbox.api_key, api.multiple_id()]
    proc = subprocess.Popen([sys.executable, "-c", code, *args])
    try:
        deadline = time.monotonic() + 10
        while not api.faults.log and time.monotonic() < deadline:
            time.sleep(0.02)
        assert api.faults.log == [("POST", "/imports/", "hang_before_accept")]
        hang_started = time.monotonic()
        proc.kill()
        proc.wait(timeout=10)
        time.sleep(max(0.0, hang_started + 1.6 - time.monotonic()))
        assert api.state.imports == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- import outcomes ------------------------------------------------------------------------


def test_import_outcome_error_applies_only_the_rows_before_it(slow_api: Api) -> None:
    api = slow_api
    set_id = api.multiple_id()
    before = api.state.get_set(set_id)
    api.faults.import_outcome("error", after_rows=2)
    imp = api.post_import([f"ERR{n}" for n in range(5)], set_id).json()
    assert imp["status"] == "queued"
    api.state.advance(10.05)
    assert api("GET", f"/imports/{imp['id']}").json()["status"] == "inProgress"
    api.state.advance(1)
    done = api("GET", f"/imports/{imp['id']}").json()
    assert done["status"] == "error" and "finishedAt" in done and "cancelledAt" not in done
    assert (done["total"], done["success"], done["errors"]) == (5, 2, 0)
    assert "errorReportFileUrl" not in done
    assert api.state.codes_in_set(set_id) == {"ERR0", "ERR1"}
    assert api.state.get_set(set_id).available == (before.available or 0) + 2
    assert api.faults.log == [("POST", "/imports/", "import_outcome:error")]


def test_import_outcome_cancelled(slow_api: Api) -> None:
    api = slow_api
    set_id = api.multiple_id()
    before = api.state.get_set(set_id).available
    api.faults.import_outcome("cancelled")
    imp = api.post_import(["CAN1", "CAN2"], set_id).json()
    api.state.advance(10.1)
    assert api("GET", f"/imports/{imp['id']}").json()["status"] == "inProgress"
    api.state.advance(1)
    done = api("GET", f"/imports/{imp['id']}").json()
    assert done["status"] == "cancelled" and "cancelledAt" in done and "finishedAt" not in done
    assert done["success"] == 0 and api.state.get_set(set_id).available == before
    nxt = api.post_import(["CAN1"], set_id).json()  # used up: the next import is normal
    api.state.advance(11)
    assert api("GET", f"/imports/{nxt['id']}").json()["status"] == "finished"


def test_import_outcome_slow_outlasts_a_poll_deadline(api: Api) -> None:
    api.faults.import_outcome("slow", rows_per_second=1.0)
    slow = api.post_import([f"SLOW{n}" for n in range(10)]).json()
    behind = api.post_import(["BEHIND"]).json()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # a client polling for half a second gives up
        assert api("GET", f"/imports/{slow['id']}").json()["status"] in ("queued", "inProgress")
        time.sleep(0.1)
    api.state.advance(4)
    running = api("GET", f"/imports/{slow['id']}").json()
    assert running["status"] == "inProgress" and 4 <= running["success"] <= 6
    assert api("GET", f"/imports/{behind['id']}").json()["status"] == "queued"
    api.state.advance(6)
    assert api("GET", f"/imports/{slow['id']}").json()["status"] == "finished"
    assert api("GET", f"/imports/{behind['id']}").json()["status"] == "finished"


def test_import_outcome_reject_rows_lists_them_in_the_error_report(api: Api) -> None:
    set_id = api.multiple_id()
    api.post_import(["OLD"], set_id)
    api.state.advance(1)
    before = api.state.get_set(set_id)
    api.faults.import_outcome("reject_rows", rows=3)
    codes = ["REJ1", "REJ2", "REJ3", "OK1", "OLD", "OK2"]
    imp = api.post_import(codes, set_id).json()
    api.state.advance(1)
    done = api("GET", f"/imports/{imp['id']}").json()
    assert (done["status"], done["total"], done["success"], done["errors"]) == (
        "finished",
        6,
        2,
        4,
    )
    report = requests.get(done["errorReportFileUrl"], timeout=5).text
    assert report == (
        "row,code,reason\n"
        f"1,REJ1,{REASON_REJECTED}\n"
        f"2,REJ2,{REASON_REJECTED}\n"
        f"3,REJ3,{REASON_REJECTED}\n"
        f"5,OLD,{REASON_EXISTS_IN_SET}\n"
    )
    after = api.state.get_set(set_id)
    assert after.available == (before.available or 0) + 2
    assert after.quantity == (before.quantity or 0) + 2
    assert api.state.codes_in_set(set_id) == {"OLD", "OK1", "OK2"}
    again = api.post_import(["REJ1"], set_id).json()  # rejected codes were never stored
    api.state.advance(1)
    assert api("GET", f"/imports/{again['id']}").json()["success"] == 1


def test_import_outcomes_by_set_and_count_also_from_python(slow_api: Api) -> None:
    api = slow_api
    first, second = api.multiple_id(0), api.multiple_id(1)
    api.faults.import_outcome("error", coupon_set_id=second, times=2)
    normal = api.state.create_import(first, ["P1"])
    failing = [api.state.create_import(second, [f"P{n}"]) for n in (2, 3)]
    last = api.state.create_import(second, ["P4"])
    api.state.advance(20)
    assert api.state.get_import(normal.id).status == "finished"
    assert [api.state.get_import(i.id).status for i in failing] == ["error", "error"]
    assert api.state.get_import(last.id).status == "finished"


# --- managing faults, the log, validation -------------------------------------------------


def test_remove_clear_and_the_log(api: Api) -> None:
    keep = api.faults.error(500, path="/workflows/")
    gone = api.faults.latency(0.01)
    api.faults.remove(gone.id)
    with pytest.raises(KeyError):
        api.faults.remove(gone.id)
    assert [f.id for f in api.faults.active] == [keep.id]
    api("GET", "/workflows/")
    assert api.faults.clear() == 1
    assert api.faults.clear() == 0
    assert api.faults.log == [("GET", "/workflows/", "error")]  # the log survives clear()
    assert api.faults.log[0].fault == "error"
    api.faults.clear_log()
    assert api.faults.log == []
    assert api("GET", "/workflows/").status_code == 200 and api.faults.log == []


@pytest.mark.parametrize(
    ("call", "option"),
    [
        (lambda f: f.error(99), "status"),
        (lambda f: f.error(True), "status"),
        (lambda f: f.error(500, 5), "body"),
        (lambda f: f.error(500, headers={"X": "a\nb"}), "headers"),
        (lambda f: f.error(500, content_type=""), "content_type"),
        (lambda f: f.error(500, times=0), "times"),
        (lambda f: f.error(500, method="GE T"), "method"),
        (lambda f: f.error(500, path="imports"), "path"),
        (lambda f: f.rate_limit_storm(0), "n"),
        (lambda f: f.latency(-1), "seconds"),
        (lambda f: f.latency(float("inf")), "seconds"),
        (lambda f: f.hang_before_accept("5"), "seconds"),
        (lambda f: f.import_outcome("explode"), "outcome"),
        (lambda f: f.import_outcome("reject_rows"), "rows"),
        (lambda f: f.import_outcome("reject_rows", rows=-1), "rows"),
        (lambda f: f.import_outcome("error", rows=2), "rows"),
        (lambda f: f.import_outcome("slow", rows_per_second=0), "rows_per_second"),
        (lambda f: f.import_outcome("error", rows_per_second=1), "rows_per_second"),
        (lambda f: f.import_outcome("slow", after_rows=1), "after_rows"),
        (lambda f: f.import_outcome("error", coupon_set_id=""), "coupon_set_id"),
    ],
)
def test_invalid_faults_are_refused(call: Any, option: str) -> None:
    faults = SandboxState().faults
    with pytest.raises(InvalidFault) as caught:
        call(faults)
    assert caught.value.option == option
    assert faults.active == []


# --- the HTTP admin API ---------------------------------------------------------------------


def test_admin_api_adds_lists_and_removes_faults(api: Api) -> None:
    bodies = [
        {
            "kind": "error",
            "status": 502,
            "body": "<html>Bad Gateway</html>",
            "contentType": "text/html",
            "headers": {"X-Cache": "MISS"},
            "method": "GET",
            "path": "/workflows/",
            "times": 1,
        },
        {"kind": "error", "status": 200, "body": {"results": []}, "path": "/coupon-sets/"},
        {"kind": "rate_limit_storm", "times": 1, "headers": False, "path": "/imports/"},
        {"kind": "latency", "seconds": 0.05, "times": None, "path": "/_nothing/"},
        {"kind": "drop_after_accept"},
        {"kind": "hang_before_accept", "seconds": 0.01},
        {"kind": "import_outcome", "outcome": "reject_rows", "rows": 1},
        {"kind": "import_outcome", "outcome": "slow", "rowsPerSecond": 0.5},
        {"kind": "import_outcome", "outcome": "error", "afterRows": 1, "times": 2},
        {"kind": "import_outcome", "outcome": "cancelled", "couponSetId": api.multiple_id()},
        {"kind": "answer_after_accept", "status": 201, "body": "ok", "contentType": "text/plain"},
    ]
    created = []
    for body in bodies:
        response = api("POST", "/_sandbox/faults", json=body)
        assert response.status_code == 201, response.text
        created.append(response.json())
    assert [c["kind"] for c in created] == [b["kind"] for b in bodies]
    assert created[0] == {
        "id": created[0]["id"],
        "kind": "error",
        "method": "GET",
        "path": "/workflows/",
        "remaining": 1,
        "status": 502,
        "body": "<html>Bad Gateway</html>",
        "contentType": "text/html",
        "headers": {"X-Cache": "MISS"},
    }
    assert created[4]["method"] == "POST" and created[4]["path"] == "/imports/"
    assert created[4]["remaining"] == 1 and created[3]["remaining"] is None
    assert created[7]["rowsPerSecond"] == 0.5 and created[8]["afterRows"] == 1
    assert created[10] == {
        "id": created[10]["id"],
        "kind": "answer_after_accept",
        "method": "POST",
        "path": "/imports/",
        "remaining": 1,
        "status": 201,
        "body": "ok",
        "contentType": "text/plain",
        "headers": {},
    }

    page = api("GET", "/workflows/")
    assert (page.status_code, page.text, page.headers["X-Cache"]) == (
        502,
        "<html>Bad Gateway</html>",
        "MISS",
    )
    assert api("GET", "/coupon-sets/").json() == {"results": []}
    listed = api("GET", "/_sandbox/faults").json()
    assert [f["id"] for f in listed["faults"]] == [c["id"] for c in created[1:]]
    assert listed["log"] == [
        {"method": "GET", "path": "/workflows/", "fault": "error"},
        {"method": "GET", "path": "/coupon-sets/", "fault": "error"},
    ]
    assert api("DELETE", f"/_sandbox/faults/{created[1]['id']}").json() == {
        "removed": created[1]["id"]
    }
    assert api("DELETE", f"/_sandbox/faults/{created[1]['id']}").status_code == 404
    assert api("DELETE", "/_sandbox/faults/").json() == {"cleared": len(bodies) - 2}
    assert api("GET", "/_sandbox/faults").json()["faults"] == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([1], "body"),
        ({}, "kind"),
        ({"kind": "meteor"}, "kind"),
        ({"kind": "error"}, "status"),
        ({"kind": "error", "status": "500"}, "status"),
        ({"kind": "error", "status": 500, "colour": "red"}, "colour"),
        ({"kind": "error", "status": 500, "headers": ["X"]}, "headers"),
        ({"kind": "error", "status": 500, "body": 5}, "body"),
        ({"kind": "error", "status": 500, "times": 0}, "times"),
        ({"kind": "rate_limit_storm"}, "times"),
        ({"kind": "rate_limit_storm", "times": 2, "headers": "no"}, "headers"),
        ({"kind": "latency", "seconds": -1}, "seconds"),
        ({"kind": "hang_before_accept", "seconds": 1, "path": "/x/"}, "path"),
        ({"kind": "answer_after_accept", "status": 99}, "status"),
        ({"kind": "answer_after_accept", "seconds": 1}, "seconds"),
        ({"kind": "import_outcome", "outcome": "reject_rows"}, "rows"),
        ({"kind": "import_outcome", "outcome": "slow", "rowsPerSecond": -2}, "rowsPerSecond"),
        ({"kind": "import_outcome", "outcome": "error", "couponSetId": "nope"}, "couponSetId"),
    ],
)
def test_admin_api_validates_fault_bodies(api: Api, body: Any, path: str) -> None:
    response = api("POST", "/_sandbox/faults", json=body)
    assert response.status_code == 422, response.text
    assert path in [e["path"] for e in response.json()["validationErrors"]]
    assert api.faults.active == []


def test_admin_api_needs_the_key_and_no_budget() -> None:
    for api in _api(rate_limit=1):
        assert requests.get(api.sandbox.url + "/_sandbox/faults", timeout=5).status_code == 401
        assert requests.delete(api.sandbox.url + "/_sandbox/faults", timeout=5).status_code == 401
        api("GET", "/workflows/")
        assert api("GET", "/workflows/").status_code == 429
        response = api("POST", "/_sandbox/faults", json={"kind": "error", "status": 500})
        assert response.status_code == 201
        assert "X-RateLimit-Limit" not in response.headers
        assert api("GET", "/_sandbox/faults").status_code == 200
