"""Following imports to their end: one loop for any number of imports, with a deadline.

One tick reads each unfinished import once; between ticks the wait grows (``growth``) up to
``max_interval``, so a long import costs few requests. When ``timeout`` passes first,
:class:`PollTimeoutError` carries the imports still running: they go on at Connectif, and a
later ``voucherbot imports ID`` (or the next run) follows them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voucherbot.errors import ConfigError, RefillError

if TYPE_CHECKING:  # the settings are read by `config check`, which must not load requests
    from voucherbot.connectif import ConnectifClient
    from voucherbot.models import Import

ProgressCallback = Callable[["Import"], None]


@dataclass(frozen=True)
class PollSettings:
    """How to wait for imports: first interval, growth, longest interval, overall deadline."""

    interval: float = 2.0
    growth: float = 1.5
    max_interval: float = 15.0
    timeout: float = 1800.0

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.max_interval < self.interval or self.growth < 1:
            raise ConfigError("poll settings need 0 < interval <= max_interval and growth >= 1")
        if self.timeout <= 0:
            raise ConfigError("the poll timeout must be positive")


class PollTimeoutError(RefillError):
    """An import was still running when the poll deadline passed."""

    def __init__(self, message: str, pending: dict[str, Import], done: dict[str, Import]):
        super().__init__(message)
        #: the last state seen of each import still running, by id
        self.pending = pending
        #: imports that did reach a terminal status, by id
        self.done = done


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
    """Poll every import until each reaches a terminal status; return the final Import by id.

    One tick reads each unfinished import once; between ticks the interval grows by
    ``settings.growth`` up to ``settings.max_interval``. Raises :class:`PollTimeoutError` (with
    the imports still pending) when ``settings.timeout`` passes first. ``on_done`` is called
    once for each import as soon as it ends. With ``wait_first``, the first read comes after
    one interval (a new import is never finished at once).
    """
    settings = settings or PollSettings()
    pending = dict.fromkeys(import_ids, "")
    done: dict[str, Import] = {}
    latest: dict[str, Import] = {}
    deadline = clock() + settings.timeout
    interval = settings.interval
    if wait_first and pending:
        sleep(interval)
        interval = min(settings.max_interval, interval * settings.growth)
    while pending:
        for import_id in list(pending):
            imp = client.get_import(import_id, kind="poll")
            latest[import_id] = imp
            if on_progress is not None:
                on_progress(imp)
            if imp.is_terminal:
                done[import_id] = imp
                del pending[import_id]
                if on_done is not None:
                    on_done(imp)
        if not pending:
            break
        if clock() + interval > deadline:
            still = {i: latest[i] for i in pending}
            listed = ", ".join(
                f"{i} ({imp.status}, {imp.processed:,}/{imp.total or 0:,})"
                for i, imp in still.items()
            )
            raise PollTimeoutError(
                f"gave up waiting after {settings.timeout:g} s; still running at Connectif: "
                f"{listed}. Follow with 'voucherbot imports ID'",
                still,
                done,
            )
        sleep(interval)
        interval = min(settings.max_interval, interval * settings.growth)
    return done
