"""Code pools: distribute codes the shop generated, instead of generating them here.

A pool is a directory of code files that the shop writes; voucherbot only reads it. Files are
read in file-name order (sorted by code point), each file in line order:

* ``*.csv`` whose first row has a ``code`` column (any case): that column, with ``,`` or ``;``
  as the delimiter (whichever the header row has more of);
* ``*.csv`` without such a header, and ``*.txt``: one code per line.

Other files, hidden files (``.name``) and subdirectories are ignored, so a shop can write
``.codes.csv.tmp`` and rename it when complete. Files must be UTF-8 (a BOM is ignored);
surrounding whitespace is stripped. A code is *invalid* (skipped and counted) if it contains
``,``, ``;``, ``"`` or whitespace, has an unprintable character or is longer than 64
characters: it would break the import CSV. A code that appeared earlier in the pool is a
*duplicate*; one the caller's ``is_issued`` reports (the ledger's fingerprints) is *issued*.
The pool files are never changed: the ledger is what remembers which codes were handed out.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
from array import array
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from voucherbot.errors import VoucherbotError

POOL_SUFFIXES = (".csv", ".txt")
MAX_CODE_LENGTH = 64
#: candidates handed to ``is_issued`` at a time
ISSUED_CHUNK = 10_000

IsIssued = Callable[[Sequence[str]], set[str]]
_BLANK, _INVALID, _DUPLICATE, _CANDIDATE = range(4)
_BAD_CHARS = re.compile(r'[,;"\s]')


class PoolError(VoucherbotError):
    """The code pool cannot be read."""


@dataclass(frozen=True)
class PoolTake:
    codes: list[str]  #: in pool order, at most n
    skipped_blank: int = 0
    skipped_duplicate: int = 0  #: seen earlier in the pool (same file or an earlier one)
    skipped_issued: int = 0  #: already issued, according to the caller
    skipped_invalid: int = 0  #: would break the import CSV (see the module docs)
    exhausted: bool = False  #: the pool ran out before n codes were found


class CodePool:
    """A directory of code files written by the shop (see the module docs for the format)."""

    def __init__(self, directory: Path, *, chunk_size: int = ISSUED_CHUNK) -> None:
        self.directory = Path(directory)
        self.chunk_size = chunk_size

    def describe(self) -> str:
        return f"code pool in {self.directory}"

    def files(self) -> list[Path]:
        """The pool's code files in reading order; none if the directory does not exist."""
        if not self.directory.exists():
            return []
        if not self.directory.is_dir():
            raise PoolError(
                f"code pool {self.directory} is a file, not a directory; set [shop] pool to "
                "the folder holding the shop's code files"
            )
        try:
            with os.scandir(self.directory) as entries:
                names = [
                    e.name
                    for e in entries
                    if not e.name.startswith(".")
                    and os.path.splitext(e.name)[1].lower() in POOL_SUFFIXES
                    and e.is_file()
                ]
        except OSError as exc:
            raise PoolError(
                f"cannot read the code pool {self.directory}: {exc.strerror or exc}; check its "
                "permissions"
            ) from None
        return [self.directory / name for name in sorted(names)]

    def take(self, n: int, is_issued: IsIssued) -> PoolTake:
        """The next ``n`` usable codes in pool order, streaming through the files.

        Memory: besides the codes returned, one chunk of candidates and a fingerprint set of the
        codes read so far (64-bit hashes, 12 to 24 bytes per code: 10 million codes take about
        130 MB). Two different codes with the same hash (odds about 3 in a million at that
        size) make the later one count as a duplicate: it is skipped, never issued twice.
        The counts cover the lines up to the last code taken.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        codes: list[str] = []
        counts = [0, 0, 0, 0]  # blank, invalid, duplicate, issued
        if n == 0:
            return PoolTake(codes)
        with contextlib.closing(self._chunks()) as chunks:
            for events, issued in self._checked(chunks, is_issued):
                for kind, code in events:
                    if kind != _CANDIDATE:
                        counts[kind] += 1
                    elif code in issued:
                        counts[3] += 1
                    else:
                        codes.append(code)
                        if len(codes) == n:
                            return _take(codes, counts, exhausted=False)
        return _take(codes, counts, exhausted=True)

    def remaining(self, is_issued: IsIssued) -> int:
        """How many usable codes are left: not blank, invalid, duplicate or issued."""
        left = 0
        with contextlib.closing(self._chunks()) as chunks:
            for events, issued in self._checked(chunks, is_issued):
                left += sum(1 for kind, code in events if kind == _CANDIDATE and code not in issued)
        return left

    # -- reading --

    @staticmethod
    def _checked(
        chunks: Iterator[list[tuple[int, str]]], is_issued: IsIssued
    ) -> Iterator[tuple[list[tuple[int, str]], set[str]]]:
        for events in chunks:
            candidates = [code for kind, code in events if kind == _CANDIDATE]
            yield events, (set(is_issued(candidates)) if candidates else set())

    def _chunks(self) -> Generator[list[tuple[int, str]], None, None]:
        """Every line as (kind, code), in chunks of at most ``chunk_size`` candidates."""
        seen = _Fingerprints()
        events: list[tuple[int, str]] = []
        candidates = 0
        for path in self.files():
            for code in _read_codes(path):
                if not code:
                    events.append((_BLANK, ""))
                elif (
                    len(code) > MAX_CODE_LENGTH or _BAD_CHARS.search(code) or not code.isprintable()
                ):
                    events.append((_INVALID, ""))
                elif not seen.add(code):
                    events.append((_DUPLICATE, ""))
                else:
                    events.append((_CANDIDATE, code))
                    candidates += 1
                if candidates >= self.chunk_size or len(events) >= 4 * self.chunk_size:
                    yield events
                    events, candidates = [], 0
        if events:
            yield events


def _take(codes: list[str], counts: list[int], *, exhausted: bool) -> PoolTake:
    blank, invalid, duplicate, issued = counts
    return PoolTake(codes, blank, duplicate, issued, invalid, exhausted)


def _read_codes(path: Path) -> Iterator[str]:
    """The stripped code of every line or row of one pool file ("" for a blank one)."""
    line = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as lines:
            first = lines.readline() if path.suffix.lower() == ".csv" else ""
            column, delimiter = _header(first)
            if column is None:
                if first:
                    line += 1
                    yield first.strip()
                for text in lines:
                    line += 1
                    yield text.strip()
                return
            line = 1
            reader = csv.reader(lines, delimiter=delimiter)
            for row in reader:
                line = reader.line_num + 1
                yield row[column].strip() if column < len(row) else ""
    except UnicodeDecodeError:
        raise PoolError(
            f"code pool file {path}: not UTF-8 text (after line {line}); save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise PoolError(f"code pool file {path}: line {line + 1}: bad CSV ({exc})") from None
    except OSError as exc:
        raise PoolError(
            f"cannot read code pool file {path}: {exc.strerror or exc}; check its permissions"
        ) from None


def _header(first: str) -> tuple[int | None, str]:
    """The ``code`` column and delimiter if ``first`` is a header row, else (None, ",")."""
    if not first.strip():
        return None, ","
    delimiter = ";" if first.count(";") > first.count(",") else ","
    cells = [cell.strip().casefold() for cell in next(csv.reader([first], delimiter=delimiter))]
    return (cells.index("code"), delimiter) if "code" in cells else (None, ",")


class _Fingerprints:
    """A set of 64-bit code hashes in one flat array (open addressing, linear probing).

    Python's ``hash`` of a ``str`` is a keyed SipHash, random per process. 12 to 24 bytes per
    code (the array doubles when 2/3 full), where a ``set`` of the codes takes about 100.
    """

    def __init__(self) -> None:
        self._slots = array("q", [0]) * 1024
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, code: str) -> bool:
        """Add the code's fingerprint; False if it was already there."""
        fp = hash(code.lower()) or 1  # 0 marks an empty slot; shops ignore case
        slots = self._slots
        mask = len(slots) - 1
        i = fp & mask
        while True:
            held = slots[i]
            if held == 0:
                break
            if held == fp:
                return False
            i = (i + 1) & mask
        slots[i] = fp
        self._count += 1
        if self._count * 3 > 2 * len(slots):  # keep the load at most 2/3
            self._grow()
        return True

    def _grow(self) -> None:
        old = self._slots
        slots = self._slots = array("q", [0]) * (2 * len(old))
        mask = len(slots) - 1
        for fp in old:
            if fp:
                i = fp & mask
                while slots[i]:
                    i = (i + 1) & mask
                slots[i] = fp
