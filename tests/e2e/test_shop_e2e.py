"""The shop end to end: sinks, code pools and recovery, through the real CLI.

voucherbot runs in a subprocess against the in-process sandbox; pytest-httpserver plays the
shop's webhook, a temporary directory the ``file`` sink's folder and the pools, and small
scripts the ``command`` sink. Every way a shop can refuse a batch must leave the sandbox
untouched for that set, and a batch cut off during delivery must be delivered again, with the
same id and codes, before it is imported exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support import Cli, assert_consistent, available, planned_refills

# the three sets seed 1 plans to refill, emptiest first (ledger batches 1, 2, 3 of a first run)
REFERRAL = "66377977d9ed17e3cc0e95ee"  # 7 available: refill 4,993
WINBACK = "67c7d4929f9d01298a449ebe"  # 93 available: refill 4,907
VIP = "676a5e55f320cd576d14475b"  # 140 available: refill 4,860
PLANNED = {REFERRAL: 4993, WINBACK: 4907, VIP: 4860}

SECRET_ENV = "VB_TEST_SHOP_SECRET"
SECRET = "whsec-5f1d0c2a-test-only-9b7e"
HOOK_PATH = "/shop/hooks/voucherbot-a81c7e"  # a path that must never appear in output


# --- helpers -----------------------------------------------------------------------------------


def run(cli: Cli, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """voucherbot in a subprocess with extra environment variables (tests.support.Cli.run
    passes only a failpoint)."""
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


def add_rules(cli: Cli, text: str) -> None:
    cli.rules.write_text(cli.rules.read_text() + "\n" + text)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr with the table's wrapping undone."""
    return " ".join((result.stdout + " " + result.stderr).split())


def imports_of(cli: Cli, set_id: str) -> list[Any]:
    return [i for i in cli.sandbox.state.imports if i.coupon_set_id == set_id]


def ledger_id(cli: Cli) -> str:
    db = sqlite3.connect(cli.ledger)
    try:
        return str(db.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()[0])
    finally:
        db.close()


def pending_files(cli: Cli) -> list[Path]:
    folder = cli.ledger.with_name(cli.ledger.name + ".pending")
    return sorted(folder.iterdir()) if folder.exists() else []


class ImportSpy:
    """Sees every import the sandbox creates, at that moment: its codes, in file order (the
    sandbox drops them once applied), and what ``look(coupon_set_id)`` says then."""

    def __init__(
        self, cli: Cli, monkeypatch: pytest.MonkeyPatch, look: Callable[[str], Any] | None = None
    ) -> None:
        self.codes: dict[str, list[list[str]]] = {}
        self.seen: dict[str, Any] = {}
        create = cli.sandbox.state.create_import

        def spy(coupon_set_id: str, codes: list[str], **kwargs: Any) -> Any:
            self.codes.setdefault(coupon_set_id, []).append(list(codes))
            if look is not None:
                self.seen[coupon_set_id] = look(coupon_set_id)
            return create(coupon_set_id, codes, **kwargs)

        monkeypatch.setattr(cli.sandbox.state, "create_import", spy)

    def only(self, set_id: str) -> list[str]:
        """The codes of the one import created for the set."""
        (codes,) = self.codes[set_id]
        return codes


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] not in ("Z", "X")


class ShopHook:
    """The shop's webhook: records each request's exact body and headers, answers in turn
    with ``answers`` (status, JSON body), then 200."""

    def __init__(
        self,
        httpserver: HTTPServer,
        answers: list[tuple[int, Any]] | None = None,
        on_request: Callable[[int], None] | None = None,
    ) -> None:
        self.requests: list[tuple[bytes, dict[str, str]]] = []
        self.answers = list(answers or [])
        self.on_request = on_request
        self.url = f"http://127.0.0.1:{httpserver.port}{HOOK_PATH}"
        httpserver.expect_request(HOOK_PATH, method="POST").respond_with_handler(self)

    def __call__(self, request: Request) -> Response:
        self.requests.append((request.get_data(), dict(request.headers)))
        if self.on_request is not None:
            self.on_request(len(self.requests))
        status, body = self.answers.pop(0) if self.answers else (200, {"ok": True})
        return Response(json.dumps(body), status=status, content_type="application/json")

    def docs(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.requests]

    def check_signatures(self) -> None:
        assert self.requests
        for body, headers in self.requests:
            want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Voucherbot-Signature"], want)
            assert headers["Content-Type"] == "application/json"
            assert headers["User-Agent"].startswith("voucherbot/")


