"""Notifications: when to send, what the message says, and that sending never breaks a run."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from voucherbot.config.notify import parse_notify
from voucherbot.config.settings import NotifySettings
from voucherbot.errors import ConfigError
from voucherbot.report.notify import RunNotice, send, should_notify, slack_message

TOKEN = "T0000/B0000/XXXXsecretXXXX"
CODE = "WEL-7KQ2M9XR"
STARTED = datetime(2026, 11, 27, 13, 47, 5, tzinfo=UTC)

FINISHED = ("WELCOME-10", "64b7f0000000000000000001", 4500, "6072374b4d3ceb76e44d4323", "finished")
FAILED = ("Win-back 20%", "67c7d4929f9d01298a449ebe", 0, None, "failed: sink refused (exit 2)")


def notice(ok: bool = True, refills: Any = (FINISHED,), failures: Any = ()) -> RunNotice:
    return RunNotice(
        ok=ok,
        refills=refills,
        failures=failures,
        source="https://api.connectif.cloud",
        started_at=STARTED,
    )


FAILED_RUN = notice(
    ok=False,
    refills=(FINISHED, FAILED),
    failures=("Win-back 20% (67c7d4929f9d01298a449ebe): the shop sink refused the batch (exit 2)",),
)


# --- [notify] ------------------------------------------------------------------------------


def test_parse_defaults_and_values() -> None:
    assert parse_notify({}, "rules.toml") == NotifySettings()
    assert parse_notify(
        {"url": f"https://hooks.slack.com/services/{TOKEN}", "level": "all", "timeout": 5},
        "rules.toml",
    ) == NotifySettings(url=f"https://hooks.slack.com/services/{TOKEN}", level="all", timeout=5.0)


def test_parse_url_from_environment() -> None:
    url = f"https://hooks.slack.com/services/{TOKEN}"
    settings = parse_notify({"url_env": "SLACK_URL"}, "rules.toml", env={"SLACK_URL": url})
    assert settings.url == url
    assert TOKEN not in repr(settings)


@pytest.mark.parametrize(
    ("table", "env", "message"),
    [
        ({"lvel": "all"}, {}, "unknown key 'lvel' (did you mean 'level'?); known keys: url, "),
        (
            {"level": "failure"},
            {},
            "'level' must be one of failures, all, not 'failure' (did you mean 'failures'?)",
        ),
        (
            {"url": "http://hooks.example.com/x"},
            {},
            "'url' must be an https:// URL (plain http:// is allowed only for 127.0.0.1",
        ),
        ({"url": 5}, {}, "'url' must be a non-empty string, not a whole number (5)"),
        ({"timeout": 0}, {}, "'timeout' must be above 0, not 0"),
        ({"timeout": 1000}, {}, "'timeout' must be at most 300, not 1,000"),
        (
            {"url_env": "NOPE"},
            {},
            "'url_env' names NOPE, which is not set or empty; set it to "
            "the webhook URL, or remove [notify]",
        ),
        (
            {"url_env": "U"},
            {"U": "http://hooks.example.com/x"},
            "the URL in U must be an https:// URL",
        ),
        ({"url_env": "not a name"}, {}, "'url_env' must be the name of an environment variable"),
        (
            {"url": "https://a.example", "url_env": "U"},
            {"U": "https://b.example"},
            "give either 'url' or 'url_env', not both",
        ),
    ],
)
def test_parse_errors(table: dict[str, Any], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_notify(table, "rules.toml", env=env)
    assert str(info.value).startswith("rules.toml: [notify]: ")
    assert message in str(info.value)
    assert "hooks.example.com/x" not in str(info.value)


# --- when -----------------------------------------------------------------------------------


URL = "https://hooks.slack.com/services/x"


@pytest.mark.parametrize(
    ("settings", "run", "expected"),
    [
        (NotifySettings(), FAILED_RUN, False),  # no URL: never
        (NotifySettings(url=URL), FAILED_RUN, True),
        (NotifySettings(url=URL), notice(ok=True), False),  # level failures, ok run
        (NotifySettings(url=URL, level="all"), notice(ok=True), True),
        (NotifySettings(url=URL, level="all"), notice(ok=True, refills=()), False),  # idle run
        (NotifySettings(url=URL, level="all"), FAILED_RUN, True),
        (NotifySettings(url=URL), notice(ok=False, refills=()), True),  # a failure without lines
    ],
    ids=["no-url", "failed", "ok-failures-level", "ok-all", "idle-all", "failed-all", "bare"],
)
def test_should_notify(settings: NotifySettings, run: RunNotice, expected: bool) -> None:
    assert should_notify(settings, run) is expected


# --- what -----------------------------------------------------------------------------------


def test_message_of_a_failed_run() -> None:
    message = slack_message(FAILED_RUN)
    assert message["text"] == (
        "voucherbot: run failed: 2 set(s) refilled (4,500 codes), 1 failure(s) "
        "(https://api.connectif.cloud, started 2026-11-27 13:47 UTC)"
    )
    assert message["blocks"] == [
        {"type": "header", "text": {"type": "plain_text", "text": "voucherbot: run failed"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Refills*\n"
                "• *WELCOME-10* (`64b7f0000000000000000001`): 4,500 codes imported, "
                "import `6072374b4d3ceb76e44d4323`: finished\n"
                "• *Win-back 20%* (`67c7d4929f9d01298a449ebe`): 0 codes imported, no import: "
                "failed: sink refused (exit 2)",
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Failures*\n• Win-back 20% (67c7d4929f9d01298a449ebe): the shop sink "
                "refused the batch (exit 2)",
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "https://api.connectif.cloud · started 2026-11-27 13:47 UTC",
                }
            ],
        },
    ]
    json.dumps(message)  # plain JSON
    assert CODE not in json.dumps(message)


def test_message_of_a_successful_run() -> None:
    message = slack_message(notice())
    assert message["text"].startswith("voucherbot: run finished: 1 set(s) refilled (4,500 codes)")
    assert message["blocks"][0]["text"]["text"] == "voucherbot: run finished"


def test_message_escapes_names_and_strips_credentials() -> None:
    run = RunNotice(
        ok=False,
        refills=(("<!channel> & <https://evil|click>", "id`1", 1, "imp", "finished"),),
        failures=("bad\nline <@U123>",),
        source="https://user:pa55word@api.example.com/v1?key=k3y#frag",
        started_at=datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    text = json.dumps(slack_message(run), ensure_ascii=False)
    assert "<!channel>" not in text and "<@U123>" not in text and "<https" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in text
    assert "`id'1`" in text
    assert "bad line &lt;@U123&gt;" in text
    assert "pa55word" not in text and "k3y" not in text and "frag" not in text
    assert "https://api.example.com/v1 · started 2026-01-01 10:00 UTC" in text


def test_message_of_a_huge_run_stays_within_slack_limits() -> None:
    refills = [(f"Set {i} " + "x" * 400, f"id{i}", i, f"imp{i}", "finished") for i in range(200)]
    message = slack_message(notice(ok=False, refills=refills, failures=["f"] * 100))
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert all(len(text) <= 3000 for text in sections)
    assert sections[0].endswith("more") and "… and " in sections[0]
    assert sections[1].endswith("… and 75 more")
    assert len(message["blocks"]) <= 50


def test_message_of_an_idle_run() -> None:
    blocks = slack_message(notice(refills=()))["blocks"]
    assert blocks[1]["text"]["text"] == "*Nothing to do*"


# --- sending ---------------------------------------------------------------------------------


@pytest.fixture
def hook(httpserver: HTTPServer) -> str:
    return httpserver.url_for(f"/services/{TOKEN}")


def test_send_posts_the_message(httpserver: HTTPServer, hook: str) -> None:
    httpserver.expect_request(f"/services/{TOKEN}", method="POST").respond_with_data("ok")
    assert send(NotifySettings(url=hook), FAILED_RUN) is True
    ((request, _),) = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("voucherbot/")
    assert json.loads(request.get_data()) == slack_message(FAILED_RUN)


def test_send_uses_the_given_session(httpserver: HTTPServer, hook: str) -> None:
    httpserver.expect_request(f"/services/{TOKEN}").respond_with_data("ok")
    with requests.Session() as session:
        assert send(NotifySettings(url=hook, level="all"), notice(), session=session) is True
    assert len(httpserver.log) == 1


def test_nothing_is_sent_for_an_ok_run_at_level_failures(httpserver: HTTPServer, hook: str) -> None:
    assert send(NotifySettings(url=hook), notice(ok=True)) is False
    assert send(NotifySettings(), FAILED_RUN) is False
    assert httpserver.log == []


def assert_warned_without_secrets(caplog: pytest.LogCaptureFixture, problem: str) -> None:
    (record,) = [r for r in caplog.records if r.name == "voucherbot.notify"]
    assert record.levelno == logging.WARNING
    assert problem in record.getMessage()
    assert record.getMessage().startswith("notification to http://")
    assert TOKEN not in caplog.text and "/services" not in caplog.text


def test_server_error_returns_false_and_warns(
    httpserver: HTTPServer, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(f"/services/{TOKEN}").respond_with_data("no", status=500)
    with caplog.at_level(logging.WARNING):
        assert send(NotifySettings(url=hook), FAILED_RUN) is False
    assert_warned_without_secrets(caplog, "failed: HTTP 500")


def test_connection_refused_returns_false_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/{TOKEN}"
    with caplog.at_level(logging.WARNING):
        assert send(NotifySettings(url=url), FAILED_RUN) is False
    assert_warned_without_secrets(caplog, f"127.0.0.1:{port} failed: cannot connect")


def test_timeout_returns_false_and_warns(
    httpserver: HTTPServer, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def slow(request: Request) -> Response:
        time.sleep(0.5)
        done.set()
        return Response("ok")

    httpserver.expect_request(f"/services/{TOKEN}").respond_with_handler(slow)
    with caplog.at_level(logging.WARNING):
        assert send(NotifySettings(url=hook, timeout=0.2), FAILED_RUN) is False
    assert_warned_without_secrets(caplog, "failed: no answer within 0.2 s")
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)


def test_send_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(requests.Session):
        def post(self, *args: Any, **kwargs: Any) -> requests.Response:
            raise RuntimeError(f"boom at https://hooks.slack.com/services/{TOKEN}")

    with caplog.at_level(logging.WARNING):
        assert (
            send(
                NotifySettings(url=f"https://h.example/services/{TOKEN}"),
                FAILED_RUN,
                session=Broken(),
            )
            is False
        )
    assert "notification to https://h.example failed: RuntimeError" in caplog.text
    assert TOKEN not in caplog.text


def test_redirect_is_a_failure(
    httpserver: HTTPServer, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request(f"/services/{TOKEN}").respond_with_data(
        "", status=302, headers={"Location": f"https://elsewhere/{TOKEN}"}
    )
    with caplog.at_level(logging.WARNING):
        assert send(NotifySettings(url=hook), FAILED_RUN) is False
    assert_warned_without_secrets(caplog, "failed: HTTP 302")


def test_plain_http_is_refused_without_sending(caplog: pytest.LogCaptureFixture) -> None:
    settings = NotifySettings(url=f"http://hooks.example.com/services/{TOKEN}")
    with caplog.at_level(logging.WARNING):
        assert send(settings, FAILED_RUN) is False
    assert "notification to http://hooks.example.com not sent: the webhook URL must be" in (
        caplog.text
    )
    assert TOKEN not in caplog.text
