"""Test support: the API key and fake clock every test uses, voucherbot run against an
in-process sandbox (in this process, or in a subprocess where a crash, a second process or file
modes are the point), and the end-state checks every crash and fault scenario must pass."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from voucherbot.cli import cli
from voucherbot.sandbox import RunningSandbox, SandboxConfig, start_sandbox

API_KEY = "65f0c0ffee:S3cr3tK3yValue-Do-Not-Print"
REPO_RULES = Path(__file__).resolve().parents[1] / "rules.toml"


class FakeClock:
    """monotonic(), time() and sleep() that move together, without real waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


def write_rules(folder: Path, extra: str = "") -> Path:
    """The repository's example rules, paced for a private sandbox (no counter lag), polling
    fast."""
    text = REPO_RULES.read_text().replace("requests_per_minute = 60", "requests_per_minute = 6000")
    text = text.replace("interval = 2 ", "interval = 0.05 ").replace(
        "max_interval = 15 ", "max_interval = 0.2 "
    )
    text = text.replace('cooldown = "1h"', "cooldown = 0")
    # the sandbox's counters follow imports at once (sandbox_cli), and lost answers are
    # looked for again after 0.2 s instead of 10
    text = text.replace(
        "[connectif]\n", "[connectif]\nretry_backoff = 0.05\ncounter_lag = 0\nlookup_delay = 0.2\n"
    )
    path = folder / "rules.toml"
    path.write_text(text + extra)
    return path


@dataclass
class Cli:
    sandbox: RunningSandbox
    rules: Path

    @property
    def ledger(self) -> Path:
        return self.rules.parent / "voucherbot.sqlite"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("VOUCHERBOT_", "CONNECTIF_"))
        }
        env.update(
            CONNECTIF_BASE_URL=self.sandbox.url,
            CONNECTIF_API_KEY=API_KEY,
            VOUCHERBOT_RAISE_ERRORS="1",
            **extra,
        )
        return env

    def run(
        self,
        *args: str,
        failpoint: str | None = None,
        timeout: float = 60,
        unprivileged: bool = False,
        subprocess_: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """voucherbot with these arguments and the rules: in this process (click's runner),
        unless it must be another process: a ``failpoint`` crash, ``unprivileged`` (root's
        right to ignore file modes dropped, so a read-only file is read-only even for root),
        or ``subprocess_`` (what only a real process shows: signals, stdout closed early)."""
        if failpoint or unprivileged or subprocess_:
            return self._subprocess(args, failpoint, timeout, unprivileged)
        env: dict[str, str | None] = dict(self.env())
        env.update({k: None for k in os.environ if k not in env})  # exactly self.env()
        # the servers of this process (the sandbox, pytest-httpserver) log through werkzeug;
        # a real voucherbot process has no such lines on its stderr
        quiet = logging.getLogger("werkzeug")
        with contextlib.chdir(self.rules.parent), _disabled(quiet):
            result = CliRunner().invoke(
                cli,
                [*args, "--rules", str(self.rules)],
                env=env,
                catch_exceptions=False,  # an unexpected error fails the test with its traceback
                prog_name="voucherbot",
            )
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    def _subprocess(
        self, args: tuple[str, ...], failpoint: str | None, timeout: float, unprivileged: bool
    ) -> subprocess.CompletedProcess[str]:
        extra = {"VOUCHERBOT_FAILPOINT": failpoint} if failpoint else {}
        prefix = (
            ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
            if unprivileged and os.geteuid() == 0
            else []
        )
        return subprocess.run(
            [*prefix, sys.executable, "-m", "voucherbot", *args, "--rules", str(self.rules)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(**extra),
            cwd=self.rules.parent,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "voucherbot", *args, "--rules", str(self.rules)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=self.rules.parent,
        )

    def batches(self) -> list[dict[str, object]]:
        if not self.ledger.exists():
            return []
        db = sqlite3.connect(self.ledger)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM batches ORDER BY id")]
        finally:
            db.close()


def invoke(sandbox: RunningSandbox, *args: str) -> Result:
    """voucherbot in this process against ``sandbox``, with none of the user's settings."""
    env: dict[str, str | None] = {
        "CONNECTIF_BASE_URL": sandbox.url,
        "CONNECTIF_API_KEY": API_KEY,
        "VOUCHERBOT_RULES": None,
        "VOUCHERBOT_LEDGER": None,
        "VOUCHERBOT_FAILPOINT": None,
    }
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def available(sandbox: RunningSandbox) -> dict[str, int]:
    return {s.id: s.available or 0 for s in sandbox.state.coupon_sets()}


def planned_refills(cli: Cli) -> dict[str, int]:
    """What a run would import now (from the JSON report)."""
    import json

    out = cli.run("report", "--format", "json")
    assert out.returncode == 0, out.stderr
    return {s["id"]: s["count"] for s in json.loads(out.stdout)["sets"] if s["action"] == "refill"}


def assert_consistent(
    cli: Cli, before: dict[str, int], planned: dict[str, int], *, foreign: Iterable[str] = ()
) -> None:
    """Every planned set raised exactly once, no code twice anywhere, ledger == sandbox.

    ``foreign`` names imports another tool made (not in the ledger; their rows count)."""
    sandbox = cli.sandbox
    others = {i.id: i for i in sandbox.state.imports if i.id in set(foreign)}
    after = available(sandbox)
    for set_id, was in before.items():
        theirs = sum(i.success for i in others.values() if i.coupon_set_id == set_id)
        assert after[set_id] == was + planned.get(set_id, 0) + theirs, (set_id, was, after[set_id])
    every_code: Counter[str] = Counter()
    for cs in sandbox.state.coupon_sets():
        every_code.update(sandbox.state.codes_in_set(cs.id))
    assert every_code and max(every_code.values()) == 1, "a code is in the sandbox twice"
    imports = {i.id: i for i in sandbox.state.imports if i.id not in others}
    batches = cli.batches()
    assert not [b for b in batches if b["status"] not in ("finished", "failed", "abandoned")]
    by_import = {b["import_id"]: b for b in batches if b["import_id"]}
    assert set(by_import) == set(imports), "ledger and sandbox disagree about the imports"
    for import_id, batch in by_import.items():
        imp = imports[import_id]
        assert batch["coupon_set_id"] == imp.coupon_set_id
        assert batch["import_status"] == imp.status
        assert batch["success"] == imp.success and batch["errors"] == imp.errors
    for batch in batches:
        if batch["status"] == "abandoned":
            assert batch["import_id"] is None


@contextmanager
def _disabled(logger: logging.Logger) -> Iterator[None]:
    was, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = was


def copy_rules(src: Path, dst_folder: Path) -> Path:
    dst_folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dst_folder / "rules.toml"))


@contextmanager
def sandbox_cli(folder: Path, **settings: Any) -> Iterator[Cli]:
    """A fresh sandbox (seed 1, no rate limit, no demand, counters that follow imports at
    once unless ``counter_lag`` is given) and the example rules in folder."""
    settings = {
        "seed": 1,
        "api_key": API_KEY,
        "rate_limit": 0,
        "demand": False,
        "counter_lag": 0,
        **settings,
    }
    with start_sandbox(SandboxConfig(**settings)) as sandbox:
        yield Cli(sandbox, write_rules(folder))
