"""The report as an email: the HTML page with the plain-text table as its other part
(``multipart/alternative``), so that any mail client shows one of them.

The subject is the report's headline (what needs a person, else the summary), on one line.
Addresses were checked when the rules were read (:mod:`voucherbot.config.mail`); the subject
holds no line break, so no header can be added through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from voucherbot.report.attention import headline
from voucherbot.report.html import render_html
from voucherbot.report.model import Report
from voucherbot.report.terminal import render_table
from voucherbot.text import clean

#: the plain-text part's width: what mail clients show without wrapping
TEXT_WIDTH = 78
SUBJECT_CHARS = 150


def report_message(report: Report, sender: str, to: Sequence[str]) -> EmailMessage:
    """The message: From ``sender``, To ``to``, dated when the report was made."""
    subject = " ".join(clean(f"voucherbot: {headline(report)}").split())
    if len(subject) > SUBJECT_CHARS:
        subject = subject[: SUBJECT_CHARS - 1] + "…"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(report.generated_at)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(render_table(report, width=TEXT_WIDTH))
    message.add_alternative(render_html(report), subtype="html")
    return message
