"""`voucherbot run`, `report` and `config check`, end to end against a real sandbox."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support import API_KEY
from voucherbot.cli import cli
from voucherbot.codes import check_code
from voucherbot.config import load_config
from voucherbot.sandbox import RunningSandbox, SandboxConfig, start_sandbox

REPO_RULES = Path(__file__).resolve().parents[2] / "rules.toml"
FAST = ["--poll-interval", "0.02"]


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    with start_sandbox(SandboxConfig(seed=1, api_key=API_KEY, rate_limit=0)) as server:
        yield server


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    shutil.copy(REPO_RULES, path)
    # the example paces itself for a shared account; the private sandbox needs no pacing
    path.write_text(
        path.read_text().replace("requests_per_minute = 60", "requests_per_minute = 6000")
    )
    return path


def invoke(server: RunningSandbox | None, *args: str) -> Result:
    env = {"CONNECTIF_API_KEY": API_KEY}
    if server is not None:
        env["CONNECTIF_BASE_URL"] = server.url
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def available(server: RunningSandbox) -> dict[str, int]:
    return {s.id: s.available or 0 for s in server.state.coupon_sets()}


def test_run_refills_exactly_the_planned_sets(sandbox: RunningSandbox, rules: Path) -> None:
    dry = invoke(sandbox, "run", "--rules", str(rules), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert sandbox.state.imports == []
    plan = json.loads(invoke(sandbox, "report", "--rules", str(rules), "--format", "json").stdout)
    planned = {s["id"]: s["count"] for s in plan["sets"] if s["action"] == "refill"}
    assert len(planned) >= 2
    before = available(sandbox)

    result = invoke(sandbox, "run", "--rules", str(rules), *FAST)
    assert result.exit_code == 0, result.output
    after = available(sandbox)
    for set_id, count in planned.items():
        assert after[set_id] == before[set_id] + count
    for set_id in set(before) - set(planned):
        assert after[set_id] == before[set_id]
    imports = sandbox.state.imports
    assert sorted(i.coupon_set_id for i in imports) == sorted(planned)  # one import per set
    total = sum(planned.values())
    assert f"{len(planned)} of {len(planned)} refills succeeded; {total:,} codes imported." in (
        result.stdout
    )
    # the codes have the shape of the rule that matched each set
    config = load_config(rules)
    for set_id in planned:
        cs = sandbox.state.get_set(set_id)
        spec = config.rule_for(set_id, cs.name)[1].code
        codes = sandbox.state.codes_in_set(set_id)
        assert len(codes) == planned[set_id]
        assert all(check_code(spec, c).ok for c in list(codes)[:200])

    again = invoke(sandbox, "run", "--rules", str(rules), "-q", *FAST)
    assert again.exit_code == 0 and again.output == ""
    assert len(sandbox.state.imports) == len(planned)


def test_run_skips_a_set_with_an_import_in_flight(sandbox: RunningSandbox, rules: Path) -> None:
    plan = json.loads(invoke(sandbox, "report", "--rules", str(rules), "--format", "json").stdout)
    first = next(s["id"] for s in plan["sets"] if s["action"] == "refill")
    sandbox.state.pause_imports()
    sandbox.state.create_import(first, ["INFLIGHT1"])
    report = json.loads(invoke(sandbox, "report", "--rules", str(rules), "--format", "json").stdout)
    row = next(s for s in report["sets"] if s["id"] == first)
    assert row["skip"] == "import-in-flight"
    sandbox.state.resume_imports()


def test_run_requires_a_rules_file(sandbox: RunningSandbox) -> None:
    result = invoke(sandbox, "run")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: rules.toml: no such rules file")
    assert sandbox.state.imports == []


def test_bad_rules_stop_before_any_api_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[defaults]\nmin_availble = 5\n")
    # no sandbox: an API call would fail differently (connection refused, exit 1)
    result = CliRunner().invoke(
        cli, ["run", "--rules", str(bad)], env={"CONNECTIF_BASE_URL": "http://127.0.0.1:9"}
    )
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {bad}: [defaults]: unknown key 'min_availble' "
        "(did you mean 'min_available'?); known keys: enabled, "
    )
    assert result.stderr.count("\n") == 1


def test_rules_from_the_environment(sandbox: RunningSandbox, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text("[defaults]\nenabled = false\n")
    result = CliRunner().invoke(
        cli,
        ["report", "--format", "json"],
        env={
            "CONNECTIF_API_KEY": API_KEY,
            "CONNECTIF_BASE_URL": sandbox.url,
            "VOUCHERBOT_RULES": str(path),
        },
    )
    assert result.exit_code == 0
    assert all(s["action"] == "skip" for s in json.loads(result.stdout)["sets"])
    missing = CliRunner().invoke(
        cli,
        ["report"],
        env={
            "CONNECTIF_API_KEY": API_KEY,
            "CONNECTIF_BASE_URL": sandbox.url,
            "VOUCHERBOT_RULES": str(tmp_path / "nope.toml"),
        },
    )
    assert missing.exit_code == 2 and "no such rules file" in missing.stderr


def test_config_check(rules: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "check", "--rules", str(rules)])
    assert result.exit_code == 0, result.output
    assert f"{rules}: OK: 3 rule(s)" in result.stdout
    assert "rule 'black friday': name 'Black Friday*': disabled" in result.stdout


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json", "html"])
def test_report_writes_each_format_to_a_file(
    sandbox: RunningSandbox, rules: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"report.{fmt}"
    result = invoke(sandbox, "report", "--rules", str(rules), "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    for cs in sandbox.state.coupon_sets():
        assert cs.id in text
    assert sandbox.state.imports == []


def test_report_rejects_an_unknown_format(sandbox: RunningSandbox) -> None:
    result = invoke(sandbox, "report", "--format", "pdf")
    assert result.exit_code == 2
    assert "'pdf' is not one of" in result.stderr


def test_wrong_key_on_run_exits_3(sandbox: RunningSandbox, rules: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--rules", str(rules)],
        env={"CONNECTIF_API_KEY": "wrong:key-value-123", "CONNECTIF_BASE_URL": sandbox.url},
    )
    assert result.exit_code == 3
    assert "key-value-123" not in result.output
