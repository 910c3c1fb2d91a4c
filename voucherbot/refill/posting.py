"""Sending an import exactly once: the import POST's one retry policy, and finding out what an
ambiguous answer did before anything is sent again.

:func:`post_batch` sends one batch's CSV at most :attr:`ImportPolicy.post_attempts` times (3
by default, 429s and refused connections included), and only when it is certain that no import
was created yet:

* a refused connection, or one that broke before the upload began: nothing reached the
  server; the batch is sent again after a short backoff;
* a 429: refused, nothing created; sent again once the request budget has waited as the
  server asked;
* an E0401 (ten imports queued): refused, nothing created; the caller holds the batch until
  there is room (not counted);
* an answer that may mean "created" (a 5xx, a 2xx without a usable import, a connection that
  broke after the upload began, a read timeout) is *ambiguous*: :func:`look` searches
  ``GET /imports/`` first. The import found is adopted; a batch is sent again only when the
  search shows that no import was created; anything else leaves it *unresolved*;
* every other answer (4xx, 401/403) is raised to the caller: it says that nothing was created.

:func:`look` waits until the ambiguous answer is ``lookup_delay`` old (Connectif may list a
new import a moment late), then reads the list and adopts only what is provably the batch's
own (:func:`match`): an import into the same coupon set, created after the batch was marked
``submitting`` (less ``clock_skew``, for the server's clocks), not known to the ledger, not
made in Connectif's app, with exactly the batch's row count, in a list read far enough to hold
every import created since (:func:`read_back`). When the list cannot be read that far, when
more than one import qualifies (or another open batch of the set could own it), or when one
might but lacks its row count or creation time, the verdict is *unresolved*: the set is held
and a person settles it (``voucherbot resolve``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from voucherbot.config.settings import ImportPolicy
from voucherbot.errors import (
    ApiError,
    ImportQueueFullError,
    ImportUnconfirmedError,
    NetworkError,
    RateLimitedError,
)

if TYPE_CHECKING:  # the settings are read by `config check`, which must not load requests
    from voucherbot.connectif.client import ConnectifClient
    from voucherbot.connectif.models import Import
    from voucherbot.ledger import Batch
    from voucherbot.ledger.pending import KeptCodes

log = logging.getLogger("voucherbot.posting")  # its name in logs since before the subpackages


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


def match(
    batch: Batch,
    imports: Iterable[Import],
    known: set[str],
    since: datetime,
    *,
    complete: bool,
    rivals: Sequence[int] = (),
) -> Finding:
    """Which of ``imports`` is the batch's own import. ``complete``: the list was read far
    enough to hold every import created since ``since``; ``rivals``: other open batches of
    the set, of the same size, whose imports are not known either. PURE."""
    ours, doubtful = _candidates(batch, imports, known, since)
    listed = ", ".join(i.id for i in [*ours, *doubtful])
    if not complete:
        seen = f"; {listed} could be it, but" if listed else ", and"
        return Finding(
            Verdict.UNRESOLVED,
            why=(
                f"GET /imports/ could not be read back to {since:%Y-%m-%d %H:%M:%S} UTC{seen} "
                f"another import of batch {batch.id}'s may be further down the list (raise "
                "lookup_pages, or set imports_newest_first if Connectif lists newest first)"
            ),
        )
    if doubtful:
        return Finding(
            Verdict.UNRESOLVED,
            why=(
                f"import(s) {listed} could be batch {batch.id}'s but do not show their coupon set, "
                "row count and creation time"
            ),
        )
    if len(ours) > 1:
        return Finding(
            Verdict.UNRESOLVED, why=(f"more than one import could be batch {batch.id}'s ({listed})")
        )
    if ours and rivals:
        others = ", ".join(str(r) for r in rivals)
        return Finding(
            Verdict.UNRESOLVED,
            why=(
                f"import {listed} could be batch {batch.id}'s or batch {others}'s (same set, same "
                "size, imports not known either)"
            ),
        )
    if ours:
        return Finding(Verdict.ADOPT, ours[0])
    return Finding(Verdict.ABSENT)


def _candidates(
    batch: Batch, imports: Iterable[Import], known: set[str], since: datetime
) -> tuple[list[Import], list[Import]]:
    """The imports that are the batch's own by everything the server says (ours), and those
    that might be but for what it does not say (doubtful). PURE."""
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
            log.warning(
                "import %s into coupon set %s (%d rows) is not batch %d's (%d rows): "
                "another tool imports into this set",
                imp.id,
                batch.coupon_set_id,
                imp.total,
                batch.id,
                batch.count,
            )
    return ours, doubtful


def read_back(
    client: ConnectifClient, since: datetime, pages: int, *, newest_first: bool = False
) -> tuple[list[Import], bool]:
    """Imports from ``GET /imports/``, page by page, until nothing created since ``since``
    can be missing, or ``pages`` pages were read; returns them and whether the read is
    complete. The read is complete when the list ends, or, with ``newest_first`` and pages
    that are indeed newest first, when it reaches an import created before ``since``."""
    seen: list[Import] = []
    url: str | None = None
    skipped = len(client.warnings)
    complete = False
    for _ in range(pages):
        page, url = client.imports_page(url)
        seen += page
        if url is None:
            complete = True
            break
        if newest_first:
            dates = [imp.created_at for imp in seen if imp.created_at is not None]
            if len(dates) < len(seen) or dates != sorted(dates, reverse=True):
                log.warning(
                    "imports_newest_first is set, but GET /imports/ does not list "
                    "imports newest first: reading it to its end instead"
                )
                newest_first = False
            elif dates[-1] < since:
                complete = True
                break
    # a list with imports it described badly, or one id twice, cannot show that an import
    # is absent: the batch is then held rather than sent again
    if complete and (len(client.warnings) > skipped or len({i.id for i in seen}) < len(seen)):
        log.warning(
            "GET /imports/ listed imports it described badly or twice; it cannot "
            "show that an import is missing"
        )
        complete = False
    return seen, complete


def look(
    client: ConnectifClient,
    batch: Batch,
    known: set[str],
    policy: ImportPolicy,
    sleep: Callable[[float], None],
    *,
    answered_at: datetime | None = None,
    rivals: Sequence[int] = (),
) -> Finding:
    """Search GET /imports/ for the import of a batch whose POST may have created one, once
    the ambiguous answer (``answered_at``; else the start of the upload) is ``lookup_delay``
    old by the server's clock."""
    if batch.submitted_at is None:
        return Finding(
            Verdict.UNRESOLVED, why=f"batch {batch.id} has no record of when it was sent"
        )
    since = batch.submitted_at - timedelta(seconds=policy.clock_skew)
    settled_from = answered_at or batch.posted_at or batch.submitted_at
    left = policy.lookup_delay - (client.now() - settled_from).total_seconds()
    if left > 0:
        sleep(left)
    imports, complete = read_back(
        client, since, policy.lookup_pages, newest_first=policy.newest_first
    )
    return match(batch, imports, known, since, complete=complete, rivals=rivals)


