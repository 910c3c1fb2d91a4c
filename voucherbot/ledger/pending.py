"""Plaintext codes on their way, in the ledger's private ``<ledger>.pending/`` folder.

Codes live on disk only while they are needed (the folder mode 0700, its files 0600): the
upload CSV of a batch during its POST (``upload-<id>.csv``), and the codes of a batch being
delivered to the shop until its import is created (``batch-<id>.txt``).
:meth:`PendingCodes.sweep` removes what no batch needs any more at the start of every run.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

from voucherbot.errors import ConfigError
from voucherbot.files import code_csv, write_private


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

    def _kept(self, batch_id: int) -> Path:
        return self.folder() / f"batch-{batch_id}.txt"

    def keep(self, batch_id: int, codes: Sequence[str]) -> None:
        """Keep a batch's codes (mode 0600) until it is delivered and submitted."""
        path = self._kept(batch_id)
        path.unlink(missing_ok=True)
        write_private(path, code_csv(codes, header=False), sync=True)

    def kept(self, batch_id: int) -> list[str] | None:
        """The kept codes of a batch, or None when none were kept."""
        try:
            return [c for c in self._kept(batch_id).read_text(encoding="utf-8").splitlines() if c]
        except FileNotFoundError:
            return None

    def forget(self, batch_id: int) -> None:
        self._kept(batch_id).unlink(missing_ok=True)

    def upload_path(self, batch_id: int) -> Path:
        """Where a batch's upload CSV is written during its POST (a fresh path: an earlier
        file of the batch is removed)."""
        path = self.folder() / f"upload-{batch_id}.csv"
        path.unlink(missing_ok=True)
        return path

    def sweep(self, delivering: Collection[int]) -> int:
        """Remove every upload CSV (a POST is over when a run starts) and the kept codes of
        every batch but those still being delivered (``delivering``: their ids). Returns how
        many files went."""
        keep = {f"batch-{batch_id}.txt" for batch_id in delivering}
        removed = 0
        for path in self.folder().iterdir():
            if path.name not in keep and path.name.startswith(("batch-", "upload-")):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
