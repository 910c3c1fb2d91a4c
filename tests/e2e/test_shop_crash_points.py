"""Every crash point of the write-ahead protocol, with a native shop connector in it: the run
is killed there (SIGKILL), the next run settles what it left, and then every set has exactly
its planned codes in Connectif, each of them in the shop, none imported twice, none refused
by the shop imported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.test_shop_e2e import PLANNED, ImportSpy, add_rules
from tests.support import Cli, assert_consistent, available
from voucherbot.ledger import Ledger
from voucherbot.refill.failpoints import POINTS
from voucherbot.sandbox import RunningShop, ShopifyState, WooState, start_shopify, start_woocommerce

DISCOUNT = "gid://shopify/DiscountCodeNode/1057371"


class Shop:
    """One shop sandbox and the rules that use it."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.running: RunningShop[WooState] | RunningShop[ShopifyState]
        if kind == "woocommerce":
            woo = WooState(refuse_every=2_000)
            woo.add_coupon("template", amount="10", discount_type="percent")
            self.running = start_woocommerce(woo)
        else:
            shopify = ShopifyState(
                refuse_every=2_000, job_seconds=0.3, maximum=1000, restore_rate=1000
            )
            shopify.add_discount(1057371, "Welcome")
            self.running = start_shopify(shopify)

    def rules(self) -> str:
        if self.kind == "woocommerce":
            return (
                f'[shop]\nsink = "woocommerce"\nurl = "{self.running.url}"\ntemplate = "template"\n'
            )
        return (
            f'[shop]\nsink = "shopify"\napi_url = "{self.running.url}"\n'
            f'discount_id = "{DISCOUNT}"\n'
        )

    def env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        state = self.running.state
        if isinstance(state, WooState):
            monkeypatch.setenv("WOOCOMMERCE_CONSUMER_KEY", state.consumer_key)
            monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", state.consumer_secret)
        else:
            monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", state.token)

    def codes(self) -> set[str]:
        """Every code the shop has, case-folded."""
        state = self.running.state
        if isinstance(state, WooState):
            return {c["code"] for c in state.coupons.values()}
        return {code for d in state.discounts.values() for code in d.codes}


@pytest.fixture(params=["woocommerce", "shopify"])
def shop(request: pytest.FixtureRequest) -> Iterator[Shop]:
    running = Shop(request.param)
    with running.running:
        yield running


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_any_point_with_a_shop_the_next_run_settles_it_exactly_once(
    cli: Cli, shop: Shop, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    add_rules(cli, shop.rules())
    shop.env(monkeypatch)
    killed = cli.run("run", failpoint=point)
    reached = killed.returncode < 0
    if point == "shop-job" and shop.kind == "woocommerce":
        assert not reached  # WooCommerce's batch create has no job to follow
    else:
        assert reached, f"{point} was never reached: {killed.stdout}{killed.stderr}"
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    imported = [c for batches in imports.codes.values() for codes in batches for c in codes]
    assert len(imported) == len(set(imported)) == sum(PLANNED.values())
    assert {c.casefold() for c in imported} <= shop.codes()
    with Ledger.open(cli.ledger, readonly=True) as ledger:  # what the shop refused stays out
        refused = {bytes(fp) for (fp,) in ledger.db.execute("SELECT fingerprint FROM shop_refused")}
        assert not {ledger.fingerprint(c) for c in imported} & refused
    assert_consistent(cli, before, PLANNED)
