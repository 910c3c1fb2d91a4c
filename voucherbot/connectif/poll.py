"""Following imports to their end with as few requests as possible.

A :class:`Tracker` follows any number of imports together. One *tick* reads them all at once:
the first page of ``GET /imports/`` (and the next pages while they still hold imports being
followed), then ``GET /imports/{id}`` only for those no page showed. Between ticks it waits:

* while nothing changes, the wait grows by ``growth`` up to ``max_interval``;
* when an import is being processed and its progress has been seen twice, the wait is the
  time it should take to finish at the rate observed (within ``interval`` and
  ``max_interval``), so a long import is not polled needlessly and a short one not waited on.

:func:`poll_imports` runs ticks until every import has ended, or until ``timeout`` passes
(the last tick falls on the deadline itself): then :class:`PollTimeoutError` carries the
imports still running. They go on at Connectif; the next run (or ``voucherbot imports ID``)
follows them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from voucherbot.config.settings import PollSettings
from voucherbot.connectif.models import ImportStatus
from voucherbot.errors import BadResponseError, RefillError

if TYPE_CHECKING:  # the settings are read by `config check`, which must not load requests
    from voucherbot.connectif.client import ConnectifClient
    from voucherbot.connectif.models import Import

ProgressCallback = Callable[["Import"], None]

log = logging.getLogger("voucherbot.poll")  # its name in logs since before the subpackages

#: Most list pages one tick reads before asking for the remaining imports one by one.
MAX_TICK_PAGES = 10


class PollTimeoutError(RefillError):
    """An import was still running when the poll deadline passed."""

    def __init__(self, message: str, pending: dict[str, Import], done: dict[str, Import]):
        super().__init__(message)
        #: the last state seen of each import still running, by id
        self.pending = pending
        #: imports that did reach a terminal status, by id
        self.done = done


class Tracker:
    """Follows imports together: one tick reads them all; waits adapt to their progress."""

    def __init__(
        self,
        client: ConnectifClient,
        settings: PollSettings,
        *,
        on_progress: ProgressCallback | None = None,
        on_done: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.on_progress = on_progress
        self.on_done = on_done
        self.clock = clock
        self.latest: dict[str, Import] = {}  #: the last state seen of each import followed
        self.done: dict[str, Import] = {}
        self._seen_at: dict[str, tuple[float, int]] = {}  #: when, and rows processed then
        self._rate: dict[str, float] = {}  #: rows per second, as observed
        self._wait = settings.interval
        self._changed = False

    @property
    def pending(self) -> list[str]:
        return [i for i in self.latest if i not in self.done]

    def add(self, imp: Import) -> None:
        """Follow an import (a new one resets the wait to the first interval)."""
        self.latest[imp.id] = imp
        self._seen_at[imp.id] = (self.clock(), imp.processed)
        self._wait = self.settings.interval
        if imp.is_terminal:
            self._finish(imp)

    def _finish(self, imp: Import) -> None:
        if imp.id in self.done:  # listed twice on one page, say: an import ends once
            return
        self.done[imp.id] = imp
        if self.on_done is not None:
            self.on_done(imp)

    def _observe(self, imp: Import) -> None:
        before = self.latest.get(imp.id)
        now = self.clock()
        seen_at, processed = self._seen_at.get(imp.id, (now, 0))
        if imp.processed > processed and now > seen_at:
            self._rate[imp.id] = (imp.processed - processed) / (now - seen_at)
        self._seen_at[imp.id] = (now, imp.processed)
        if before is None or (before.status, before.processed) != (imp.status, imp.processed):
            self._changed = True
        self.latest[imp.id] = imp
        if self.on_progress is not None:
            self.on_progress(imp)
        if imp.is_terminal:
            self._finish(imp)

    def tick(self) -> list[Import]:
        """Read every pending import once; return those that ended in this tick."""
        wanted = set(self.pending)
        ended_before = set(self.done)
        self._changed = False
        url: str | None = None
        for _ in range(MAX_TICK_PAGES):
            if not wanted:
                break
            page, url = self.client.imports_page(url)
            mine = [imp for imp in page if imp.id in wanted]
            for imp in mine:
                self._observe(imp)
                wanted.discard(imp.id)
            if not mine or url is None:  # ours are not further down the list
                break
        for import_id in sorted(wanted):
            try:
                imp = self.client.get_import(import_id, kind="poll")
            except BadResponseError as exc:  # a bad answer is no news: look again next time
                log.warning("%s; it is read again at the next look", exc)
                continue
            self._observe(imp)
        return [self.done[i] for i in self.done if i not in ended_before]

    def next_wait(self) -> float:
        """How long to wait before the next tick (see the module doc)."""
        settings = self.settings
        if not self._changed:
            self._wait = min(settings.max_interval, self._wait * settings.growth)
        etas = []
        for import_id in self.pending:
            imp, rate = self.latest[import_id], self._rate.get(import_id)
            if rate and imp.status == ImportStatus.IN_PROGRESS and imp.total:
                etas.append(max(0, imp.total - imp.processed) / rate)
        if etas:
            return min(settings.max_interval, max(settings.interval, min(etas)))
        return self._wait


def poll_imports(
    client: ConnectifClient,
    import_ids: Iterable[str],
    *,
    settings: PollSettings | None = None,
    on_progress: ProgressCallback | None = None,
    on_done: ProgressCallback | None = None,
    wait_first: bool = False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Import]:
    """Follow imports until each reaches a terminal status; return the final Import by id.

    Raises :class:`PollTimeoutError` (with the imports still pending) when
    ``settings.timeout`` passes first. ``on_done`` is called once for each import as soon as
    it ends. With ``wait_first``, the first read comes after one interval (a new import is
    never finished at once).
    """
    from voucherbot.connectif.models import Import

    settings = settings or PollSettings()
    tracker = Tracker(client, settings, on_progress=on_progress, on_done=on_done, clock=clock)
    for import_id in import_ids:
        tracker.latest[import_id] = Import(id=import_id, status=ImportStatus.QUEUED)
    deadline = clock() + settings.timeout
    if wait_first and tracker.pending:
        sleep(min(settings.interval, settings.timeout))
    while tracker.pending:
        tracker.tick()
        if not tracker.pending:
            break
        left = deadline - clock()
        if left <= 0:
            raise timeout_error(tracker)
        sleep(min(tracker.next_wait(), left))  # the last look falls on the deadline
    return dict(tracker.done)


def timeout_error(tracker: Tracker) -> PollTimeoutError:
    still = {i: tracker.latest[i] for i in tracker.pending}
    listed = ", ".join(
        f"{i} ({imp.status}, {imp.processed:,}/{imp.total or 0:,})" for i, imp in still.items()
    )
    return PollTimeoutError(
        f"gave up waiting after {tracker.settings.timeout:g} s; still running at Connectif: "
        f"{listed}. Follow with 'voucherbot imports ID'",
        still,
        dict(tracker.done),
    )
