"""`voucherbot demo`: report -> run -> report against an in-process sandbox, no account needed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from voucherbot.app import make_plan, report
from voucherbot.config import Config
from voucherbot.config.load import parse_config
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.client import ConnectifClient
from voucherbot.ledger import Ledger
from voucherbot.refill.batch import Refiller
from voucherbot.refill.queue import run_plan
from voucherbot.refill.results import RunResult
from voucherbot.report.formats import render
from voucherbot.report.terminal import render_run
from voucherbot.sandbox import (
    RunningSandbox,
    SandboxConfig,
    ShopSandbox,
    start_sandbox,
    start_shop,
)
from voucherbot.shop.sinks import make_sink

#: Polling for an in-process sandbox, whose imports take a fraction of a second.
DEMO_POLL = PollSettings(interval=0.1, growth=1.5, max_interval=1.0, timeout=120)


def run_demo(
    *,
    seed: int = 1,
    config: Config | None = None,
    echo: Callable[[str], None] = print,
    shop: str | None = None,
) -> RunResult:
    """Start a sandbox, show the report, run the refills, show the report again. With
    ``shop`` ("woocommerce" or "shopify"), a shop sandbox too: every refill goes through that
    connector, and the end says whether the shop holds each code imported."""
    with contextlib.ExitStack() as stack:
        shop_box = start_shop(shop) if shop else None
        if shop_box is not None:
            stack.callback(shop_box.running.stop)
            config = parse_config(shop_box.table.encode())
        result = _demo(seed, config or Config(), echo, shop_box)
    return result


def _demo(
    seed: int, config: Config, echo: Callable[[str], None], shop: ShopSandbox | None
) -> RunResult:
    # A private sandbox with no rate limit, and a client that need not pace itself for it.
    with (
        start_sandbox(SandboxConfig(seed=seed, rate_limit=0)) as server,
        ConnectifClient(server.api_key, server.url, requests_per_minute=10_000) as client,
    ):
        rules = "built-in defaults" if shop is None else f"the {shop.kind} connector"
        echo(f"Sandbox running at {server.url} (seed {seed}); rules: {rules}\n")
        if shop is not None:
            echo(f"Shop sandbox running at {shop.running.url}\n")

        def show(title: str) -> None:
            built, _ = report(client, config, None, unmatched=False, pools=False)
            echo(f"== {title}\n{render(built, 'table')}")

        show("report before the run")
        before = _codes(server)
        with Ledger.memory() as ledger:
            the_plan, _ = make_plan(client, config, ledger)
            env = shop.env if shop is not None else {}
            refiller = Refiller(
                client=client,
                ledger=ledger,
                poll=DEMO_POLL,
                policy=config.imports,
                max_in_flight=config.max_imports_in_flight,
                config=config,
                sink_factory=lambda settings: make_sink(settings, env=env),
            )
            result = run_plan(refiller, the_plan)
        echo(f"== voucherbot run\n{render_run(result)}")
        if shop is not None:
            imported = {code.lower() for code in _codes(server) - before}
            held = shop.codes()
            echo(
                f"== the shop\n{shop.kind} holds {len(held):,} new codes; the "
                f"{len(imported):,} imported into Connectif are "
                + ("all among them" if imported <= held else "NOT all among them")
                + "\n"
            )
        # Connectif's counters trail an import by up to ~10 s (the sandbox's too), so a report
        # read at once holds the sets just filled. Move the sandbox's clock past that.
        lag = max(server.state.config.counter_lag, config.imports.counter_lag) + 1
        server.state.advance(lag)  # + 1: the Date header voucherbot reads has whole seconds
        show(f"report after the run ({lag:g} s later, once the counters show the imports)")
        return result


def _codes(server: RunningSandbox) -> set[str]:
    """Every code in every set of the sandbox."""
    state = server.state
    return {code for cs in state.coupon_sets() for code in state.codes_in_set(cs.id)}
