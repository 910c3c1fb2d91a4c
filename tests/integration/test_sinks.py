"""Shop sinks: the file, command and webhook sinks, and the [shop] sink settings."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import socket
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from voucherbot import __version__
from voucherbot.config.settings import ShopSettings, SinkSettings
from voucherbot.config.shop import parse_shop
from voucherbot.config.tables import origin
from voucherbot.errors import ConfigError
from voucherbot.files import code_csv_bytes as csv_bytes
from voucherbot.shop.sinks import (
    CommandSink,
    FileSink,
    NoneSink,
    SinkBatch,
    SinkError,
    WebhookSink,
    make_sink,
)

SET_ID = "64b7f0000000000000000001"


def parse_sink(table: Any, where: str, base_dir: Path | None) -> SinkSettings:
    """The sink part of a [shop] table."""
    return parse_shop(table, where, base_dir).sink


SECRET = "whsec-9f8e7d6c5b4a-do-not-print"
TOKEN = "T0KEN-in-the-path"
CODES = ["WEL-7KQ2M9XR", "WEL-P4HC8N3W", "WEL-Z2TB6Y9D"]


def batch(codes: list[str] | None = None, batch_id: str = "42") -> SinkBatch:
    return SinkBatch(SET_ID, "WELCOME-10", batch_id, CODES if codes is None else codes)


def many(n: int) -> list[str]:
    return [f"CODE{i:07d}" for i in range(n)]


# --- [shop] settings -----------------------------------------------------------------------


def test_defaults_are_no_sink() -> None:
    assert parse_shop({}, "rules.toml", None) == ShopSettings()
    assert not ShopSettings().registers_codes
    assert "NOT registered with the shop" in ShopSettings().describe()
    sink = make_sink(SinkSettings())
    assert isinstance(sink, NoneSink)
    assert sink.kind == "none" and sink.registers_codes is False
    assert "not registered with the shop" in sink.describe()
    sink.deliver(batch())  # does nothing


def test_parse_file_sink_resolves_relative_directory(tmp_path: Path) -> None:
    settings = parse_sink({"sink": "file", "directory": "out/codes"}, "rules.toml", tmp_path)
    assert settings == SinkSettings(kind="file", directory=tmp_path / "out" / "codes")
    absolute = parse_sink({"sink": "file", "directory": "/srv/shop"}, "rules.toml", tmp_path)
    assert absolute.directory == Path("/srv/shop")


def test_parse_command_sink_list_and_string(tmp_path: Path) -> None:
    listed = parse_sink(
        {"sink": "command", "command": ["add-codes", "--shop", "main"], "timeout": 5},
        "rules.toml",
        tmp_path,
    )
    assert listed.command == ("add-codes", "--shop", "main")
    assert listed.timeout == 5.0
    split = parse_sink(
        {"sink": "command", "command": "./bin/add codes --name 'Main shop'"}, "r.toml", tmp_path
    )
    assert split.command == (str(tmp_path / "bin/add"), "codes", "--name", "Main shop")


def test_parse_webhook_sink() -> None:
    table = {
        "sink": "webhook",
        "url": "https://shop.example.com/voucherbot",
        "secret_env": "SHOP_SECRET",
        "chunk_size": 500,
        "retries": 2,
        "timeout": 30,
    }
    assert parse_sink(table, "rules.toml", None) == SinkSettings(
        kind="webhook",
        url="https://shop.example.com/voucherbot",
        secret_env="SHOP_SECRET",
        chunk_size=500,
        retries=2,
        timeout=30.0,
    )


SHOP_DISCOUNT = "gid://shopify/DiscountCodeNode/1057371"
HOOK = {"sink": "webhook", "url": "https://shop.example.com/h", "secret_env": "S"}

BAD_TABLES: list[tuple[dict[str, Any], str]] = [
    ({"sinc": "file"}, "unknown key 'sinc' (did you mean 'sink'?); known keys: source, sink, "),
    (
        {"sink": "fiel"},
        "'sink' must be one of none, file, command, webhook, woocommerce, shopify, not 'fiel' "
        "(did you mean 'file'?)",
    ),
    ({"sink": 3}, "'sink' must be a non-empty string, not a whole number (3)"),
    ({"sink": "file"}, "sink = \"file\" needs 'directory'"),
    ({"sink": "file", "directory": ""}, "'directory' must be a non-empty string"),
    ({"sink": "command"}, "sink = \"command\" needs 'command'"),
    ({"sink": "command", "command": []}, "'command' is empty"),
    ({"sink": "command", "command": [1]}, "'command' must be a list of strings"),
    ({"sink": "command", "command": "add 'codes"}, "'command' cannot be split into words"),
    ({"sink": "webhook", "url": "https://x.example"}, "sink = \"webhook\" needs 'secret_env'"),
    ({"sink": "webhook", "secret_env": "S"}, "sink = \"webhook\" needs 'url'"),
    (
        {**HOOK, "url": "http://shop.example.com/h"},
        "'url' must be an https:// URL (plain http:// is allowed only for 127.0.0.1, localhost",
    ),
    ({**HOOK, "url": "ftp://shop.example.com/h"}, "'url' must be an https:// URL"),
    ({**HOOK, "url": "https://[::1"}, "'url' is not a valid URL"),
    ({**HOOK, "secret_env": "my secret"}, "'secret_env' must be the name of an environment"),
    ({**HOOK, "chunk_size": 0}, "'chunk_size' must be at least 1, not 0"),
    ({**HOOK, "chunk_size": 2.5}, "'chunk_size' must be a whole number, not a number (2.5)"),
    ({**HOOK, "chunk_size": True}, "'chunk_size' must be a whole number, not a boolean"),
    ({**HOOK, "retries": -1}, "'retries' must be at least 0, not -1"),
    ({**HOOK, "retries": 11}, "'retries' must be at most 10, not 11"),
    ({**HOOK, "timeout": 0}, "'timeout' must be above 0, not 0"),
    ({**HOOK, "timeout": "60"}, "'timeout' must be a number, not a string ('60')"),
    (
        {"url": "https://x.example", "secret_env": "S"},
        '\'url\' is only used by sink = "webhook" or "woocommerce", but sink is "none"',
    ),
    (
        {"sink": "file", "directory": "d", "timeout": 5},
        '\'timeout\' is only used by sink = "command" or "webhook" or "woocommerce" or "shopify", '
        'but sink is "file"',
    ),
    ({"directory": "d"}, "'directory' is only used by sink = \"file\""),
    (
        {"sink": "shopify", "store_domain": "shop.example.com", "discount_id": SHOP_DISCOUNT},
        "'store_domain' must be the store's <name>.myshopify.com domain, not 'shop.example.com'",
    ),
    (
        {"sink": "shopify", "store_domain": "x.myshopify.com", "discount_id": "1234"},
        "'discount_id' must be the code discount's id, such as",
    ),
    (
        {"sink": "shopify", "discount_id": SHOP_DISCOUNT},
        "sink = \"shopify\" needs 'store_domain' (or 'api_url')",
    ),
    (
        {"sink": "shopify", "store_domain": "x.myshopify.com"},
        "sink = \"shopify\" needs 'discount_id'",
    ),
    (
        {
            "sink": "shopify",
            "store_domain": "x.myshopify.com",
            "discount_id": SHOP_DISCOUNT,
            "api_version": "2025-11",
        },
        "'api_version' must be a release such as \"2025-10\", not '2025-11'",
    ),
    (
        {
            "sink": "shopify",
            "store_domain": "x.myshopify.com",
            "discount_id": SHOP_DISCOUNT,
            "chunk_size": 251,
        },
        "'chunk_size'",
    ),
    ({"sink": "woocommerce", "url": "https://shop.example"}, "needs 'template'"),
    ({"sink": "file", "directory": "d", "pool": "p"}, "'pool' is only used with source"),
    ({"source": "pool", "pool": "p", "sink": "file", "directory": "d"}, "give either 'sink'"),
    ({"source": "pool"}, "source = \"pool\" needs 'pool'"),
    ({"source": "pol"}, "'source' must be one of generate, pool, not 'pol' (did you mean"),
]


@pytest.mark.parametrize(
    ("table", "message"),
    BAD_TABLES,
    ids=[str(i) + "-" + next(iter(t[0]), "") for i, t in enumerate(BAD_TABLES)],
)
def test_bad_settings_name_file_table_and_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_sink(table, "rules.toml", None)
    assert str(info.value).startswith("rules.toml: [shop]: ")
    assert message in str(info.value)


def test_table_that_is_not_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^rules.toml: \[shop\]: must be a table, not a list"):
        parse_sink(["sink"], "rules.toml", None)  # type: ignore[arg-type]


def test_http_allowed_for_loopback_only() -> None:
    for url in ("http://127.0.0.1:8080/h", "http://localhost/h", "http://[::1]:9/h"):
        assert parse_sink({**HOOK, "url": url}, "rules.toml", None).url == url


def test_origin_hides_credentials_path_and_query() -> None:
    assert origin(f"https://user:pw@shop.example.com:8443/{TOKEN}?k=1") == (
        "https://shop.example.com:8443"
    )
    assert origin("http://[::1]:9/x") == "http://[::1]:9"


# --- file sink -----------------------------------------------------------------------------


def test_file_sink_writes_private_csv_atomically(tmp_path: Path) -> None:
    directory = tmp_path / "shop" / "incoming"
    sink = make_sink(SinkSettings(kind="file", directory=directory))
    assert isinstance(sink, FileSink) and sink.registers_codes
    assert sink.describe() == f"file sink to {directory}"
    sink.deliver(batch())
    target = directory / f"{SET_ID}-42.csv"
    assert target.read_text() == "code\n" + "".join(f"{c}\n" for c in CODES)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert os.listdir(directory) == [target.name]


def test_file_sink_redelivery_replaces_the_same_file(tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    sink = FileSink(tmp_path)
    sink.deliver(batch())
    target = tmp_path / f"{SET_ID}-42.csv"
    os.chmod(target, 0o644)
    first_inode = target.stat().st_ino
    sink.deliver(batch())
    assert target.stat().st_ino != first_inode  # a new file renamed over the old one
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == [target.name]
    sink.deliver(batch(batch_id="43"))
    assert sorted(os.listdir(tmp_path)) == [target.name, f"{SET_ID}-43.csv"]


def test_file_sink_failure_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path / "out"
    sink = FileSink(tmp_path)
    sink.deliver(batch(["OLD1"]))

    def fail(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(SinkError, match="No space left on device") as info:
        sink.deliver(batch())
    assert not any(code in str(info.value) for code in CODES)
    assert os.listdir(tmp_path) == [f"{SET_ID}-42.csv"]
    assert (tmp_path / f"{SET_ID}-42.csv").read_text() == "code\nOLD1\n"


def test_file_sink_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SinkError, match=r"file sink: cannot write into .*\[shop\] directory"):
        FileSink(tmp_path / "f").deliver(batch())


@pytest.mark.parametrize("bad", ["../etc", "a/b", ".hidden", ""])
def test_file_sink_refuses_ids_that_escape_the_directory(tmp_path: Path, bad: str) -> None:
    with pytest.raises(SinkError, match="cannot be part of a file name"):
        FileSink(tmp_path / "out").deliver(batch(batch_id=bad))
    assert not (tmp_path / "out").exists()


def test_empty_batch_writes_nothing(tmp_path: Path) -> None:
    FileSink(tmp_path / "d").deliver(batch([]))
    assert not (tmp_path / "d").exists()


def test_csv_bytes() -> None:
    assert csv_bytes(["A", "B"]) == b"code\nA\nB\n"


# --- command sink --------------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str, *, python: bool = False) -> Path:
    path = tmp_path / name
    shebang = f"#!{sys.executable}" if python else "#!/bin/sh"
    path.write_text(f"{shebang}\n{body}")
    path.chmod(0o755)
    return path


def test_command_sink_gets_csv_on_stdin_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    prog = script(
        tmp_path,
        "store.py",
        "import json, os, sys\n"
        "out = sys.argv[1]\n"
        "open(out + '.csv', 'wb').write(sys.stdin.buffer.read())\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith(('VOUCHERBOT_', 'PARENT'))}\n"
        "json.dump({'argv': sys.argv[2:], 'env': env}, open(out + '.json', 'w'))\n",
        python=True,
    )
    monkeypatch.setenv("PARENT_VAR", "inherited")
    monkeypatch.delenv("VOUCHERBOT_RAISE_ERRORS")  # only the batch's own variables, below
    sink = make_sink(SinkSettings(kind="command", command=(str(prog), str(out), "a b")))
    assert isinstance(sink, CommandSink) and sink.registers_codes
    assert sink.describe() == f"command sink running {prog}"
    sink.deliver(batch())
    assert (tmp_path / "out.csv").read_bytes() == csv_bytes(CODES)
    seen = json.loads((tmp_path / "out.json").read_text())
    assert seen == {
        "argv": ["a b"],
        "env": {
            "PARENT_VAR": "inherited",
            "VOUCHERBOT_COUPON_SET_ID": SET_ID,
            "VOUCHERBOT_COUPON_SET_NAME": "WELCOME-10",
            "VOUCHERBOT_BATCH_ID": "42",
            "VOUCHERBOT_COUNT": "3",
        },
    }


def test_command_sink_env_argument_replaces_parent_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    prog = script(tmp_path, "env.sh", f'echo "$ONLY_HERE-$HOME" > {out}\n')
    make_sink(SinkSettings(kind="command", command=(str(prog),)), env={"ONLY_HERE": "x"}).deliver(
        batch()
    )
    assert out.read_text() == "x-\n"


def test_command_sink_refusal_reports_status_and_last_stderr_line(tmp_path: Path) -> None:
    prog = script(
        tmp_path,
        "refuse.sh",
        "cat > /dev/null\n"
        "echo 'checking codes' >&2\n"
        f"echo 'shop: code {CODES[1]} already exists, promotion {'x' * 300}' >&2\n"
        "exit 3\n",
    )
    with pytest.raises(SinkError) as info:
        CommandSink([str(prog)], 10, os.environ).deliver(batch())
    message = str(info.value)
    assert message.startswith(f"command sink: {prog} (batch 42) refused the batch (exit status 3)")
    assert "shop: code <code> already exists, promotion xxx" in message
    assert "checking codes" not in message
    assert not any(code in message for code in CODES)
    said = message.split("(exit status 3): ", 1)[1].split("; ", 1)[0]
    assert len(said) == 200 and said.endswith("…")  # the shop's line, cut to 200 characters
    assert "\n" not in message


def test_command_sink_killed_by_signal(tmp_path: Path) -> None:
    prog = script(tmp_path, "die.sh", "kill -9 $$\n")
    with pytest.raises(SinkError, match=r"refused the batch \(killed by signal 9\); the codes"):
        CommandSink([str(prog)], 10, os.environ).deliver(batch())


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie waiting for init is no longer running


def test_command_sink_hanging_program_is_killed_with_its_children(tmp_path: Path) -> None:
    child = tmp_path / "child.pid"
    prog = script(
        tmp_path,
        "hang.sh",
        f'sleep 60 &\necho $! > {child}\necho "still working" >&2\nwait\n',
    )
    sink = make_sink(SinkSettings(kind="command", command=(str(prog),), timeout=1))
    started = time.monotonic()
    with pytest.raises(SinkError) as info:
        sink.deliver(batch(many(50_000)))  # more than a pipe holds: stdin is never read
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 5
    assert str(info.value) == (
        f"command sink: {prog} (batch 42) did not finish within 1 s and was stopped: "
        "still working; make it faster or raise [shop] timeout"
    )
    pid = int(child.read_text())
    deadline = time.monotonic() + 3
    while not process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(pid)


def test_command_sink_program_ignoring_term_gets_killed(tmp_path: Path) -> None:
    prog = script(tmp_path, "stubborn.sh", "trap '' TERM\nsleep 60\n")
    started = time.monotonic()
    with pytest.raises(SinkError, match=r"did not finish within 0\.5 s"):
        CommandSink([str(prog)], 0.5, os.environ, kill_grace=0.3).deliver(batch())
    assert time.monotonic() - started < 4


def test_command_sink_missing_program(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"program .*/nope not found; check \[shop\] command"):
        CommandSink([str(tmp_path / "nope")], 10, os.environ).deliver(batch())
    with pytest.raises(SinkError, match="not found"):
        CommandSink(["voucherbot-no-such-program"], 10, os.environ).deliver(batch())


def test_command_sink_program_not_executable(tmp_path: Path) -> None:
    prog = tmp_path / "plain.sh"
    prog.write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(SinkError, match=r"cannot start .*: Permission denied; .*chmod \+x"):
        CommandSink([str(prog)], 10, os.environ).deliver(batch())


def test_command_sink_program_that_ignores_stdin_and_succeeds(tmp_path: Path) -> None:
    prog = script(tmp_path, "ok.sh", "exit 0\n")
    CommandSink([str(prog)], 10, os.environ).deliver(batch(many(100_000)))


# --- webhook sink --------------------------------------------------------------------------


@pytest.fixture
def hook_url(httpserver: HTTPServer) -> str:
    return httpserver.url_for(f"/hooks/{TOKEN}")


def webhook(url: str, sleeps: list[float] | None = None, **settings: Any) -> WebhookSink:
    sink = make_sink(
        SinkSettings(kind="webhook", url=url, secret_env="SHOP_SECRET", **settings),
        env={"SHOP_SECRET": SECRET},
        sleep=(sleeps if sleeps is not None else []).append,
    )
    assert isinstance(sink, WebhookSink)
    return sink


def received(httpserver: HTTPServer) -> list[Request]:
    return [request for request, _ in httpserver.log]


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_webhook_sends_exact_signed_body(httpserver: HTTPServer, hook_url: str) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}", method="POST").respond_with_data("ok")
    sink = webhook(hook_url)
    assert sink.registers_codes and sink.kind == "webhook"
    sink.deliver(batch())
    (request,) = received(httpserver)
    body = request.get_data()
    assert body == (
        b'{"couponSetId":"64b7f0000000000000000001","couponSetName":"WELCOME-10",'
        b'"batchId":"42","chunk":1,"chunks":1,'
        b'"codes":["WEL-7KQ2M9XR","WEL-P4HC8N3W","WEL-Z2TB6Y9D"]}'
    )
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "42-1"
    assert request.headers["User-Agent"].startswith(f"voucherbot/{__version__} ")
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-Voucherbot-Signature"], f"sha256={expected}")
    assert SECRET not in str(dict(request.headers))


def test_webhook_chunks(httpserver: HTTPServer, hook_url: str) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_data("", status=204)
    codes = many(2500)
    webhook(hook_url).deliver(batch(codes))
    requests_seen = received(httpserver)
    docs = [json.loads(r.get_data()) for r in requests_seen]
    assert [(d["chunk"], d["chunks"], len(d["codes"])) for d in docs] == [
        (1, 3, 1000),
        (2, 3, 1000),
        (3, 3, 500),
    ]
    assert [c for d in docs for c in d["codes"]] == codes
    assert [r.headers["Idempotency-Key"] for r in requests_seen] == ["42-1", "42-2", "42-3"]
    for r in requests_seen:
        assert r.headers["X-Voucherbot-Signature"] == signature(r.get_data())


def test_webhook_chunk_size_setting(httpserver: HTTPServer, hook_url: str) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_data("")
    webhook(hook_url, chunk_size=2).deliver(batch())
    assert [json.loads(r.get_data())["codes"] for r in received(httpserver)] == [
        CODES[:2],
        CODES[2:],
    ]


def test_webhook_redelivery_is_identical(httpserver: HTTPServer, hook_url: str) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_data("")
    webhook(hook_url, chunk_size=2).deliver(batch())
    webhook(hook_url, chunk_size=2).deliver(batch())
    first, second = received(httpserver)[:2], received(httpserver)[2:]
    for a, b in zip(first, second, strict=True):
        assert a.get_data() == b.get_data()
        for header in ("Idempotency-Key", "X-Voucherbot-Signature"):
            assert a.headers[header] == b.headers[header]


def scripted(httpserver: HTTPServer, *responses: Response) -> None:
    answers = list(responses)

    def handler(request: Request) -> Response:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_handler(handler)


def test_webhook_retries_server_errors_then_succeeds(
    httpserver: HTTPServer, hook_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    scripted(httpserver, Response("boom", 500), Response("busy", 503), Response("", 200))
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING):
        webhook(hook_url, sleeps).deliver(batch())
    requests_seen = received(httpserver)
    assert len(requests_seen) == 3
    assert len({r.headers["Idempotency-Key"] for r in requests_seen}) == 1
    assert len({r.get_data() for r in requests_seen}) == 1
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert "HTTP 500 for chunk 1/1 of batch 42; retry 1/4" in caplog.text
    for secret in (TOKEN, SECRET, *CODES):
        assert secret not in caplog.text


def test_webhook_gives_up_after_retries(httpserver: HTTPServer, hook_url: str) -> None:
    scripted(httpserver, Response("down", 503))
    sleeps: list[float] = []
    with pytest.raises(SinkError) as info:
        webhook(hook_url, sleeps, retries=2).deliver(batch())
    assert len(received(httpserver)) == 3
    assert len(sleeps) == 2
    host = origin(hook_url)
    assert str(info.value) == (
        f"webhook sink: {host} did not accept chunk 1/1 of batch 42: HTTP 503 after 3 "
        "attempt(s); the codes were not imported; run again later (re-delivery is safe)"
    )


def test_webhook_backoff_is_bounded(httpserver: HTTPServer, hook_url: str) -> None:
    scripted(httpserver, Response("down", 500))
    sleeps: list[float] = []
    with pytest.raises(SinkError):
        webhook(hook_url, sleeps, retries=10).deliver(batch(CODES[:1]))
    assert len(sleeps) == 10 and max(sleeps) <= 30


def test_webhook_honours_retry_after_on_429(httpserver: HTTPServer, hook_url: str) -> None:
    scripted(httpserver, Response("slow down", 429, headers={"Retry-After": "7"}), Response(""))
    sleeps: list[float] = []
    webhook(hook_url, sleeps).deliver(batch())
    assert sleeps == [7.0]


def test_webhook_client_error_fails_at_once_with_detail(
    httpserver: HTTPServer, hook_url: str
) -> None:
    detail = {"detail": f"code {CODES[0]} is already registered; key {SECRET}"}
    scripted(httpserver, Response(json.dumps(detail), 409, content_type="application/json"))
    sleeps: list[float] = []
    with pytest.raises(SinkError) as info:
        webhook(hook_url, sleeps).deliver(batch())
    assert len(received(httpserver)) == 1 and sleeps == []
    assert str(info.value) == (
        f"webhook sink: {origin(hook_url)} refused chunk 1/1 of batch 42 (HTTP 409): code "
        "<code> is already registered; key <hidden>; the codes were not imported; fix the shop "
        "endpoint or [shop] settings and run again"
    )


def test_webhook_400_without_json(httpserver: HTTPServer, hook_url: str) -> None:
    scripted(httpserver, Response("<html>bad</html>", 400, content_type="text/html"))
    with pytest.raises(SinkError, match=r"refused chunk 1/1 of batch 42 \(HTTP 400\); the"):
        webhook(hook_url).deliver(batch())
    assert len(received(httpserver)) == 1


def test_webhook_redirect_is_refused(httpserver: HTTPServer, hook_url: str) -> None:
    scripted(httpserver, Response("", 302, headers={"Location": "https://elsewhere/x"}))
    with pytest.raises(SinkError, match=r"\(HTTP 302\)"):
        webhook(hook_url).deliver(batch())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_webhook_connection_refused_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/{TOKEN}"
    sleeps: list[float] = []
    with caplog.at_level(logging.WARNING), pytest.raises(SinkError) as info:
        webhook(url, sleeps, retries=2).deliver(batch())
    assert len(sleeps) == 2
    assert "connection failed (ConnectionError) after 3 attempt(s)" in str(info.value)
    for text in (str(info.value), caplog.text):
        assert TOKEN not in text and SECRET not in text


def test_webhook_timeout(httpserver: HTTPServer, hook_url: str) -> None:
    done = threading.Event()

    def slow(request: Request) -> Response:
        time.sleep(0.5)
        done.set()
        return Response("")

    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_handler(slow)
    with pytest.raises(SinkError, match=r"no answer within 0.2 s after 1 attempt"):
        webhook(hook_url, retries=0, timeout=0.2).deliver(batch())
    assert done.wait(5)  # let the server finish (and log) before the next test uses it
    deadline = time.monotonic() + 5
    while len(httpserver.log) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_webhook_empty_batch_sends_nothing(httpserver: HTTPServer, hook_url: str) -> None:
    webhook(hook_url).deliver(batch([]))
    assert received(httpserver) == []


def test_webhook_secret_comes_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = SinkSettings(kind="webhook", url=f"https://shop.example/{TOKEN}", secret_env="SS")
    for env in ({}, {"SS": ""}):
        with pytest.raises(ConfigError) as info:
            make_sink(settings, env=env)
        assert "environment variable SS ([shop] secret_env), which is not set or empty" in str(
            info.value
        )
    monkeypatch.setenv("SS", SECRET)
    sink = make_sink(settings)
    assert isinstance(sink, WebhookSink)
    for shown in (repr(sink), sink.describe()):
        assert SECRET not in shown and TOKEN not in shown
    assert sink.describe() == "webhook sink to https://shop.example"


def test_make_sink_enforces_https() -> None:
    settings = SinkSettings(kind="webhook", url="http://shop.example/h", secret_env="S")
    with pytest.raises(ConfigError, match=r"allowed only for 127.0.0.1, localhost and ::1"):
        make_sink(settings, env={"S": SECRET})


def test_make_sink_with_incomplete_settings() -> None:
    with pytest.raises(ConfigError, match='sink "file" is missing its settings'):
        make_sink(SinkSettings(kind="file"))


def test_webhook_uses_the_given_session(httpserver: HTTPServer, hook_url: str) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_data("")
    session = requests.Session()
    sink = make_sink(
        SinkSettings(kind="webhook", url=hook_url, secret_env="S"),
        env={"S": SECRET},
        session=session,
    )
    assert isinstance(sink, WebhookSink) and sink.session is session
    sink.deliver(batch())
    assert len(received(httpserver)) == 1


def test_codes_a_shop_echoes_in_another_case_are_hidden_too() -> None:
    from voucherbot.shop.base import hide_codes

    said = hide_codes("coupon wel-7kq2m9xr exists; WEL-P4HC8N3W. too", CODES)
    assert said == "coupon <code> exists; <code> too"
