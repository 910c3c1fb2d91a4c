"""Sending an import exactly once: the import POST's one retry policy, and finding out what an
ambiguous answer did before anything is sent again.

:func:`post_batch` sends one batch's CSV at most :attr:`ImportPolicy.attempts` times (3 by
default, 429s and refused connections included), and only when it is certain that no import
was created yet:

* a refused connection, or one that broke before the upload began: nothing reached the
  server; the batch is sent again after a short backoff;
* a 429: refused, nothing created; sent again once the request budget has waited as the
  server asked;
* an answer that may mean "created" (a 5xx, a 2xx without a usable import, a connection that
  broke after the upload began, a read timeout) is *ambiguous*: :func:`look` searches
  ``GET /imports/`` first. The import found is adopted; a batch is sent again only when the
  search shows that no import was created; anything else leaves it *unresolved*;
* every other answer (E0401 queue full, 4xx, 401/403) is raised to the caller: it says that
  nothing was created.

:func:`look` adopts only what is provably the batch's own (:func:`match`): an import into the
same coupon set, created after the batch was marked ``submitting`` (less ``clock_skew``, for
the server's clocks), not known to the ledger, not made in Connectif's app, with exactly the
batch's row count. When the list cannot be read back to that moment, when more than one import
qualifies, or when one might but lacks its row count or creation time, the verdict is
*unresolved*: the set is held and a person settles it (``voucherbot resolve``). When nothing
qualifies and the upload began less than ``lookup_delay`` ago, it looks once more after
waiting, in case Connectif lists a new import a moment late.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from voucherbot.errors import (
    ApiError,
    ConfigError,
    ImportUnconfirmedError,
    NetworkError,
    RateLimitedError,
)

if TYPE_CHECKING:  # the settings are read by `config check`, which must not load requests
    from voucherbot.connectif import ConnectifClient
    from voucherbot.ledger import Batch
    from voucherbot.models import Import

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportPolicy:
    """How imports are sent and confirmed (``[connectif]`` keys of the same names)."""

    #: POSTs of one batch at most (the first included); E0401 answers are not counted
    post_attempts: int = 3
    #: how long after the upload began an import must be listed before it counts as absent
    lookup_delay: float = 10.0
    #: how much earlier than voucherbot's mark the server may date the batch's import
    clock_skew: float = 10.0
    #: pages of GET /imports/ read, at most, to find a batch's import
    lookup_pages: int = 5
    #: how long Connectif's set counters may trail an import (its docs: "up to ~10 s")
    counter_lag: float = 15.0

    def __post_init__(self) -> None:
        if not 1 <= self.post_attempts <= 10:
            raise ConfigError("'post_attempts' must be between 1 and 10")
        if not 1 <= self.lookup_pages <= 1000:
            raise ConfigError("'lookup_pages' must be between 1 and 1000")
        for name in ("lookup_delay", "clock_skew", "counter_lag"):
            if not 0 <= getattr(self, name) <= 3600:
                raise ConfigError(f"'{name}' must be between 0 and 3600 seconds")


class Verdict(StrEnum):
    ADOPT = "adopt"  #: exactly one import is provably the batch's own
    ABSENT = "absent"  #: provably no import was created for the batch
    UNRESOLVED = "unresolved"  #: it cannot be shown either way: a person must decide


@dataclass(frozen=True)
class Finding:
    """What GET /imports/ says about a batch's import."""

    verdict: Verdict
    imp: Import | None = None
    why: str = ""


def match(batch: Batch, imports: Iterable[Import], known: set[str], since: datetime, *,
          complete: bool) -> Finding:
    """Which of ``imports`` (read back to ``since``; ``complete`` when nothing older than
    ``since`` can be missing) is the batch's own import. PURE."""
    ours: list[Import] = []
    doubtful: list[Import] = []
    for imp in imports:
        if imp.id in known or imp.origin == "app" or imp.type not in (None, "coupons"):
            continue
        if imp.coupon_set_id not in (None, batch.coupon_set_id):
            continue
        if imp.created_at is not None and imp.created_at < since:
            continue
        if imp.coupon_set_id is None or imp.created_at is None or imp.total is None:
            doubtful.append(imp)  # it might be ours: the server does not say enough
        elif imp.total == batch.count:
            ours.append(imp)
        else:
            log.warning("import %s into coupon set %s (%d rows) is not batch %d's (%d rows): "
                        "another tool imports into this set", imp.id, batch.coupon_set_id,
                        imp.total, batch.id, batch.count)
    if len(ours) == 1 and not doubtful:
        return Finding(Verdict.ADOPT, ours[0])
    if ours or doubtful:
        listed = ", ".join(i.id for i in [*ours, *doubtful])
        return Finding(Verdict.UNRESOLVED, why=(
            f"more than one import could be batch {batch.id}'s ({listed})" if len(ours) > 1
            else f"import(s) {listed} could be batch {batch.id}'s but do not show their coupon "
                 "set, row count and creation time"))
    if not complete:
        return Finding(Verdict.UNRESOLVED, why=(
            f"GET /imports/ could not be read back to {since:%Y-%m-%d %H:%M:%S} UTC, so it "
            f"cannot show whether batch {batch.id}'s import exists"))
    return Finding(Verdict.ABSENT)


