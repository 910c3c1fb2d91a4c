"""The woocommerce sink end to end: the Connectif sandbox and the WooCommerce-like shop sandbox,
through the real CLI. The codes the shop accepted are the codes imported, code by code; codes
it refuses are replaced; bad shop answers import nothing; a run killed while replacing
recovers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.e2e.test_shop_e2e import PLANNED, ImportSpy, add_rules, one_line
from tests.support import Cli, assert_consistent, available
from voucherbot.sandbox import RunningShop, WooState, start_woocommerce

TEMPLATE = "welcome-template"


@pytest.fixture
def shop() -> Iterator[RunningShop]:
    state = WooState(consumer_key="ck_test_1f2e", consumer_secret="cs_test_9a8b7c-secret")
    state.add_coupon(
        TEMPLATE,
        amount="10",
        discount_type="percent",
        usage_limit=1,
        date_expires="2099-12-31T23:59:59",
    )
    with start_woocommerce(state) as running:
        yield running


def use_shop(cli: Cli, shop: RunningShop, monkeypatch: pytest.MonkeyPatch, **keys: object) -> None:
    table = {"sink": "woocommerce", "url": shop.url, "template": TEMPLATE, **keys}
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in table.items())
    add_rules(cli, "[shop]\n" + body + "\n")
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_KEY", shop.state.consumer_key)
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", shop.state.consumer_secret)


def refused_rows(cli: Cli) -> list[tuple[int, str]]:
    db = sqlite3.connect(cli.ledger)
    try:
        return db.execute("SELECT batch_id, reason FROM shop_refused ORDER BY batch_id").fetchall()
    finally:
        db.close()


def test_the_codes_the_shop_accepted_are_the_codes_imported(
    cli: Cli, shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    use_shop(cli, shop, monkeypatch)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    ours = {c["code"]: c for c in shop.state.coupons.values() if c["code"] != TEMPLATE}
    for set_id, count in PLANNED.items():
        codes = imports.only(set_id)
        assert len(codes) == count
        assert {c.lower() for c in codes} <= set(ours)  # the shop keeps them lower-cased
    assert len(ours) == sum(PLANNED.values())
    coupon = next(iter(ours.values()))
    assert (coupon["amount"], coupon["discount_type"], coupon["usage_limit"]) == (
        "10",
        "percent",
        1,
    )
    assert coupon["date_expires"] == "2099-12-31T23:59:59"
    assert coupon["meta_data"][0]["key"] == "voucherbot_batch"
    # 100 a request: no more requests than the batches need, plus one template lookup
    posts = [p for m, p in shop.state.requests if m == "POST"]
    assert len(posts) == sum(-(-n // 100) for n in PLANNED.values())
    assert_consistent(cli, before, PLANNED)


def test_refused_codes_are_replaced_and_never_imported(
    cli: Cli, shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = ImportSpy(cli, monkeypatch)
    use_shop(cli, shop, monkeypatch)
    shop.state.refuse_every = 500
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    refused = shop.state.refused
    assert len(refused) >= sum(PLANNED.values()) // 500
    imported = [c for batches in imports.codes.values() for codes in batches for c in codes]
    assert not set(refused) & set(imported)
    for set_id, count in PLANNED.items():
        assert len(imports.only(set_id)) == count  # each refused code was replaced
    shop_codes = {c["code"] for c in shop.state.coupons.values()}
    assert {c.lower() for c in imported} <= shop_codes
    assert len(refused_rows(cli)) >= 1
    assert "refused" in one_line(result) and "replaced" in one_line(result)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("key", "refused a coupon lookup (HTTP 401): Sorry, you cannot list resources."),
        ("secret", "refused a coupon lookup (HTTP 401): Consumer secret is invalid."),
        ("template", "the template coupon 'no-such-template' ([shop] template) is not in the shop"),
        ("html", "the answer is text/html, not the WooCommerce REST API's JSON"),
        ("limit", "(HTTP 413): Unable to accept more than 100 items for this request."),
        ("expired", "expired on 2020-01-31, so the new coupons would not redeem"),
    ],
)
def test_bad_shop_answers_give_one_line_and_import_nothing(
    cli: Cli, shop: RunningShop, monkeypatch: pytest.MonkeyPatch, fault: str, expected: str
) -> None:
    before = available(cli.sandbox)
    use_shop(
        cli,
        shop,
        monkeypatch,
        **({"template": "no-such-template"} if fault == "template" else {}),
        **({"chunk_size": 250} if fault == "limit" else {}),
    )
    if fault == "key":
        monkeypatch.setenv("WOOCOMMERCE_CONSUMER_KEY", "ck_wrong")
    if fault == "secret":
        monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", "cs_wrong")
    if fault == "html":
        shop.state.fail_next(404, times=100, html=True)
    if fault == "expired":
        template = shop.state.by_code(TEMPLATE)
        assert template is not None
        template["date_expires"] = "2020-01-31T23:59:59"
    result = cli.run("run")
    assert result.returncode == 1
    assert expected in one_line(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert shop.state.consumer_secret not in result.stdout + result.stderr
    assert cli.sandbox.state.imports == []
    assert available(cli.sandbox) == before


def test_a_run_killed_while_replacing_refused_codes_recovers(
    cli: Cli, shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    use_shop(cli, shop, monkeypatch)
    shop.state.refuse_every = 700
    killed = cli.run("run", failpoint="replacing")
    assert killed.returncode < 0, killed.stdout + killed.stderr
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_consistent(cli, before, PLANNED)


def test_a_shop_that_refuses_every_code_fails_the_batch_and_imports_nothing(
    cli: Cli, shop: RunningShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    use_shop(cli, shop, monkeypatch)
    shop.state.refuse_every = 1
    result = cli.run("run")
    assert result.returncode == 1
    assert "refused every code (Coupon code is not allowed.); none were imported" in one_line(
        result
    )
    assert cli.sandbox.state.imports == [] and available(cli.sandbox) == before
    assert len(refused_rows(cli)) == len(shop.state.refused) > sum(PLANNED.values())
