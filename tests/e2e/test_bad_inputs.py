"""Bad input from people and from a hostile server, one table: each case gives the command,
what goes wrong, the exit code and the words of the one-line message, and is then checked for
what must not happen: a traceback, a second line, an escape sequence or the API key in any
output, an import the server received, or a row in the ledger that would poison the next run.

The hostile server is :mod:`tests.hostile` on pytest-httpserver; cases that need no server
point at one all the same and assert that it was not called.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.hostile import RULES, SET_ID, WORKFLOW_ID, Fake, coupon_set, json_response, page
from tests.support import API_KEY
from voucherbot.cli import cli
from voucherbot.connectif.client import ConnectifClient
from voucherbot.errors import NetworkError
from voucherbot.ledger import Ledger

ESC = "\x1b"


@dataclass
class Case:
    id: str
    args: tuple[str, ...]
    exit: int
    words: str  #: in the message (the one line on stderr, or the output when it succeeds)
    rules: str = ""  #: added to tests.hostile.RULES ("-" for no rules file at all)
    connectif: str = ""  #: added to its [connectif] table
    defaults: str = ""  #: in place of its [defaults] keys
    setup: Callable[[Fake, Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    posts: int = 0  #: POST /imports/ the server must have received
    one_line: bool = True  #: stderr is exactly one line (False: warnings may come first)
    check: Callable[[Fake, Path, Result], None] | None = None
    #: the server is not to be asked anything at all
    offline: bool = False
    #: name the rules file relatively (as cron lines in the README do)
    relative: bool = False


def answer(status: int, doc: Any = None, **headers: str) -> Callable[[Request], Response]:
    def respond(request: Request) -> Response:
        body = json.dumps(doc) if doc is not None else ""
        return Response(body, status=status, headers=headers, content_type="application/json")

    return respond


def trickle(request: Request) -> Response:
    def body() -> Iterator[bytes]:
        for ch in json.dumps(page([])):
            time.sleep(0.1)
            yield ch.encode()

    return Response(body(), content_type="application/json")


def serve(key: str, handler: Callable[[Request], Response]) -> Callable[[Fake, Path], None]:
    def setup(fake: Fake, folder: Path) -> None:
        fake.answers[key] = handler

    return setup


def sets(*items: dict[str, Any]) -> Callable[[Fake, Path], None]:
    def setup(fake: Fake, folder: Path) -> None:
        fake.sets = list(items)

    return setup


def batches(folder: Path) -> list[dict[str, Any]]:
    path = folder / "voucherbot.sqlite"
    if not path.exists() or path.stat().st_size == 0:
        return []
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM batches ORDER BY id")]
    except sqlite3.DatabaseError:  # not a ledger (a case made it so)
        return []
    finally:
        db.close()


def ledger_state(folder: Path) -> dict[str, Any]:
    """Every table of the ledger (row counts) and its batches in full; {} without one."""
    path = folder / "voucherbot.sqlite"
    if not path.exists() or path.stat().st_size == 0:
        return {}
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        query = 'SELECT COUNT(*) FROM "{}"'  # names from sqlite_master, not from outside
        counts = {n: db.execute(query.format(n)).fetchone()[0] for n in names}
    except sqlite3.DatabaseError:  # not a ledger (a case made it so): its bytes
        return {"bytes": path.read_bytes()}
    finally:
        db.close()
    return {**counts, "batches": batches(folder)}


def next_run_is_clean(fake: Fake, folder: Path, result: Result) -> None:
    """Nothing in the ledger keeps the next run from working."""
    fake.answers.clear()
    fake.finish = None
    fake.next_id = lambda n: f"7c{n:022d}"
    again = invoke(fake, folder, ("run",), "")
    assert again.exit_code in (0, 1), again.stderr
    assert "unexpected" not in again.stderr
    for batch in batches(folder):
        assert all(c.isalnum() for c in batch["import_id"] or "x"), batch


def invoke(
    fake: Fake,
    folder: Path,
    args: tuple[str, ...],
    rules: str,
    env: dict[str, str] | None = None,
    defaults: str = "",
    relative: bool = False,
) -> Result:
    extra: list[str] = []
    if rules != "-":
        path = folder / "rules.toml"
        own, _, rules = rules.rpartition("\0")
        text = RULES.replace("[connectif]\n", "[connectif]\n" + own)
        if defaults:
            text = text.replace("min_available = 100\nrefill_to = 200\n", defaults)
        path.write_text(text + rules)
        extra = ["--rules", "rules.toml" if relative else str(path)]
    full = {
        "CONNECTIF_BASE_URL": fake.url,
        "CONNECTIF_API_KEY": API_KEY,
        "VOUCHERBOT_RAISE_ERRORS": "1",
        **(env or {}),
    }
    unset = {k: None for k, v in full.items() if not v}  # "" unsets a variable
    full = {k: v for k, v in full.items() if v}
    return CliRunner().invoke(
        cli,
        [*args, *extra],
        env={**full, **unset},
        catch_exceptions=False,
        prog_name="voucherbot",
    )


def ledger_bytes(text: bytes) -> Callable[[Fake, Path], None]:
    """A file where the ledger would be, holding ``text``."""

    def setup(fake: Fake, where: Path) -> None:
        (where / "voucherbot.sqlite").write_bytes(text)

    return setup


def real_ledger(fake: Fake, folder: Path) -> None:
    Ledger.open(folder / "voucherbot.sqlite").close()


def pending_is_a_file(fake: Fake, folder: Path) -> None:
    real_ledger(fake, folder)
    (folder / "voucherbot.sqlite.pending").rmdir() if (
        folder / "voucherbot.sqlite.pending"
    ).is_dir() else None
    (folder / "voucherbot.sqlite.pending").write_text("not a folder")


def lock_is_a_folder(fake: Fake, folder: Path) -> None:
    real_ledger(fake, folder)
    lock = folder / "voucherbot.sqlite.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()


def other_set_in_answer(fake: Fake, folder: Path) -> None:
    def respond(request: Request) -> Response:
        imp = fake.create(request)
        return json_response({**imp, "options": {"couponSetId": "5f00000000000000000000ff"}}, 201)

    fake.answers["POST /imports/"] = respond


def adopted_once(fake: Fake, folder: Path, result: Result) -> None:
    (batch,) = batches(folder)
    assert batch["status"] == "finished" and batch["import_id"] == fake.imports[0]["id"]


def other_app_db(fake: Fake, folder: Path) -> None:
    db = sqlite3.connect(folder / "voucherbot.sqlite")
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.commit()
    db.close()


def gzipped(request: Request) -> Response:
    body = gzip.compress(json.dumps(page([coupon_set()])).encode())
    return Response(body, content_type="application/json", headers={"Content-Encoding": "gzip"})


def asked_once(fake: Fake, folder: Path, result: Result) -> None:
    assert [path for _, path, _ in fake.requests] == ["/coupon-sets/"]


def key_json_escaped(fake: Fake, folder: Path) -> None:
    escaped = API_KEY.replace("-", "\\u002d")
    raw = '{"detail": "bad request from key ' + escaped + '"}'
    fake.answers["POST /imports/"] = lambda r: Response(
        raw, status=400, content_type="application/json"
    )


def report_missing(fake: Fake, folder: Path) -> None:
    def finish(imp: dict[str, Any], rows: int) -> None:
        imp.update(
            success=rows - 2, errors=2, errorReportFileUrl=f"{fake.url}/reports/SIGNEDTOKEN123.csv"
        )

    fake.finish = finish
    hook(fake, folder)


def no_report_path_in_message(fake: Fake, folder: Path, result: Result) -> None:
    (body,) = fake.bodies  # the notification; the terminal may show the link
    assert "SIGNEDTOKEN123" not in body and "could not be downloaded (404)" in body
    (batch,) = batches(folder)
    assert batch["error_report_url"].endswith("/reports/SIGNEDTOKEN123.csv")  # kept


def key_in_detail(fake: Fake, folder: Path) -> None:
    detail = f"bad request from key {API_KEY}"
    fake.answers["POST /imports/"] = answer(400, {"detail": detail})


def escapes_everywhere(fake: Fake, folder: Path) -> None:
    fake.sets = [coupon_set(id=SET_ID, name="Evil\x1b[2J\x1b]0;owned\x07 set")]

    def finish(imp: dict[str, Any], rows: int) -> None:
        imp["status"] = "error\x1b[31m"

    fake.finish = finish


def bad_finish(**fields: Any) -> Callable[[Fake, Path], None]:
    def setup(fake: Fake, folder: Path) -> None:
        def finish(imp: dict[str, Any], rows: int) -> None:
            imp.update({k: (v(rows) if callable(v) else v) for k, v in fields.items()})

        fake.finish = finish

    return setup


def error_report(
    body: bytes | None, status: int = 200, **headers: str
) -> Callable[[Fake, Path], None]:
    def setup(fake: Fake, folder: Path) -> None:
        def finish(imp: dict[str, Any], rows: int) -> None:
            imp.update(success=rows - 2, errors=2, errorReportFileUrl=f"{fake.url}/report.csv")

        fake.finish = finish
        fake.answers["GET /report.csv"] = lambda r: Response(
            body or b"", status=status, headers=headers
        )

    return setup


def rejected_unknown(fake: Fake, folder: Path, result: Result) -> None:
    (batch,) = batches(folder)
    assert batch["rejected"] is None and batch["errors"] == 2


def post_id(value: str) -> Callable[[Fake, Path], None]:
    def setup(fake: Fake, folder: Path) -> None:
        fake.next_id = lambda n: value

    return setup


def same_id_twice(fake: Fake, folder: Path) -> None:
    fake.sets = [coupon_set(), coupon_set(id="5f00000000000000000000a2", name="Second")]
    fake.next_id = lambda n: "7c000000000000000000000001"


def not_poisoned(fake: Fake, folder: Path, result: Result) -> None:
    for batch in batches(folder):
        assert batch["import_id"] is None or batch["import_id"].isalnum(), batch
    next_run_is_clean(fake, folder, result)


def one_import_per_set(fake: Fake, folder: Path, result: Result) -> None:
    ids = [b["import_id"] for b in batches(folder) if b["import_id"]]
    assert len(ids) == len(set(ids))
    next_run_is_clean(fake, folder, result)


def refilled_once(fake: Fake, folder: Path, result: Result) -> None:
    assert [b["coupon_set_id"] for b in batches(folder)] == [SET_ID]


def other_id_on_get(fake: Fake, folder: Path) -> None:
    def finish(imp: dict[str, Any], rows: int) -> None:
        imp["status"] = "inProgress"

    fake.finish = finish
    fake.answers["GET /imports/"] = answer(200, page([]))
    fake.answers["GET /imports/7c0000000000000000000001"] = answer(
        200, {"id": "7cffffffffffffffffffffff", "status": "finished"}
    )


def still_open(fake: Fake, folder: Path, result: Result) -> None:
    (batch,) = batches(folder)
    assert batch["status"] == "submitted" and batch["import_id"] == "7c0000000000000000000001"
    next_run_is_clean(fake, folder, result)


def key_hidden_everywhere(fake: Fake, folder: Path, result: Result) -> None:
    for batch in batches(folder):
        assert "S3cr3tK3y" not in json.dumps(batch, default=str)
    history = invoke(fake, folder, ("history",), "")
    assert "S3cr3tK3y" not in history.output


def no_escape_in_history(fake: Fake, folder: Path, result: Result) -> None:
    for args in (("history",), ("imports",), ("report",)):
        shown = invoke(fake, folder, args, "")
        assert ESC not in shown.output + shown.stderr, args


def endless_pages(fake: Fake, folder: Path) -> None:
    def respond(request: Request) -> Response:
        number = int(request.args.get("page", "1"))
        return json_response(
            page([coupon_set(id=f"5f{number:022d}")], f"{fake.url}/coupon-sets/?page={number + 1}")
        )

    fake.answers["GET /coupon-sets/"] = respond


def next_page(url: str | Callable[[Fake], str]) -> Callable[[Fake, Path], None]:
    def setup(fake: Fake, folder: Path) -> None:
        target = url(fake) if callable(url) else url
        fake.answers["GET /coupon-sets/"] = lambda r: json_response(page([coupon_set()], target))

    return setup


def second_page_as(url: Callable[[Fake], str]) -> Callable[[Fake, Path], None]:
    """Two pages; the first one's links.next is ``url`` (the same server, written
    differently: upper case, an explicit port)."""

    def setup(fake: Fake, folder: Path) -> None:
        def respond(request: Request) -> Response:
            if "page" in request.args:
                return json_response(page([coupon_set(id="5f00000000000000000000a9")]))
            return json_response(page([coupon_set()], url(fake)))

        fake.answers["GET /coupon-sets/"] = respond

    return setup


def next_page_followed(fake: Fake, folder: Path, result: Result) -> None:
    """The second page was asked for, with the key (the fake answers 401 without it)."""
    assert [path for _, path, _ in fake.requests].count("/coupon-sets/") == 2
    assert all(h.get("Authorization") for _, _, h in fake.requests)


def forbidden_workflows(status: int) -> Callable[[Fake, Path], None]:
    return serve("GET /workflows/", answer(status, {"detail": "no such scope"}))


def hook(fake: Fake, folder: Path) -> None:
    fake.answers["POST /services/T000/B000/SECRETTOKEN"] = answer(200, {})


def webhook_path_hidden(fake: Fake, folder: Path, result: Result) -> None:
    assert any(path.startswith("/services/") for _, path, _ in fake.requests)
    assert "POST <hidden>" in result.stderr  # urllib3's request line, masked


def shop_program(fake: Fake, folder: Path) -> None:
    """``./prog`` beside the rules records its environment; a ``prog`` on PATH must not run."""
    (folder / "bin").mkdir()
    for place, what in (
        (folder / "prog", "env > env.txt"),
        (folder / "bin" / "prog", "echo WRONG > wrong.txt"),
    ):
        place.write_text(f"#!/bin/sh\ncat > /dev/null\n{what}\n")
        place.chmod(0o700)
    hook(fake, folder)


def shop_env_clean(fake: Fake, folder: Path, result: Result) -> None:
    assert not (folder / "wrong.txt").exists()
    env = (folder / "env.txt").read_text()
    assert "S3cr3tK3y" not in env and "SECRETTOKEN" not in env and "sign-me-please" not in env
    assert "PATH=" in env


def report_link_kept_out(fake: Fake, folder: Path) -> None:
    error_report(b"code\nX\nY\n")(fake, folder)
    hook(fake, folder)


def no_report_link_in_message(fake: Fake, folder: Path, result: Result) -> None:
    (body,) = fake.bodies
    assert "report.csv" not in body and "voucherbot imports" in body


NOTIFY = '\n[notify]\nurl_env = "NOTIFY_URL"\nlevel = "all"\n'
HOOK_URL = {"NOTIFY_URL": "http://localhost:{port}/services/T000/B000/SECRETTOKEN"}


def sets_page_with(headers: dict[str, str]) -> Callable[[Fake, Path], None]:
    """The normal page of coupon sets, with these headers (rate-limit ones, say)."""
    return serve(
        "GET /coupon-sets/",
        lambda r: Response(
            json.dumps(page([coupon_set()])), content_type="application/json", headers=headers
        ),
    )


UNSET_WEBHOOK_SECRET = (
    '\n[shop]\nsink = "webhook"\nurl = "https://shop.example/h"\nsecret_env = "NOPE_SECRET"\n'
)
RULES_OFF = "require_active_workflow = false\n"
# the command sink for every set; a webhook sink (whose secret the command must not see) for
# the sets of another rule
SHOP_RULES = """
[shop]
sink = "command"
command = "./prog"

