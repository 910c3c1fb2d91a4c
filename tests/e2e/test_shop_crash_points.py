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
from voucherbot.sandbox import ShopifyState, ShopSandbox, start_shop


@pytest.fixture(params=["woocommerce", "shopify"])
def shop(request: pytest.FixtureRequest) -> Iterator[ShopSandbox]:
    """A shop sandbox that refuses a code in 2,000; Shopify's jobs take a while."""
    box = start_shop(request.param)
    box.state.refuse_every = 2_000
    if isinstance(box.state, ShopifyState):
        box.state.job_seconds, box.state.restore_rate = 0.3, 1000
    with box.running:
        yield box


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_any_point_with_a_shop_the_next_run_settles_it_exactly_once(
    cli: Cli, shop: ShopSandbox, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    add_rules(cli, shop.table)
    for name, value in shop.env.items():
        monkeypatch.setenv(name, value)
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
