"""The ledger: one SQLite file of runs, batches, code fingerprints and snapshots, and the run lock.

:mod:`~voucherbot.ledger.store` is the store (:class:`Ledger`); :mod:`~voucherbot.ledger.schema`
its numbered migrations and records. SQL lives only in this package.
"""

from voucherbot.ledger.schema import OPEN_STATUSES, TERMINAL_STATUSES, Batch, Run, shape_key
from voucherbot.ledger.store import Ledger

__all__ = ["OPEN_STATUSES", "TERMINAL_STATUSES", "Batch", "Ledger", "Run", "shape_key"]