def read_back(client: ConnectifClient, since: datetime, pages: int) -> tuple[list[Import], bool]:
    """Imports from ``GET /imports/``, page by page, until nothing created before ``since``
    can be missing (the list ended, or it is newest first and reached ``since``) or ``pages``
    pages were read; returns them and whether the read is complete."""
    seen: list[Import] = []
    url: str | None = None
    for _ in range(pages):
        page, url = client.imports_page(url)
        seen += page
        if url is None:
            return seen, True
        dates = [imp.created_at for imp in seen if imp.created_at is not None]
        newest_first = len(dates) == len(seen) and dates == sorted(dates, reverse=True)
        if newest_first and dates[-1] < since:
            return seen, True
    return seen, False


def look(client: ConnectifClient, batch: Batch, known: set[str], policy: ImportPolicy,
         sleep: Callable[[float], None]) -> Finding:
    """Search GET /imports/ for the import of a batch whose POST may have created one."""
    if batch.submitted_at is None:
        return Finding(Verdict.UNRESOLVED, why=f"batch {batch.id} has no record of when it was "
                                               "sent")
    since = batch.submitted_at - timedelta(seconds=policy.clock_skew)

    def search() -> Finding:
        imports, complete = read_back(client, since, policy.lookup_pages)
        return match(batch, imports, known, since, complete=complete)

    found = search()
    if found.verdict is Verdict.ABSENT and batch.posted_at is not None:
        age = (client.now() - batch.posted_at).total_seconds()
        if age < policy.lookup_delay:
            sleep(policy.lookup_delay - age)
            found = search()
    return found


class LookupFailed(Exception):
    """GET /imports/ failed while looking for the import an ambiguous answer may have made:
    nobody knows yet whether it exists (the next run looks again)."""

    def __init__(self, answer: ImportUnconfirmedError, cause: ApiError) -> None:
        super().__init__(f"{answer}, and GET /imports/ failed: {cause}")
        self.answer = answer
        self.cause = cause


@dataclass(frozen=True)
class Posted:
    """How the POSTs of one batch ended: its import (answered or adopted), or why not."""

    imp: Import | None = None
    adopted: bool = False
    #: why a person must settle the batch (it may or may not have an import)
    unresolved: str | None = None
    #: why it failed; provably no import was created
    failed: str | None = None
    attempts: int = 0


def post_batch(send: Callable[[], Import], find: Callable[[], Finding], policy: ImportPolicy,
               *, backoff: Callable[[int], float], sleep: Callable[[float], None],
               label: str) -> Posted:
    """Send a batch by calling ``send()`` under the rules of the module doc; ``find()``
    looks for its import after an ambiguous answer (:class:`LookupFailed` when that fails).
    Other API errors are raised: they say that nothing was created."""
    reason = ""
    for attempt in range(1, policy.post_attempts + 1):
        try:
            return Posted(imp=send(), attempts=attempt)
        except ImportUnconfirmedError as exc:
            log.warning("%s: %s; looking for the import before anything else", label, exc)
            try:
                found = find()
            except ApiError as failure:
                raise LookupFailed(exc, failure) from None
            if found.verdict is Verdict.ADOPT:
                assert found.imp is not None
                log.warning("%s: adopted import %s (%s), created by that POST", label,
                            found.imp.id, found.imp.status)
                return Posted(imp=found.imp, adopted=True, attempts=attempt)
            if found.verdict is Verdict.UNRESOLVED:
                return Posted(unresolved=f"{exc}, and {found.why}", attempts=attempt)
            reason = f"{exc}; GET /imports/ shows that none was"
            if attempt < policy.post_attempts:
                log.warning("%s: GET /imports/ shows that no import was created; sending the "
                            "same codes again (attempt %d of %d)", label, attempt + 1,
                            policy.post_attempts)
                continue
        except NetworkError as exc:  # the upload never began: nothing reached the server
            reason = str(exc)
            if attempt < policy.post_attempts:
                sleep(backoff(attempt))
        except RateLimitedError as exc:  # the request budget waits as the server asked
            reason = str(exc)
        if attempt < policy.post_attempts:
            log.info("%s: %s; sending it again (attempt %d of %d)", label, reason, attempt + 1,
                     policy.post_attempts)
    return Posted(failed=f"{reason} (gave up after {policy.post_attempts} attempts; no import "
                         "was created)", attempts=policy.post_attempts)
