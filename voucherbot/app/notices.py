"""What the ``[notify]`` webhook hears: how a run ended, its failures, or the error that
stopped it (a run held back by another one's lock is not a failure)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from voucherbot.config import Config
from voucherbot.errors import LockedError, VoucherbotError
from voucherbot.refill.results import RunResult
from voucherbot.report.notify import RunNotice, send


def run_notice(
    result: RunResult | None, source: str, started_at: datetime, error: str | None = None
) -> RunNotice:
    """What a run did (or the error that stopped it), for the [notify] webhook."""
    refills: list[tuple[str, str, int, str | None, str]] = []
    failures: list[str] = []
    if result is not None:
        for r in result.all:
            imported = r.final.success if r.final is not None and not r.abandoned else 0
            import_id = r.final.id if r.final is not None else None
            if r.ok:
                status = (
                    "abandoned (never sent)"
                    if r.abandoned
                    else (r.final.status if r.final else "nothing to do")
                )
            else:
                status = "failed"
                failures.append(r.summary(links=False))
            refills.append((r.coupon_set.name, r.coupon_set.id, imported, import_id, status))
    if error is not None:
        failures.append(error)
    return RunNotice(
        ok=not failures, refills=refills, failures=failures, source=source, started_at=started_at
    )


def notify(config: Config, notice: RunNotice) -> bool:
    """Send the run's notification if [notify] asks for it; never raises."""
    return send(config.notify, notice)


@contextmanager
def notifying(
    config: Config, source: str, started_at: datetime
) -> Iterator[Callable[[RunResult], bool]]:
    """Around a run: the notice of its result (call the yielded function with it), or of the
    error that stopped it, which is raised on; no notice for a run another one's lock held."""

    def finished(result: RunResult) -> bool:
        return notify(config, run_notice(result, source, started_at))

    try:
        yield finished
    except LockedError:
        raise  # another run is at work: nothing has failed
    except VoucherbotError as exc:  # a run that stopped must not stop silently
        notify(config, run_notice(None, source, started_at, error=str(exc)))
        raise
    except Exception as exc:  # nor one that met a bug
        error = f"unexpected {type(exc).__name__}: {exc}"
        notify(config, run_notice(None, source, started_at, error=error))
        raise
