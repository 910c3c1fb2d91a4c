"""`voucherbot refill`, `demo` and `sandbox`, end to end against a real sandbox on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer

from tests.support import API_KEY
from voucherbot.cli import cli
from voucherbot.connectif.client import ConnectifClient
from voucherbot.sandbox import RunningSandbox, SandboxConfig, start_sandbox

FAST_POLL = ["--poll-interval", "0.02"]


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with start_sandbox(SandboxConfig(seed=3, api_key=API_KEY, rate_limit=0)) as server:
        yield server


def invoke(server: RunningSandbox | str, *args: str, key: str = API_KEY) -> Result:
    url = server if isinstance(server, str) else server.url
    env = {"CONNECTIF_BASE_URL": url, "CONNECTIF_API_KEY": key}
    given = [*args, *(() if "--rules" in args else ("--defaults",))]  # no rules file here
    return CliRunner().invoke(cli, given, env=env, catch_exceptions=False)


def multiple_set(server: RunningSandbox) -> Any:
    return next(s for s in server.state.coupon_sets() if s.type == "multiple")


def single_set(server: RunningSandbox) -> Any:
    return next(s for s in server.state.coupon_sets() if s.type == "single")


def test_refill_raises_available_by_exactly_n(sandbox: RunningSandbox) -> None:
    target = multiple_set(sandbox)
    before = target.available
    result = invoke(sandbox, "refill", target.id, "--count", "250", *FAST_POLL)
    assert result.exit_code == 0, result.output
    after = sandbox.state.get_set(target.id)
    assert after.available == before + 250
    codes = sandbox.state.codes_in_set(target.id)
    assert len(codes) == 250
    (imp,) = sandbox.state.imports
    assert f"import {imp.id} finished: 250 imported, 0 failed" in result.stdout
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_refill_to_target(sandbox: RunningSandbox) -> None:
    target = multiple_set(sandbox)
    goal = target.available + 40
    result = invoke(sandbox, "refill", target.id, "--to", str(goal), *FAST_POLL)
    assert result.exit_code == 0, result.output
    assert sandbox.state.get_set(target.id).available == goal


def test_refill_to_below_available_does_nothing(sandbox: RunningSandbox) -> None:
    target = multiple_set(sandbox)
    result = invoke(sandbox, "refill", target.id, "--to", "1")
    assert result.exit_code == 0
    assert "nothing to do" in result.stdout
    assert sandbox.state.imports == []


def test_dry_run_changes_nothing(sandbox: RunningSandbox) -> None:
    target = multiple_set(sandbox)
    result = invoke(sandbox, "refill", target.id, "--count", "10", "--dry-run")
    assert result.exit_code == 0
    assert "would import 10 new codes" in result.stdout
    assert sandbox.state.imports == []


def test_wrong_key_exits_3_without_showing_it(sandbox: RunningSandbox) -> None:
    wrong = "65f0c0ffee:Wr0ngS3cretValue"
    result = invoke(sandbox, "-vv", "refill", multiple_set(sandbox).id, "--count", "5", key=wrong)
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1].startswith("Error: Connectif rejected the API key (401")
    assert "Wr0ngS3cret" not in result.output
    assert sandbox.state.imports == []


def test_unknown_set_is_a_clear_usage_error(sandbox: RunningSandbox) -> None:
    result = invoke(sandbox, "refill", "0123456789abcdef01234567", "--count", "5")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: there is no coupon set with id '0123456789abcdef01234567'; "
        "list the sets with 'voucherbot report'\n"
    )


def test_single_set_is_refused(sandbox: RunningSandbox) -> None:
    single = single_set(sandbox)
    result = invoke(sandbox, "refill", single.id, "--count", "5")
    assert result.exit_code == 2
    assert "only 'multiple' sets hold codes" in result.stderr
    assert sandbox.state.imports == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count must be at least 1"),
        (["--count", "5", "--to", "9"], "exactly one of --count N or --to N"),
        ([], "exactly one of --count N or --to N"),
        (["--count", "many"], "'many' is not a valid integer"),
    ],
    ids=["zero", "both", "neither", "not-a-number"],
)
def test_bad_arguments_exit_2(sandbox: RunningSandbox, args: list[str], message: str) -> None:
    result = invoke(sandbox, "refill", multiple_set(sandbox).id, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert sandbox.state.imports == []


def test_missing_key_is_a_config_error(sandbox: RunningSandbox) -> None:
    result = invoke(sandbox, "refill", "x", "--count", "1", key="")
    assert result.exit_code == 2
    assert "CONNECTIF_API_KEY" in result.stderr


def test_unreachable_server_is_one_line(fake_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # skip the retry backoff
    result = invoke(f"http://127.0.0.1:{fake_port}", "refill", "x", "--count", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: GET /coupon-sets/x: cannot connect")
    assert result.stderr.count("\n") == 1


@pytest.fixture
def fake_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_pagination_returns_every_set_once(sandbox: RunningSandbox) -> None:
    expected = [s.id for s in sandbox.state.coupon_sets()]
    assert len(expected) > 2 * sandbox.state.config.page_size  # several pages
    with ConnectifClient(API_KEY, sandbox.url) as client:
        got = [s.id for s in client.list_coupon_sets()]
        assert client.stats["list"] == -(-len(expected) // sandbox.state.config.page_size)
    assert got == expected


def test_import_with_error_rows_exits_1(httpserver: HTTPServer) -> None:
    set_doc = {
        "id": "s1",
        "name": "Hot",
        "type": "multiple",
        "quantity": 10,
        "available": 1,
        "assigned": 9,
        "usedInWorkflows": [],
    }
    base = {
        "id": "i1",
        "type": "coupons",
        "origin": "api",
        "total": 3,
        "createdAt": "2026-01-01T00:00:00Z",
        "options": {"couponSetId": "s1", "delimiter": ","},
    }
    report_url = httpserver.url_for("/files/report.csv")
    httpserver.expect_request("/files/report.csv").respond_with_data("row,code,reason\n")
    httpserver.expect_request("/coupon-sets/s1").respond_with_json(set_doc)
    httpserver.expect_request("/imports/", method="POST").respond_with_json(
        dict(base, status="queued", success=0, errors=0), status=201
    )
    finished = dict(base, status="finished", success=1, errors=2, errorReportFileUrl=report_url)
    httpserver.expect_request("/imports/", method="GET").respond_with_json({"results": [finished]})
    result = invoke(httpserver.url_for("/").rstrip("/"), "refill", "s1", "--count", "3", *FAST_POLL)
    assert result.exit_code == 1
    assert "import i1 finished: 1 imported, 2 failed of 3 sent" in result.stdout
    assert f"error report: {report_url}" in result.stdout


def test_import_ending_in_error_exits_1(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/coupon-sets/s1").respond_with_json(
        {"id": "s1", "name": "Hot", "type": "multiple", "available": 1, "assigned": 0}
    )
    httpserver.expect_request("/imports/", method="GET").respond_with_json({"results": []})
    httpserver.expect_request("/imports/", method="POST").respond_with_json(
        {"id": "i1", "status": "error", "total": 2, "errors": 0}, status=201
    )
    result = invoke(httpserver.url_for("/").rstrip("/"), "refill", "s1", "--count", "2")
    assert result.exit_code == 1
    assert result.stdout == "Hot (s1): FAILED: import i1 ended as error\n"


def test_demo_shows_report_run_report() -> None:
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    before = out.index("== report before the run")
    ran = out.index("== voucherbot run")
    after = out.index("== report after the run")
    assert before < ran < after
    need_before = re.search(r"(\d+) of 14 sets need codes", out[before:ran])
    assert need_before is not None and int(need_before.group(1)) > 0
    assert "No set needs codes (14 sets checked)." in out[after:]
    assert "FAILED" not in out


@pytest.mark.parametrize("shop", ["woocommerce", "shopify"])
def test_demo_through_a_shop_connector_imports_only_what_the_shop_holds(shop: str) -> None:
    result = CliRunner().invoke(cli, ["demo", "--shop", shop], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"rules: the {shop} connector" in out
    assert "4 of 4 refills succeeded; 19,554 codes imported." in out
    assert (
        f"{shop} holds 19,554 new codes; the 19,554 imported into Connectif are all among them"
        in out
    )
    assert "No set needs codes (14 sets checked)." in out and "FAILED" not in out


def test_sandbox_command_prints_url_and_key_then_serves(fake_port: int) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voucherbot",
            "sandbox",
            "--port",
            str(fake_port),
            "--api-key",
            "k-123456",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.strip() == (
                "Sandbox listening: CONNECTIF_BASE_URL="
                f"http://127.0.0.1:{fake_port} CONNECTIF_API_KEY=k-123456"
            )
            with ConnectifClient("k-123456", f"http://127.0.0.1:{fake_port}") as client:
                assert len(client.list_coupon_sets()) >= 12
            busy = subprocess.run(
                [sys.executable, "-m", "voucherbot", "sandbox", "--port", str(fake_port)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert busy.returncode == 2
            assert busy.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{fake_port}:")
            assert busy.stderr.count("\n") == 1
        finally:
            proc.terminate()


def test_a_long_refill_says_what_it_is_doing_before_its_import(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voucherbot.app import refill_set
    from voucherbot.config.settings import PollSettings
    from voucherbot.ledger import Ledger

    monkeypatch.setattr("voucherbot.refill.batch.LONG_REFILL", 100)
    fast = PollSettings(interval=0.05, max_interval=0.1)
    target = multiple_set(sandbox)
    said: list[str] = []
    with ConnectifClient(API_KEY, sandbox.url) as client, Ledger.memory() as ledger:
        small = refill_set(
            client, target.id, count=99, ledger=ledger, poll=fast, on_phase=said.append
        )
        assert small.ok and said == []
        big = refill_set(
            client, target.id, count=150, ledger=ledger, poll=fast, on_phase=said.append
        )
    assert big.ok
    assert said == [
        f"{target.name} ({target.id}): generating and recording 150 codes...",
        f"{target.name} ({target.id}): 150 of 150 codes recorded in the ledger",
    ]


def test_sandbox_command_serves_the_shops_it_is_asked_for(fake_port: int) -> None:
    import re

    import requests

    shops = ["--shop", "woocommerce", "--shop", "shopify"]
    with subprocess.Popen(
        [sys.executable, "-m", "voucherbot", "sandbox", "--port", str(fake_port), *shops],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            woo, shopify, connectif = (proc.stdout.readline() for _ in range(3))
            assert connectif.startswith("Sandbox listening: CONNECTIF_BASE_URL=")
            url = re.search(r'url = "(http://127\.0\.0\.1:\d+)"', woo)
            key = re.search(
                r"WOOCOMMERCE_CONSUMER_KEY=(\S+) WOOCOMMERCE_CONSUMER_SECRET=(\S+)", woo
            )
            assert url and key, woo
            found = requests.get(
                url[1] + "/wp-json/wc/v3/coupons",
                params={"code": "voucherbot-template"},
                auth=(key[1], key[2]),
                timeout=10,
            )
            assert found.status_code == 200 and found.json()[0]["code"] == "voucherbot-template"
            api = re.search(r'api_url = "(http://127\.0\.0\.1:\d+)"', shopify)
            token = re.search(r"SHOPIFY_ACCESS_TOKEN=(\S+)", shopify)
            assert api and token and 'discount_id = "gid://shopify/DiscountCodeNode/' in shopify
            answer = requests.post(
                api[1] + "/admin/api/2025-10/graphql.json",
                json={
                    "query": "query($code: String!) { codeDiscountNodeByCode(code: $code) { id } }",
                    "variables": {"code": "NONE"},
                },
                headers={"X-Shopify-Access-Token": token[1]},
                timeout=10,
            )
            assert answer.json()["data"] == {"codeDiscountNodeByCode": None}
            assert "throttleStatus" in answer.json()["extensions"]["cost"]
        finally:
            proc.terminate()
