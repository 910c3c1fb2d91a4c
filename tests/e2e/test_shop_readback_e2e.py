"""Proof from the shop side, end to end: what ``report`` reads back from each shop connector
(the codes' end date, the codes redeemed, leaks) and the planner's cap by that end date, with
the Connectif sandbox and the Shopify-like and WooCommerce-like sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.test_shop_e2e import PLANNED, REFERRAL, VIP, WINBACK, ImportSpy, one_line
from tests.e2e.test_shopify_e2e import discount_codes, use_shop
from tests.e2e.test_shopify_e2e import shop as shop
from tests.e2e.test_woocommerce_e2e import TEMPLATE
from tests.e2e.test_woocommerce_e2e import use_shop as use_woo
from tests.support import Cli, available
from voucherbot.sandbox import RunningShop, ShopifyState, WooState, start_woocommerce

DISCOUNT = "gid://shopify/DiscountCodeNode/1057371"


@pytest.fixture
def woo_shop() -> Iterator[RunningShop[WooState]]:
    state = WooState(consumer_key="ck_test_1f2e", consumer_secret="cs_test_9a8b7c-secret")
    state.add_coupon(TEMPLATE, amount="10", date_expires="2099-12-31T23:59:59")
    with start_woocommerce(state) as running:
        yield running


def report(cli: Cli) -> dict[str, Any]:
    result = cli.run("report", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in doc["sets"]}


def set_assigned(cli: Cli, set_id: str, assigned: int) -> None:
    """Connectif's ``assigned`` counter of a set (the codes it handed out)."""
    state = cli.sandbox.state
    with state._lock:
        state._sets[set_id].assigned = assigned


