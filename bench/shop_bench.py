"""Codes a second through each shop connector against its local sandbox, and requests per
10,000 codes.

    python bench/shop_bench.py [--codes 10000] [--redeemed 1000]

Then ``--redeemed`` of the codes are redeemed in the shop, and the time and requests it takes
the connector to read them back (what ``report`` does for its usage and leak checks).

Each shop's sandbox runs in this process (a thread); its sink delivers one batch of fresh
codes to it, as a refill does. The figures are the connector and the sandbox together on one
machine, not a real shop's speed: a real WooCommerce spends PHP and database time on each
coupon, and a real Shopify runs each bulk creation for seconds and limits the points a second
(the sandbox's bucket here is large and its jobs are done at once).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voucherbot.app.shopside import USAGE_LIMIT
from voucherbot.codes import CodeSpec, generate
from voucherbot.config.settings import SinkSettings
from voucherbot.sandbox import ShopifyState, WooState, start_shopify, start_woocommerce
from voucherbot.shop.base import ShopReader
from voucherbot.shop.sinks import SinkBatch, make_sink

REDEEMED = 1_000


def woocommerce(codes: list[str]) -> None:
    state = WooState()
    state.add_coupon("template", amount="10", discount_type="percent")
    with start_woocommerce(state) as shop:
        settings = SinkSettings(
            kind="woocommerce",
            url=shop.url,
            template="template",
            key_env="K",
            secret_env="S",  # noqa: S106 - the name of a variable
            chunk_size=100,
        )
        sink = make_sink(settings, env={"K": state.consumer_key, "S": state.consumer_secret})
        started = time.perf_counter()
        refused = sink.deliver(SinkBatch("set", "Set", "bench-1", codes))
        wall = time.perf_counter() - started
        report(
            "woocommerce", len(state.coupons) - 1, wall, len(state.requests), len(codes), refused
        )
        for code in codes[:REDEEMED]:
            state.redeem(code)
        read_back("woocommerce", sink, lambda: len(state.requests))


def shopify(codes: list[str]) -> None:
    state = ShopifyState(maximum=100_000, restore_rate=100_000)
    discount = state.add_discount(1, "Bench")
    with start_shopify(state) as shop:
        settings = SinkSettings(
            kind="shopify",
            api_url=shop.url,
            discount_id=discount.id,
            token_env="T",  # noqa: S106 - the name of a variable
        )
        sink = make_sink(settings, env={"T": state.token})
        started = time.perf_counter()
        refused = sink.deliver(SinkBatch("set", "Set", "bench-1", codes))
        wall = time.perf_counter() - started
        report("shopify", len(discount.codes), wall, len(state.requests), len(codes), refused)
        for code in codes[:REDEEMED]:
            state.redeem(code)
        read_back("shopify", sink, lambda: len(state.requests))


def report(
    name: str, created: int, wall: float, requests: int, asked: int, refused: dict[str, str]
) -> None:
    print(
        f"{name}: {created:,} codes in {wall:.2f} s ({created / wall:,.0f} codes/s), "
        f"{requests:,} requests ({requests * 10_000 / asked:,.0f} per 10,000 codes), "
        f"{len(refused)} refused"
    )


def read_back(name: str, sink: object, requests: Callable[[], int]) -> None:
    assert isinstance(sink, ShopReader)
    before = requests()
    started = time.perf_counter()
    usage = sink.usage(None, USAGE_LIMIT)
    wall = time.perf_counter() - started
    asked = requests() - before
    print(
        f"{name} read-back: {len(usage.redeemed):,} redeemed codes in {wall:.2f} s, "
        f"{asked:,} requests ({usage.read})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=10_000)
    parser.add_argument("--redeemed", type=int, default=1_000)
    args = parser.parse_args()
    global REDEEMED
    REDEEMED = args.redeemed
    woocommerce(generate(CodeSpec(), args.codes))
    shopify(generate(CodeSpec(), args.codes))


if __name__ == "__main__":
    main()
