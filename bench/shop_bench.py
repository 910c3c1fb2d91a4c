"""Codes a second through a shop connector against its local sandbox, and requests per 10,000.

    python bench/shop_bench.py [--codes 10000]

The WooCommerce-like sandbox runs in this process (a thread); the sink delivers one batch of
fresh codes to it, as a refill does. The figure is the connector and the sandbox together on
one machine, not a real shop's speed (a real WooCommerce creates a coupon in milliseconds of
PHP and database time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voucherbot.codes import CodeSpec, generate
from voucherbot.config.settings import SinkSettings
from voucherbot.sandbox import WooState, start_woocommerce
from voucherbot.shop.sinks import SinkBatch, make_sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=10_000)
    args = parser.parse_args()
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
        codes = generate(CodeSpec(), args.codes)
        started = time.perf_counter()
        refused = sink.deliver(SinkBatch("set", "Set", "bench-1", codes))
        wall = time.perf_counter() - started
    created = len(state.coupons) - 1
    print(
        f"woocommerce: {created:,} coupons in {wall:.2f} s ({created / wall:,.0f} codes/s), "
        f"{len(state.requests):,} requests ({len(state.requests) * 10_000 / args.codes:,.0f} per "
        f"10,000 codes), {len(refused)} refused"
    )


if __name__ == "__main__":
    main()
