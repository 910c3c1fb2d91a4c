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

Messages and logs never contain codes, the webhook secret, or a URL's path or query.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

import requests

from voucherbot.config.settings import SinkSettings
from voucherbot.config.shop import webhook_secret
from voucherbot.config.tables import origin, url_problem
from voucherbot.connectif.session import Backoff, make_session
from voucherbot.errors import ConfigError, VoucherbotError, hide, holds_secret, redact
from voucherbot.files import code_csv_bytes

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class SinkError(VoucherbotError):
    """The shop did not confirm a batch; its codes must not be imported into Connectif."""


@dataclass(frozen=True)
class SinkBatch:
    coupon_set_id: str
    coupon_set_name: str
    batch_id: str  #: the ledger's id of the batch; the same on every re-delivery
    codes: Sequence[str]


class Sink(Protocol):
    kind: str
    registers_codes: bool

    def deliver(self, batch: SinkBatch) -> None: ...

    def describe(self) -> str: ...


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
        hide(secret)
        return WebhookSink(settings, secret, session=session, sleep=sleep)
    if settings.kind == "none":
        return NoneSink()
    raise ConfigError(f'[shop]: sink "{settings.kind}" is missing its settings')


class NoneSink:
    """No shop sink: the codes are not registered with the shop."""

    kind = "none"
    registers_codes = False

    def deliver(self, batch: SinkBatch) -> None:
        return None

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

    def deliver(self, batch: SinkBatch) -> None:
        if not batch.codes:
            return
        target = self.path_for(batch)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=self.directory)
        except OSError as exc:
            raise SinkError(
                f"file sink: cannot write into {self.directory}: "
                f"{exc.strerror or exc}; check [shop] directory and its permissions"
            ) from None
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(code_csv_bytes(batch.codes))
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


