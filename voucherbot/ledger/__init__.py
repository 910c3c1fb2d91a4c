"""The ledger: one SQLite file of runs, batches, code fingerprints and snapshots, and the run lock.

:mod:`~voucherbot.ledger.store` is the store (:class:`Ledger`), on
:mod:`~voucherbot.ledger.batches` (the batches, their codes and the write-ahead protocol's
transitions); :mod:`~voucherbot.ledger.records` its records and statuses;
:mod:`~voucherbot.ledger.migrations` its numbered migrations; :mod:`~voucherbot.ledger.opening`,
:mod:`~voucherbot.ledger.lock` and :mod:`~voucherbot.ledger.pending` its files (the database and
its secret, the run lock, the codes on their way). SQL lives only in this package.
"""

from voucherbot.ledger.batches import Fate, TransitionError
from voucherbot.ledger.lock import lock_path_of
from voucherbot.ledger.opening import secret_path_of
from voucherbot.ledger.records import (
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    Batch,
    BatchStatus,
    Run,
    shape_key,
)
from voucherbot.ledger.store import Ledger

__all__ = [
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "Batch",
    "BatchStatus",
    "Fate",
    "Ledger",
    "Run",
    "TransitionError",
    "lock_path_of",
    "secret_path_of",
    "shape_key",
]
