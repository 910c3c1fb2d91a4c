"""The shopify sink end to end: the Connectif sandbox and the Shopify-like GraphQL sandbox,
through the real CLI. The codes in the discount are the codes imported, code by code; codes
the shop refuses are replaced; throttling is waited out; bulk creations are followed, also by
the run after one that was killed; bad shop answers import nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tests.e2e.test_shop_e2e import PLANNED, ImportSpy, add_rules, one_line
from tests.support import Cli, assert_consistent, available
from voucherbot.sandbox import RunningShop, ShopifyState, start_shopify

TOKEN = "shpat_test_5d1e0c9b8a7f-secret"


@pytest.fixture
def shop() -> Iterator[RunningShop[ShopifyState]]:
    state = ShopifyState(token=TOKEN, maximum=1000, restore_rate=1000)
    state.add_discount(1057371, "Welcome 10%")
    with start_shopify(state) as running:
        yield running


def use_shop(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch, **keys: object
) -> None:
    table = {
        "sink": "shopify",
        "api_url": shop.url,
        "discount_id": "gid://shopify/DiscountCodeNode/1057371",
        **keys,
    }
    body = "\n".join(
        f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in table.items()
    )
    add_rules(cli, "[shop]\n" + body + "\n")
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)


def discount_codes(shop: RunningShop[ShopifyState]) -> set[str]:
    return {
        c["code"]
        for c in shop.state.discounts["gid://shopify/DiscountCodeNode/1057371"].codes.values()
    }


def jobs_in_ledger(cli: Cli) -> int:
    db = sqlite3.connect(cli.ledger)
    try:
        return int(db.execute("SELECT COUNT(*) FROM shop_jobs").fetchone()[0])
    finally:
        db.close()


def test_the_codes_in_the_discount_are_the_codes_imported(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    shop.state.job_seconds = 0.6  # each bulk creation takes a while: it is looked at again
    use_shop(cli, shop, monkeypatch)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    imported = {c for codes in imports.codes.values() for batch in codes for c in batch}
    assert imported == discount_codes(shop)
    adds = shop.state.requests.count("discountRedeemCodeBulkAdd")
    assert adds == sum(-(-n // 250) for n in PLANNED.values()) == jobs_in_ledger(cli)
    assert_consistent(cli, before, PLANNED)


def test_refused_codes_are_replaced_and_throttling_is_waited_out(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    imports = ImportSpy(cli, monkeypatch)
    shop.state.refuse_every = 997
    shop.state.storm(3)
    use_shop(cli, shop, monkeypatch)
    result = cli.run("run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert shop.state.throttled >= 3  # the storm, waited out
    imported = [c for codes in imports.codes.values() for batch in codes for c in batch]
    assert set(imported) == discount_codes(shop)
    for set_id, count in PLANNED.items():
        assert len(imports.only(set_id)) == count
    assert "replaced by a fresh one" in one_line(result)
    assert_consistent(cli, before, PLANNED)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("token", "it refused the access token (HTTP 401)"),
        ("discount", "it answered Code discount does not exist.; check [shop] discount_id"),
        ("html", "HTTP 404: the answer is text/html, not the Admin API's JSON"),
        ("never-done", "its bulk creation was not done after 1 s"),
        ("expired", "is EXPIRED, not ACTIVE, so its codes would not redeem"),
    ],
)
def test_bad_shop_answers_give_one_line_and_import_nothing(
    cli: Cli,
    shop: RunningShop[ShopifyState],
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    expected: str,
) -> None:
    before = available(cli.sandbox)
    keys: dict[str, object] = {"job_timeout": 1, "retries": 0}
    if fault == "discount":
        keys["discount_id"] = "gid://shopify/DiscountCodeNode/999"
    use_shop(cli, shop, monkeypatch, **keys)
    if fault == "token":
        monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", "shpat_wrong")
    if fault == "html":
        shop.state.fail_next(404, times=100, html=True)
    if fault == "never-done":
        shop.state.never_done = True
    if fault == "expired":
        shop.state.discounts["gid://shopify/DiscountCodeNode/1057371"].status = "EXPIRED"
    result = cli.run("run")
    assert result.returncode == 1
    assert expected in one_line(result)
    assert "Traceback" not in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    assert cli.sandbox.state.imports == []
    assert available(cli.sandbox) == before


def test_a_run_killed_after_starting_a_bulk_creation_follows_it_next_time(
    cli: Cli, shop: RunningShop[ShopifyState], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = available(cli.sandbox)
    use_shop(cli, shop, monkeypatch)
    killed = cli.run("run", failpoint="shop-job")
    assert killed.returncode < 0
    assert jobs_in_ledger(cli) == 1 and shop.state.requests.count("discountRedeemCodeBulkAdd") == 1
    again = cli.run("run")
    assert again.returncode == 0, again.stdout + again.stderr
    # the first chunk's job was followed, not added again: one add per chunk in all
    adds = shop.state.requests.count("discountRedeemCodeBulkAdd")
    assert adds == sum(-(-n // 250) for n in PLANNED.values())
    assert_consistent(cli, before, PLANNED)
