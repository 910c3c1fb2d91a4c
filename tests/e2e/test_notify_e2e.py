"""Run notifications and JSON logs end to end, through the real CLI.

voucherbot runs in a subprocess against the in-process sandbox; pytest-httpserver plays the
Slack-compatible webhook. A notification says what happened without codes or keys, and the
webhook failing never changes how the run ends.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support import API_KEY, Cli

REFERRAL = "66377977d9ed17e3cc0e95ee"  # the emptiest set: the first import of a run
REFILLED = {
    REFERRAL: "Referral reward Chapman",
    "67c7d4929f9d01298a449ebe": "Win-back 20% September",
    "676a5e55f320cd576d14475b": "VIP Spring 20% off",
}
SLACK_PATH = "/services/T0VB0T/B0VB0T/xoxT0kenInThePath"  # secret: never in output
WRONG_KEY = "65f0c0ffee:Wr0ngS3cr3t-Also-Not-To-Print"


def run(cli: Cli, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """voucherbot in a subprocess with extra (or replaced) environment variables."""
    full = cli.env()
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "voucherbot", *args, "--rules", str(cli.rules)],
        capture_output=True,
        text=True,
        timeout=60,
        env=full,
        cwd=cli.rules.parent,
    )


class Slack:
    """The chat webhook: records every JSON body, answers ``status``."""

    def __init__(self, httpserver: HTTPServer, status: int = 200) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.status = status
        self.url = f"http://127.0.0.1:{httpserver.port}{SLACK_PATH}"
        httpserver.expect_request(SLACK_PATH, method="POST").respond_with_handler(self)

    def __call__(self, request: Request) -> Response:
        self.bodies.append(request.get_data())
        self.headers.append(dict(request.headers))
        return Response("ok", status=self.status, content_type="text/plain")

    def messages(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body in self.bodies]


def notify(cli: Cli, url: str, level: str | None = None) -> None:
    line = f'level = "{level}"\n' if level else ""
    cli.rules.write_text(cli.rules.read_text() + f'\n[notify]\nurl = "{url}"\n{line}')


def every_code(cli: Cli) -> set[str]:
    codes: set[str] = set()
    for cs in cli.sandbox.state.coupon_sets():
        codes |= cli.sandbox.state.codes_in_set(cs.id)
    return codes


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_failures_level_sends_nothing_for_a_clean_run(cli: Cli, httpserver: HTTPServer) -> None:
    slack = Slack(httpserver)
    notify(cli, slack.url)  # level "failures" by default
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == 3
    assert httpserver.log == [] and slack.bodies == []


def test_a_failed_import_sends_one_message_naming_it_without_codes_or_key(
    cli: Cli, httpserver: HTTPServer
) -> None:
    slack = Slack(httpserver)
    notify(cli, slack.url)
    cli.sandbox.state.faults.import_outcome("error", coupon_set_id=REFERRAL)
    result = cli.run("run")
    assert result.returncode == 1, result.stdout + result.stderr

    assert len(httpserver.log) == 1
    (message,) = slack.messages()
    assert slack.headers[0]["Content-Type"] == "application/json"
    assert message["text"].startswith("voucherbot: run failed")
    assert isinstance(message["blocks"], list) and message["blocks"]
    (failed,) = [i for i in cli.sandbox.state.imports if i.coupon_set_id == REFERRAL]
    assert failed.status == "error"
    body = slack.bodies[0].decode()
    failures = next(
        b["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "section" and b["text"]["text"].startswith("*Failures*")
    )
    assert "Referral reward Chapman" in failures and REFERRAL in failures
    assert f"import {failed.id} ended as error" in failures
    for name in REFILLED.values():
        assert name in body
    codes = every_code(cli)
    assert len(codes) == 4907 + 4860  # the two sets that were refilled
    assert not [code for code in codes if code in body]
    assert API_KEY not in body and API_KEY.split(":")[1] not in body


def test_level_all_reports_a_run_with_refills_and_stays_quiet_with_nothing_to_do(
    cli: Cli, httpserver: HTTPServer
) -> None:
    slack = Slack(httpserver)
    cli.rules.write_text(
        cli.rules.read_text() + '\n[notify]\nurl_env = "VB_TEST_SLACK_URL"\nlevel = "all"\n'
    )
    result = run(cli, "run", VB_TEST_SLACK_URL=slack.url)
    assert result.returncode == 0, result.stdout + result.stderr
    (message,) = slack.messages()
    assert message["text"].startswith("voucherbot: run finished: 3 set(s) refilled (14,760 codes)")
    body = slack.bodies[0].decode()
    for imp in cli.sandbox.state.imports:
        assert imp.id in body and imp.coupon_set_id in body
    for name in REFILLED.values():
        assert name in body
    assert not [code for code in every_code(cli) if code in body]
    assert API_KEY not in body

    again = run(cli, "run", VB_TEST_SLACK_URL=slack.url)
    assert again.returncode == 0 and again.stdout.startswith("Nothing to do"), again.stdout
    assert len(slack.bodies) == 1


def test_a_run_stopped_by_a_refused_key_sends_one_failure_message(
    cli: Cli, httpserver: HTTPServer
) -> None:
    slack = Slack(httpserver)
    notify(cli, slack.url, "all")
    result = run(cli, "run", CONNECTIF_API_KEY=WRONG_KEY)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ") and "rejected the API key" in result.stderr
    (message,) = slack.messages()
    assert message["text"].startswith("voucherbot: run failed: 0 set(s) refilled")
    body = slack.bodies[0].decode()
    assert "rejected the API key" in body
    for key in (WRONG_KEY, WRONG_KEY.split(":")[1], API_KEY.split(":")[1]):
        assert key not in body
    assert cli.sandbox.state.imports == []


@pytest.mark.parametrize("fault", [False, True], ids=["clean-run", "failed-import"])
@pytest.mark.parametrize("endpoint", ["answers-500", "unreachable"])
def test_a_broken_notification_endpoint_does_not_change_the_exit_status(
    cli: Cli, httpserver: HTTPServer, endpoint: str, fault: bool
) -> None:
    if endpoint == "answers-500":
        slack = Slack(httpserver, status=500)
        url, where, problem = slack.url, f"http://127.0.0.1:{httpserver.port}", "HTTP 500"
    else:
        port = closed_port()
        url = f"http://127.0.0.1:{port}{SLACK_PATH}"
        where, problem = f"http://127.0.0.1:{port}", "cannot connect"
    notify(cli, url, "all")
    if fault:
        cli.sandbox.state.faults.import_outcome("error", coupon_set_id=REFERRAL)

    result = cli.run("run")
    assert result.returncode == (1 if fault else 0), result.stdout + result.stderr
    assert len(cli.sandbox.state.imports) == 3
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("WARNING")
    assert f"notification to {where} failed: {problem}" in lines[0]
    assert SLACK_PATH not in result.stderr + result.stdout
    if endpoint == "answers-500":
        assert len(httpserver.log) == 1


# --- --log-format json -------------------------------------------------------------------------


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object with a level and a message (fails otherwise)."""
    docs = []
    for line in stderr.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        assert isinstance(doc, dict), f"a stderr line is not a JSON object: {line!r}\n{stderr}"
        assert {"time", "level", "message"} <= set(doc), line
        docs.append(doc)
    return docs


