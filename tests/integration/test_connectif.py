"""ConnectifClient against pytest-httpserver: the requests it sends, how it reads answers."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support import API_KEY, FakeClock
from voucherbot import __version__
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    BadResponseError,
    ConfigError,
    ImportQueueFullError,
    ImportUnconfirmedError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)

SET = {
    "id": "64b7f0000000000000000001",
    "name": "WELCOME-10",
    "type": "multiple",
    "quantity": 1000,
    "available": 120,
    "assigned": 880,
    "createdAt": "2026-01-01T10:00:00Z",
    "usedInWorkflows": [{"workflowId": "w1"}],
}
IMPORT = {
    "id": "6072374b4d3ceb76e44d4323",
    "type": "coupons",
    "status": "queued",
    "origin": "api",
    "total": 3,
    "success": 0,
    "errors": 0,
    "createdAt": "2026-01-01T10:00:00Z",
    "options": {
        "couponSetId": SET["id"],
        "delimiter": ",",
        "overrideExisting": False,
        "updateOnlyEmptyFields": False,
    },
}


@pytest.fixture
def client(httpserver: HTTPServer, fake_clock: FakeClock) -> ConnectifClient:
    budget = RateBudget(
        1000, clock=fake_clock.monotonic, wall=fake_clock.time, sleep=fake_clock.sleep
    )
    return ConnectifClient(
        API_KEY, httpserver.url_for("/"), budget=budget, sleep=fake_clock.sleep, timeout=5
    )


def page(results: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"results": results}
    if next_url:
        doc["links"] = {"next": next_url}
    return doc


def sent(httpserver: HTTPServer) -> list[Request]:
    return [req for req, _ in httpserver.log]


def upload_of(req: Request) -> tuple[dict[str, str], str | None, str, bytes]:
    """(form fields, file name, file content type, file bytes) of a multipart request."""
    try:
        part = req.files["file"]
        return dict(req.form), part.filename, part.mimetype, part.read()
    finally:
        req.close()


# --- what goes on the wire -----------------------------------------------------------------


def test_get_sends_auth_user_agent_and_accept(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    httpserver.expect_request("/coupon-sets/64b7f0000000000000000001").respond_with_json(SET)
    cs = client.get_coupon_set(SET["id"])
    assert cs.name == "WELCOME-10" and cs.available == 120 and cs.used_in_workflows == ("w1",)
    (req,) = sent(httpserver)
    assert req.headers["Authorization"] == f"apiKey {API_KEY}"
    assert req.headers["User-Agent"].startswith(f"voucherbot/{__version__} ")
    assert req.headers["Accept"] == "application/json"
    assert req.method == "GET"


def test_pagination_follows_links_next_verbatim(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    sets = [dict(SET, id=f"set{i}") for i in range(5)]
    second = httpserver.url_for("/coupon-sets/") + "?cursor=abc%3D%3D&pageSize=2"
    httpserver.expect_ordered_request("/coupon-sets/", query_string="").respond_with_json(
        page(sets[:2], second)
    )
    httpserver.expect_ordered_request(
        "/coupon-sets/", query_string="cursor=abc%3D%3D&pageSize=2"
    ).respond_with_json(page(sets[2:4], "/coupon-sets/?cursor=z"))
    httpserver.expect_ordered_request("/coupon-sets/", query_string="cursor=z").respond_with_json(
        page(sets[4:])
    )
    got = client.list_coupon_sets()
    assert [s.id for s in got] == [f"set{i}" for i in range(5)]
    assert [r.query_string for r in sent(httpserver)] == [
        b"",
        b"cursor=abc%3D%3D&pageSize=2",
        b"cursor=z",
    ]
    assert client.stats["list"] == 3


def test_pagination_stops_at_the_page_cap(httpserver: HTTPServer, client: ConnectifClient) -> None:
    counter = iter(range(10_000))

    def endless(request: Request) -> Response:
        return Response(
            json.dumps(page([], f"/workflows/?p={next(counter)}")), content_type="application/json"
        )

    httpserver.expect_request("/workflows/").respond_with_handler(endless)
    client.max_pages = 4
    with pytest.raises(BadResponseError, match="after 4 pages"):
        client.list_workflows()
    assert len(httpserver.log) == 4


def test_pagination_loop_is_detected(httpserver: HTTPServer, client: ConnectifClient) -> None:
    httpserver.expect_request("/workflows/").respond_with_json(page([], "/workflows/?p=1"))
    with pytest.raises(BadResponseError, match="loops"):
        client.list_workflows()


def test_create_import_sends_the_documented_multipart_form(
    httpserver: HTTPServer, client: ConnectifClient, tmp_path: Path
) -> None:
    csv = tmp_path / "codes.csv"
    csv.write_bytes(b"code\nAB12CD34\nEF56GH78\nJK9MN2PQ\n")
    httpserver.expect_request("/imports/", method="POST").respond_with_json(IMPORT, status=201)
    imp = client.create_coupon_import(SET["id"], csv)
    assert imp.id == IMPORT["id"] and imp.status == "queued" and imp.total == 3
    (req,) = sent(httpserver)
    assert req.headers["Authorization"] == f"apiKey {API_KEY}"
    assert req.mimetype == "multipart/form-data"
    assert int(req.headers["Content-Length"]) == len(req.get_data())
    assert "chunked" not in req.headers.get("Transfer-Encoding", "")
    form, filename, mimetype, content = upload_of(req)
    assert form == {
        "type": "coupons",
        "couponSetId": SET["id"],
        "delimiter": ",",
        "overrideExisting": "false",
        "updateOnlyEmptyFields": "false",
    }
    assert filename == "codes.csv"
    assert mimetype == "text/csv"
    assert content == csv.read_bytes()


def test_create_import_flags_and_semicolon(
    httpserver: HTTPServer, client: ConnectifClient, tmp_path: Path
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    httpserver.expect_request("/imports/", method="POST").respond_with_json(IMPORT, status=200)
    client.create_coupon_import(
        "s1",
        csv,
        delimiter=";",
        override_existing=True,
        update_only_empty_fields=True,
        filename="batch.csv",
    )
    form, filename, _, _ = upload_of(sent(httpserver)[0])
    assert form["delimiter"] == ";"
    assert form["overrideExisting"] == "true" and form["updateOnlyEmptyFields"] == "true"
    assert filename == "batch.csv"


def test_create_import_refuses_bad_options_before_sending(
    httpserver: HTTPServer, client: ConnectifClient, tmp_path: Path
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    with pytest.raises(ConfigError, match="delimiter"):
        client.create_coupon_import("s1", csv, delimiter="|")
    with pytest.raises(ConfigError, match="overrideExisting"):
        client.create_coupon_import("s1", csv, update_only_empty_fields=True)
    assert httpserver.log == []


def test_ids_cannot_escape_their_path_segment(client: ConnectifClient) -> None:
    with pytest.raises(ConfigError):
        client.get_coupon_set("../imports")


# --- error answers ---------------------------------------------------------------------------


def http_error(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "title": "x", "detail": detail, **extra}


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, "Unauthorized", AuthError, ["401", "CONNECTIF_API_KEY"]),
        (
            403,
            http_error(403, "Permission not granted to the API Key"),
            PermissionDeniedError,
            ["403", "Coupons: Read", "Permission not granted"],
        ),
        (404, http_error(404, "Coupon set not found"), NotFoundError, ["404", "not found"]),
        (400, http_error(400, "Invalid id"), BadRequestError, ["400", "Invalid id"]),
        (500, "<html><body>Internal error</body></html>", ServerError, ["500", "try again"]),
        (503, http_error(503, "maintenance"), ServerError, ["503", "maintenance"]),
    ],
    ids=["401", "403", "404", "400", "500-html", "503"],
)
def test_get_errors_become_clear_voucherbot_errors(
    httpserver: HTTPServer,
    client: ConnectifClient,
    status: int,
    body: Any,
    error: type[ApiError],
    words: list[str],
) -> None:
    if isinstance(body, dict):
        httpserver.expect_request("/coupon-sets/s1").respond_with_json(body, status=status)
    else:
        httpserver.expect_request("/coupon-sets/s1").respond_with_data(body, status=status)
    with pytest.raises(error) as caught:
        client.get_coupon_set("s1")
    message = str(caught.value)
    for word in words:
        assert word in message
    assert API_KEY not in message and "S3cr3tK3y" not in message
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (
            400,
            http_error(400, "Queue full", code="E0401"),
            ImportQueueFullError,
            ["10 imports queued", "E0401"],
        ),
        (403, http_error(403, "Permission not granted"), PermissionDeniedError, ["Imports: Write"]),
        (413, http_error(413, "File too big"), PayloadTooLargeError, ["50 MB"]),
        (415, http_error(415, "multipart expected"), UnsupportedMediaTypeError, ["415"]),
        (
            422,
            {
                "detail": "Validation failed",
                "validationErrors": [
                    {"path": "couponSetId", "reason": "required"},
                    {"path": "delimiter", "reason": "must be , or ;"},
                ],
            },
            ValidationFailedError,
            ["422", "couponSetId: required", "delimiter: must be , or ;"],
        ),
    ],
    ids=["E0401", "403", "413", "415", "422"],
)
def test_import_errors_become_clear_voucherbot_errors(
    httpserver: HTTPServer,
    client: ConnectifClient,
    tmp_path: Path,
    status: int,
    body: dict[str, Any],
    error: type[ApiError],
    words: list[str],
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    httpserver.expect_request("/imports/", method="POST").respond_with_json(body, status=status)
    with pytest.raises(error) as caught:
        client.create_coupon_import("s1", csv)
    for word in words:
        assert word in str(caught.value)
    assert len(httpserver.log) == 1  # never retried
    if isinstance(caught.value, ValidationFailedError):
        assert caught.value.validation_errors == (
            ("couponSetId", "required"),
            ("delimiter", "must be , or ;"),
        )


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"<html>gateway</html>", "text/html", ["not JSON", "text/html"]),
        (b'{"results": [', "application/json", ["not JSON"]),
        (b'{"items": []}', "application/json", ["'results' list"]),
        (b'{"results": [{"name": "no id", "type": "multiple"}]}', "application/json", ["'id'"]),
        (b'{"results": ["just a string"]}', "application/json", ["not a JSON object"]),
    ],
    ids=["html", "truncated", "no-results", "no-id", "not-object"],
)
def test_malformed_bodies(
    httpserver: HTTPServer,
    client: ConnectifClient,
    body: bytes,
    content_type: str,
    words: list[str],
) -> None:
    httpserver.expect_request("/coupon-sets/").respond_with_data(body, content_type=content_type)
    with pytest.raises(BadResponseError) as caught:
        client.list_coupon_sets()
    for word in words:
        assert word in str(caught.value)


def test_lenient_parsing_ignores_unknown_and_null_fields(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    httpserver.expect_request("/coupon-sets/").respond_with_json(
        page(
            [
                {
                    "id": "a",
                    "type": "single",
                    "code": "WELCOME15",
                    "quantity": None,
                    "available": None,
                    "assigned": 3,
                    "usedInWorkflows": None,
                    "brandNewField": {"x": 1},
                },
                {"id": "b", "type": "multiple", "updatedAt": "not a date"},
                {"id": "c", "type": "multiple", "available": "many"},
            ]
        )
    )
    a, b = client.list_coupon_sets()
    assert (a.code, a.quantity, a.available, a.used_in_workflows) == ("WELCOME15", None, None, ())
    assert (b.name, b.available, b.assigned, b.updated_at) == ("b", None, 0, None)
    # a counter that is not a count makes the set untrustworthy: skipped, with a warning
    assert client.warnings == [
        "GET /coupon-sets/: coupon set c has a 'available' field that "
        "is not a count ('many'); skipped"
    ]


# --- retries, rate limits, network failures -------------------------------------------------


def test_get_is_retried_on_5xx_then_succeeds(
    httpserver: HTTPServer, client: ConnectifClient, fake_clock: FakeClock
) -> None:
    httpserver.expect_ordered_request("/imports/i1").respond_with_data("oops", status=502)
    httpserver.expect_ordered_request("/imports/i1").respond_with_data("oops", status=503)
    httpserver.expect_ordered_request("/imports/i1").respond_with_json(dict(IMPORT, id="i1"))
    assert client.get_import("i1").id == "i1"
    assert len(httpserver.log) == 3
    assert len(fake_clock.sleeps) == 2 and all(0 < s <= 2 for s in fake_clock.sleeps)


def test_get_gives_up_after_bounded_retries(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    httpserver.expect_request("/imports/i1").respond_with_data("down", status=500)
    with pytest.raises(ServerError):
        client.get_import("i1")
    assert len(httpserver.log) == 1 + client.retries


@pytest.mark.parametrize(
    ("status", "body", "content_type", "words"),
    [
        (500, "boom", "text/plain", "Connectif had a server error (500)"),
        (502, "<html>Bad Gateway</html>", "text/html", "Connectif had a server error (502)"),
        (201, "<html>Created</html>", "text/html", "a body that is not JSON (text/html)"),
        (201, '{"status": "queued"}', "application/json", "without a valid 'id' field"),
        (200, "[]", "application/json", "that is not a JSON object"),
    ],
    ids=["500", "502-html", "201-html", "201-no-id", "200-list"],
)
def test_an_import_answer_that_may_mean_created_is_unconfirmed_and_never_resent(
    httpserver: HTTPServer,
    client: ConnectifClient,
    tmp_path: Path,
    status: int,
    body: str,
    content_type: str,
    words: str,
) -> None:
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    httpserver.expect_request("/imports/", method="POST").respond_with_data(
        body, status=status, content_type=content_type
    )
    sent_at = []
    with pytest.raises(ImportUnconfirmedError) as caught:
        client.create_coupon_import("s1", csv, on_sent=lambda: sent_at.append(len(httpserver.log)))
    assert words in str(caught.value)
    assert str(caught.value).endswith("; the import may or may not have been created")
    assert len(httpserver.log) == 1 and sent_at == [0]  # told before the upload left, once


def test_429_waits_until_ratelimit_reset(
    httpserver: HTTPServer, client: ConnectifClient, fake_clock: FakeClock
) -> None:
    reset = int(fake_clock.time()) + 30
    httpserver.expect_ordered_request("/coupon-sets/s1").respond_with_data(
        "", status=429, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    httpserver.expect_ordered_request("/coupon-sets/s1").respond_with_json(SET)
    before = fake_clock.time()
    assert client.get_coupon_set("s1").id == SET["id"]
    assert 30 <= fake_clock.time() - before <= 31.5
    assert client.stats["429"] == 1


def test_a_429_on_the_import_post_pauses_the_budget_and_is_raised_not_retried(
    httpserver: HTTPServer, client: ConnectifClient, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """The POST's one retry policy is in voucherbot.refill.posting; the client only waits."""
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    httpserver.expect_ordered_request("/imports/", method="POST").respond_with_data(
        "", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/imports/", method="POST").respond_with_json(
        IMPORT, status=201
    )
    before = fake_clock.time()
    with pytest.raises(RateLimitedError, match=r"rate limited \(429\); pausing [78]\.\d s"):
        client.create_coupon_import("s1", csv)
    assert len(httpserver.log) == 1 and fake_clock.time() == before
    assert client.create_coupon_import("s1", csv).id == IMPORT["id"]  # after the pause
    assert 7 <= fake_clock.time() - before <= 8.5
    # the second POST carried the whole file again
    assert upload_of(sent(httpserver)[1])[3] == b"code\nX\n"


