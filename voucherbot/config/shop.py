"""``[shop]``: where codes come from and how the shop learns about them.

Connectif only distributes codes; the shop's checkout must accept them too. Either voucherbot
generates the codes and hands each batch to the shop before Connectif gets it (``source =
"generate"``, the default, with a ``sink``: see :mod:`voucherbot.shop.sinks`), or the shop
generates them and voucherbot distributes them from a pool of code files (``source = "pool"``,
``pool = "<directory>"``: see :mod:`voucherbot.shop.pool`).

``[shop]`` sets this for every coupon set; a rule's ``shop`` table is laid over it key by key
(so a rule can switch one family of sets to its own pool directory).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voucherbot.config.settings import SINK_KINDS, SOURCES, ShopSettings, SinkSettings
from voucherbot.config.tables import MAX_NUMBER, TableReader, hide_url
from voucherbot.errors import ConfigError, hide

#: which sink kinds use each key; a key set for another kind is an error (a forgotten
#: ``sink = "webhook"`` must not silently leave the codes unregistered)
_USED_BY = {
    "directory": ("file",),
    "command": ("command",),
    "timeout": ("command", "webhook", "woocommerce", "shopify"),
    "url": ("webhook", "woocommerce"),
    "secret_env": ("webhook", "woocommerce"),
    "chunk_size": ("webhook", "woocommerce", "shopify"),
    "retries": ("webhook", "woocommerce", "shopify"),
    "template": ("woocommerce",),
    "key_env": ("woocommerce",),
    "store_domain": ("shopify",),
    "discount_id": ("shopify",),
    "token_env": ("shopify",),
    "api_version": ("shopify",),
    "api_url": ("shopify",),
    "job_timeout": ("shopify",),
}
SHOPIFY_TOKEN_ENV = "SHOPIFY_ACCESS_TOKEN"  # noqa: S105 - a variable's name
SHOPIFY_CHUNK = 250  #: codes a discountRedeemCodeBulkAdd takes
#: what a woocommerce sink reads when its table does not say
WOO_KEY_ENV = "WOOCOMMERCE_CONSUMER_KEY"
WOO_SECRET_ENV = "WOOCOMMERCE_CONSUMER_SECRET"  # noqa: S105 - a variable's name
WOO_CHUNK = 100  #: WooCommerce's own limit of items a batch request
#: every key of [shop]: the sink's and the code pool's (see voucherbot.shop.pool)
SHOP_KEYS = ("source", "sink", *_USED_BY, "pool")
MAX_RETRIES = 10


def parse_shop(
    table: Mapping[str, Any], where: str, base_dir: Path | None, context: str = "[shop]"
) -> ShopSettings:
    """Validate a ``[shop]`` table (or a rule's merged ``shop``); paths relative to base_dir."""
    read = TableReader(table, where, context, SHOP_KEYS)
    source = read.choice("source", SOURCES, "generate")
    pool = read.path("pool", base_dir)
    if source == "pool":
        if pool is None:
            raise read.fail("source = \"pool\" needs 'pool', the directory of code files")
        if read.table.get("sink", "none") != "none":
            raise read.fail(
                "give either 'sink' (voucherbot generates the codes and registers them "
                'with the shop) or source = "pool" (the shop generates them), not both'
            )
    elif pool is not None:
        raise read.fail("'pool' is only used with source = \"pool\"; set source or remove 'pool'")
    return ShopSettings(source=source, sink=parse_sink(read, base_dir), pool=pool)


def env_secret(env: Mapping[str, str], name: str | None, missing: str) -> str:
    """The secret in the environment variable ``name``, kept out of every message and log
    from here on; ConfigError(``missing``) when it is not set or empty (``config check``
    asks, as every run does before its first API call)."""
    value = env.get(name or "", "")
    if not value:
        raise ConfigError(missing)
    hide(value)
    return value


def webhook_secret(settings: SinkSettings, env: Mapping[str, str]) -> str:
    """The webhook sink's signing secret from ``env``."""
    return env_secret(
        env,
        settings.secret_env,
        f"the webhook sink signs with the secret in the environment variable "
        f"{settings.secret_env} ([shop] secret_env), which is not set or empty; set it "
        "to the secret the shop uses to check X-Voucherbot-Signature",
    )


def parse_sink(read: TableReader, base_dir: Path | None) -> SinkSettings:
    """Validate the sink keys of a ``[shop]`` table (paths relative to ``base_dir``)."""
    kind = read.choice("sink", SINK_KINDS, "none")
    for key, kinds in _USED_BY.items():
        if key in read.table and kind not in kinds:
            uses = " or ".join(f'"{k}"' for k in kinds)
            raise read.fail(
                f"'{key}' is only used by sink = {uses}, but sink is \"{kind}\"; "
                f"set sink or remove '{key}'"
            )
    command: tuple[str, ...] = ()
    if "command" in read.table:
        command = _command(read, base_dir)
    woo, shopify = kind == "woocommerce", kind == "shopify"
    secret_env = _variable(read, "secret_env", WOO_SECRET_ENV if woo else None)
    key_env = _variable(read, "key_env", WOO_KEY_ENV if woo else None)
    token_env = _variable(read, "token_env", SHOPIFY_TOKEN_ENV if shopify else None)
    chunk = WOO_CHUNK if woo else SHOPIFY_CHUNK if shopify else 1000
    shop_keys = _shopify(read)
    url = read.url("url")
    if url is not None:
        hide_url(url)
    settings = SinkSettings(
        kind=kind,
        directory=read.path("directory", base_dir),
        command=command,
        timeout=float(read.number("timeout", 60.0, above=True, maximum=86400)),
        url=url,
        secret_env=secret_env,
        chunk_size=read.number(
            "chunk_size",
            chunk,
            integer=True,
            minimum=1,
            maximum=SHOPIFY_CHUNK if shopify else MAX_NUMBER,
        ),
        retries=read.number("retries", 4, integer=True, maximum=MAX_RETRIES),
        template=read.string("template"),
        key_env=key_env,
        token_env=token_env,
        job_timeout=float(read.number("job_timeout", 300.0, above=True, maximum=86400)),
        **shop_keys,
    )
    needs = {
        "file": ("directory",),
        "command": ("command",),
        "webhook": ("url", "secret_env"),
        "woocommerce": ("url", "template"),
        "shopify": ("discount_id",),
    }
    for key in needs.get(kind, ()):
        if getattr(settings, key) in (None, ()):
            raise read.fail(f"sink = \"{kind}\" needs '{key}'")
    if shopify and settings.store_domain is None and settings.api_url is None:
        raise read.fail("sink = \"shopify\" needs 'store_domain' (or 'api_url')")
    return settings


def _shopify(read: TableReader) -> dict[str, Any]:
    """The shopify sink's store, discount and API version, checked."""
    domain = read.string("store_domain")
    if domain is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.myshopify\.com", domain):
        raise read.fail(
            f"'store_domain' must be the store's <name>.myshopify.com domain, not {domain!r}"
        )
    discount = read.string("discount_id")
    if discount is not None and not re.fullmatch(r"gid://shopify/DiscountCodeNode/\d+", discount):
        raise read.fail(
            "'discount_id' must be the code discount's id, such as "
            f'"gid://shopify/DiscountCodeNode/1234567890", not {discount!r}'
        )
    version = read.string("api_version") or "2025-10"
    if not re.fullmatch(r"[0-9]{4}-(01|04|07|10)", version):
        raise read.fail(f"'api_version' must be a release such as \"2025-10\", not {version!r}")
    return {
        "store_domain": domain,
        "discount_id": discount,
        "api_version": version,
        "api_url": read.url("api_url"),
    }


def _variable(read: TableReader, key: str, default: str | None) -> str | None:
    """The name of an environment variable holding a secret (``secret_env``, ``key_env``);
    its value is kept out of messages, logs and a command's environment from here on."""
    name = read.variable(key, example='"SHOP_WEBHOOK_SECRET" (not the secret itself)')
    name = name if name is not None else default
    if name is not None:
        hide(os.environ.get(name))
    return name


def _command(read: TableReader, base_dir: Path | None) -> tuple[str, ...]:
    raw = read.table["command"]
    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            raise read.fail(f"'command' cannot be split into words: {exc}") from None
    elif isinstance(raw, list) and all(isinstance(word, str) and word for word in raw):
        argv = list(raw)
    else:
        raise read.fail(
            "'command' must be a list of strings such as [\"/usr/local/bin/add-codes\""
            ', "--shop", "main"], or one string'
        )
    if not argv:
        raise read.fail("'command' is empty")
    if "/" in argv[0] and not os.path.isabs(argv[0]) and base_dir is not None:
        # "./add-codes.sh" is beside the rules file, wherever voucherbot runs from (made
        # absolute: "rules.toml"'s folder is "." and "./prog" must never become "prog",
        # which would be looked up on PATH)
        argv[0] = str(base_dir.absolute() / argv[0])
    return tuple(argv)
