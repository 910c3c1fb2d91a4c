"""Executing a plan: codes -> shop -> CSV -> import -> poll -> ledger, and recovery.

:mod:`~voucherbot.refill.batch` refills one batch write-ahead; :mod:`~voucherbot.refill.queue`
runs a whole plan's import queue; :mod:`~voucherbot.refill.posting` is the import POST's one
retry policy; :mod:`~voucherbot.refill.results` the results.
"""
