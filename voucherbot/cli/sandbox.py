"""`voucherbot sandbox` (a local Connectif-compatible API) and `voucherbot demo` (report ->
run -> report against one started in-process: :mod:`voucherbot.cli.demo`)."""

from __future__ import annotations

import click

from voucherbot.cli.options import FiniteRange


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (keep 127.0.0.1 unless other machines need it).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0 = any free port).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Seed for the fake data: the same seed gives the same sets and workflows.",
)
@click.option(
    "--api-key",
    envvar="VOUCHERBOT_SANDBOX_KEY",
    show_envvar=True,
    help="The key clients must send [default: a random one, printed at start].",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Items per list page.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="Requests per rolling minute before 429 (0 = unlimited).",
)
@click.option(
    "--counter-lag",
    type=FiniteRange(0, 3600),
    default=10.0,
    show_default=True,
    help="Seconds a set's counters trail the rows an import added, as Connectif's "
    "do (0 = at once).",
)
@click.option(
    "--shop",
    "shops",
    type=click.Choice(["woocommerce", "shopify"]),
    multiple=True,
    help="Also serve a local shop of this kind, for the woocommerce or shopify sink "
    "(repeat for both); its settings are printed at start.",
)
def sandbox(
    host: str,
    port: int,
    seed: int,
    api_key: str | None,
    page_size: int,
    rate_limit: int,
    counter_lag: float,
    shops: tuple[str, ...],
) -> None:
    """Run a local Connectif-compatible API with realistic fake data."""
    from voucherbot.errors import ConfigError
    from voucherbot.sandbox import SandboxConfig, serve

    settings = SandboxConfig(
        host=host,
        port=port,
        seed=seed,
        api_key=api_key,
        page_size=page_size,
        rate_limit=rate_limit,
        counter_lag=counter_lag,
    )
    try:
        serve(settings, shops=shops)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@click.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Seed for the fake data.")
@click.option(
    "--shop",
    type=click.Choice(["woocommerce", "shopify"]),
    help="Refill through this shop connector, against a local shop sandbox.",
)
def demo(seed: int, shop: str | None) -> None:
    """Start a sandbox in-process and show report -> run -> report against it."""
    from voucherbot.cli.demo import run_demo

    run_demo(seed=seed, echo=click.echo, shop=shop)
