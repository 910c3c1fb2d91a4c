"""Running the sandbox over HTTP: in a background thread, or in the foreground for the CLI."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TextIO, TypeVar
from wsgiref.types import WSGIApplication, WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from voucherbot.sandbox.app import make_app
from voucherbot.sandbox.config import SandboxConfig
from voucherbot.sandbox.shopify import ShopifyApp, ShopifyState
from voucherbot.sandbox.state import SandboxState
from voucherbot.sandbox.woocommerce import WooApp, WooState


class _Handler(WSGIRequestHandler):
    """Closes the connection when the app dropped it (see :mod:`.connection`)."""

    def connection_dropped(
        self, error: BaseException, environ: WSGIEnvironment | None = None
    ) -> None:
        self.close_connection = True

    def send_response(self, code: int, message: str | None = None) -> None:
        """As http.server's, but without its own Date header: the app sends one that follows
        the sandbox clock, and a second (wall-clock) one would contradict it."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.version_string())


class _QuietHandler(_Handler):
    """Logs errors but not the line per request."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def _make_server(state: SandboxState) -> BaseWSGIServer:
    config = state.config
    return _bind(make_app(state), config.host, config.port, log_requests=config.log_requests)


def _bind(app: WSGIApplication, host: str, port: int, *, log_requests: bool) -> BaseWSGIServer:
    """Bind the socket here, so a busy port raises OSError (werkzeug would print and exit)."""
    handler = _Handler if log_requests else _QuietHandler
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        server = make_server(
            host, port, app, threaded=True, request_handler=handler, fd=sock.fileno()
        )
    finally:
        # werkzeug duplicated the descriptor; this copy is no longer needed
        sock.close()
    return server


def _url(server: BaseWSGIServer) -> str:
    address = server.server_address[0]
    host = address.decode() if isinstance(address, bytes) else str(address)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{server.port}"


S = TypeVar("S")


class RunningServer:
    """A server in a daemon thread. Use as a context manager, or call :meth:`stop`."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self.url = _url(server)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            name="voucherbot-sandbox",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._stopped = False
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.port

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RunningSandbox(RunningServer):
    """The Connectif sandbox serving in a daemon thread."""

    def __init__(self, state: SandboxState, server: BaseWSGIServer) -> None:
        self.state = state
        self.api_key = state.api_key
        super().__init__(server)

    def __repr__(self) -> str:
        return f"<RunningSandbox {self.url}>"


def start_sandbox(
    config: SandboxConfig | None = None, *, state: SandboxState | None = None
) -> RunningSandbox:
    """Start a sandbox in a background thread; port 0 (the default) picks a free port."""
    state = state or SandboxState(config)
    return RunningSandbox(state, _make_server(state))


class RunningShop(RunningServer, Generic[S]):
    """A shop sandbox (:mod:`.woocommerce`, :mod:`.shopify`) serving in a daemon thread."""

    def __init__(self, state: S, server: BaseWSGIServer) -> None:
        self.state = state
        super().__init__(server)


def start_shopify(
    state: ShopifyState | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningShop[ShopifyState]:
    """Start a Shopify-like Admin GraphQL endpoint (:mod:`.shopify`) in a background thread;
    its ``url`` is the API's origin (``[shop] api_url``)."""
    state = state or ShopifyState()
    return RunningShop(state, _bind(ShopifyApp(state), host, port, log_requests=False))


def start_woocommerce(
    state: WooState | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> RunningShop[WooState]:
    """Start a WooCommerce-like shop (:mod:`.woocommerce`) in a background thread; its
    ``url`` is the store's base URL."""
    state = state or WooState()
    return RunningShop(state, _bind(WooApp(state), host, port, log_requests=False))


#: What ``voucherbot sandbox --shop`` puts in each shop: its template coupon, its discount.
SHOP_TEMPLATE = "voucherbot-template"
SHOP_DISCOUNT = 1057371


@dataclass
class ShopSandbox:
    """A running shop sandbox, the ``[shop]`` settings that point a sink at it, and the
    environment that carries its credentials."""

    running: RunningShop[WooState] | RunningShop[ShopifyState]
    kind: str
    settings: dict[str, str]
    env: dict[str, str]

    @property
    def state(self) -> WooState | ShopifyState:
        """The shop's state: its codes and fault switches."""
        return self.running.state

    @property
    def table(self) -> str:
        """The ``[shop]`` table of a rules file that uses this shop."""
        return "[shop]\n" + "".join(f'{key} = "{value}"\n' for key, value in self.settings.items())

    @property
    def line(self) -> str:
        """What ``voucherbot sandbox --shop`` prints (the shop's own credentials, on purpose)."""
        keys = ", ".join(f'{key} = "{value}"' for key, value in self.settings.items())
        creds = " ".join(f"{name}={value}" for name, value in self.env.items())
        name = {"woocommerce": "WooCommerce", "shopify": "Shopify"}[self.kind]
        return f"{name} sandbox: [shop] {keys}; {creds}"

    def codes(self) -> set[str]:
        """Every code the shop holds, lower-cased."""
        state = self.state
        if isinstance(state, WooState):
            return {c["code"] for c in state.coupons.values()} - {SHOP_TEMPLATE}
        return {code for d in state.discounts.values() for code in d.codes}


def start_shop(kind: str, host: str = "127.0.0.1") -> ShopSandbox:
    """A shop sandbox of ``kind`` ("woocommerce" or "shopify") ready for a ``[shop]`` table."""
    if kind == "woocommerce":
        woo = WooState()
        woo.add_coupon(SHOP_TEMPLATE, amount="10", discount_type="percent")
        running = start_woocommerce(woo, host=host)
        settings = {"sink": "woocommerce", "url": running.url, "template": SHOP_TEMPLATE}
        env = {
            "WOOCOMMERCE_CONSUMER_KEY": woo.consumer_key,
            "WOOCOMMERCE_CONSUMER_SECRET": woo.consumer_secret,
        }
        return ShopSandbox(running, kind, settings, env)
    if kind == "shopify":
        shopify = ShopifyState()
        discount = shopify.add_discount(SHOP_DISCOUNT, "Sandbox discount")
        on_shopify = start_shopify(shopify, host=host)
        settings = {"sink": "shopify", "api_url": on_shopify.url, "discount_id": discount.id}
        env = {"SHOPIFY_ACCESS_TOKEN": shopify.token}
        return ShopSandbox(on_shopify, kind, settings, env)
    raise ValueError(f"no {kind} shop sandbox")


def serve(
    config: SandboxConfig | None = None,
    *,
    out: TextIO | None = None,
    shops: Sequence[str] = (),
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C), printing one ready line first (and
    one for each shop sandbox of ``shops`` started beside it)."""
    out = out or sys.stdout
    state = SandboxState(config)
    server = _make_server(state)
    running = [start_shop(kind, state.config.host) for kind in shops]
    try:
        for shop in running:
            # the shop sandboxes' own credentials, shown on purpose (as the key below)
            print(shop.line, file=out, flush=True)
        # The sandbox's own key, shown on purpose: the user needs it to connect.
        print(
            f"Sandbox listening: CONNECTIF_BASE_URL={_url(server)} "
            f"CONNECTIF_API_KEY={state.api_key}",
            file=out,
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        for shop in running:
            shop.running.stop()
