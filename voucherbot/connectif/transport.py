"""The transport under :class:`~voucherbot.connectif.client.ConnectifClient`: one request,
through the rate budget, with the retries of idempotent calls, a deadline on the whole answer,
a cap on its size, and every secret taken out of it before anything reads it.

GETs are retried on connection failures and 5xx answers with bounded, jittered backoff, and
wait out 429s; a request sent ``once`` (the import POST) is never retried here: its one retry
policy lives in :mod:`voucherbot.refill.posting`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from voucherbot.config.tables import same_origin_key
from voucherbot.connectif.errors import api_error, kind_of, network_error
from voucherbot.connectif.multipart import MultipartBody
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.connectif.session import Backoff, make_session
from voucherbot.errors import (
    ApiError,
    BadResponseError,
    NetworkError,
    RateLimitedError,
    redact,
    redact_body,
)
from voucherbot.text import clean

log = logging.getLogger("voucherbot.connectif")  # its name in logs since before the subpackages

#: (connect, read) seconds
DEFAULT_TIMEOUT = (10.0, 60.0)


class Transport:
    """Requests to one API origin with one key; the key goes to that origin only."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        base_url_source: str,
        timeout: float | tuple[float, float],
        budget: RateBudget,
        deadline: float,
        max_response_bytes: int,
        retries: int,
        max_429_retries: int,
        backoff: float,
        max_backoff: float,
        session: requests.Session | None,
        sleep: Callable[[float], None],
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._origin = same_origin_key(base_url)
        #: where the base URL came from, for the messages that say to check it
        self.base_url_source = base_url_source
        #: where the API key came from, named when it is refused
        self.key_source = "CONNECTIF_API_KEY"
        self.timeout = timeout
        #: seconds a whole request may take, the answer's body included
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.budget = budget
        self.retries = retries
        self.max_429_retries = max_429_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._backoff = Backoff(backoff, max_backoff)
        self.session = make_session(session)
        self.session.headers["Accept"] = "application/json"
        self._auth = {"Authorization": f"apiKey {api_key}"}
        self._key = api_key
        #: requests sent, by kind (list, get, import, poll, error-report), and 429s met
        self.stats: Counter[str] = Counter()
        self._server_time: tuple[datetime, float] | None = None

    def close(self) -> None:
        self.session.close()

    def now(self) -> datetime:
        """The server's time: its last ``Date`` header plus the time since, else ours (UTC).

        Readings are dated by the server, so a skewed local clock (or the sandbox's movable
        clock) cannot distort cooldowns or forecasts.
        """
        if self._server_time is None:
            return datetime.now(UTC)
        when, seen = self._server_time
        return when + timedelta(seconds=time.monotonic() - seen)

    def _note_server_time(self, value: str | None) -> None:
        # one HTTP date has exactly one comma ("Fri, 27 Nov 2026 ..."); several Date headers
        # folded into one value are ambiguous, so they are ignored
        if not value or value.count(",") != 1:
            return
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self._server_time = (when.astimezone(UTC), time.monotonic())

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            return response.json()
        except RecursionError:
            raise BadResponseError(
                f"the server answered {what} with JSON nested too deeply to read",
                status=response.status_code,
            ) from None
        except ValueError:
            ctype = response.headers.get("Content-Type", "no content type")
            raise BadResponseError(
                f"the server answered {what} with a body that is not JSON ({ctype}); "
                f"check that {self.base_url_source} points at the Connectif API",
                status=response.status_code,
            ) from None

    def _url(self, url: str, what: str = "a link the server gave") -> tuple[str, bool]:
        """The full URL of a path (under the base URL) or of a URL the server gave (``what``
        names it when it is not a URL at all), and whether it is the base URL's origin (the
        only one the key goes to)."""
        try:
            parts = urlsplit(url)
        except ValueError:  # an unclosed IPv6 bracket, say
            raise BadResponseError(f"{what} is not a URL ({clean(url[:80])!r})") from None
        if parts.scheme:
            full = url
        elif parts.netloc:  # "//host/path": the base URL's scheme, that host
            full = f"{urlsplit(self.base_url).scheme}:{url}"
        else:
            full = urljoin(self.base_url + "/", url.lstrip("/"))
        return full, same_origin_key(full) == self._origin

    # One loop, one branch per kind of answer: the whole retry policy of GETs, read at once.
    def _send(
        self,
        method: str,
        url: str,
        kind: str,
        *,
        body: MultipartBody | None = None,
        once: bool = False,
    ) -> requests.Response:
        """One request through the budget, with the retries of idempotent calls; ``once``
        sends it a single time (a 429 pauses the budget, then raises RateLimitedError)."""
        full, same_origin = self._url(url)
        what = f"{method} {path_of(full)}"
        headers = dict(self._auth) if same_origin else {}
        if body is not None:
            headers["Content-Type"] = body.content_type
        attempts = 0
        limited = 0
        while True:
            self.budget.acquire()
            self.stats[kind] += 1
            try:
                response = self._request(method, full, what, headers, body, same_origin)
            except NetworkError as error:
                # a server too slow for the deadline is not asked again (each try would
                # take the whole deadline)
                if not once and attempts < self.retries and not error.over_deadline:
                    attempts += 1
                    log.info("%s; retrying (%d/%d)", error, attempts, self.retries)
                    self._sleep(self.backoff_delay(attempts))
                    continue
                raise
            self.budget.observe(response.headers)
            self._note_server_time(response.headers.get("Date"))
            status = response.status_code
            if status == 429 and (once or limited < self.max_429_retries):
                limited += 1
                self.stats["429"] += 1
                wait = self._wait_for_429(response, limited)
                log.info("%s: rate limited (429); waiting %.1f s", what, wait)
                if once:
                    raise RateLimitedError(
                        f"{what}: rate limited (429); pausing {wait:.1f} s", status=429
                    )
                continue
            if status >= 500 and not once and attempts < self.retries:
                attempts += 1
                log.info(
                    "%s: server error %d; retrying (%d/%d)", what, status, attempts, self.retries
                )
                self._sleep(self.backoff_delay(attempts))
                continue
            if 300 <= status < 400:
                where = clean(redact(response.headers.get("Location", "elsewhere"), self._key))
                raise ApiError(
                    f"{what}: the server redirected to {where}; check {self.base_url_source}",
                    status=status,
                )
            if status >= 400:
                raise api_error(response, what, kind_of(full, method), self.key_source)
            return response

    def _request(
        self,
        method: str,
        url: str,
        what: str,
        headers: dict[str, str],
        body: MultipartBody | None,
        same_origin: bool,
    ) -> requests.Response:
        """Send once and read the whole answer within the deadline and the size cap; the
        body is read with every secret already taken out, so no server text that echoes
        the key can carry it further.

        A request without a body (every GET) runs in a worker thread that is given up at the
        deadline, so a server that trickles even its headers cannot hold a run. The upload
        stays in this thread (its progress is written to the ledger, which is this thread's);
        its answer's body is still cut off at the deadline."""
        if body is not None:
            return self._exchange(method, url, what, headers, body, same_origin)
        done: dict[str, Any] = {}

        def work() -> None:
            try:
                done["response"] = self._exchange(method, url, what, headers, None, same_origin)
            except BaseException as exc:  # handed to the caller's thread
                done["error"] = exc

        worker = threading.Thread(target=work, name="voucherbot-request", daemon=True)
        started = time.monotonic()
        worker.start()
        # short sleeps rather than join(timeout): a timed join can miss its time when the
        # clock is moved (libfaketime), and a short answer is back within a few milliseconds
        pause = 0.001
        while worker.is_alive():
            if time.monotonic() - started >= self.deadline:
                # left behind: a daemon thread; its socket times out on its own
                raise self._too_slow(what)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        if "error" in done:
            raise done["error"]
        response: requests.Response = done["response"]
        return response

    def _exchange(
        self,
        method: str,
        url: str,
        what: str,
        headers: dict[str, str],
        body: MultipartBody | None,
        same_origin: bool,
    ) -> requests.Response:
        started = time.monotonic()
        try:
            if body is not None:
                with body:
                    response = self.session.request(
                        method,
                        url,
                        data=body,
                        headers=headers,
                        timeout=self.timeout,
                        allow_redirects=False,
                        stream=True,
                    )
            else:
                response = self.session.request(
                    method,
                    url,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=not same_origin,
                    stream=True,
                )
        except requests.RequestException as exc:
            raise network_error(exc, what, self.timeout, url, self.base_url_source) from None
        try:
            content = self._read_body(response, what, started)
        finally:
            response.close()
        response._content = redact_body(content, self._key)
        response.headers = CaseInsensitiveDict(
            {name: redact(value, self._key) for name, value in response.headers.items()}
        )
        return response

    def _read_body(self, response: requests.Response, what: str, started: float) -> bytes:
        cap = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap:
            raise BadResponseError(
                f"{what}: {_too_big(int(declared), cap)}", status=response.status_code
            )
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                # read1: whatever has arrived (a trickle cannot hold one read for long)
                chunk = response.raw.read1(64 * 1024, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise BadResponseError(
                        f"{what}: {_too_big(size, cap)}", status=response.status_code
                    )
                if time.monotonic() - started > self.deadline:
                    raise self._too_slow(what)
                chunks.append(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise NetworkError(
                f"{what}: the connection broke while the answer was read ({type(exc).__name__})",
                sent=True,
            ) from None
        return b"".join(chunks)

    def _too_slow(self, what: str) -> NetworkError:
        error = NetworkError(
            f"{what}: the server did not finish its answer within "
            f"{self.deadline:g} s ([connectif] request_deadline)",
            sent=True,
        )
        error.over_deadline = True
        return error

    def backoff_delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (doubling, jittered, capped)."""
        return self._backoff.delay(attempt)

    def _wait_for_429(self, response: requests.Response, attempt: int) -> float:
        """Pause the budget as a 429 asks (Reset, else Retry-After, else backoff); give the wait."""
        headers = response.headers
        jitter = self._backoff.spread()
        reset = headers.get("X-RateLimit-Reset")
        retry_after = headers.get("Retry-After")
        wait: float | None = None
        now = self.budget.wall()
        if reset and reset.strip().isdigit() and len(reset.strip()) < 16:
            wait = max(0.0, int(reset) - now)
        elif retry_after:
            wait = _retry_after_seconds(retry_after, now)
        if wait is None:
            wait = self.backoff_delay(attempt)
        if wait > self.budget.max_wait:  # hours away (or a clock far off): not worth waiting
            raise RateLimitedError(
                f"{path_of(response.url or '')}: rate limited (429), and the server asks to "
                f"wait {wait:,.0f} s, more than {self.budget.max_wait:g} s; run later",
                status=429,
            )
        wait = min(wait + jitter, self.budget.max_wait)
        self.budget.pause_for(wait)
        return wait


def _too_big(size: int, cap: int) -> str:
    return (
        f"the answer is over {cap / 1024 / 1024:g} MB ({size:,} bytes read); stopped "
        "reading it ([connectif] max_response_mb)"
    )


def path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def _retry_after_seconds(value: str, now: float) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)
