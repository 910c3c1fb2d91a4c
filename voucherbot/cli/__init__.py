"""The command line: the only click code. Commands are thin adapters over :mod:`voucherbot.app`.

:func:`main` is the console script; :data:`cli` the click group (:mod:`~voucherbot.cli.group`),
for click's test runner and for embedding.
"""

from voucherbot.cli.group import cli, main

__all__ = ["cli", "main"]