def webhook_table(url: str, **keys: Any) -> str:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return f'[shop]\nsink = "webhook"\nurl = "{url}"\nsecret_env = "{SECRET_ENV}"\n{extra}'


def rule_for(set_id: str, shop: str, name: str = "shop test") -> str:
    return f'[[rule]]\nname = "{name}"\nmatch = {{ id = "{set_id}" }}\nshop = {shop}\n'


# --- file sink ---------------------------------------------------------------------------------


def test_file_sink_writes_one_private_csv_per_batch_before_its_import(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    assert planned_refills(cli) == PLANNED
    add_rules(cli, '[shop]\nsink = "file"\ndirectory = "shop-codes"\n')
    folder = cli.rules.parent / "shop-codes"

    def files_now(set_id: str) -> dict[str, str]:
        return {p.name: p.read_text() for p in folder.glob(f"{set_id}-*.csv")}

    imports = ImportSpy(cli, monkeypatch, files_now)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOT registered" not in result.stdout

    lid = ledger_id(cli)
    batches = {b["coupon_set_id"]: b for b in cli.batches()}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{set_id}-{lid}-{b['id']}.csv" for set_id, b in batches.items()
    )
    for set_id, count in PLANNED.items():
        path = folder / f"{set_id}-{lid}-{batches[set_id]['id']}.csv"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        lines = path.read_text().splitlines()
        assert lines[0] == "code" and len(lines) == count + 1
        # the shop has exactly what Connectif got, in the same order
        assert lines[1:] == imports.only(set_id)
        assert set(lines[1:]) == cli.sandbox.state.codes_in_set(set_id)
        # the file was complete when the import was created
        assert imports.seen[set_id] == {path.name: path.read_text()}
    assert_consistent(cli, before, PLANNED)
    assert pending_files(cli) == []


# --- command sink ------------------------------------------------------------------------------


RECORDER = """#!{python}
import json, os, sys
data = sys.stdin.buffer.read().decode()
batch_keys = ("VOUCHERBOT_COUPON_SET_ID", "VOUCHERBOT_COUPON_SET_NAME", "VOUCHERBOT_BATCH_ID",
              "VOUCHERBOT_COUNT")
env = {{k: os.environ[k] for k in batch_keys if k in os.environ}}
doc = {{"argv": sys.argv[1:], "env": env, "stdin": data}}
name = os.path.join(sys.argv[1], env["VOUCHERBOT_COUPON_SET_ID"] + ".json")
with open(name + ".tmp", "w") as out:
    json.dump(doc, out)
os.replace(name + ".tmp", name)
"""


