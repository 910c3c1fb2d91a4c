"""Issue 17's pure and local parts: [[store]] and [monitor] parsing, API key files, the
metrics text, the warnings of sets running out (once a set a day), --jitter."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer

from voucherbot.app.alerts import empty_soon, warn_empty_soon
from voucherbot.app.credentials import api_key
from voucherbot.cli.inputs import wait_jitter
from voucherbot.config import Config, parse_config
from voucherbot.config.settings import NotifySettings, RuleSettings
from voucherbot.connectif.models import CouponSet
from voucherbot.errors import ConfigError, redact
from voucherbot.ledger import Ledger
from voucherbot.planning.actions import Action, Skip
from voucherbot.planning.forecast import Forecast
from voucherbot.planning.planner import Decision, Plan
from voucherbot.report.metrics import SetFigures, StoreFigures, render_metrics

STORES = """
[[store]]
name = "es"
api_key_env = "ES_KEY"
[[store]]
name = "fr"
api_key_file = "fr.key"
base_url = "http://127.0.0.1:9"
"""


def parse(text: str, tmp_path: Path) -> Config:
    path = tmp_path / "rules.toml"
    return parse_config(text.encode(), path)


def test_each_store_gets_its_own_ledger_key_and_rules(tmp_path: Path) -> None:
    config = parse(STORES + '[[rule]]\nmatch = { name = "*" }\nstore = "fr"\nenabled = false\n',
                   tmp_path)  # fmt: skip
    es, fr = config.each_store()
    assert (es.config.ledger_path, fr.config.ledger_path) == (
        tmp_path / "voucherbot-es.sqlite",
        tmp_path / "voucherbot-fr.sqlite",
    )
    assert (es.config.api_key_env, fr.config.api_key_file) == ("ES_KEY", tmp_path / "fr.key")
    assert es.config.rules == () and len(fr.config.rules) == 1
    shop = parse(STORES + '[store.shop]\nsink = "file"\ndirectory = "."\n', tmp_path)
    assert [s.config.defaults.shop.sink.kind for s in shop.each_store()] == ["none", "file"]
    assert parse("", tmp_path).each_store()[0].config.store is None  # no [[store]]: as today


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[store]]\nname = "es"\n', "give exactly one of 'api_key_env'"),
        ('[[store]]\nname = "ES!"\napi_key_env = "K"\n', "'name' must be a short lower-case"),
        (STORES.replace('"fr"', '"es"'), "the name 'es' is already another store's"),
        (STORES + '[[rule]]\nmatch = { name = "*" }\nstore = "de"\n', "which is no [[store]]"),
        ('[[rule]]\nmatch = { name = "*" }\nstore = "de"\n', "there is no [[store]] table"),
        (STORES + '[ledger]\npath = "one.sqlite"\n', "each [[store]] has its own"),
        (STORES.replace('api_key_file = "fr.key"', 'api_key_env = "ES_KEY"').replace(
            'base_url = "http://127.0.0.1:9"', ""), "one account is one store"),
        ('[[store]]\nname = "a"\napi_key_env = "A"\nledger = "x.sqlite"\n'
         '[[store]]\nname = "b"\napi_key_env = "B"\nledger = "x.sqlite"\n', "give each store"),
        ('[monitor]\nping_url = "http://example.com/ping"\n', "must be an https:// URL"),
        ('[notify]\nempty_within = "3d"\n', "with the 'url' to warn at"),
    ],
)  # fmt: skip
def test_bad_store_and_monitor_tables_are_refused(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=None) as caught:
        parse(text, tmp_path)
    assert message in str(caught.value)


def test_ping_url_is_a_secret(tmp_path: Path) -> None:
    config = parse('[monitor]\nping_url = "https://hc-ping.com/0b4f5e6a-secret-uuid/"\n', tmp_path)
    assert config.monitor.ping_url == "https://hc-ping.com/0b4f5e6a-secret-uuid"
    assert "0b4f5e6a-secret-uuid" not in redact("pinged https://hc-ping.com/0b4f5e6a-secret-uuid")


def key_config(tmp_path: Path, text: str, mode: int) -> Config:
    path = tmp_path / "key"
    path.write_text(text)
    os.chmod(path, mode)
    return Config(api_key_env="", api_key_file=path, store="fr")


def test_a_key_file_is_read_trimmed_and_hidden(tmp_path: Path) -> None:
    key, source = api_key(key_config(tmp_path, "id:file-secret-123\n", 0o600), {})
    assert key == "id:file-secret-123" and source == str(tmp_path / "key")
    assert "file-secret-123" not in redact("echoed id:file-secret-123")
    assert api_key(key_config(tmp_path, "id:file-secret-123", 0o440), {})[0]  # group may read


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("id:secret", 0o644, "others can read"),
        ("id:secret", 0o620, "anyone can write"),
        ("  \n", 0o600, "is empty"),
        ("x" * 5000, 0o600, "too large"),
    ],
)
def test_bad_key_files_are_refused(tmp_path: Path, text: str, mode: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        api_key(key_config(tmp_path, text, mode), {})


def test_key_variable_and_its_file_twin(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("id:from-the-file-1\n")
    os.chmod(path, 0o400)
    env = {"CONNECTIF_API_KEY_FILE": str(path)}
    assert api_key(Config(), env)[0] == "id:from-the-file-1"
    with pytest.raises(ConfigError, match="both CONNECTIF_API_KEY and CONNECTIF_API_KEY_FILE"):
        api_key(Config(), {**env, "CONNECTIF_API_KEY": "id:x"})
    with pytest.raises(ConfigError, match="no such API key file"):
        api_key(Config(), {"CONNECTIF_API_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="no Connectif API key for store 'es': set ES_KEY"):
        api_key(Config(api_key_env="ES_KEY", store="es"), {})


def test_metrics_text_parses_and_escapes_labels() -> None:
    figures = StoreFigures(
        store="es",
        sets=[SetFigures("a1", 'Say "hi" \\ now\nplease', 12, 100, 2.5),
              SetFigures("a2", "Never used", 5, 5, float("inf"))],
        last_run=datetime(2026, 12, 3, tzinfo=UTC),
        codes_imported=7,
        requests={"list": 3, "import": 1},
    )  # fmt: skip
    families = {f.name: f for f in text_string_to_metric_families(render_metrics([figures]))}
    available = families["voucherbot_coupon_set_available"].samples
    assert available[0].labels == {"store": "es", "set_id": "a1", "set": 'Say "hi" \\ now please'}
    assert available[0].value == 12
    days = {
        s.labels["set_id"]: s.value for s in families["voucherbot_coupon_set_days_left"].samples
    }
    assert days == {"a1": 2.5, "a2": float("inf")}
    assert families["voucherbot_codes_imported"].type == "counter"
    assert families["voucherbot_codes_imported"].samples[0].value == 7
    assert (
        families["voucherbot_last_run_timestamp_seconds"].samples[0].value
        == datetime(2026, 12, 3, tzinfo=UTC).timestamp()
    )
    assert "voucherbot_last_success_timestamp_seconds" not in families  # never succeeded


def decision(set_id: str, available: int, skip: Skip, days: float | None) -> Decision:
    forecast = None
    if days is not None:
        forecast = Forecast(10.0, days, None, 5, 3.0, "")
    return Decision(
        CouponSet(id=set_id, name=f"Set {set_id}", type="multiple", assigned=0,
                  available=available, quantity=1000),
        Action.SKIP, "why", skip=skip, settings=RuleSettings(), workflow_ids=("w1",),
        forecast=forecast,
    )  # fmt: skip


def test_sets_running_out_unrefilled_are_warned_once_a_day(httpserver: HTTPServer) -> None:
    plan = Plan(
        (
            decision("a" * 24, 20, Skip.DISABLED, 2.0),  # empties in 2 days, disabled
            decision("b" * 24, 0, Skip.NO_ACTIVE_WORKFLOW, None),  # empty now
            decision("c" * 24, 900, Skip.DISABLED, 90.0),  # far off
            decision("d" * 24, 20, Skip.ABOVE_THRESHOLD, 1.0),  # the bot will refill it
            decision("e" * 24, 20, Skip.DISABLED, None),  # no forecast: not guessed
        )
    )
    assert [d.coupon_set.id[0] for d, _ in empty_soon(plan, 3)] == ["b", "a"]
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = Config(notify=NotifySettings(url=httpserver.url_for("/hook"), empty_within=3 * 86400))
    ledger = Ledger.memory()
    day1 = datetime(2026, 12, 3, 8, tzinfo=UTC)
    lines = warn_empty_soon(config, plan, ledger, day1, "http://127.0.0.1")
    assert len(lines) == 2 and "is EMPTY" in lines[0] and "disabled by its rule" in lines[1]
    assert warn_empty_soon(config, plan, ledger, day1.replace(hour=20), "x") == ()  # same day
    assert len(warn_empty_soon(config, plan, ledger, datetime(2026, 12, 4, tzinfo=UTC), "x")) == 2
    assert len(httpserver.log) == 2
    body = httpserver.log[0][0].get_json()
    assert "Set bbbbbbbbbbbbbbbbbbbbbbbb" in str(body["blocks"])


def test_a_failed_warning_is_tried_again(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("no", status=500)
    config = Config(notify=NotifySettings(url=httpserver.url_for("/hook"), empty_within=86400))
    plan = Plan((decision("a" * 24, 0, Skip.DISABLED, None),))
    ledger = Ledger.memory()
    now = datetime(2026, 12, 3, tzinfo=UTC)
    assert warn_empty_soon(config, plan, ledger, now, "x") == ()
    assert not ledger.warned("a" * 24, "empty", "2026-12-03")


def test_jitter_sleeps_a_random_time_within_the_bound() -> None:
    slept: list[float] = []
    delays = [wait_jitter(30, slept.append) for _ in range(50)]
    assert slept == delays and all(0 <= d <= 30 for d in delays) and len(set(delays)) > 1
    assert wait_jitter(0, slept.append) == 0 and len(slept) == 50
