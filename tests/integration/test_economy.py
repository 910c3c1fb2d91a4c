"""API economy: what a run costs in requests, the import queue, and files split under 50 MB."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tests.support import API_KEY, REPO_RULES
from voucherbot.app import run
from voucherbot.cli import cli
from voucherbot.config import Config, parse_config
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.client import ConnectifClient
from voucherbot.ledger import Ledger
from voucherbot.sandbox import RunningSandbox, SandboxConfig, start_sandbox

FAST = PollSettings(interval=0.02, growth=1.5, max_interval=0.2, timeout=60)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    config = SandboxConfig(seed=1, api_key=API_KEY, rate_limit=0, demand=False)
    with start_sandbox(config) as server:
        yield server


def client_for(sandbox: RunningSandbox) -> ConnectifClient:
    return ConnectifClient(API_KEY, sandbox.url, requests_per_minute=10_000)


def config(text: str = "") -> Config:
    return replace(
        parse_config(REPO_RULES.read_bytes() + text.encode()), poll=FAST, requests_per_minute=10_000
    )


def test_a_run_with_nothing_to_do_reads_only_the_coupon_sets(sandbox: RunningSandbox) -> None:
    for cs in sandbox.state.coupon_sets():  # every set full, used by a workflow or not
        if cs.type == "multiple":
            sandbox.state.set_available(cs.id, max(cs.quantity or 0, 5000))
    sandbox.state.faults.latency(0)  # log every request
    with client_for(sandbox) as client, Ledger.memory() as ledger:
        result = run(client, config(), ledger)
        assert result.results == ()
        paths = [event.path for event in sandbox.state.faults.log]
    assert paths and all(p.startswith("/coupon-sets") for p in paths), paths
    assert len(paths) == -(-len(sandbox.state.coupon_sets()) // 5)  # one request per page


def test_workflows_are_read_when_a_set_could_need_codes(sandbox: RunningSandbox) -> None:
    sandbox.state.faults.latency(0)
    with client_for(sandbox) as client, Ledger.memory() as ledger:
        run(client, config(), ledger)
    paths = {event.path.rstrip("/") for event in sandbox.state.faults.log}
    assert "/workflows" in paths and "/imports" in paths


def test_polling_is_shared_and_each_refill_costs_few_requests(sandbox: RunningSandbox) -> None:
    with client_for(sandbox) as client, Ledger.memory() as ledger:
        result = run(client, config(), ledger)
        refills = len(result.results)
        assert refills == 3 and result.ok
        per_set = (sum(client.stats.values()) - client.stats["list"]) / refills
    assert client.stats["import"] == 3
    assert client.stats["get"] == 0  # no GET /imports/{id}: the list page showed them all
    assert per_set <= 3, dict(client.stats)


def test_the_queue_full_answer_holds_the_batch_until_there_is_room() -> None:
    settings = SandboxConfig(
        seed=1,
        api_key=API_KEY,
        rate_limit=0,
        demand=False,
        max_queued_imports=1,
        import_queue_delay=0.3,
    )
    with (
        start_sandbox(settings) as sandbox,
        client_for(sandbox) as client,
        Ledger.memory() as ledger,
    ):
        before = {s.id: s.available or 0 for s in sandbox.state.coupon_sets()}
        result = run(client, config(), ledger)
        assert result.ok, [r.summary() for r in result.results]
        assert len(sandbox.state.imports) == 3
        assert client.stats["import"] > 3  # some POSTs met E0401 (one queued at a time)
        for r in result.results:
            assert sandbox.state.get_set(r.coupon_set.id).available == (
                before[r.coupon_set.id] + r.requested
            )
        # E0401 was met and waited out, never counted as a failure
        assert len([b for b in ledger.batches() if b.status == "finished"]) == 3


def test_a_refill_too_big_for_one_file_goes_as_several_imports(sandbox: RunningSandbox) -> None:
    from voucherbot.app import make_plan
    from voucherbot.refill.batch import Refiller
    from voucherbot.refill.queue import run_plan

    with client_for(sandbox) as client, Ledger.memory() as ledger:
        cfg = config()
        the_plan, _ = make_plan(client, cfg, ledger)
        target = the_plan.refills[0]
        refiller = Refiller(
            client=client, ledger=ledger, poll=FAST, config=cfg, max_import_bytes=12 * 2000 + 5
        )  # 2,000 codes of 11 symbols a file
        result = run_plan(refiller, replace(the_plan, decisions=(target,)))
        batches = ledger.batches(set_id=target.coupon_set.id)
    parts = -(-target.count // 2000)
    assert len(result.results) == parts
    assert [r.note for r in result.results] == [f"part {i} of {parts}" for i in range(1, parts + 1)]
    assert all(r.ok for r in result.results)
    imports = [i for i in sandbox.state.imports if i.coupon_set_id == target.coupon_set.id]
    assert len(imports) == parts and all(i.total <= 2000 for i in imports)
    assert len(sandbox.state.codes_in_set(target.coupon_set.id)) == target.count
    first = min(b.id for b in batches)
    assert sorted(b.part_of or b.id for b in batches) == [first] * parts


def test_stats_are_printed_and_recorded(sandbox: RunningSandbox, tmp_path: object) -> None:
    import json
    from pathlib import Path

    folder = Path(str(tmp_path))
    rules = folder / "rules.toml"
    rules.write_text(
        REPO_RULES.read_text()
        .replace("requests_per_minute = 60", "requests_per_minute = 6000")
        .replace("interval = 2 ", "interval = 0.05 ")
    )
    env = {"CONNECTIF_BASE_URL": sandbox.url, "CONNECTIF_API_KEY": API_KEY}
    result = CliRunner().invoke(cli, ["run", "--rules", str(rules), "--stats", "-q"], env=env)
    assert result.exit_code == 0, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("requests: ") and "import 3" in line and "429s: 0" in line
    assert "waited for the request budget" in line and "wall time" in line
    history = CliRunner().invoke(cli, ["history", "--rules", str(rules), "--format", "json"])
    stats = json.loads(history.stdout)["runs"][0]["stats"]
    assert stats["requests"]["import"] == 3 and stats["rateLimited"] == 0
    assert stats["total"] == sum(stats["requests"].values())


def test_a_crowded_code_shape_is_warned_about(sandbox: RunningSandbox) -> None:
    """Codes issued past a tenth of their shape's space: the run says so (and still works)."""
    text = '\n[defaults.code]\nlength = 4\nalphabet = "digits"\ncheck_symbol = false\n'
    with client_for(sandbox) as client, Ledger.memory() as ledger:
        cfg = replace(
            config(),
            defaults=replace(
                config().defaults, max_per_run=1500, code=parse_config(text.encode()).defaults.code
            ),
        )
        cfg = replace(cfg, rules=())
        result = run(client, cfg, ledger)
    notes = [r.note for r in result.results if r.note]
    assert notes and "possible codes of this shape" in notes[0], notes


@pytest.mark.parametrize("page_size", [5, 100])
def test_a_report_of_many_sets_costs_requests_by_page_not_by_set(page_size: int) -> None:
    """1,500 sets: every one reported once, in about one request per page."""
    from voucherbot.app import report

    with start_sandbox(
        SandboxConfig(seed=1, api_key=API_KEY, rate_limit=0, page_size=page_size, demand=False)
    ) as sandbox:
        seeded = len(sandbox.state.coupon_sets())
        for n in range(1500 - seeded):
            sandbox.state.add_coupon_set(f"Many {n}", quantity=100, available=90)
        with ConnectifClient(API_KEY, sandbox.url, requests_per_minute=1_000_000) as client:
            built, _ = report(client, Config(), None)
            pages = -(-1500 // page_size)
            assert len(built.rows) == len({r.set_id for r in built.rows}) == 1500
            assert pages <= sum(client.stats.values()) <= pages + 5
