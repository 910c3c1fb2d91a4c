"""Files that hold codes or secrets, and the one coupon CSV.

Every such file is created here: mode 0600 from the first byte, never over another file
(``O_EXCL``). The coupon CSV is one column under the header ``code`` with ``\\n`` line ends,
the same bytes for Connectif's import, the shop's sinks and ``codes generate``: codes never
hold ``,``, ``;``, quotes or whitespace (the generator and the pool refuse them), so it needs
no quoting and suits either delimiter.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

CSV_HEADER = "code"


def code_csv(codes: Iterable[str], *, header: bool = True) -> Iterator[str]:
    """The coupon CSV, line by line (each with its ``\\n``)."""
    if header:
        yield CSV_HEADER + "\n"
    for code in codes:
        yield code + "\n"


def chunked(codes: Iterable[str], size: int) -> Iterator[list[str]]:
    """``codes`` a list of at most ``size`` at a time (a batch's file is never read whole)."""
    it = iter(codes)
    while chunk := list(islice(it, size)):
        yield chunk


def code_csv_bytes(codes: Iterable[str]) -> bytes:
    """The whole coupon CSV as bytes (for a pipe or a file written in one go)."""
    return "".join(code_csv(codes)).encode()


def create_private(path: Path | str) -> int:
    """A new file, mode 0600, open for writing; FileExistsError when ``path`` exists."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def write_private(path: Path | str, lines: Iterable[str | bytes], *, sync: bool = False) -> int:
    """Write ``lines`` to a new 0600 file (see :func:`create_private`); returns the lines
    written. With ``sync`` the data is on disk when it returns."""
    count = 0
    with os.fdopen(create_private(path), "wb") as out:
        for line in lines:
            out.write(line.encode() if isinstance(line, str) else line)
            count += 1
        if sync:
            out.flush()
            os.fsync(out.fileno())
    return count
