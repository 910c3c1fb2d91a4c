"""Several stores from one rules file: the same work on each, side by side.

Each store's work runs in its own thread with its own client (its key, address and request
budget) and its own ledger (its lock and secret), so one store's failure, slowness or refused
key touches no other: each ends as a value or as its own error. The exit status of the whole
is the worst store's (:func:`worst_exit`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from voucherbot.config.settings import Store
from voucherbot.errors import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    VoucherbotError,
)

log = logging.getLogger("voucherbot")

#: the store the current thread works for ("" outside any): log lines are labelled with it
CURRENT_STORE: contextvars.ContextVar[str] = contextvars.ContextVar("store", default="")
#: exit statuses from the mildest to the worst
SEVERITY = (EXIT_OK, EXIT_LOCKED, EXIT_FAILED, EXIT_AUTH, EXIT_USAGE)
#: stores worked on at once, at most (each waits on its own budget, not on the CPU)
MAX_CONCURRENT = 16

T = TypeVar("T")


@dataclass(frozen=True)
class StoreOutcome(Generic[T]):
    """What one store's work gave: its value, or the error that stopped it."""

    store: Store
    value: T | None = None
    error: str | None = None  #: one line, secrets removed
    exit_code: int = EXIT_OK

    @property
    def name(self) -> str:
        return self.store.name


def worst_exit(codes: Sequence[int]) -> int:
    """The worst of some exit statuses (see :data:`SEVERITY`; an unknown one counts as 1)."""
    rank = {code: i for i, code in enumerate(SEVERITY)}
    return max(codes, key=lambda c: rank.get(c, rank[EXIT_FAILED]), default=EXIT_OK)


def for_each_store(
    stores: Sequence[Store], work: Callable[[Store], T], *, exit_code: Callable[[T], int]
) -> list[StoreOutcome[T]]:
    """``work(store)`` for every store, concurrently; the outcomes in the stores' order.

    ``exit_code`` tells the status a value stands for (a run with a failed refill: 1). An
    expected error (:class:`VoucherbotError`) ends its store with its exit status; any other
    exception too, as status 1, so that one store's bug does not hide the others' results.
    """

    def one(store: Store) -> StoreOutcome[T]:
        CURRENT_STORE.set(store.name)
        try:
            value = work(store)
        except VoucherbotError as exc:
            return StoreOutcome(store, error=str(exc), exit_code=exc.exit_code)
        except Exception as exc:
            log.debug("store %s: unexpected error", store.name, exc_info=True)
            return StoreOutcome(
                store, error=f"unexpected {type(exc).__name__}: {exc}", exit_code=EXIT_FAILED
            )
        return StoreOutcome(store, value=value, exit_code=exit_code(value))

    if len(stores) == 1:  # in a context of its own: the label ends with the work
        return [contextvars.copy_context().run(one, stores[0])]
    with ThreadPoolExecutor(min(len(stores), MAX_CONCURRENT), "voucherbot-store") as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, s) for s in stores]
        return [f.result() for f in futures]
