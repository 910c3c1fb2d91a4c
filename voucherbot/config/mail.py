"""``[smtp]`` and ``[report]``: mailing the report (the message:
:mod:`voucherbot.report.mail`; the sending: :mod:`voucherbot.app.mailing`).

``[smtp]`` names the server: ``host``, ``port`` (default 587 for ``starttls``, 465 for
``tls``, 25 for ``none``), ``security`` (``starttls``, the default; ``tls``; or ``none``, only
to a server on this machine), ``user`` and the environment variable holding the password
(``password_env``, default ``VOUCHERBOT_SMTP_PASSWORD``: never in the file), ``from``,
``ca_file`` (certificates to trust, for a relay with a private CA) and ``timeout``.
``[report] email`` lists who gets the report; ``[report] notify = true`` also posts what
needs a person to the ``[notify]`` webhook.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voucherbot.config.settings import (
    REPORT_KEYS,
    SMTP_KEYS,
    SMTP_SECURITY,
    ReportSettings,
    SmtpSettings,
)
from voucherbot.config.tables import TableReader
from voucherbot.errors import ConfigError

#: an address as people write it, and nothing a mail header could be split with
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_PORTS = {"starttls": 587, "tls": 465, "none": 25}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def address(value: str, what: str) -> str:
    """A mail address, checked; a ConfigError saying ``what`` it is otherwise."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value.strip()):
        raise ConfigError(f"{what} {value!r} is not a mail address (name@example.com)")
    return value.strip()


def parse_smtp(table: Mapping[str, Any], where: str, base_dir: Path | None) -> SmtpSettings:
    read = TableReader(table, where, "[smtp]", SMTP_KEYS)
    if not table:
        return SmtpSettings()
    host = read.string("host")
    if not host:
        raise read.fail("'host' is missing: the mail server's name")
    security = read.choice("security", SMTP_SECURITY, "starttls")
    port = int(read.number("port", _PORTS[security], integer=True, above=True, maximum=65535))
    user = read.string("user")
    if security == "none" and user is not None and host not in _LOOPBACK:
        raise read.fail(
            'security = "none" would send the password unencrypted; use "starttls" or "tls" '
            "(plain SMTP only to a server on this machine)"
        )
    password_env = read.variable("password_env") or SmtpSettings.password_env
    sender = read.string("from")
    if sender is None:
        raise read.fail("'from' is missing: the address the report comes from")
    try:
        sender = address(sender, "[smtp] from")
    except ConfigError as exc:
        raise read.fail(str(exc).removeprefix("[smtp] ")) from None
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        user=user,
        password_env=password_env,
        sender=sender,
        ca_file=read.path("ca_file", base_dir),
        timeout=float(read.number("timeout", 30.0, above=True, maximum=600)),
    )


def parse_report(table: Mapping[str, Any], where: str) -> ReportSettings:
    read = TableReader(table, where, "[report]", REPORT_KEYS)
    raw = table.get("email", [])
    emails = [raw] if isinstance(raw, str) else raw
    if not isinstance(emails, list):
        raise read.fail("'email' must be an address or a list of addresses")
    try:
        checked = tuple(address(e, "[report] email") for e in emails)
    except ConfigError as exc:
        raise read.fail(str(exc).removeprefix("[report] ")) from None
    return ReportSettings(email=checked, notify=read.boolean("notify", False))
