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

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests

from voucherbot.config.tables import base_url_problem, origin, same_origin_key
from voucherbot.connectif.models import CouponSet, Import, Workflow
from voucherbot.connectif.multipart import MultipartBody
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.connectif.transport import DEFAULT_TIMEOUT, Transport, path_of
from voucherbot.errors import (
    BadResponseError,
    ConfigError,
    ImportUnconfirmedError,
    InvalidItemError,
    NetworkError,
    PayloadTooLargeError,
    ServerError,
    hide,
)

log = logging.getLogger("voucherbot.connectif")  # its name in logs since before the subpackages

DEFAULT_BASE_URL = "https://api.connectif.cloud"
#: the Connectif import file limit (413 above it)
MAX_IMPORT_BYTES = 50 * 1024 * 1024

T = TypeVar("T")


class ConnectifClient(Transport):
    """A client for the parts of the Connectif API that voucherbot uses (the requests
    themselves: :class:`~voucherbot.connectif.transport.Transport`)."""

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
        key_source: str = "CONNECTIF_API_KEY",
        retries: int = 3,
        max_429_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigError(f"no Connectif API key: set {key_source} (keyId:keySecret)")
        if any(c.isspace() for c in api_key) or not api_key.isprintable() or not api_key.isascii():
            raise ConfigError(
                "the Connectif API key contains spaces or invisible characters; copy it again "
                "with Connectif's 'Copy Key Id and Key Secret' button"
            )
        problem = base_url_problem(base_url)
        if problem:  # named by where it came from: the environment, or rules.toml
            raise ConfigError(f"{base_url_source} {problem}")
        hide(api_key)
        sleep = sleep or time.sleep
        super().__init__(
            api_key,
            base_url,
            base_url_source=base_url_source,
            timeout=timeout,
            budget=budget or RateBudget(requests_per_minute, sleep=sleep),
            deadline=deadline,
            max_response_bytes=max_response_bytes,
            retries=retries,
            max_429_retries=max_429_retries,
            backoff=backoff,
            max_backoff=max_backoff,
            session=session,
            sleep=sleep,
        )
        self.workflow_status_field = workflow_status_field
        self.key_source = key_source
        #: why items of a list were skipped (a set or import the server described badly);
        #: the plan carries them, and commands without a plan print them
        self.warnings: list[str] = []
        self.max_pages = max_pages

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

    def __enter__(self) -> ConnectifClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        where = f"GET {path_of(url or '/imports/')}"
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
        fields = _import_fields(
            coupon_set_id, csv_path, delimiter, override_existing, update_only_empty_fields
        )
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
            where = f"GET {path_of(url)}"
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
        full = self._url(nxt, f"GET {path_of(url)}: links.next")[0]
        if same_origin_key(full) != self._origin:
            raise BadResponseError(
                f"GET {path_of(url)}: links.next points to another server ({origin(full)}), "
                f"not {origin(self.base_url)}; voucherbot sends the API key only to the base "
                f"URL's server, so it stops here. Check {self.base_url_source}"
            )
        return full

    def _get_one(self, path: str, parse: Callable[[Any], T], kind: str) -> T:
        return _parsed(parse, self._get_json(path, kind), f"GET {path}")

    def _get_json(self, url: str, kind: str) -> Any:
        response = self._send("GET", url, kind)
        return self._json(response, f"GET {path_of(url)}")


def _parsed(parse: Callable[[Any], T], doc: Any, what: str) -> T:
    """``parse(doc)``, with the request named in a BadResponseError."""
    try:
        return parse(doc)
    except BadResponseError as exc:
        raise type(exc)(f"{what}: {exc}", status=exc.status) from None


def _import_fields(
    coupon_set_id: str,
    csv_path: Path,
    delimiter: str,
    override_existing: bool,
    update_only_empty_fields: bool,
) -> dict[str, str]:
    """The form fields of a coupon import, once its options and file size are known good."""
    if delimiter not in (",", ";"):
        raise ConfigError(f"the CSV delimiter must be ',' or ';', not {delimiter!r}")
    if update_only_empty_fields and not override_existing:
        raise ConfigError("updateOnlyEmptyFields may only be true when overrideExisting is true")
    size = os.path.getsize(csv_path)
    if size > MAX_IMPORT_BYTES:
        raise PayloadTooLargeError(
            f"the import file is {size:,} bytes, over Connectif's 50 MB limit; "
            "split the refill into smaller imports",
            status=413,
        )
    return {
        "type": "coupons",
        "couponSetId": coupon_set_id,
        "delimiter": delimiter,
        "overrideExisting": _flag(override_existing),
        "updateOnlyEmptyFields": _flag(update_only_empty_fields),
    }


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _segment(value: str) -> str:
    """An id as one URL path segment; ids are opaque, so refuse anything that would escape it."""
    if not value or any(c in value for c in "/?#%") or value in (".", ".."):
        raise ConfigError(f"{value!r} is not a valid Connectif id")
    return value