[[rule]]
name = "elsewhere"
match = { name = "OTHER*" }
shop = { sink = "webhook", url = "https://shop.example/hook", secret_env = "SHOP_SECRET" }
"""
BIG = "1000000000000"
CASES = [
    Case(
        "dry-run-refuses-an-uncreatable-ledger",
        ("run", "--dry-run", "--ledger", "/proc/new.sqlite"),
        2,
        "cannot create the ledger /proc/new.sqlite",
        offline=True,
    ),
    Case(
        "dry-run-refuses-a-missing-webhook-secret",
        ("run", "--dry-run"),
        2,
        "NOPE_SECRET ([shop] secret_env), which is not set or empty",
        rules=UNSET_WEBHOOK_SECRET,
        offline=True,
    ),
    Case(
        "rate-limit-reset-days-away",
        ("run",),
        1,
        "the server's rate limit is used up and resets in",
        one_line=False,
        setup=sets_page_with({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999999999"}),
    ),
    Case(
        "ledger-pending-is-a-file",
        ("run",),
        2,
        "cannot make the ledger's private folder",
        setup=pending_is_a_file,
    ),
    Case(
        "ledger-lock-is-a-folder",
        ("run",),
        2,
        "cannot open the ledger's lock file",
        setup=lock_is_a_folder,
        offline=True,
    ),
    Case(
        "next-link-not-a-url",
        ("report",),
        1,
        "links.next is not a URL ('http://[bad/x')",
        setup=next_page("http://[bad/x"),
    ),
    Case(
        "deeply-nested-json",
        ("report",),
        1,
        "with JSON nested too deeply to read",
        setup=serve(
            "GET /coupon-sets/", lambda r: Response("[" * 100_000, content_type="application/json")
        ),
    ),
    Case(
        "rate-limit-header-inf",
        ("report",),
        0,
        "Welcome 10%",
        one_line=False,
        setup=sets_page_with({"X-RateLimit-Remaining": "inf", "X-RateLimit-Reset": "inf"}),
    ),
    Case(
        "retry-after-a-day",
        ("report",),
        1,
        "asks to wait 86,400 s, more than 300 s",
        setup=serve("GET /coupon-sets/", answer(429, {}, **{"Retry-After": "86400"})),
    ),
    Case(
        "history-limit-huge",
        ("history", "--limit", "1" + "0" * 30),
        2,
        "is not in the range 1<=x<=100000",
        offline=True,
    ),
    Case(
        "resolve-batch-huge",
        ("resolve", "1" + "0" * 30, "--abandon"),
        2,
        "is not in the range",
        offline=True,
    ),
    Case(
        "imports-id-not-an-id",
        ("imports", "../x?y"),
        2,
        "'../x?y' is not a Connectif import id",
        offline=True,
    ),
    Case(
        "imports-unknown-id",
        ("imports", "7c00000000000000000000ff"),
        2,
        "Connectif has no import '7c00000000000000000000ff'",
    ),
    Case("timeout-nan", ("run", "--timeout", "nan"), 2, "'nan' is not a number", offline=True),
    Case(
        "usage-error-one-line",
        ("refill", SET_ID, "--count", "1.5"),
        2,
        "'1.5' is not a valid integer. (see 'voucherbot refill --help')",
        offline=True,
    ),
    Case(
        "status-in-both-lists",
        ("config", "check"),
        2,
        "'paused' is in both 'active_workflow_statuses' and 'inactive_workflow_statuses'",
        connectif='active_workflow_statuses = ["paused"]\n'
        'inactive_workflow_statuses = ["paused"]\n',
        offline=True,
    ),
    Case(
        "match-id-not-an-id",
        ("config", "check"),
        2,
        "match id 'a/b' is not a Connectif id",
        rules='\n[[rule]]\nmatch = { id = "a/b" }\n',
        offline=True,
    ),
    Case(
        "rules-is-dev-zero",
        ("report", "--rules", "/dev/zero"),
        2,
        "/dev/zero: not a regular file",
        rules="-",
        offline=True,
    ),
    Case(
        "webhook-secret-missing",
        ("config", "check"),
        2,
        "NOPE_SECRET ([shop] secret_env), which is not set or empty",
        rules=UNSET_WEBHOOK_SECRET,
        offline=True,
    ),
    Case(
        "max-response-tiny",
        ("config", "check"),
        2,
        "'max_response_mb' must be at least 1",
        connectif="max_response_mb = 0.000001\n",
        offline=True,
    ),
    Case(
        "port-zero",
        ("report",),
        2,
        "has port 0",
        env={"CONNECTIF_BASE_URL": "http://127.0.0.1:0"},
        offline=True,
    ),
    Case(
        "post-answer-for-another-set",
        ("run",),
        0,
        "1 of 1 refill succeeded",
        posts=1,
        one_line=False,
        setup=other_set_in_answer,
        check=adopted_once,
    ),
    Case(
        "next-page-same-origin-written-differently",
        ("report",),
        0,
        "Welcome 10%",
        setup=second_page_as(lambda f: f.url.upper() + "/coupon-sets/?page=2"),
        one_line=False,
        check=next_page_followed,
    ),
    Case(
        "next-page-scheme-relative-elsewhere",
        ("report",),
        1,
        "links.next points to another server (http://evil.example)",
        setup=next_page("//evil.example/coupon-sets/?page=2"),
    ),
    # --- 1. bounded work ---------------------------------------------------------------------
    Case(
        "refill-count-huge",
        ("refill", SET_ID, "--count", BIG),
        2,
        "1,000,000,000,000 codes is above the limit of 10,000,000 codes",
        offline=True,
    ),
    Case(
        "refill-count-10e30",
        ("refill", SET_ID, "--count", "1" + "0" * 30),
        2,
        "is above the limit of 10,000,000 codes",
        offline=True,
    ),
    Case(
        "refill-count-unconfirmed",
        ("refill", SET_ID, "--count", "2000000"),
        2,
        "2,000,000 codes is more than 1,000,000 ([limits] confirm_above); add --yes",
        offline=True,
    ),
    Case(
        "refill-dry-run-refuses-too",
        ("refill", SET_ID, "--count", "2000000", "--dry-run"),
        2,
        "add --yes",
        offline=True,
    ),
    Case("refill-to-huge", ("refill", SET_ID, "--to", BIG), 2, "above the limit"),
    Case(
        "refill-to-huge-dry-run", ("refill", SET_ID, "--to", BIG, "--dry-run"), 2, "above the limit"
    ),
    Case(
        "max-per-run-10e18",
        ("config", "check"),
        2,
        "'max_per_run' must be at most",
        defaults="max_per_run = 1000000000000000000\n",
        offline=True,
    ),
    Case(
        "max-per-run-over-limit",
        ("config", "check"),
        2,
        "'max_per_run' (20,000,000) is above [limits] max_codes",
        defaults="max_per_run = 20000000\n",
        offline=True,
    ),
    Case(
        "run-plan-over-confirm",
        ("run",),
        2,
        "this run's refills: 1,999,990 codes is more than 1,000,000",
        defaults="min_available = 100\nrefill_to = 2000000\nmax_per_run = 5000000\n",
    ),
    Case(
        "run-dry-run-plan-over-confirm",
        ("run", "--dry-run"),
        2,
        "add --yes",
        defaults="min_available = 100\nrefill_to = 2000000\nmax_per_run = 5000000\n",
    ),
    Case(
        "limits-lowered",
        ("refill", SET_ID, "--count", "500"),
        2,
        "500 codes is above the limit of 100",
        rules="\n[limits]\nmax_codes = 100\n",
        defaults="min_available = 10\nrefill_to = 50\nmax_per_run = 100\n",
        offline=True,
    ),
    Case(
        "codes-generate-10e12",
        ("codes", "generate", "-n", BIG),
        2,
        "codes generate: 1,000,000,000,000 codes is above the limit",
        offline=True,
    ),
    Case(
        "codes-generate-unconfirmed",
        ("codes", "generate", "-n", "1000001"),
        2,
        "add --yes",
        offline=True,
    ),
    Case(
        "trickling-answer",
        ("report",),
        1,
        "did not finish its answer within 0.5 s ([connectif] request_deadline)",
        connectif="request_deadline = 0.5\n",
        setup=serve("GET /coupon-sets/", trickle),
    ),
    Case(
        "huge-declared-answer",
        ("report",),
        1,
        "the answer is over 1 MB",
        connectif="max_response_mb = 1\n",
        setup=serve(
            "GET /coupon-sets/",
            lambda r: Response(b"x" * (2 * 1024 * 1024), content_type="application/json"),
        ),
    ),
    Case(
        "huge-chunked-answer",
        ("report",),
        1,
        "stopped reading it ([connectif] max_response_mb)",
        connectif="max_response_mb = 1\n",
        setup=serve(
            "GET /coupon-sets/",
            lambda r: Response((b"x" * 65536 for _ in range(64)), content_type="application/json"),
        ),
    ),
    Case(
        "page-cap-named",
        ("report",),
        1,
        "raise [connectif] max_pages",
        connectif="max_pages = 3\n",
        setup=endless_pages,
    ),
    # --- 2. what Connectif may answer --------------------------------------------------------
    Case(
        "workflows-403",
        ("run",),
        3,
        "lacks the 'Workflows: Read' permission",
        setup=forbidden_workflows(403),
    ),
    Case(
        "workflows-404",
        ("run",),
        2,
        "has no GET /workflows/ for this account (404)",
        setup=forbidden_workflows(404),
    ),
    Case(
        "workflows-403-not-needed",
        ("run",),
        0,
        "1 of 1 refill succeeded",
        rules=RULES_OFF,
        setup=forbidden_workflows(403),
        posts=1,
        one_line=False,
    ),
    Case(
        "workflows-allow-list",
        ("run",),
        0,
        "1 of 1 refill succeeded",
        connectif=f'active_workflows = ["{WORKFLOW_ID}"]\n',
        setup=forbidden_workflows(403),
        posts=1,
        one_line=False,
    ),
    Case(
        "counter-not-integer",
        ("run",),
        0,
        "coupon set 5f00000000000000000000a1 has a "
        "'available' field that is not a count ('12'); skipped",
        one_line=False,
        setup=sets(coupon_set(available="12")),
    ),
    Case(
        "counter-negative",
        ("run",),
        0,
        "'available' field that is not a count (-5)",
        one_line=False,
        setup=sets(coupon_set(available=-5)),
    ),
    Case(
        "counter-above-2-63",
        ("run",),
        0,
        "'quantity' field that is not a count",
        one_line=False,
        setup=sets(coupon_set(quantity=2**64)),
    ),
    Case(
        "duplicate-set-ids",
        ("run",),
        0,
        "listed coupon set 5f00000000000000000000a1 more than once",
        one_line=False,
        posts=1,
        setup=sets(coupon_set(), coupon_set()),
        check=refilled_once,
    ),
    Case(
        "import-success-above-total",
        ("run",),
        1,
        "counts more rows ('success' 500 + 'errors' 0) than its 'total' (190)",
        one_line=False,
        posts=1,
        setup=bad_finish(success=500),
        check=next_run_is_clean,
    ),
    Case(
        "finished-zero-of-n",
        ("run",),
        1,
        "says finished but accounts for 0 of the batch's 190 rows",
        one_line=False,
        posts=1,
        setup=bad_finish(success=0),
    ),
    Case(
        "finished-zero-of-total-zero",
        ("run",),
        1,
        "says finished but accounts for 0 of the batch's 190 rows",
        one_line=False,
        posts=1,
        setup=bad_finish(success=0, total=0),
    ),
    Case(
        "gzip-answer-is-read",
        ("report",),
        0,
        "Welcome 10%",
        setup=serve("GET /coupon-sets/", gzipped),
        one_line=False,
    ),
    Case(
        "trickle-is-not-asked-again",
        ("report",),
        1,
        "did not finish its answer within 0.5 s",
        connectif="request_deadline = 0.5\n",
        setup=serve("GET /coupon-sets/", trickle),
        check=asked_once,
    ),
    Case(
        "key-in-a-header",
        ("run",),
        1,
        "Connectif had a server error (500)",
        one_line=False,
        setup=serve(
            "GET /coupon-sets/",
            lambda r: Response("{", status=500, content_type=f"application/json; key={API_KEY}"),
        ),
        check=key_hidden_everywhere,
    ),
    Case(
        "key-json-escaped",
        ("run",),
        1,
        "bad request from key <hidden>:<hidden>",
        one_line=False,
        setup=key_json_escaped,
        posts=1,
        check=key_hidden_everywhere,
    ),
    Case(
        "report-path-kept-out-when-download-fails",
        ("run",),
        1,
        "the error report could not be downloaded (404)",
        rules=NOTIFY,
        setup=report_missing,
        posts=1,
        one_line=False,
        check=no_report_path_in_message,
        env=HOOK_URL,
    ),
    Case(
        "shop-timeout-huge",
        ("config", "check"),
        2,
        "[shop]: 'timeout' must be at most 86,400",
        rules='\n[shop]\nsink = "command"\ncommand = "/bin/true"\ntimeout = 1e300\n',
        offline=True,
    ),
    Case(
        "base-url-with-a-space",
        ("config", "check"),
        2,
        "'base_url' has a host name that is not one ('exa mple.com')",
        connectif='base_url = "https://exa mple.com"\n',
        offline=True,
    ),
    Case(
        "get-import-answers-other-id",
        ("run", "--timeout", "1"),
        1,
        "answered with import '7cffffffffffffffffffffff', not the one asked for",
        one_line=False,
        posts=1,
        setup=other_id_on_get,
        check=still_open,
    ),
    Case(
        "import-id-with-path-chars",
        ("run",),
        1,
        "UNRESOLVED",
        one_line=False,
        posts=1,
        setup=post_id("../../etc?x=1"),
        check=not_poisoned,
    ),
    Case(
        "same-import-id-for-two-posts",
        ("run",),
        1,
        "UNRESOLVED",
        one_line=False,
        posts=2,
        setup=same_id_twice,
        check=one_import_per_set,
    ),
    Case(
        "next-page-other-host",
        ("report",),
        1,
        "links.next points to another server (https://evil.example)",
        setup=next_page("https://evil.example/coupon-sets/?page=2"),
    ),
    Case(
        "next-page-other-scheme",
        ("report",),
        1,
        "links.next points to another server",
        setup=next_page(lambda f: f.url.replace("http://", "https://") + "/coupon-sets/?p=2"),
    ),
    Case(
        "error-report-zip",
        ("run",),
        1,
        "the error report is a ZIP file, not a CSV; which codes were rejected is unknown",
        one_line=False,
        posts=1,
        setup=error_report(b"PK\x03\x04rest-of-zip"),
        check=rejected_unknown,
    ),
    Case(
        "error-report-other-layout",
        ("run",),
        1,
        "has no 'code' column",
        one_line=False,
        posts=1,
        setup=error_report(b"row,reason,value\n1,dup,X\n"),
        check=rejected_unknown,
    ),
    Case(
        "error-report-redirect",
        ("run",),
        1,
        "could not be downloaded",
        one_line=False,
        posts=1,
        setup=error_report(None, 302, Location="https://storage.example/r.csv"),
        check=rejected_unknown,
    ),
    Case(
        "html-502",
        ("report",),
        1,
        "Connectif had a server error (502)",
        setup=serve(
            "GET /coupon-sets/",
            lambda r: Response("<h1>502</h1>", status=502, content_type="text/html"),
        ),
    ),
    Case(
        "truncated-json",
        ("report",),
        1,
        "a body that is not JSON",
        setup=serve(
            "GET /coupon-sets/",
            lambda r: Response('{"results": [', content_type="application/json"),
        ),
    ),
    Case(
        "html-200",
        ("report",),
        1,
        "not JSON (text/html); check that CONNECTIF_BASE_URL",
        setup=serve(
            "GET /coupon-sets/", lambda r: Response("<html>Wi-Fi</html>", content_type="text/html")
        ),
    ),
    Case(
        "missing-id",
        ("report",),
        1,
        "without a valid 'id' field",
        setup=sets({"name": "no id", "type": "multiple"}),
    ),
    Case(
        "missing-results",
        ("report",),
        1,
        "without a 'results' list",
        setup=serve("GET /coupon-sets/", answer(200, {"items": []})),
    ),
    # --- 3. secrets stay secret --------------------------------------------------------------
    Case(
        "key-echoed-in-error",
        ("run",),
        1,
        "bad request from key <hidden>",
        one_line=False,
        setup=key_in_detail,
        posts=1,
        check=key_hidden_everywhere,
    ),
    Case(
        "key-echoed-in-redirect",
        ("report",),
        1,
        "redirected to https://x.example/?k=<hidden>",
        setup=serve("GET /coupon-sets/", answer(302, Location=f"https://x.example/?k={API_KEY}")),
    ),
    Case(
        "vv-masks-the-webhook-token",
        ("-vv", "run"),
        0,
        "1 of 1 refill succeeded",
        rules=NOTIFY,
        setup=hook,
        posts=1,
        one_line=False,
        check=webhook_path_hidden,
        env=HOOK_URL,
    ),
    Case(
        "command-sink-env-and-relative-prog",
        ("run",),
        0,
        "1 of 1 refill succeeded",
        rules=NOTIFY + SHOP_RULES,
        relative=True,
        setup=shop_program,
        posts=1,
        one_line=False,
        check=shop_env_clean,
        env={**HOOK_URL, "PATH": "{bin}:/usr/bin:/bin", "SHOP_SECRET": "sign-me-please"},
    ),
    Case(
        "notification-without-report-link",
        ("run",),
        1,
        "error report",
        rules=NOTIFY,
        setup=report_link_kept_out,
        posts=1,
        one_line=False,
        check=no_report_link_in_message,
        env=HOOK_URL,
    ),
    Case(
        "http-base-url-elsewhere",
        ("report",),
        2,
        "CONNECTIF_BASE_URL must be an https:// URL (plain http:// is allowed only for 127.0.0.1",
        env={"CONNECTIF_BASE_URL": "http://api.example.com"},
        offline=True,
    ),
    Case(
        "rules-base-url-not-a-url",
        ("report",),
        2,
        "[connectif]: 'base_url' must be an "
        "https:// URL such as https://api.connectif.cloud, not 'notaurl'",
        connectif='base_url = "notaurl"\n',
        env={"CONNECTIF_BASE_URL": ""},
        offline=True,
    ),
    # --- 4. nothing from outside reaches the terminal raw -----------------------------------
    Case(
        "escapes-in-names-and-statuses",
        ("run",),
        1,
        "Evil\ufffd[2J",
        one_line=False,
        posts=1,
        setup=escapes_everywhere,
        check=no_escape_in_history,
    ),
    Case(
        "escapes-in-error-detail",
        ("report",),
        1,
        "Connectif rejected the request (400): oops\ufffd[2J",
        setup=serve("GET /coupon-sets/", answer(400, {"detail": "oops\x1b[2J"})),
    ),
    # --- 5. errors that say what is wrong ----------------------------------------------------
    Case(
        "ledger-is-dev-null",
        ("run", "--ledger", "/dev/null"),
        2,
        "/dev/null is a device, not a voucherbot ledger",
        offline=True,
    ),
    Case(
        "ledger-is-text",
        ("run",),
        2,
        "is not an SQLite database, not a voucherbot ledger",
        setup=ledger_bytes(b"hello, I am a shopping list\n"),
        offline=True,
    ),
    Case(
        "ledger-is-another-apps-db",
        ("run",),
        2,
        "is another application's SQLite database (tables: invoices), not a voucherbot ledger",
        setup=other_app_db,
        offline=True,
    ),
    Case(
        "ledger-unwritable-place",
        ("run", "--ledger", "/proc/voucherbot.sqlite"),
        2,
        "/proc/voucherbot.sqlite",
        offline=True,
    ),
    Case(
        "report-without-rules",
        ("report",),
        2,
        "rules.toml: no such rules file",
        rules="-",
        offline=True,
    ),
    Case(
        "refill-without-rules",
        ("refill", SET_ID, "--count", "5"),
        2,
        "rules.toml: no such rules file",
        rules="-",
        offline=True,
    ),
    Case("imports-without-rules", ("imports",), 2, "no such rules file", rules="-", offline=True),
    Case(
        "config-check-1-symbol-shape",
        ("config", "check"),
        2,
        "would not fit: not enough room",
        rules="\n[defaults.code]\nlength = 1\n",
        offline=True,
    ),
    Case(
        "config-check-10e30",
        ("config", "check"),
        2,
        "'refill_to' must be at most",
        defaults="refill_to = 1" + "0" * 30 + "\n",
        offline=True,
    ),
    Case(
        "config-check-unclosed-bracket",
        ("config", "check"),
        2,
        "match name 'WEL[COME*' has a '[' without its ']'",
        rules='\n[[rule]]\nmatch = { name = "WEL[COME*" }\n',
        offline=True,
    ),
    Case(
        "config-check-duplicate-names",
        ("config", "check"),
        2,
        "the name 'hot' is already rule #1's",
        rules='\n[[rule]]\nname = "hot"\nmatch = { name = "A*" }\n'
        '[[rule]]\nname = "hot"\nmatch = { name = "B*" }\n',
        offline=True,
    ),
    Case(
        "config-check-missing-pool",
        ("config", "check"),
        2,
        "not a folder",
        rules='\n[shop]\nsource = "pool"\npool = "no-such-pool"\n',
        offline=True,
    ),
    Case(
        "report-warns-unmatched-rule",
        ("report",),
        0,
        "rule 'ghost' (name 'GHOST*') matches no coupon set",
        rules='\n[[rule]]\nname = "ghost"\nmatch = { name = "GHOST*" }\n',
        one_line=False,
    ),
    Case(
        "history-unknown-set",
        ("history", "--set", "nope"),
        0,
        "The ledger has no batches for coupon set nope.",
        setup=real_ledger,
        offline=True,
        one_line=False,
    ),
    Case(
        "report-into-missing-folder",
        ("report", "-o", "no/such/folder/r.html"),
        2,
        "the folder no/such/folder does not exist",
        offline=True,
    ),
    Case(
        "https-to-plain-http-port",
        ("report",),
        1,
        "the TLS handshake with https://127.0.0.1",
        env={"CONNECTIF_BASE_URL": "https://127.0.0.1:{port}"},
    ),
    Case(
        "invalid-port",
        ("report",),
        2,
        "is not a valid URL: 'http://127.0.0.1:99999'",
        env={"CONNECTIF_BASE_URL": "http://127.0.0.1:99999"},
        offline=True,
    ),
    Case(
        "blocklist-blocks-every-longer-code",
        (
            "codes",
            "generate",
            "-n",
            "3",
            "--alphabet",
            "AB",
            "--length",
            "6",
            "--block",
            "AB",
            "--block",
            "BA",
            "--no-check",
        ),
        2,
        "longer codes would contain one even more often",
        offline=True,
    ),
]


@pytest.fixture(autouse=True)
def quiet_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake server's own request log is not voucherbot's output."""
    monkeypatch.setattr(logging.getLogger("werkzeug"), "disabled", True)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(
    case: Case, httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Fake(httpserver)
    monkeypatch.chdir(tmp_path)
    if case.setup is not None:
        case.setup(fake, tmp_path)
    env = {k: v.format(port=httpserver.port, bin=tmp_path / "bin") for k, v in case.env.items()}
    rules = case.rules if case.rules == "-" else _with_connectif(case.rules, case.connectif)
    before = ledger_state(tmp_path)
    result = invoke(fake, tmp_path, case.args, rules, env, case.defaults, case.relative)
    shown = result.output + result.stderr
    assert result.exit_code == case.exit, (result.exit_code, shown)
    assert case.words in " ".join(shown.split()), shown
    assert "Traceback" not in shown and ESC not in shown, shown
    assert "S3cr3tK3y" not in shown and API_KEY not in shown
    if case.one_line and case.exit != 0:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fake.posts == case.posts, fake.requests
    if case.offline:
        assert fake.requests == [], fake.requests
    after = ledger_state(tmp_path)
    if case.offline:  # refused before anything: the ledger as it was (or still none)
        assert after == before
    elif case.posts == 0:  # the server was read, nothing imported: no batch, no code
        assert after.get("batches", []) == before.get("batches", [])
        assert after.get("codes", 0) == before.get("codes", 0)
    if case.check is not None:
        case.check(fake, tmp_path, result)


def _with_connectif(rules: str, connectif: str) -> str:
    """The case's rules, with its ``[connectif]`` keys (tests.hostile.RULES has the table)."""
    return (connectif + "\n" + "\0" + rules) if connectif else rules


def test_an_unexpected_error_is_one_line_and_notified(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Fake(httpserver)
    hook(fake, tmp_path)

    def bug(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the refill")

    monkeypatch.setattr("voucherbot.app.runs.run_plan", bug)
    env = {k: v.format(port=httpserver.port) for k, v in HOOK_URL.items()}
    env["VOUCHERBOT_RAISE_ERRORS"] = ""
    result = invoke(fake, tmp_path, ("run",), NOTIFY, env)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: unexpected RuntimeError: a bug in the refill")
    assert result.stderr.count("\n") == 1
    (body,) = fake.bodies
    assert "run failed" in body and "a bug in the refill" in body


def test_a_server_that_trickles_its_headers_is_given_up_at_the_deadline() -> None:
    """Not only the body: a status line and headers sent a byte at a time (each byte well
    within the read timeout) are cut off at request_deadline too."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 1000:
                if stop.wait(0.05):
                    return
                conn.sendall(bytes([byte]))

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    client = ConnectifClient(API_KEY, url, timeout=(5.0, 5.0), deadline=0.5, retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(NetworkError, match=r"did not finish its answer within 0\.5 s"):
            client.list_coupon_sets()
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        listener.close()
