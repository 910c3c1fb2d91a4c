"""The command line: the only click code. Commands are thin adapters over :mod:`voucherbot.app`."""