def test_json_logs_a_run_stopped_by_an_error_line_by_line(cli: Cli, httpserver: HTTPServer) -> None:
    notify(cli, Slack(httpserver, status=500).url)
    result = run(cli, "--log-format", "json", "run", CONNECTIF_API_KEY=WRONG_KEY)
    assert result.returncode == 3, result.stdout + result.stderr
    docs = json_lines(result.stderr)
    assert [d["level"] for d in docs] == ["warning", "error"]
    assert "notification to http://127.0.0.1" in docs[0]["message"]
    assert docs[-1]["exitCode"] == 3 and "rejected the API key" in docs[-1]["message"]
    assert "exitCode" not in docs[0]
    assert WRONG_KEY.split(":")[1] not in result.stderr and SLACK_PATH not in result.stderr


@pytest.mark.parametrize("quiet", [False, True], ids=["table-on-stdout", "quiet"])
def test_json_logs_a_run_with_a_failed_refill_line_by_line(
    cli: Cli, httpserver: HTTPServer, quiet: bool
) -> None:
    notify(cli, Slack(httpserver, status=500).url)
    cli.sandbox.state.faults.import_outcome("error", coupon_set_id=REFERRAL)
    args = ["run", "-q"] if quiet else ["run"]
    result = run(cli, "--log-format", "json", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    docs = json_lines(result.stderr)
    assert docs and all(d["level"] in ("warning", "error") for d in docs)
    assert any("notification to http://127.0.0.1" in d["message"] for d in docs)
    if quiet:  # -q: failures still go to stderr, as JSON
        (failed,) = [i for i in cli.sandbox.state.imports if i.coupon_set_id == REFERRAL]
        assert any(failed.id in d["message"] for d in docs), result.stderr
    else:
        assert "ended as error" in result.stdout
