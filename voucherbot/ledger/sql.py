"""The ledger's two SQL helpers: one committed transaction, and the marks of an ``IN (...)``."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One committed transaction (taken at once: a writer waits here, not half-way)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def marks(values: Collection[object]) -> str:
    """``?,?,?``: one parameter mark per value, for ``IN (...)``."""
    return ",".join("?" * len(values))
