"""A local, Connectif-compatible API with realistic fake data (``voucherbot sandbox``).

Users try voucherbot against it without an account; end-to-end tests run it in-process::

    from voucherbot.sandbox import SandboxConfig, start_sandbox

    with start_sandbox(SandboxConfig(seed=7)) as sandbox:
        ...  # CONNECTIF_BASE_URL=sandbox.url, CONNECTIF_API_KEY=sandbox.api_key
        sandbox.state.advance(60)  # move the sandbox clock

The documented choices where Connectif's docs are silent live in the module docstrings:
pagination in :mod:`.app`, workflow statuses in :mod:`.data`, rows and duplicates in
:mod:`.imports`, the import queue in :mod:`.state`, rate limiting in :mod:`.ratelimit`.
Fault injection (``sandbox.state.faults``) and the HTTP admin API are documented in
:mod:`.faults`, simulated demand (``state.demand_rate`` / ``state.set_demand_rate``) in
:mod:`.demand`. This package never imports click.
"""

from voucherbot.sandbox.app import make_app
from voucherbot.sandbox.config import DEMAND_PATTERNS, WORKFLOW_STATUSES, SandboxConfig
from voucherbot.sandbox.connection import ConnectionDropped
from voucherbot.sandbox.faults import Fault, FaultEvent, FaultInjector, ImportOutcome
from voucherbot.sandbox.server import (
    RunningSandbox,
    RunningShop,
    ShopSandbox,
    serve,
    start_sandbox,
    start_shop,
    start_shopify,
    start_woocommerce,
)
from voucherbot.sandbox.shopify import ShopifyState
from voucherbot.sandbox.state import SandboxState
from voucherbot.sandbox.woocommerce import WooState

__all__ = [
    "DEMAND_PATTERNS",
    "WORKFLOW_STATUSES",
    "ConnectionDropped",
    "Fault",
    "FaultEvent",
    "FaultInjector",
    "ImportOutcome",
    "RunningSandbox",
    "RunningShop",
    "SandboxConfig",
    "SandboxState",
    "ShopSandbox",
    "ShopifyState",
    "WooState",
    "make_app",
    "serve",
    "start_sandbox",
    "start_shop",
    "start_shopify",
    "start_woocommerce",
]
