"""Several stores from one rules.toml: two sandboxes, two keys (one from a file), one ping
sequence and one metrics file for both; one store failing while the other refills."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from voucherbot.cli import cli
from voucherbot.connectif.client import ConnectifClient
from voucherbot.sandbox import RunningSandbox, SandboxConfig, start_sandbox

ES_KEY = "es-key-id:es-secret-0123456789"
FR_KEY = "fr-key-id:fr-secret-9876543210"


@dataclass
class Stores:
    es: RunningSandbox
    fr: RunningSandbox
    folder: Path
    pings: list[tuple[str, str, str]]  #: (path, rid, body)

    @property
    def rules(self) -> Path:
        return self.folder / "rules.toml"

    def write_rules(self, ping_url: str, extra: str = "") -> None:
        self.rules.write_text(
            f"""
[connectif]
import_pages = 1
[polling]
interval = 0.05
[monitor]
ping_url = "{ping_url}"
{extra}
[[store]]
name = "es"
base_url = "{self.es.url}"
api_key_env = "ES_CONNECTIF_KEY"
[[store]]
name = "fr"
base_url = "{self.fr.url}"
api_key_file = "fr.key"
""",
            encoding="utf-8",
        )

    def invoke(self, *args: str) -> Result:
        env = {"ES_CONNECTIF_KEY": ES_KEY, "VOUCHERBOT_RULES": str(self.rules)}
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    def key_file(self, text: str, mode: int = 0o600) -> None:
        path = self.folder / "fr.key"
        path.write_text(text, encoding="utf-8")
        os.chmod(path, mode)


@pytest.fixture
def stores(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Stores]:
    es = start_sandbox(SandboxConfig(seed=1, api_key=ES_KEY, counter_lag=0))
    fr = start_sandbox(SandboxConfig(seed=2, api_key=FR_KEY, counter_lag=0))
    pings: list[tuple[str, str, str]] = []

    def ping(request: Request) -> Response:
        pings.append((request.path, request.args.get("rid", ""), request.get_data(as_text=True)))
        return Response("OK")

    for suffix in ("", "/start", "/fail", "/log"):
        httpserver.expect_request(f"/ping/uuid-1234{suffix}").respond_with_handler(ping)
    running = Stores(es, fr, tmp_path, pings)
    running.write_rules(httpserver.url_for("/ping/uuid-1234"))
    running.key_file(FR_KEY + "\n")
    try:
        yield running
    finally:
        es.stop()
        fr.stop()


def available(sandbox: RunningSandbox) -> dict[str, int | None]:
    with ConnectifClient(sandbox.api_key, sandbox.url) as client:
        return {cs.id: cs.available for cs in client.iter_coupon_sets()}


def samples(path: Path) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The metrics file as prometheus_client's own parser reads it: name -> labels -> value."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for s in family.samples:
            found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found


def by_set(found: dict[tuple[tuple[str, str], ...], float], store: str) -> dict[str, float]:
    return {dict(k)["set_id"]: v for k, v in found.items() if dict(k)["store"] == store}


def test_two_stores_refill_side_by_side_with_pings_and_metrics(stores: Stores) -> None:
    before_es, before_fr = available(stores.es), available(stores.fr)
    result = stores.invoke("run", "--metrics-file", str(stores.folder / "voucherbot.prom"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("== store es") < out.index("== store fr")
    after_es, after_fr = available(stores.es), available(stores.fr)
    assert after_es != before_es and after_fr != before_fr  # both stores were refilled
    # each store has its own ledger, beside the rules, named after it
    assert (stores.folder / "voucherbot-es.sqlite").exists()
    assert (stores.folder / "voucherbot-fr.sqlite").exists()
    # the pings: start, then success, with one run id and the summary of both stores
    assert [p[0] for p in stores.pings] == ["/ping/uuid-1234/start", "/ping/uuid-1234"]
    assert stores.pings[0][1] == stores.pings[1][1] != ""
    assert "es: " in stores.pings[1][2] and "fr: " in stores.pings[1][2]
    assert ES_KEY not in stores.pings[1][2]
    # the metrics: every set's counters as the sandboxes have them now
    found = samples(stores.folder / "voucherbot.prom")
    got = by_set(found["voucherbot_coupon_set_available"], "es")
    assert got == {k: v for k, v in after_es.items() if v is not None}
    got = by_set(found["voucherbot_coupon_set_available"], "fr")
    assert got == {k: v for k, v in after_fr.items() if v is not None}
    imported = found["voucherbot_codes_imported_total"]
    es_gain = sum((after_es[k] or 0) - (before_es[k] or 0) for k in after_es)
    assert imported[(("store", "es"),)] == es_gain > 0
    assert found["voucherbot_refill_failures_total"][(("store", "fr"),)] == 0
    assert (("store", "es"),) in found["voucherbot_last_success_timestamp_seconds"]
    requests = found["voucherbot_api_requests_total"]
    assert requests[(("kind", "import"), ("store", "es"))] == 4
    assert oct((stores.folder / "voucherbot.prom").stat().st_mode & 0o777) == "0o644"


def test_one_store_failing_leaves_the_other_refilled(stores: Stores) -> None:
    stores.key_file("fr-key-id:not-the-secret\n")
    before_fr = available(stores.fr)
    result = stores.invoke("run", "--metrics-file", str(stores.folder / "m.prom"))
    assert result.exit_code == 3, result.output  # the worst store's: its key was refused
    assert "Error: store 'fr': Connectif rejected the API key (401" in result.stderr
    assert "not-the-secret" not in result.output
    assert "4 of 4 refills succeeded" in result.stdout  # es went on
    assert available(stores.fr) == before_fr
    assert [p[0] for p in stores.pings] == ["/ping/uuid-1234/start", "/ping/uuid-1234/fail"]
    assert "fr: " in stores.pings[1][2] and "401" in stores.pings[1][2]
    found = samples(stores.folder / "m.prom")
    assert by_set(found["voucherbot_coupon_set_available"], "es")
    assert not by_set(found["voucherbot_coupon_set_available"], "fr")  # not read
    assert (("store", "fr"),) in found["voucherbot_codes_imported_total"]


def test_a_key_file_others_can_read_is_refused_for_its_store_alone(stores: Stores) -> None:
    stores.key_file(FR_KEY, mode=0o644)
    result = stores.invoke("run")
    assert result.exit_code == 2, result.output
    assert "others can read or anyone can write the API key file (mode 0644)" in result.stderr
    assert "4 of 4 refills succeeded" in result.stdout
    assert FR_KEY not in result.output


def test_store_option_runs_one_store_and_report_covers_both(stores: Stores) -> None:
    before_fr = available(stores.fr)
    assert stores.invoke("run", "--store", "es").exit_code == 0
    assert available(stores.fr) == before_fr
    report = stores.invoke("report")
    assert report.exit_code == 0, report.output
    assert "== store es" in report.stdout and "== store fr" in report.stdout
    assert "Total, 2 stores:" in report.stdout
    doc = __import__("json").loads(stores.invoke("report", "--format", "json").stdout)
    assert [s["store"] for s in doc["stores"]] == ["es", "fr"]
    es, fr = doc["stores"]
    assert es["summary"]["refills"] == 0 < fr["summary"]["refills"]  # es was just refilled
    assert doc["summary"]["refills"] == fr["summary"]["refills"]
    assert doc["summary"]["sets"] == len(es["sets"]) + len(fr["sets"])
    history = stores.invoke("history")
    assert "== store es" in history.stdout and "No ledger yet" in history.stdout
    bad = stores.invoke("run", "--store", "de")
    assert bad.exit_code == 2 and "no such store; the stores are es, fr" in bad.stderr
    assert stores.invoke("refill", "x" * 24, "--count", "1").exit_code == 2


def test_a_run_held_back_by_the_lock_sends_a_note_not_a_start(stores: Stores) -> None:
    from voucherbot.ledger import Ledger

    held = [Ledger.open(stores.folder / f"voucherbot-{n}.sqlite") for n in ("es", "fr")]
    try:
        with held[0].lock("test"), held[1].lock("test"):
            result = stores.invoke("run")
    finally:
        for ledger in held:
            ledger.close()
    assert result.exit_code == 75, result.output
    assert [p[0] for p in stores.pings] == ["/ping/uuid-1234/log"]


def test_one_store_file_pings_and_a_failing_ping_changes_nothing(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    """No [[store]]: the key from CONNECTIF_API_KEY_FILE, pings around the run; a ping
    service that answers 500, or is not there, changes neither the run nor its status."""
    sandbox = start_sandbox(SandboxConfig(seed=1, api_key=ES_KEY, counter_lag=0))
    key = tmp_path / "key"
    key.write_text(ES_KEY + "\n")
    os.chmod(key, 0o400)
    env = {"CONNECTIF_BASE_URL": sandbox.url, "CONNECTIF_API_KEY_FILE": str(key)}
    httpserver.expect_request("/hc/secret-check/start").respond_with_data("no", status=500)
    httpserver.expect_request("/hc/secret-check").respond_with_data("no", status=500)
    rules = tmp_path / "rules.toml"
    try:
        for url in (httpserver.url_for("/hc/secret-check"), "http://127.0.0.1:9/hc/secret-check"):
            rules.write_text(f'[polling]\ninterval = 0.05\n[monitor]\nping_url = "{url}"\n')
            result = CliRunner().invoke(cli, ["-v", "run", "--rules", str(rules)], env=env,
                                        catch_exceptions=False)  # fmt: skip
            assert result.exit_code == 0, result.output
            ours = [line for line in result.stderr.splitlines() if " voucherbot" in line]
            assert any(line.startswith("WARNING voucherbot.monitor: ping / to http://")
                       for line in ours), ours  # fmt: skip
            assert not any("secret-check" in line or "[" in line for line in ours), ours
    finally:
        sandbox.stop()
    assert (tmp_path / "voucherbot.sqlite").exists()  # as ever: beside the rules
    assert [r.path for r, _ in httpserver.log] == ["/hc/secret-check/start", "/hc/secret-check"]
