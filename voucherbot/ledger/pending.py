"""Plaintext codes on their way, in the ledger's private ``<ledger>.pending/`` folder.

Codes live on disk only while they are needed (the folder mode 0700, its files 0600): each
batch's codes are written, as the coupon CSV Connectif imports (``batch-<id>.csv``), while the
batch is recorded, and are on disk (synced) before it commits. That file is delivered to the
shop, uploaded as it is, and removed once the batch has its import or has ended; so a refill of
any size never holds its codes in memory (:class:`KeptCodes` reads them as they are needed).
:meth:`PendingCodes.sweep` removes, at the start of every run, every file but those of batches
still being delivered to the shop.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from voucherbot.errors import ConfigError
from voucherbot.files import CSV_HEADER, code_csv, create_private, write_private

#: What writes a chunk of a batch's codes to its file.
CodeWriter = Callable[[Sequence[str]], None]


class KeptCodes(Collection[str]):
    """A batch's codes in its file (``path``, a coupon CSV), read line by line each time
    they are gone through."""

    def __init__(self, path: Path, *, header: bool = True) -> None:
        self.path = path
        self._header = header
        self._count: int | None = None

    def __iter__(self) -> Iterator[str]:
        with self.path.open(encoding="utf-8") as lines:
            if self._header:
                next(lines, None)
            for line in lines:
                code = line.rstrip("\n")
                if code:
                    yield code

    def __len__(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self)
        return self._count

    def __contains__(self, code: object) -> bool:
        return any(code == kept for kept in self)

    def __repr__(self) -> str:
        return f"KeptCodes({self.path.name})"


class PendingCodes:
    """The pending folder of the ledger at ``path`` (None: a temporary folder, for a ledger in
    memory), made when first needed."""

    def __init__(self, path: Path | None) -> None:
        self._ledger = path
        self._folder: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def folder(self) -> Path:
        if self._folder is None:
            if self._ledger is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="voucherbot-pending-")
                self._folder = Path(self._tmp.name)
            else:
                self._folder = self._ledger.with_name(self._ledger.name + ".pending")
                try:
                    self._folder.mkdir(mode=0o700, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"{self._folder}: cannot make the ledger's private folder for codes "
                        f"on their way ({exc.strerror or exc}); move what is there away"
                    ) from None
        return self._folder

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def path_of(self, batch_id: int) -> Path:
        """The file of a batch's codes (a coupon CSV)."""
        return self.folder() / f"batch-{batch_id}.csv"

    def _legacy(self, batch_id: int) -> Path:
        """Where earlier versions kept a delivering batch's codes (one a line, no header)."""
        return self.folder() / f"batch-{batch_id}.txt"

    @contextmanager
    def writing(self, batch_id: int) -> Iterator[CodeWriter]:
        """Write a batch's codes, chunk by chunk, to a new file (mode 0600; an earlier file of
        that id, left by a batch whose transaction did not commit, is replaced). On disk,
        synced, when the block ends; removed when it raises."""
        with self._writing(self.path_of(batch_id)) as write:
            yield write

    @contextmanager
    def _writing(self, path: Path) -> Iterator[CodeWriter]:
        path.unlink(missing_ok=True)
        try:
            with os.fdopen(create_private(path), "w", encoding="utf-8", newline="\n") as out:
                out.write(CSV_HEADER + "\n")
                yield lambda codes: out.writelines(code + "\n" for code in codes)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def more_path(self, batch_id: int) -> Path:
        """The file of the codes drawn to replace those the shop refused (until settled)."""
        return self.folder() / f"batch-{batch_id}.more.csv"

    @contextmanager
    def writing_more(self, batch_id: int) -> Iterator[CodeWriter]:
        """:meth:`writing`, for the codes that replace refused ones."""
        path = self.more_path(batch_id)
        with self._writing(path) as write:
            yield write

    def rewrite(self, batch_id: int, drop: Collection[str]) -> KeptCodes:
        """The batch's file without ``drop`` and with the replacement codes (those not in
        ``drop``) added: replaced atomically, synced. Returns it."""
        path, more = self.path_of(batch_id), self.more_path(batch_id)
        parts = [KeptCodes(path), *([KeptCodes(more)] if more.exists() else [])]
        kept = (code for part in parts for code in part if code not in drop)
        fresh = path.with_name(path.name + ".new")
        fresh.unlink(missing_ok=True)
        write_private(fresh, code_csv(kept), sync=True)
        os.replace(fresh, path)
        more.unlink(missing_ok=True)
        return KeptCodes(path)

    def kept(self, batch_id: int) -> KeptCodes | None:
        """The kept codes of a batch, or None when none are kept."""
        path, legacy = self.path_of(batch_id), self._legacy(batch_id)
        if not path.exists() and legacy.exists():  # kept by an earlier version: made a CSV
            write_private(path, code_csv(KeptCodes(legacy, header=False)), sync=True)
            legacy.unlink()
        return KeptCodes(path) if path.exists() else None

    def forget(self, batch_id: int) -> None:
        self.path_of(batch_id).unlink(missing_ok=True)
        self.more_path(batch_id).unlink(missing_ok=True)
        self._legacy(batch_id).unlink(missing_ok=True)

    def sweep(self, delivering: Collection[int]) -> int:
        """Remove the codes of every batch but those still being delivered (``delivering``:
        their ids), and any upload file an earlier version left. Returns how many files
        went."""
        keep = {f"batch-{batch_id}.{ext}" for batch_id in delivering for ext in ("csv", "txt")}
        removed = 0
        for path in self.folder().iterdir():
            if path.name not in keep and path.name.startswith(("batch-", "upload-")):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