def test_429_without_headers_backs_off_exponentially_and_gives_up(
    httpserver: HTTPServer, client: ConnectifClient, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/coupon-sets/s1").respond_with_data("slow down", status=429)
    with pytest.raises(RateLimitedError, match="429"):
        client.get_coupon_set("s1")
    assert len(httpserver.log) == 1 + client.max_429_retries
    waits = fake_clock.sleeps
    assert len(waits) == client.max_429_retries
    assert waits[-1] > waits[0]
    assert all(w <= client.max_backoff + 1 for w in waits)


def test_ratelimit_remaining_zero_pauses_the_next_request(
    httpserver: HTTPServer, client: ConnectifClient, fake_clock: FakeClock
) -> None:
    reset = int(fake_clock.time()) + 12
    httpserver.expect_request("/coupon-sets/s1").respond_with_json(
        SET,
        headers={
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )
    client.get_coupon_set("s1")
    assert fake_clock.sleeps == []
    client.get_coupon_set("s1")
    assert sum(fake_clock.sleeps) == pytest.approx(12, abs=0.01)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_a_clear_network_error(fake_clock: FakeClock, tmp_path: Path) -> None:
    client = ConnectifClient(
        API_KEY,
        f"http://127.0.0.1:{closed_port()}",
        sleep=fake_clock.sleep,
        budget=RateBudget(
            1000, clock=fake_clock.monotonic, wall=fake_clock.time, sleep=fake_clock.sleep
        ),
    )
    with pytest.raises(NetworkError) as caught:
        client.list_coupon_sets()
    assert caught.value.sent is False
    assert "cannot connect" in str(caught.value)
    assert client.stats["list"] == 1 + client.retries
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    with pytest.raises(NetworkError) as posted:
        client.create_coupon_import("s1", csv)
    assert posted.value.sent is False


def test_a_read_timeout_on_the_import_post_is_unconfirmed(
    httpserver: HTTPServer, fake_clock: FakeClock, tmp_path: Path
) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/imports/", method="POST").respond_with_handler(slow)
    client = ConnectifClient(API_KEY, httpserver.url_for("/"), timeout=0.2, sleep=fake_clock.sleep)
    csv = tmp_path / "c.csv"
    csv.write_bytes(b"code\nX\n")
    try:
        with pytest.raises(ImportUnconfirmedError) as caught:
            client.create_coupon_import("s1", csv)
    finally:
        release.set()
    assert "did not answer within 0.2 s" in str(caught.value)
    assert "may or may not have been created" in str(caught.value)
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(httpserver.log) == 1  # an ambiguous POST is never re-sent


def test_error_report_download_does_not_leak_the_key_to_other_hosts(
    httpserver: HTTPServer, client: ConnectifClient
) -> None:
    httpserver.expect_request("/report.csv").respond_with_data("row,code,reason\n")
    foreign = httpserver.url_for("/report.csv").replace("localhost", "127.0.0.1")
    if foreign == httpserver.url_for("/report.csv"):
        foreign = foreign.replace("127.0.0.1", "localhost")
    assert client.download(foreign) == b"row,code,reason\n"
    assert "Authorization" not in sent(httpserver)[0].headers
    assert client.download("/report.csv") == b"row,code,reason\n"
    assert sent(httpserver)[1].headers["Authorization"] == f"apiKey {API_KEY}"


def test_key_never_in_repr_or_logs(
    httpserver: HTTPServer, client: ConnectifClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/coupon-sets/s1").respond_with_data("x", status=500)
    with pytest.raises(ServerError):
        client.get_coupon_set("s1")
    assert "S3cr3tK3y" not in repr(client)
    assert "<hidden>" in repr(client)
    assert caplog.records, "retries should have been logged"
    assert "S3cr3tK3y" not in caplog.text


@pytest.mark.parametrize("key", ["", "   ", "abc def", "abc\n", "kéy"])
def test_bad_keys_are_refused_before_any_request(key: str) -> None:
    with pytest.raises(ConfigError):
        ConnectifClient(key, "http://127.0.0.1:1")


@pytest.mark.parametrize("url", ["ftp://x", "api.connectif.cloud", ""])
def test_bad_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="CONNECTIF_BASE_URL must be an https:// URL"):
        ConnectifClient(API_KEY, url)


def test_from_env_uses_documented_defaults() -> None:
    client = ConnectifClient.from_env({"CONNECTIF_API_KEY": API_KEY})
    assert client.base_url == "https://api.connectif.cloud"
    with pytest.raises(ConfigError, match="CONNECTIF_API_KEY"):
        ConnectifClient.from_env({})