def check_answer(imp: Import, batch: Batch, known: set[str]) -> Import:
    """The import a POST of ``batch`` answered with, when it can be the batch's own (not
    ``known`` as another batch's, and into the batch's set); any other answer is ambiguous
    (:class:`ImportUnconfirmedError`: the import may or may not have been created). PURE."""
    if imp.id in known:  # an answer that cannot be true
        raise ImportUnconfirmedError(
            f"POST /imports/: the server answered with import {imp.id}, which is "
            "already another batch's; the import may or may not have been created"
        )
    if imp.coupon_set_id not in (None, batch.coupon_set_id):
        raise ImportUnconfirmedError(
            f"POST /imports/: the server answered with import {imp.id} into coupon "
            f"set {imp.coupon_set_id}, not {batch.coupon_set_id}; the import may or "
            "may not have been created"
        )
    return imp


class QueueFull(Exception):
    """Connectif refused the POST because ten imports are queued; nothing was created, and
    the batch (back in its status before the POST) can be posted again later."""

    def __init__(self, batch: Batch, codes: KeptCodes) -> None:
        super().__init__(f"batch {batch.id}: the import queue is full")
        self.batch = batch
        self.codes = codes


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
    #: E0401: refused with nothing created; the batch waits for room in Connectif's queue
    queue_full: ImportQueueFullError | None = None
    #: an earlier POST of the batch had an ambiguous answer (its import, if any, is older)
    was_ambiguous: bool = False
    attempts: int = 0


def post_batch(
    send: Callable[[], Import],
    find: Callable[[], Finding],
    policy: ImportPolicy,
    *,
    backoff: Callable[[int], float],
    sleep: Callable[[float], None],
    label: str,
) -> Posted:
    """Send a batch by calling ``send()`` under the rules of the module doc; ``find()``
    looks for its import after an ambiguous answer (:class:`LookupFailed` when that fails).
    Other API errors are raised: they say that nothing was created."""
    reason = ""
    ambiguous = False
    for attempt in range(1, policy.post_attempts + 1):
        try:
            return Posted(imp=send(), attempts=attempt)
        except ImportQueueFullError as exc:
            return Posted(queue_full=exc, was_ambiguous=ambiguous, attempts=attempt)
        except ImportUnconfirmedError as exc:
            ambiguous = True
            settled = _look_after(exc, find, label=label, attempt=attempt)
            if settled is not None:
                return settled
            reason = f"{exc}; GET /imports/ shows that none was"
            if attempt < policy.post_attempts:
                log.warning(
                    "%s: GET /imports/ shows that no import was created; sending the "
                    "same codes again (attempt %d of %d)",
                    label,
                    attempt + 1,
                    policy.post_attempts,
                )
                continue
        except NetworkError as exc:  # the upload never began: nothing reached the server
            reason = str(exc)
            if attempt < policy.post_attempts:
                sleep(backoff(attempt))
        except RateLimitedError as exc:  # the request budget waits as the server asked
            reason = str(exc)
        if attempt < policy.post_attempts:
            log.info(
                "%s: %s; sending it again (attempt %d of %d)",
                label,
                reason,
                attempt + 1,
                policy.post_attempts,
            )
    return Posted(
        failed=f"{reason} (gave up after {policy.post_attempts} attempts; no import was created)",
        attempts=policy.post_attempts,
    )


def _look_after(
    answer: ImportUnconfirmedError, find: Callable[[], Finding], *, label: str, attempt: int
) -> Posted | None:
    """Look for the import an ambiguous ``answer`` may have made: how the POSTs ended (it
    is adopted, or a person must decide), or None when provably none was created."""
    log.warning("%s: %s; looking for the import before anything else", label, answer)
    try:
        found = find()
    except ApiError as failure:
        raise LookupFailed(answer, failure) from None
    if found.verdict is Verdict.ADOPT:
        assert found.imp is not None
        log.warning(
            "%s: adopted import %s (%s), created by that POST",
            label,
            found.imp.id,
            found.imp.status,
        )
        return Posted(imp=found.imp, adopted=True, attempts=attempt)
    if found.verdict is Verdict.UNRESOLVED:
        return Posted(unresolved=f"{answer}, and {found.why}", attempts=attempt)
    return None
