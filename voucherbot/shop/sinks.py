"""The shop side of generated codes: deliver each batch to the shop before Connectif gets it.

Connectif only distributes codes; the shop's checkout must accept them too. A *sink* hands a
batch of freshly generated codes to the shop, and returns only once the shop has confirmed it
(anything else raises :class:`SinkError`). Every sink is idempotent by ``batch_id``: after a
crash the same batch is delivered again, and the shop must treat that as a repeat. An empty
batch is delivered by doing nothing.

``none``     does nothing; the codes are *not* registered with the shop (reports say so).
``file``     writes ``<coupon_set_id>-<batch_id>.csv`` (header ``code``, mode 0600) atomically
             into ``directory`` (created 0700 if missing).
``command``  runs ``command`` (no shell) with the CSV on stdin and ``VOUCHERBOT_COUPON_SET_ID``,
             ``VOUCHERBOT_COUPON_SET_NAME``, ``VOUCHERBOT_BATCH_ID`` and ``VOUCHERBOT_COUNT`` in
             its environment; exit status 0 means accepted. Its stdout is discarded.
``webhook``  POSTs signed JSON chunks to an https ``url`` (see :class:`WebhookSink`).
``shopify``  adds each code to one Shopify code discount (see :mod:`voucherbot.shop.shopify`).
``woocommerce`` creates each code as a WooCommerce coupon copying a ``template`` coupon's
             rules; says which codes the shop refused (see :mod:`voucherbot.shop.woocommerce`).

Messages and logs never contain codes, the webhook secret, or a URL's path or query.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

from voucherbot.config.settings import SinkSettings
from voucherbot.config.shop import webhook_secret
from voucherbot.config.tables import url_problem
from voucherbot.errors import ConfigError, holds_secret
from voucherbot.files import code_csv
from voucherbot.shop.base import Refused, Sink, SinkBatch, SinkError
from voucherbot.shop.command import CommandSink
from voucherbot.shop.shopify import ShopifySink, shopify_token
from voucherbot.shop.webhook import WebhookSink
from voucherbot.shop.woocommerce import WooCommerceSink, woocommerce_credentials

__all__ = [
    "CommandSink",
    "FileSink",
    "NoneSink",
    "ShopifySink",
    "Sink",
    "SinkBatch",
    "SinkError",
    "WebhookSink",
    "WooCommerceSink",
    "make_sink",
]

log = logging.getLogger("voucherbot.sinks")  # its name in logs since before the subpackages

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


# --- the sinks ---------------------------------------------------------------------------------


def make_sink(
    settings: SinkSettings,
    *,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: requests.Session | None = None,
) -> Sink:
    """Build the configured sink. ``env`` (default ``os.environ``) holds the webhook secret and
    is the command's environment; a missing secret is a ConfigError naming the variable."""
    env = os.environ if env is None else env
    if settings.kind == "file" and settings.directory is not None:
        return FileSink(settings.directory)
    if settings.kind == "command" and settings.command:
        # the shop's program gets the environment, but never the Connectif API key nor
        # another secret voucherbot knows (a webhook's signing secret, the [notify] URL)
        private = {k: v for k, v in env.items() if k != "CONNECTIF_API_KEY" and not holds_secret(v)}
        return CommandSink(settings.command, settings.timeout, private)
    if settings.kind == "webhook" and settings.url and settings.secret_env:
        problem = url_problem(settings.url)
        if problem:
            raise ConfigError(f"[shop] url {problem}")
        secret = webhook_secret(settings, env)
        return WebhookSink(settings, secret, session=session, sleep=sleep)
    if settings.kind == "woocommerce" and settings.url and settings.template:
        problem = url_problem(settings.url)
        if problem:
            raise ConfigError(f"[shop] url {problem}")
        key, secret = woocommerce_credentials(settings, env)
        return WooCommerceSink(settings, key, secret, session=session, sleep=sleep)
    if settings.kind == "shopify" and settings.discount_id:
        if settings.api_url:
            problem = url_problem(settings.api_url)
            if problem:
                raise ConfigError(f"[shop] api_url {problem}")
        return ShopifySink(settings, shopify_token(settings, env), session=session, sleep=sleep)
    if settings.kind == "none":
        return NoneSink()
    raise ConfigError(f'[shop]: sink "{settings.kind}" is missing its settings')


class NoneSink:
    """No shop sink: the codes are not registered with the shop."""

    kind = "none"
    registers_codes = False

    def deliver(self, batch: SinkBatch) -> Refused:
        return {}

    def describe(self) -> str:
        return "no shop sink: codes are not registered with the shop"


class FileSink:
    """One CSV per batch, ``<coupon_set_id>-<batch_id>.csv``, replaced atomically."""

    kind = "file"
    registers_codes = True

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def describe(self) -> str:
        return f"file sink to {self.directory}"

    def path_for(self, batch: SinkBatch) -> Path:
        return (
            self.directory / f"{_name_part(batch.coupon_set_id)}-{_name_part(batch.batch_id)}.csv"
        )

    def deliver(self, batch: SinkBatch) -> Refused:
        if not batch.codes:
            return {}
        target = self.path_for(batch)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # not files.write_private: a re-delivery replaces the batch's file, atomically,
            # so the shop never reads half of one (mkstemp makes it 0600 from the start)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.directory)
        except OSError as exc:
            raise SinkError(
                f"file sink: cannot write into {self.directory}: "
                f"{exc.strerror or exc}; check [shop] directory and its permissions"
            ) from None
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)
                out.writelines(line.encode() for line in code_csv(batch.codes))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            _fsync_directory(self.directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise SinkError(
                f"file sink: cannot write {target}: {exc.strerror or exc}; check "
                "the free space and permissions of [shop] directory"
            ) from None
        return {}


# --- helpers -----------------------------------------------------------------------------------


def _name_part(value: str) -> str:
    if not _SAFE_NAME.fullmatch(value):
        raise SinkError(
            f"file sink: {value!r} cannot be part of a file name (letters, digits, "
            "'.', '_' and '-' only)"
        )
    return value


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)
