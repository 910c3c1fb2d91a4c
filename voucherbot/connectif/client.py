"""ConnectifClient: the one way voucherbot talks to the Connectif API.

One ``requests.Session`` carries the ``Authorization: apiKey <key>`` header and a versioned
User-Agent; every request has a timeout, spends from the
:class:`~voucherbot.connectif.ratelimit.RateBudget` and has its failures translated into
:mod:`voucherbot.errors` exceptions whose messages say what to do. GETs are retried on
connection failures and 5xx answers with bounded, jittered backoff, and wait out 429s. The
import POST is sent exactly once per call: its one retry policy lives in
:mod:`voucherbot.refill.posting`, and an answer that may mean "created" (a 5xx, a 2xx without a
usable import, a connection broken after the upload began) is raised as
:class:`~voucherbot.errors.ImportUnconfirmedError`.

The API key never appears in a message, a log line or ``repr(client)``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from voucherbot.config.tables import base_url_problem, origin, same_origin_key
from voucherbot.connectif.errors import api_error, kind_of, network_error
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.connectif.multipart import MultipartBody
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.connectif.session import Backoff, make_session
from voucherbot.errors import (
    ApiError,
    BadResponseError,
    ConfigError,
    ImportUnconfirmedError,
    InvalidItemError,
    NetworkError,
    PayloadTooLargeError,
    RateLimitedError,
    ServerError,
    hide,
    redact,
    redact_bytes,
)
from voucherbot.text import clean

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.connectif.cloud"
#: (connect, read) seconds
DEFAULT_TIMEOUT = (10.0, 60.0)
#: the Connectif import file limit (413 above it)
MAX_IMPORT_BYTES = 50 * 1024 * 1024

T = TypeVar("T")


class ConnectifClient:
    """A client for the parts of the Connectif API that voucherbot uses."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        requests_per_minute: int = 100,
        budget: RateBudget | None = None,
        max_pages: int = 1000,
        deadline: float = 300.0,
        max_response_bytes: int = 64 * 1024 * 1024,
        workflow_status_field: str = "status",
        base_url_source: str = "CONNECTIF_BASE_URL",
        retries: int = 3,
        max_429_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigError("no Connectif API key: set CONNECTIF_API_KEY (keyId:keySecret)")
        if any(c.isspace() for c in api_key) or not api_key.isprintable() or not api_key.isascii():
            raise ConfigError(
                "the Connectif API key contains spaces or invisible characters; copy it again "
                "with Connectif's 'Copy Key Id and Key Secret' button"
            )
        problem = base_url_problem(base_url)
        if problem:  # named by where it came from: the environment, or rules.toml
            raise ConfigError(f"{base_url_source} {problem}")
        hide(api_key)
        self.base_url = base_url.rstrip("/")
        self._origin = same_origin_key(base_url)
        self.timeout = timeout
        #: seconds a whole request may take, the answer's body included
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.workflow_status_field = workflow_status_field
        #: where the base URL came from, for the messages that say to check it
        self.base_url_source = base_url_source
        #: why items of a list were skipped (a set or import the server described badly);
        #: the plan carries them, and commands without a plan print them
        self.warnings: list[str] = []
        sleep = sleep or time.sleep
        self.budget = budget or RateBudget(requests_per_minute, sleep=sleep)
        self.max_pages = max_pages
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> ConnectifClient:
        """Build a client from ``CONNECTIF_API_KEY`` and ``CONNECTIF_BASE_URL``."""
        env = os.environ if env is None else env
        return cls(
            env.get("CONNECTIF_API_KEY", ""),
            env.get("CONNECTIF_BASE_URL") or DEFAULT_BASE_URL,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"ConnectifClient(base_url={self.base_url!r}, api_key=<hidden>)"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ConnectifClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    # --- resources ---------------------------------------------------------------------------

    def iter_coupon_sets(self) -> Iterator[CouponSet]:
        return self._paginate("/coupon-sets/", CouponSet.from_json)

    def list_coupon_sets(self) -> list[CouponSet]:
        return list(self.iter_coupon_sets())

    def get_coupon_set(self, set_id: str) -> CouponSet:
        return self._get_one(f"/coupon-sets/{_segment(set_id)}", CouponSet.from_json, "get")

    def iter_workflows(self) -> Iterator[Workflow]:
        return self._paginate("/workflows/", self._workflow)

    def _workflow(self, raw: Any) -> Workflow:
        return Workflow.from_json(raw, status_field=self.workflow_status_field)

    def list_workflows(self) -> list[Workflow]:
        return list(self.iter_workflows())

    def get_workflow(self, workflow_id: str) -> Workflow:
        return self._get_one(f"/workflows/{_segment(workflow_id)}", self._workflow, "get")

    def iter_imports(self, *, max_pages: int | None = None) -> Iterator[Import]:
        """Imports as the server lists them (the sandbox: newest first)."""
        return self._paginate("/imports/", Import.from_json, max_pages=max_pages)

    def imports_page(self, url: str | None = None) -> tuple[list[Import], str | None]:
        """One page of ``GET /imports/`` (the first, or the one ``url`` names) and the URL of
        the next page, if any. Counted as polling: it is how imports in flight are followed."""
        doc = self._get_json(url or "/imports/", "poll")
        where = f"GET {_path_of(url or '/imports/')}"
        if not isinstance(doc, Mapping) or not isinstance(doc.get("results"), list):
            raise BadResponseError(f"the server answered {where} without a 'results' list")
        items = list(self._items(doc["results"], Import.from_json, where))
        return items, self._next_page(doc, url or "/imports/")

    def list_imports(self, *, max_pages: int | None = None) -> list[Import]:
        return list(self.iter_imports(max_pages=max_pages))

    def get_import(self, import_id: str, *, kind: str = "get") -> Import:
        imp = self._get_one(f"/imports/{_segment(import_id)}", Import.from_json, kind)
        if imp.id != import_id:
            raise BadResponseError(
                f"GET /imports/{import_id}: the server answered with import {imp.id!r}, not "
                "the one asked for"
            )
        return imp

    def create_coupon_import(
        self,
        coupon_set_id: str,
        csv_path: Path,
        *,
        delimiter: str = ",",
        override_existing: bool = False,
        update_only_empty_fields: bool = False,
        filename: str | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> Import:
        """Upload a coupon CSV (header ``code``) into a coupon set: ``POST /imports/``, once.

        The file is streamed from disk; ``on_sent`` is called just before its first byte goes
        out. Nothing is retried here. A refused connection (or one that broke before the upload
        began) is a ``NetworkError`` with ``sent=False``; a 429 is a ``RateLimitedError``
        after the budget has been paused as the server asked; an answer that may mean the
        import was created is an :class:`ImportUnconfirmedError`.
        """
        if delimiter not in (",", ";"):
            raise ConfigError(f"the CSV delimiter must be ',' or ';', not {delimiter!r}")
        if update_only_empty_fields and not override_existing:
            raise ConfigError(
                "updateOnlyEmptyFields may only be true when overrideExisting is true"
            )
        size = os.path.getsize(csv_path)
        if size > MAX_IMPORT_BYTES:
            raise PayloadTooLargeError(
                f"the import file is {size:,} bytes, over Connectif's 50 MB limit; "
                "split the refill into smaller imports",
                status=413,
            )
        fields = {
            "type": "coupons",
            "couponSetId": coupon_set_id,
            "delimiter": delimiter,
            "overrideExisting": _flag(override_existing),
            "updateOnlyEmptyFields": _flag(update_only_empty_fields),
        }
        body = MultipartBody(
            fields,
            "file",
            Path(csv_path),
            filename=filename or Path(csv_path).name,
            content_type="text/csv",
            on_first_read=on_sent,
        )
        maybe = "; the import may or may not have been created"
        try:
            response = self._send("POST", "/imports/", "import", body=body, once=True)
        except NetworkError as exc:
            if exc.sent and body.started:
                raise ImportUnconfirmedError(f"{exc}{maybe}") from None
            raise NetworkError(str(exc), sent=False) from None
        except ServerError as exc:
            raise ImportUnconfirmedError(f"{exc}{maybe}", status=exc.status) from None
        try:
            return _parsed(
                Import.from_json, self._json(response, "POST /imports/"), "POST /imports/"
            )
        except BadResponseError as exc:
            raise ImportUnconfirmedError(f"{exc}{maybe}", status=exc.status) from None

    def download(self, url: str, *, kind: str = "error-report") -> bytes:
        """GET a file the API pointed to (an error report).

        The API key is only sent to the API's own origin, never to a storage host.
        """
        return self._send("GET", url, kind).content

    # --- plumbing ----------------------------------------------------------------------------

    def _paginate(
        self, path: str, parse: Callable[[Any], T], *, max_pages: int | None = None
    ) -> Iterator[T]:
        url: str | None = path
        seen: set[str] = set()
        pages = 0
        limit = self.max_pages if max_pages is None else max_pages
        while url:
            doc = self._get_json(url, "list")
            pages += 1
            where = f"GET {_path_of(url)}"
            if not isinstance(doc, Mapping) or not isinstance(doc.get("results"), list):
                raise BadResponseError(f"the server answered {where} without a 'results' list")
            yield from self._items(doc["results"], parse, where)
            nxt = self._next_page(doc, url)
            if nxt is None:
                return
            if pages >= limit:
                if max_pages is not None:
                    return
                raise BadResponseError(
                    f"GET {path} still had a next page after {pages:,} pages; stopping. If the "
                    "account really has that many, raise [connectif] max_pages in rules.toml"
                )
            if nxt in seen:
                raise BadResponseError(f"GET {path} pagination loops: links.next repeats a page")
            seen.add(nxt)
            url = nxt

    def _items(self, results: list[Any], parse: Callable[[Any], T], where: str) -> Iterator[T]:
        """The parsed items of a page; one the server described badly (a counter that is not
        a count, an id that is not an id) is skipped with a warning naming the field."""
        for item in results:
            try:
                yield _parsed(parse, item, where)
            except InvalidItemError as exc:  # said once, by whoever shows the warnings
                message = f"{exc}; skipped"
                log.info("%s", message)
                self.warnings.append(message)

    def _next_page(self, doc: Mapping[str, Any], url: str) -> str | None:
        """``links.next`` of a page as a full URL, or None on the last page. A next page on
        another server (or the same one written with another scheme) is refused: the key only
        goes to the base URL's origin, and the page would be read without it."""
        links = doc.get("links")
        nxt = links.get("next") if isinstance(links, Mapping) else None
        if not isinstance(nxt, str) or not nxt:
            return None
        full = self._url(nxt, f"GET {_path_of(url)}: links.next")[0]
        if same_origin_key(full) != self._origin:
            raise BadResponseError(
                f"GET {_path_of(url)}: links.next points to another server ({origin(full)}), "
                f"not {origin(self.base_url)}; voucherbot sends the API key only to the base "
                f"URL's server, so it stops here. Check {self.base_url_source}"
            )
        return full

    def _get_one(self, path: str, parse: Callable[[Any], T], kind: str) -> T:
        return _parsed(parse, self._get_json(path, kind), f"GET {path}")

    def _get_json(self, url: str, kind: str) -> Any:
        response = self._send("GET", url, kind)
        return self._json(response, f"GET {_path_of(url)}")

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
        what = f"{method} {_path_of(full)}"
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
                raise api_error(response, what, kind_of(full, method))
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
        response._content = _without_secrets(content, self._key)
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
                f"{_path_of(response.url or '')}: rate limited (429), and the server asks to "
                f"wait {wait:,.0f} s, more than {self.budget.max_wait:g} s; run later",
                status=429,
            )
        wait = min(wait + jitter, self.budget.max_wait)
        self.budget.pause_for(wait)
        return wait


def _parsed(parse: Callable[[Any], T], doc: Any, what: str) -> T:
    """``parse(doc)``, with the request named in a BadResponseError."""
    try:
        return parse(doc)
    except BadResponseError as exc:
        raise type(exc)(f"{what}: {exc}", status=exc.status) from None


def _without_secrets(content: bytes, key: str) -> bytes:
    """The body with every secret taken out; in JSON with escapes (a key written with
    ``\\u002d`` for ``-`` shows itself only once decoded) the strings are cleared one by one."""
    content = redact_bytes(content, key)
    if b"\\u" not in content:
        return content
    try:
        doc = json.loads(content)
    except (ValueError, RecursionError):
        return content
    return json.dumps(_redacted(doc, key), ensure_ascii=False).encode()


def _redacted(doc: Any, key: str) -> Any:
    """``doc`` with :func:`~voucherbot.errors.redact` applied to every string in it."""
    if isinstance(doc, str):
        return redact(doc, key)
    if isinstance(doc, list):
        return [_redacted(item, key) for item in doc]
    if isinstance(doc, dict):
        return {redact(str(k), key): _redacted(v, key) for k, v in doc.items()}
    return doc


def _too_big(size: int, cap: int) -> str:
    return (
        f"the answer is over {cap / 1024 / 1024:g} MB ({size:,} bytes read); stopped "
        "reading it ([connectif] max_response_mb)"
    )


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _segment(value: str) -> str:
    """An id as one URL path segment; ids are opaque, so refuse anything that would escape it."""
    if not value or any(c in value for c in "/?#%") or value in (".", ".."):
        raise ConfigError(f"{value!r} is not a valid Connectif id")
    return value


def _path_of(url: str) -> str:
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