def test_shopify_report_reads_the_end_date_and_the_codes_redeemed(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    ends = datetime.now(UTC) + timedelta(days=400)
    shop.state.discounts[DISCOUNT].ends_at = ends.strftime("%Y-%m-%dT%H:%M:%SZ")
    imports = ImportSpy(cli, monkeypatch)
    use_shop(cli, shop, monkeypatch)
    assert cli.run("run").returncode == 0
    vip = sorted(imports.only(VIP))
    for code in vip[:3]:
        shop.state.redeem(code)
    shop.state.redeem(vip[3], times=2)  # a code used twice is one code redeemed
    doc = report(cli)
    sets = by_id(doc)
    assert sets[VIP]["shopRedeemed"] == 4 and sets[VIP]["shopLeaked"] == 0
    assert sets[REFERRAL]["shopRedeemed"] == 0
    assert sets[VIP]["shopEndsAt"] == ends.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sets[VIP]["shopRedeemable"] is True
    assert not [w for w in doc["warnings"] if "LEAK" in w]
    table = one_line(cli.run("report"))
    assert f"ends {ends:%Y-%m-%d}; 4 redeemed of " in table


def test_shopify_leaks_are_flagged(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = ImportSpy(cli, monkeypatch)
    use_shop(cli, shop, monkeypatch)
    # the first batch reaches the shop, then the run dies before the upload: Connectif never
    # gets those codes (the next run abandons the batch and refills with fresh ones)
    assert cli.run("run", failpoint="after-submitting").returncode < 0
    assert cli.run("run").returncode == 0
    imported = {c for codes in imports.codes.values() for batch in codes for c in batch}
    never_imported = sorted(discount_codes(shop) - imported)
    assert len(never_imported) == PLANNED[REFERRAL]
    shop.state.redeem(never_imported[0])
    # more codes redeemed than Connectif handed out
    set_assigned(cli, VIP, 1)
    for code in sorted(imports.only(VIP))[:3]:
        shop.state.redeem(code)
    # a code someone else added to the discount
    shop.state.discounts[DISCOUNT].codes["hand-made-1"] = {
        "id": "gid://shopify/DiscountRedeemCode/999999",
        "code": "HAND-MADE-1",
        "asyncUsageCount": 1,
    }
    doc = report(cli)
    sets = by_id(doc)
    assert sets[REFERRAL]["shopLeaked"] == 1
    assert sets[VIP]["shopLeaked"] == 2 and sets[VIP]["shopRedeemed"] == 3
    assert sets[WINBACK]["shopLeaked"] == 0
    leaks = [w for w in doc["warnings"] if w.startswith("LEAK")]
    assert len(leaks) == 2
    assert any("1 code Connectif never got" in w and REFERRAL in w for w in leaks)
    assert any("2 more than the 1 it assigned" in w and VIP in w for w in leaks)
    assert any("1 code redeemed in the Shopify discount" in w for w in doc["warnings"])
    text = json.dumps(doc)
    assert never_imported[0] not in text and "HAND-MADE-1" not in text  # no code is shown
    html = cli.run("report", "--format", "html").stdout
    assert 'class="shop leak"' in html


def test_shopify_end_date_in_the_past_skips_the_refill(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    shop.state.discounts[DISCOUNT].ends_at = "2020-01-31T23:59:59Z"
    use_shop(cli, shop, monkeypatch)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert cli.sandbox.state.imports == [] and available(cli.sandbox) == before
    assert discount_codes(shop) == set()
    sets = by_id(report(cli))
    assert {sets[s]["skip"] for s in PLANNED} == {"shop-expired"}
    assert "stopped redeeming on 2020-01-31 23:59 UTC" in sets[VIP]["reason"]


def test_shopify_throttled_over_http_429_is_waited_out_by_the_bucket(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    shop.state.throttle_status = 429
    shop.state.storm(4)
    use_shop(cli, shop, monkeypatch, retries=0)  # not the generic retries: the bucket's wait
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert shop.state.throttled >= 4
    assert len(discount_codes(shop)) == sum(PLANNED.values())


def test_shopify_unreadable_shop_is_a_warning_in_the_report(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_shop(cli, shop, monkeypatch, discount_id="gid://shopify/DiscountCodeNode/999")
    doc = report(cli)
    assert any(
        "has no code discount gid://shopify/DiscountCodeNode/999" in w for w in doc["warnings"]
    )
    assert by_id(doc)[VIP]["shopRedeemable"] is None
    monkeypatch.delenv("SHOPIFY_ACCESS_TOKEN")
    doc = report(cli)
    assert any("SHOPIFY_ACCESS_TOKEN" in w for w in doc["warnings"])


def test_woocommerce_report_counts_orders_and_flags_leaks(
    cli: Cli, woo_shop: RunningShop[WooState], monkeypatch: pytest.MonkeyPatch
) -> None:
    imports = ImportSpy(cli, monkeypatch)
    use_woo(cli, woo_shop, monkeypatch)
    assert cli.run("run", failpoint="after-submitting").returncode < 0
    assert cli.run("run").returncode == 0
    imported = {c for codes in imports.codes.values() for batch in codes for c in batch}
    vip = sorted(imports.only(VIP))
    woo_shop.state.redeem(vip[0])
    woo_shop.state.redeem(vip[1], times=3)
    woo_shop.state.redeem(vip[2], status="cancelled")  # gives its coupon back
    woo_shop.state.add_coupon("summer-sale")
    woo_shop.state.redeem("summer-sale")  # the shop's own coupon: not voucherbot's business
    never = sorted(woo_shop.state.codes() - {c.lower() for c in imported} - {"summer-sale"})
    never = [c for c in never if woo_shop.state.by_code(c)["meta_data"]]  # not the template
    woo_shop.state.redeem(never[0])
    doc = report(cli)
    sets = by_id(doc)
    assert sets[VIP]["shopRedeemed"] == 2 and sets[VIP]["shopLeaked"] == 0
    assert sets[REFERRAL]["shopLeaked"] == 1
    assert [w for w in doc["warnings"] if w.startswith("LEAK")] == [
        w for w in doc["warnings"] if REFERRAL in w and w.startswith("LEAK")
    ]
    assert not any("summer-sale" in w for w in doc["warnings"])


def test_woocommerce_template_expiry_caps_and_skips(
    cli: Cli, woo_shop: RunningShop[WooState], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    template = woo_shop.state.by_code(TEMPLATE)
    assert template is not None
    template["date_expires"] = template["date_expires_gmt"] = "2021-06-30T23:59:59"
    use_woo(cli, woo_shop, monkeypatch)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert cli.sandbox.state.imports == [] and available(cli.sandbox) == before
    sets = by_id(report(cli))
    assert sets[VIP]["skip"] == "shop-expired"
    assert sets[VIP]["shopEndsAt"] == "2021-06-30T23:59:59Z"
    assert sets[VIP]["shopRedeemable"] is False
