"""One run at a time: the ledger's run lock.

:class:`RunLock` takes an exclusive ``flock`` on ``<ledger>.lock`` (beside the ledger's real
file, symbolic links resolved); the operating system releases it when the process dies, however
it dies. The holder writes who it is into the file, so a run turned away can name it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from voucherbot.codes import format_duration
from voucherbot.errors import ConfigError, LockedError
from voucherbot.ledger.records import now_text, stored_time


def lock_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class RunLock:
    """The run lock of the ledger at ``path`` (held by at most one process)."""

    def __init__(self, path: Path) -> None:
        self.path = lock_path_of(path.resolve())  # one lock, whatever link led here
        self._fd: int | None = None

    def acquire(self, command: str) -> None:
        """Take the lock for ``command``, or raise LockedError naming its holder."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot open the ledger's lock file "
                f"({exc.strerror or exc}); move what is there away"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip()
            os.close(fd)
            raise LockedError(
                f"another voucherbot run holds the ledger lock {self.path}: "
                f"{_holder(holder)}; try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
        os.write(fd, json.dumps({**me, "started": now_text()}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _holder(text: str) -> str:
    """Who holds the lock, from what it wrote into the lock file."""
    try:
        info = json.loads(text)
        return (
            f"pid {info['pid']} on {info['host']} ('{info['command']}', "
            f"started {info['started']}{_running_for(info['started'])})"
        )
    except (ValueError, KeyError, TypeError):
        return "another process"


def _running_for(started: str) -> str:
    """ ", running for 3 hours" (a run that has held the lock that long may hang)."""
    since = stored_time(started)
    if since is None or since.tzinfo is None:
        return ""
    return f", running for {format_duration((datetime.now(UTC) - since).total_seconds())}"