def test_command_sink_gets_the_csv_on_stdin_and_the_batch_in_its_environment(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    received = tmp_path / "received"
    received.mkdir()
    program = script(tmp_path / "add-codes", RECORDER.format(python=sys.executable))
    add_rules(cli, f'[shop]\nsink = "command"\ncommand = ["{program}", "{received}"]\n')
    imports = ImportSpy(cli, monkeypatch, lambda set_id: (received / f"{set_id}.json").exists())

    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    lid = ledger_id(cli)
    names = {cs.id: cs.name for cs in cli.sandbox.state.coupon_sets()}
    for batch in cli.batches():
        set_id = str(batch["coupon_set_id"])
        doc = json.loads((received / f"{set_id}.json").read_text())
        assert doc["argv"] == [str(received)]
        assert doc["env"] == {
            "VOUCHERBOT_COUPON_SET_ID": set_id,
            "VOUCHERBOT_COUPON_SET_NAME": names[set_id],
            "VOUCHERBOT_BATCH_ID": f"{lid}-{batch['id']}",
            "VOUCHERBOT_COUNT": str(PLANNED[set_id]),
        }
        codes = imports.only(set_id)
        assert doc["stdin"] == "code\n" + "".join(c + "\n" for c in codes)
        assert len(codes) == PLANNED[set_id]
        assert imports.seen[set_id] is True  # the shop had confirmed before the import
    assert_consistent(cli, before, PLANNED)


def test_command_that_exits_non_zero_fails_its_set_and_imports_nothing_there(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    seen = tmp_path / "refused.csv"
    program = script(
        tmp_path / "refuse-codes",
        f"""#!/bin/sh
cat > "{seen}"
echo "warming up" >&2
echo "shop said no to $(sed -n 2p "{seen}"): database is locked" >&2
exit 3
""",
    )
    add_rules(cli, rule_for(WINBACK, f'{{ sink = "command", command = ["{program}"] }}'))

    result = cli.run("run")
    assert result.returncode == 1, result.stdout + result.stderr
    text = one_line(result)
    assert f"command sink: {program} (batch " in text
    assert "refused the batch (exit status 3): shop said no to <code>: database is locked" in text
    assert "2 of 3 refills succeeded" in text
    refused = seen.read_text().splitlines()[1:]
    assert len(refused) == PLANNED[WINBACK]
    assert not any(code in result.stdout + result.stderr for code in refused)
    # untouched in the sandbox; the other sets refilled as planned
    assert imports_of(cli, WINBACK) == []
    assert cli.sandbox.state.codes_in_set(WINBACK) == set()
    assert available(cli.sandbox)[WINBACK] == before[WINBACK]
    assert {i.coupon_set_id for i in cli.sandbox.state.imports} == {REFERRAL, VIP}
    statuses = {b["coupon_set_id"]: b["status"] for b in cli.batches()}
    assert statuses == {REFERRAL: "finished", WINBACK: "failed", VIP: "finished"}
    assert pending_files(cli) == []

    # the shop is fixed: the next run refills the set, with codes never handed out before
    script(program, "#!/bin/sh\ncat > /dev/null\n")
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    codes = imports.only(WINBACK)
    assert len(codes) == PLANNED[WINBACK] and not set(codes) & set(refused)
    assert_consistent(cli, before, PLANNED)


def test_command_that_hangs_is_stopped_at_its_time_limit(cli: Cli, tmp_path: Path) -> None:
    before = available(cli.sandbox)
    pids = tmp_path / "pids"
    program = script(
        tmp_path / "slow-codes",
        f"""#!/bin/sh
echo $$ > "{pids}"
sleep 60 &
echo $! >> "{pids}"
wait
""",
    )
    shop = f'{{ sink = "command", command = ["{program}"], timeout = 1 }}'
    add_rules(cli, rule_for(WINBACK, shop))

    started = time.monotonic()
    result = cli.run("run")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert "did not finish within 1 s and was stopped" in one_line(result)
    assert 1.0 <= elapsed < 6.0, elapsed  # the time limit, not the script's 60 s
    assert imports_of(cli, WINBACK) == []
    assert available(cli.sandbox)[WINBACK] == before[WINBACK]
    assert {i.coupon_set_id for i in cli.sandbox.state.imports} == {REFERRAL, VIP}
    # the script and its child are gone, not left running behind the cron job
    started_pids = [int(p) for p in pids.read_text().split()]
    assert len(started_pids) == 2
    deadline = time.monotonic() + 3
    while any(alive(p) for p in started_pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in started_pids if alive(p)]


def test_command_that_does_not_exist_fails_clearly(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-add-codes"
    add_rules(cli, f'[shop]\nsink = "command"\ncommand = ["{missing}"]\n')
    result = cli.run("run")
    assert result.returncode == 1, result.stdout + result.stderr
    text = one_line(result)
    assert f"command sink: program {missing} not found" in text
    assert "0 of 3 refills succeeded" in text and "Traceback" not in text
    assert cli.sandbox.state.imports == []
    assert {b["status"] for b in cli.batches()} == {"failed"}
    assert pending_files(cli) == []


# --- webhook sink ------------------------------------------------------------------------------


def test_webhook_sink_signs_every_chunk_and_the_chunks_add_up_to_the_import(
    cli: Cli, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ShopHook(httpserver)
    add_rules(cli, webhook_table(hook.url, chunk_size=1000))
    imports = ImportSpy(cli, monkeypatch, lambda set_id: len(hook.requests))

    result = run(cli, "refill", REFERRAL, "--count", "2500", **{SECRET_ENV: SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2,500 imported" in result.stdout
    hook.check_signatures()
    (batch,) = cli.batches()
    batch_id = f"{ledger_id(cli)}-{batch['id']}"
    docs = hook.docs()
    assert [(d["chunk"], d["chunks"], len(d["codes"])) for d in docs] == [
        (1, 3, 1000),
        (2, 3, 1000),
        (3, 3, 500),
    ]
    assert {(d["couponSetId"], d["couponSetName"], d["batchId"]) for d in docs} == {
        (REFERRAL, "Referral reward Chapman", batch_id)
    }
    assert [h["Idempotency-Key"] for _, h in hook.requests] == [
        f"{batch_id}-1",
        f"{batch_id}-2",
        f"{batch_id}-3",
    ]
    assert len(cli.sandbox.state.imports) == 1
    sent = [code for d in docs for code in d["codes"]]
    assert sent == imports.only(REFERRAL)
    assert set(sent) == cli.sandbox.state.codes_in_set(REFERRAL)
    assert imports.seen == {REFERRAL: 3}  # every chunk was confirmed before the import
    for secret in (SECRET, HOOK_PATH):
        assert secret not in result.stdout + result.stderr


def test_webhook_answering_500_then_200_is_retried_and_imported(
    cli: Cli, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = ImportSpy(cli, monkeypatch)
    hook = ShopHook(httpserver, answers=[(500, {"detail": "try again"})])
    add_rules(cli, webhook_table(hook.url))
    result = run(cli, "refill", REFERRAL, "--count", "40", **{SECRET_ENV: SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    hook.check_signatures()
    (first, h1), (second, h2) = hook.requests
    assert first == second and h1["Idempotency-Key"] == h2["Idempotency-Key"]
    (imp,) = cli.sandbox.state.imports
    assert imports.only(REFERRAL) == json.loads(second)["codes"] and imp.success == 40
    warnings = [ln for ln in result.stderr.splitlines() if ln.startswith("WARNING")]
    assert len(warnings) == 1 and "HTTP 500" in warnings[0] and "retry 1/4" in warnings[0]
    assert f"127.0.0.1:{httpserver.port}" in warnings[0] and HOOK_PATH not in result.stderr


@pytest.mark.parametrize(
    ("answers", "retries", "words"),
    [
        (
            [(500, {})] * 2,
            1,
            "did not accept chunk 1/5 of batch {batch}: HTTP 500 after 2 attempt(s)",
        ),
        (
            [(400, {"detail": "unknown coupon set"})],
            4,
            "refused chunk 1/5 of batch {batch} (HTTP 400): unknown coupon set",
        ),
    ],
    ids=["500-retries-exhausted", "400-at-once"],
)
def test_webhook_refusal_leaves_the_set_untouched(
    cli: Cli, httpserver: HTTPServer, answers: list[tuple[int, Any]], retries: int, words: str
) -> None:
    before = available(cli.sandbox)
    hook = ShopHook(httpserver, answers=list(answers))
    shop = (
        f'{{ sink = "webhook", url = "{hook.url}", secret_env = "{SECRET_ENV}", '
        f"retries = {retries} }}"
    )
    add_rules(cli, rule_for(WINBACK, shop))

    result = run(cli, "run", **{SECRET_ENV: SECRET})
    assert result.returncode == 1, result.stdout + result.stderr
    hook.check_signatures()
    assert len(hook.requests) == len(answers)  # nothing after the failed chunk
    (failed,) = [b for b in cli.batches() if b["coupon_set_id"] == WINBACK]
    assert failed["status"] == "failed" and failed["import_id"] is None
    batch = f"{ledger_id(cli)}-{failed['id']}"
    text = one_line(result)
    assert words.format(batch=batch) in text and "the codes were not imported" in text
    assert HOOK_PATH not in text and SECRET not in text
    assert imports_of(cli, WINBACK) == []
    assert cli.sandbox.state.codes_in_set(WINBACK) == set()
    assert available(cli.sandbox)[WINBACK] == before[WINBACK]
    assert {i.coupon_set_id for i in cli.sandbox.state.imports} == {REFERRAL, VIP}
    assert pending_files(cli) == []


def test_webhook_without_its_secret_stops_before_any_api_call(
    cli: Cli, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    hook = ShopHook(httpserver)
    add_rules(cli, webhook_table(hook.url))
    cli.sandbox.state.faults.latency(0)  # logs every API request, changes nothing else

    result = cli.run("run")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert SECRET_ENV in result.stderr
    assert cli.sandbox.state.imports == [] and hook.requests == []
    assert cli.sandbox.state.faults.log == [], "API calls were made before the check"
    assert cli.batches() == [], "a batch was prepared although nothing could be delivered"


# --- recovery: a batch cut off during delivery ---------------------------------------------------


def test_killed_while_delivering_to_a_file_the_next_run_delivers_the_same_batch(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    add_rules(cli, '[shop]\nsink = "file"\ndirectory = "shop-codes"\n')
    folder = cli.rules.parent / "shop-codes"

    killed = cli.run("run", failpoint="delivering")
    assert killed.returncode == -signal.SIGKILL
    (batch,) = cli.batches()
    assert (batch["coupon_set_id"], batch["status"]) == (REFERRAL, "delivering")
    (kept,) = pending_files(cli)
    assert kept.name == f"batch-{batch['id']}.csv"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    header, *codes = kept.read_text().split()
    assert header == "code"
    assert len(codes) == PLANNED[REFERRAL]
    assert cli.sandbox.state.imports == []

    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"(batch {batch['id']}, left open by an earlier run)" in result.stdout
    path = folder / f"{REFERRAL}-{ledger_id(cli)}-{batch['id']}.csv"
    assert path.read_text() == "code\n" + "".join(c + "\n" for c in codes)
    assert imports.only(REFERRAL) == codes
    assert cli.sandbox.state.codes_in_set(REFERRAL) == set(codes)
    assert cli.batches()[0]["status"] == "finished"
    assert pending_files(cli) == []
    assert_consistent(cli, before, PLANNED)
    final = cli.run("run")
    assert final.returncode == 0 and final.stdout.startswith("Nothing to do"), final.stdout


def test_killed_while_the_webhook_answers_the_next_run_sends_the_same_batch_again(
    cli: Cli, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    victim: dict[str, int] = {}

    def kill_on_first(n: int) -> None:  # the shop got the codes; voucherbot dies before the OK
        if n == 1:
            os.kill(victim["pid"], signal.SIGKILL)

    hook = ShopHook(httpserver, on_request=kill_on_first)
    add_rules(cli, webhook_table(hook.url, chunk_size=5000))
    env = cli.env()
    env[SECRET_ENV] = SECRET
    proc = subprocess.Popen(
        [sys.executable, "-m", "voucherbot", "run", "--rules", str(cli.rules)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cli.rules.parent,
    )
    victim["pid"] = proc.pid
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(hook.requests) == 1 and cli.sandbox.state.imports == []
    (batch,) = cli.batches()
    assert (batch["coupon_set_id"], batch["status"]) == (REFERRAL, "delivering")

    result = run(cli, "run", **{SECRET_ENV: SECRET})
    assert result.returncode == 0, result.stdout + result.stderr
    hook.check_signatures()
    docs = hook.docs()
    assert [d["couponSetId"] for d in docs] == [REFERRAL, REFERRAL, WINBACK, VIP]
    # the same batch again: the same body byte for byte, the same Idempotency-Key
    (body1, headers1), (body2, headers2) = hook.requests[:2]
    assert body1 == body2
    assert (
        headers1["Idempotency-Key"]
        == headers2["Idempotency-Key"]
        == (f"{ledger_id(cli)}-{batch['id']}-1")
    )
    for doc in docs[1:]:  # imported once each, exactly what the shop holds
        assert imports.only(doc["couponSetId"]) == doc["codes"]
    assert pending_files(cli) == []
    assert_consistent(cli, before, PLANNED)


# --- code pools ----------------------------------------------------------------------------------


def pool_rule(refill_to: int = 100) -> str:
    """Win-back (93 available) from the pool in ./pool: below 95, refill to ``refill_to``."""
    return (
        f'[[rule]]\nname = "pool"\nmatch = {{ id = "{WINBACK}" }}\nmin_available = 95\n'
        f'refill_to = {refill_to}\nshop = {{ source = "pool", pool = "pool" }}\n'
    )


def write_pool(folder: Path) -> list[str]:
    """A .txt and a .csv with blank lines, duplicates and invalid codes; the usable codes in
    pool order."""
    folder.mkdir()
    first = [f"SHOP-{n:04d}" for n in range(1, 21)]
    lines = [first[0], "", first[1], f"  {first[2]}  ", first[1], "BAD CODE", "", *first[3:]]
    (folder / "01-first.txt").write_text("\n".join(lines) + "\n")
    more = [f"SHOP-{n:04d}" for n in range(21, 151)]
    rows = [
        "code,campaign",
        *(f"{c},spring" for c in more[:50]),
        ",spring",
        f"{first[0]},again",
        '"SHOP,0999",spring',
        *(f"{c},spring" for c in more[50:]),
    ]
    (folder / "02-more.csv").write_text("\n".join(rows) + "\n")
    (folder / ".03-partial.csv").write_text("code\nHIDDEN-0001\n")  # still being written
    (folder / "notes.md").write_text("NOTES-0001\n")
    return first + more


def test_pool_codes_are_imported_in_order_and_never_handed_out_twice(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = ImportSpy(cli, monkeypatch)
    pool = write_pool(cli.rules.parent / "pool")
    assert len(pool) == 150
    files = {p: p.read_bytes() for p in (cli.rules.parent / "pool").iterdir()}
    add_rules(cli, pool_rule())

    first = cli.run("run")
    assert first.returncode == 0, first.stdout + first.stderr
    assert imports.codes[WINBACK] == [pool[:7]]  # 100 - 93, in file order, past the skipped lines
    assert f"Pool of {WINBACK}: 143 unused codes left." in first.stdout
    text = one_line(first)
    assert "the codes of 2 sets were NOT registered with the shop" in text

    cli.sandbox.state.set_available(WINBACK, 0)  # the set is drained: 100 more are due
    second = cli.run("run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert imports.codes[WINBACK][1] == pool[7:107]  # the NEXT codes, none handed out before

    cli.sandbox.state.set_available(WINBACK, 0)
    third = cli.run("run")  # 100 wanted, 43 left: imports what there is
    assert third.returncode == 0, third.stdout + third.stderr
    assert imports.codes[WINBACK][2] == pool[107:]
    assert f"Pool of {WINBACK}: 0 unused codes left." in third.stdout

    assert [i.success for i in reversed(imports_of(cli, WINBACK))] == [7, 100, 43]
    assert cli.sandbox.state.codes_in_set(WINBACK) == set(pool)  # disjoint and all from it
    assert {p: p.read_bytes() for p in files} == files  # the shop's files are never changed
    assert {b["status"] for b in cli.batches()} == {"finished"}


def test_run_output_says_which_pool_lines_were_skipped_and_that_the_pool_ran_short(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = ImportSpy(cli, monkeypatch)
    folder = cli.rules.parent / "pool"
    folder.mkdir()
    (folder / "codes.txt").write_text("POOL-A1\n\nPOOL-A2\nPOOL-A1\nNOT OK\nPOOL-A3\n")
    add_rules(cli, pool_rule(refill_to=100))  # 7 wanted, 3 there

    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert imports.only(WINBACK) == ["POOL-A1", "POOL-A2", "POOL-A3"]
    text = one_line(result)
    assert "held only 3 unused codes of the 7 wanted" in text, text
    assert "skipped 1 blank, 1 duplicate, 1 invalid" in text, text


def test_report_shows_where_codes_come_from_and_what_the_pool_has_left(cli: Cli) -> None:
    pool = write_pool(cli.rules.parent / "pool")
    add_rules(cli, pool_rule())

    table = cli.run("report")
    assert table.returncode == 0, table.stderr
    assert "shop: codes NOT registered with the shop (no [shop] sink)" in table.stdout
    out = cli.run("report", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = {s["id"]: s for s in json.loads(out.stdout)["sets"]}
    assert rows[REFERRAL]["shop"] == "codes NOT registered with the shop (no [shop] sink)"
    assert rows[REFERRAL]["poolRemaining"] is None
    folder = cli.rules.parent / "pool"
    assert rows[WINBACK]["shop"] == f"codes from the shop's pool in {folder}"
    assert rows[WINBACK]["action"] == "refill" and rows[WINBACK]["count"] == 7
    assert rows[WINBACK]["poolRemaining"] == len(pool)


def test_an_empty_pool_fails_its_set_clearly_and_imports_nothing_there(cli: Cli) -> None:
    folder = cli.rules.parent / "pool"
    folder.mkdir()
    (folder / "codes.txt").write_text("\n\nNOT A CODE\n")
    add_rules(cli, pool_rule())

    result = cli.run("run")
    assert result.returncode == 1, result.stdout + result.stderr
    text = one_line(result)
    assert (
        f"the code pool in {folder} has no unused codes left (skipped 2 blank, 1 invalid); "
        "add the shop's new codes there"
    ) in text
    assert imports_of(cli, WINBACK) == []
    assert available(cli.sandbox)[WINBACK] == 93
    assert {i.coupon_set_id for i in cli.sandbox.state.imports} == {REFERRAL, VIP}
    assert WINBACK not in {b["coupon_set_id"] for b in cli.batches()}
