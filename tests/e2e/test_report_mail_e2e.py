"""`voucherbot report` in the inbox: mailed through a real SMTP server on 127.0.0.1 (aiosmtpd),
plain and with STARTTLS and a login; and the digest of what needs a person through [notify]."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pytest_httpserver import HTTPServer

from tests.e2e.test_notify_e2e import SLACK_PATH, Slack
from tests.support import Cli

SENDER = "voucherbot@shop.example"
USER = "mailer"
PASSWORD = "Sm7p-Pa55w0rd-never-shown"


@dataclass
class Inbox:
    """What the SMTP server received: envelopes and the logins it saw."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.content, policy=email.policy.default)  # type: ignore[arg-type,misc]
            for e in self.envelopes
            if isinstance(e.content, bytes)
        ]

    def authenticate(
        self, server: object, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (data.login.decode(), data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == (USER, PASSWORD), handled=False)


def free_port() -> int:
    """A port nothing listens on (aiosmtpd's controller needs to know its port up front)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A certificate of its own for 127.0.0.1 (voucherbot trusts it through [smtp] ca_file),
    and the server's TLS context with it."""
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make the server's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def tls_inbox(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    """A server that requires STARTTLS and a login."""
    cert, context = certificate(tmp_path)
    box = Inbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=box.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield box, port, cert
    finally:
        controller.stop()


def add(cli: Cli, text: str) -> None:
    cli.rules.write_text(cli.rules.read_text() + "\n" + text)


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_the_report_is_mailed_with_an_html_and_a_text_part(
    cli: Cli, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    add(cli, f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nfrom = "{SENDER}"\n')
    result = cli.run("report", "--email", "marketing@shop.example", "--email", "cmo@shop.example")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mailed the report to marketing@shop.example, cmo@shop.example" in result.stderr
    (envelope,) = box.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["marketing@shop.example", "cmo@shop.example"]
    (message,) = box.messages()
    assert message.get_content_type() == "multipart/alternative"
    doc = json.loads(cli.run("report", "--format", "json", "--no-email").stdout)
    text, html = parts(message)
    headline = text.splitlines()[2]
    assert message["Subject"] == f"voucherbot: {headline}"
    assert all(len(line) <= 78 for line in text.splitlines())
    for s in doc["sets"]:  # every set, in both parts, with its numbers
        assert s["id"] in text and s["id"] in html
    refill = next(s for s in doc["sets"] if s["action"] == "refill")
    assert f"refill {refill['count']:,}" in text and f"refill {refill['count']:,}" in html
    assert 'id="attention"' in html and "<script>" in html  # the same page as --format html


def test_starttls_and_a_login_and_the_password_is_never_shown(
    cli: Cli, tls_inbox: tuple[Inbox, int, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, port, cert = tls_inbox
    add(
        cli,
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nuser = "{USER}"\nfrom = "{SENDER}"\n'
        f'ca_file = "{cert}"\npassword_env = "VB_TEST_SMTP_PASSWORD"\n\n'
        '[report]\nemail = ["marketing@shop.example"]\n',
    )
    monkeypatch.setenv("VB_TEST_SMTP_PASSWORD", PASSWORD)
    result = cli.run("report")  # [report] email: mailed without --email
    assert result.returncode == 0, result.stdout + result.stderr
    assert box.logins == [(USER, PASSWORD)]
    assert len(box.messages()) == 1
    monkeypatch.setenv("VB_TEST_SMTP_PASSWORD", "wrong-" + PASSWORD)
    refused = cli.run("report")
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert "refused the login of 'mailer'" in line and "Traceback" not in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr
    assert len(box.messages()) == 1  # nothing more was sent
    # a certificate voucherbot does not trust: no mail, one line
    cli.rules.write_text(cli.rules.read_text().replace(f'ca_file = "{cert}"\n', ""))
    monkeypatch.setenv("VB_TEST_SMTP_PASSWORD", PASSWORD)
    untrusted = cli.run("report")
    assert untrusted.returncode == 1
    assert "no trusted encrypted connection to the mail server" in untrusted.stderr
    assert len(box.messages()) == 1


def test_tls_from_the_first_byte(cli: Cli, tmp_path: Path) -> None:
    cert, context = certificate(tmp_path)
    box, port = Inbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        add(
            cli,
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "tls"\n'
            f'from = "{SENDER}"\nca_file = "{cert}"\n',
        )
        result = cli.run("report", "--email", "marketing@shop.example")
    finally:
        controller.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    (message,) = box.messages()
    assert message["To"] == "marketing@shop.example"


@pytest.mark.parametrize(
    ("rules", "args", "expected"),
    [
        ("", ("--email", "a@shop.example"), "--email needs [smtp]"),
        ('[smtp]\nhost = "127.0.0.1"\nfrom = "x@y.example"\n', ("--email", "not an address"),
         "--email 'not an address' is not a mail address"),
        ('[report]\nemail = ["a@shop.example"]\n', (), "[report] email needs [smtp]"),
        ('[smtp]\nhost = "mail.example"\nsecurity = "none"\nuser = "u"\nfrom = "x@y.example"\n',
         ("--email", "a@shop.example"), 'security = "none" would send the password unencrypted'),
        ('[smtp]\nhost = "mail.example"\nfrom = "x@y.example"\nuser = "u"\n',
         ("--email", "a@shop.example"), "VOUCHERBOT_SMTP_PASSWORD ([smtp] password_env)"),
        ("", ("--notify",), "--notify needs [notify] url"),
        ('[smtp]\nhost = "mail.example"\nfrom = "x@y.example"\n',
         ("--email", "a@shop.example\nBcc: x@evil.example"), "is not a mail address"),
    ],
)  # fmt: skip
def test_bad_mail_settings_give_one_line_before_any_request(
    cli: Cli, rules: str, args: tuple[str, ...], expected: str
) -> None:
    add(cli, rules)
    result = cli.run("report", *args)
    assert result.returncode == 2
    assert expected in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and result.stdout == ""  # no report: nothing read


def test_the_digest_of_what_needs_a_person_goes_to_the_webhook(
    cli: Cli, httpserver: HTTPServer
) -> None:
    slack = Slack(httpserver)
    add(cli, f'[notify]\nurl = "{slack.url}"\n\n[report]\nnotify = true\n')
    result = cli.run("report")
    assert result.returncode == 0, result.stdout + result.stderr
    (message,) = slack.messages()
    doc = json.loads(cli.run("report", "--format", "json", "--no-notify").stdout)
    assert len(slack.messages()) == 1  # --no-notify: nothing more
    refills = [s for s in doc["sets"] if s["action"] == "refill"]
    text = json.dumps(message)
    assert message["text"].startswith("voucherbot report: ")
    assert "The bot will refill" in text
    for s in refills:
        assert f"refill {s['count']:,} codes" in text
    assert SLACK_PATH not in result.stdout + result.stderr
