"""Sending the report: by SMTP (``[smtp]``) and, what needs a person, to the ``[notify]``
webhook.

The connection is encrypted unless ``security = "none"`` (allowed only with a server on this
machine, or without a login): STARTTLS, or TLS from the first byte, with the system's
certificates (and ``ca_file``'s), the host name checked. The password comes from the
environment; no message shows it, nor what the server echoed of it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence

from voucherbot.config.settings import SmtpSettings
from voucherbot.errors import ConfigError, VoucherbotError, hide, redact
from voucherbot.report.mail import report_message
from voucherbot.report.model import Report
from voucherbot.text import clean


class MailError(VoucherbotError):
    """The report could not be sent."""


def smtp_password(smtp: SmtpSettings, env: Mapping[str, str]) -> str:
    """The password of ``[smtp] user`` from the environment ("" without a user); a
    ConfigError when the settings cannot send (checked before the account is read)."""
    if smtp.host is None or smtp.sender is None:
        raise ConfigError("sending the report needs [smtp] with 'host' and 'from' in the rules")
    if not smtp.user:
        return ""
    password = env.get(smtp.password_env, "")
    if not password:
        raise ConfigError(
            f"[smtp] user is set, but the environment variable {smtp.password_env} "
            "([smtp] password_env) that holds its password is not set or empty"
        )
    hide(password)  # never shown, whatever the server says back
    return password


def send_report(report: Report, smtp: SmtpSettings, to: Sequence[str], password: str) -> None:
    """Mail the report to ``to``; MailError (one line) when the server did not take it."""
    assert smtp.host is not None and smtp.sender is not None  # smtp_password checked them
    message = report_message(report, smtp.sender, to)
    where = f"{smtp.host}:{smtp.port}"
    try:
        with _connect(smtp) as server:
            if smtp.user:
                server.login(smtp.user, password)
            refused = server.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise MailError(
            f"the mail server {where} refused the login of {smtp.user!r}; check [smtp] user "
            f"and {smtp.password_env}"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(
            f"the mail server {where} refused every recipient ({', '.join(exc.recipients)})"
        ) from None
    except smtplib.SMTPResponseException as exc:
        said = (
            exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else ""
        )
        said = clean(redact(said, password) if password else said)[:200]
        raise MailError(
            f"the mail server {where} answered {exc.smtp_code} {said}".strip()
        ) from None
    except ssl.SSLError as exc:
        raise MailError(
            f"no trusted encrypted connection to the mail server {where} "
            f"({exc.reason or type(exc).__name__}); check [smtp] security and ca_file"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        problem = (
            "no answer in time"
            if isinstance(exc, socket.timeout | TimeoutError)
            else (clean(str(exc))[:200] or type(exc).__name__)
        )
        raise MailError(f"could not send the report through {where}: {problem}") from None
    if refused:
        raise MailError(
            f"the mail server {where} refused {', '.join(sorted(refused))}; the others got it"
        )


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    assert smtp.host is not None
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    if smtp.security == "tls":
        return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout, context=context)
    server = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.security == "starttls":
            server.starttls(context=context)
    except BaseException:
        server.close()
        raise
    return server
