"""Logging on stderr: plain lines for people, or one JSON object per line for log collectors.

``--log-format json`` gives lines like::

    {"time": "2026-11-27T03:00:01.123Z", "level": "warning", "logger": "voucherbot.refill",
     "message": "batch 12: adopted import 6b09..."}

The logger names (``voucherbot``, ``voucherbot.refill``, ``.posting``, ``.connectif``, ``.poll``,
``.ratelimit``, ``.ledger``, ``.sinks``, ``.notify``, ``.monitor``) are what log filters match
on: they stay as they were before the package had subpackages, whichever module writes the
line. With several ``[[store]]`` tables a line written for one store carries its name
(``"store"`` in JSON, ``[name]`` before the message in text).

The API key and every other known secret are masked in every line (a second line of defence: no
message should hold one), and outside text cannot send escape sequences to the terminal.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

from voucherbot.errors import redact
from voucherbot.text import clean

FORMATS = ("text", "json")


class _Redacting(logging.Filter):
    """Every line without the API key or a secret given to :func:`~voucherbot.errors.hide`
    (webhook URLs' paths, which urllib3 logs at -vv), and without control characters."""

    def filter(self, record: logging.LogRecord) -> bool:
        from voucherbot.app.stores import CURRENT_STORE

        record.msg = clean(redact(record.getMessage(), os.environ.get("CONNECTIF_API_KEY")))
        record.args = None
        store = CURRENT_STORE.get()
        if store and not hasattr(record, "store"):  # several stores: whose line it is
            record.store = store
            record.label = f"[{store}] "
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        doc = {
            "time": when.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("exit_code", "store"):
            if hasattr(record, key):
                doc[key.replace("_c", "C")] = getattr(record, key)
        return json.dumps(doc, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time of each record."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure(verbosity: int = 0, fmt: str = "text") -> None:
    """Log WARNING and up (INFO with -v, DEBUG with -vv) to stderr in ``fmt``."""
    handler = _StderrHandler()
    handler.addFilter(_Redacting())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(label)s%(message)s",
                                               defaults={"label": ""}))  # fmt: skip
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING - 10 * min(verbosity, 2))


def json_logging() -> bool:
    """Whether stderr carries JSON lines (errors are then written as JSON too)."""
    return any(isinstance(h.formatter, JsonFormatter) for h in logging.getLogger().handlers)
