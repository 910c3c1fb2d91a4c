"""`voucherbot demo`: report -> run -> report against an in-process sandbox, no account needed."""

from __future__ import annotations

from collections.abc import Callable

from voucherbot.app import make_plan, report
from voucherbot.config import Config
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.client import ConnectifClient
from voucherbot.ledger import Ledger
from voucherbot.refill.batch import Refiller
from voucherbot.refill.queue import run_plan
from voucherbot.refill.results import RunResult
from voucherbot.report.formats import render
from voucherbot.report.terminal import render_run
from voucherbot.sandbox import SandboxConfig, start_sandbox

#: Polling for an in-process sandbox, whose imports take a fraction of a second.
DEMO_POLL = PollSettings(interval=0.1, growth=1.5, max_interval=1.0, timeout=120)


def run_demo(
    *, seed: int = 1, config: Config | None = None, echo: Callable[[str], None] = print
) -> RunResult:
    """Start a sandbox, show the report, run the refills, show the report again."""
    config = config or Config()
    # A private sandbox with no rate limit, and a client that need not pace itself for it.
    with (
        start_sandbox(SandboxConfig(seed=seed, rate_limit=0)) as server,
        ConnectifClient(server.api_key, server.url, requests_per_minute=10_000) as client,
    ):
        echo(f"Sandbox running at {server.url} (seed {seed}); rules: built-in defaults\n")

        def show(title: str) -> None:
            built, _ = report(client, config, None, unmatched=False, pools=False)
            echo(f"== {title}\n{render(built, 'table')}")

        show("report before the run")
        with Ledger.memory() as ledger:
            the_plan, _ = make_plan(client, config, ledger)
            refiller = Refiller(
                client=client,
                ledger=ledger,
                poll=DEMO_POLL,
                policy=config.imports,
                max_in_flight=config.max_imports_in_flight,
            )
            result = run_plan(refiller, the_plan)
        echo(f"== voucherbot run\n{render_run(result)}")
        # Connectif's counters trail an import by up to ~10 s (the sandbox's too), so a report
        # read at once holds the sets just filled. Move the sandbox's clock past that.
        lag = max(server.state.config.counter_lag, config.imports.counter_lag) + 1
        server.state.advance(lag)  # + 1: the Date header voucherbot reads has whole seconds
        show(f"report after the run ({lag:g} s later, once the counters show the imports)")
        return result