class CommandSink:
    """Runs a program per batch, CSV on stdin; exit status 0 confirms the batch."""

    kind = "command"
    registers_codes = True

    def __init__(
        self,
        argv: Sequence[str],
        timeout: float,
        env: Mapping[str, str],
        *,
        kill_grace: float = 2.0,
    ) -> None:
        self.argv, self.timeout, self.env, self.kill_grace = tuple(argv), timeout, env, kill_grace

    def describe(self) -> str:
        return f"command sink running {self.argv[0]}"

    def deliver(self, batch: SinkBatch) -> None:
        if not batch.codes:
            return
        program = self.argv[0]
        env = {
            **self.env,
            "VOUCHERBOT_COUPON_SET_ID": batch.coupon_set_id,
            "VOUCHERBOT_COUPON_SET_NAME": batch.coupon_set_name,
            "VOUCHERBOT_BATCH_ID": batch.batch_id,
            "VOUCHERBOT_COUNT": str(len(batch.codes)),
        }
        what = f"command sink: {program} (batch {batch.batch_id})"
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    env=env,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise SinkError(
                    f"command sink: program {program} not found; check [shop] "
                    "command (cron's PATH is short: use an absolute path)"
                ) from None
            except OSError as exc:
                raise SinkError(
                    f"command sink: cannot start {program}: {exc.strerror or exc}; "
                    "check that it is executable (chmod +x)"
                ) from None
            try:
                proc.communicate(code_csv_bytes(batch.codes), timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._stop(proc)
                tail = _last_line(errors, batch.codes)
                raise SinkError(
                    f"{what} did not finish within {self.timeout:g} s and was "
                    f"stopped{tail}; make it faster or raise [shop] timeout"
                ) from None
            status = proc.returncode
            if status != 0:
                how = f"exit status {status}" if status > 0 else f"killed by signal {-status}"
                tail = _last_line(errors, batch.codes)
                raise SinkError(
                    f"{what} refused the batch ({how}){tail}; the codes were not "
                    "imported; fix the command and run again"
                )

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop the program's whole process group: TERM, then KILL after a grace period."""
        _killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(self.kill_grace)
        _killpg(proc.pid, signal.SIGKILL)  # a leader that ignored TERM, or its children
        proc.wait()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()


class WebhookSink:
    """POSTs the batch as signed JSON in chunks; every chunk must be answered 2xx.

    Body (compact JSON, UTF-8): ``{"couponSetId", "couponSetName", "batchId", "chunk" (1-based),
    "chunks", "codes"}``. Headers: ``Content-Type: application/json``, ``Idempotency-Key:
    <batchId>-<chunk>`` and ``X-Voucherbot-Signature: sha256=<hex HMAC-SHA256 of the body
    bytes>``. 5xx, 408, 429 and network failures are retried with jittered exponential backoff; any
    other answer fails the batch at once.
    """

    kind = "webhook"
    registers_codes = True

    def __init__(
        self,
        settings: SinkSettings,
        secret: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert settings.url is not None
        self.url, self.settings, self._secret = settings.url, settings, secret.encode()
        self.session = make_session(session)
        self._sleep = sleep
        self._backoff = Backoff(1.0, MAX_BACKOFF)

    def __repr__(self) -> str:
        return f"WebhookSink({origin(self.url)}, secret=<hidden>)"

    def describe(self) -> str:
        return f"webhook sink to {origin(self.url)}"

    def deliver(self, batch: SinkBatch) -> None:
        size = self.settings.chunk_size
        chunks = math.ceil(len(batch.codes) / size)
        for index in range(chunks):
            codes = list(batch.codes[index * size : (index + 1) * size])
            body = json.dumps(
                {
                    "couponSetId": batch.coupon_set_id,
                    "couponSetName": batch.coupon_set_name,
                    "batchId": batch.batch_id,
                    "chunk": index + 1,
                    "chunks": chunks,
                    "codes": codes,
                },
                separators=(",", ":"),
            ).encode()
            self._post(
                body,
                f"{batch.batch_id}-{index + 1}",
                codes,
                f"chunk {index + 1}/{chunks} of batch {batch.batch_id}",
            )

    def sign(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def _post(self, body: bytes, key: str, codes: Sequence[str], what: str) -> None:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "X-Voucherbot-Signature": self.sign(body),
        }
        where = origin(self.url)
        timeout = (min(10.0, self.settings.timeout), self.settings.timeout)
        attempt = 0
        while True:
            retry_after = None
            try:
                response = self.session.post(
                    self.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
                )
            except requests.Timeout:
                problem = f"no answer within {self.settings.timeout:g} s"
            except requests.RequestException as exc:  # its text holds the URL: never show it
                problem = f"connection failed ({type(exc).__name__})"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return
                if status < 500 and status not in (408, 429):
                    detail = _detail(response, codes, self._secret.decode())
                    raise SinkError(
                        f"webhook sink: {where} refused {what} (HTTP {status})"
                        f"{detail}; the codes were not imported; fix the shop "
                        "endpoint or [shop] settings and run again"
                    )
                problem = f"HTTP {status}"
                retry_after = _seconds(response.headers.get("Retry-After"))
            if attempt >= self.settings.retries:
                raise SinkError(
                    f"webhook sink: {where} did not accept {what}: {problem} after "
                    f"{attempt + 1} attempt(s); the codes were not imported; run "
                    "again later (re-delivery is safe)"
                )
            attempt += 1
            wait = self._backoff.delay(attempt)
            if retry_after is not None:
                wait = min(MAX_BACKOFF, max(wait, retry_after))
            note, retries = f"{where}: {problem} for {what}", self.settings.retries
            log.warning("webhook sink: %s; retry %d/%d in %.1f s", note, attempt, retries, wait)
            self._sleep(wait)


# --- helpers -----------------------------------------------------------------------------------


def _name_part(value: str) -> str:
    if not _SAFE_NAME.fullmatch(value):
        raise SinkError(
            f"file sink: {value!r} cannot be part of a file name (letters, digits, "
            "'.', '_' and '-' only)"
        )
    return value


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


def _last_line(stream: IO[bytes], codes: Sequence[str]) -> str:
    """``": <last stderr line>"`` (at most 200 characters, codes hidden), or ""."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - 4096))
    lines = [ln.strip() for ln in stream.read().decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return ""
    line = "".join(c if c.isprintable() else "?" for c in lines[-1])
    return ": " + _shorten(_hide_codes(redact(line), codes))


def _hide_codes(text: str, codes: Sequence[str]) -> str:
    """Replace every code of the batch that ``text`` quotes with ``<code>``."""
    known = set(codes)
    return re.sub(
        r"[^\s,;:\"'`()\[\]{}<>=]+",
        lambda m: "<code>" if m[0] in known or m[0].rstrip(".") in known else m[0],
        text,
    )


def _shorten(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _detail(response: requests.Response, codes: Sequence[str], secret: str) -> str:
    """``": <server detail>"`` from a JSON error body (detail, message or error), or ""."""
    try:
        doc = response.json()
    except ValueError:
        return ""
    if not isinstance(doc, dict):
        return ""
    for key in ("detail", "message", "error"):
        if isinstance(doc.get(key), str) and doc[key].strip():
            text = " ".join(doc[key].split())
            return ": " + _shorten(redact(_hide_codes(text, codes), secret))
    return ""


def _seconds(value: str | None) -> float | None:
    return float(value) if value and value.strip().isdigit() else None
