"""The codes a ledger has issued, as keyed fingerprints, never as plaintext.

A fingerprint is the first 16 bytes of the code's HMAC-SHA256 under the ledger's secret
(:mod:`voucherbot.ledger.opening`); every code ever issued has one, with the batch it belongs
to, so no code is issued twice, in any batch or set.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager

from voucherbot.codes import CodeSpec, generate
from voucherbot.errors import VoucherbotError
from voucherbot.ledger.records import BatchStatus, shape_key
from voucherbot.ledger.sql import marks, transaction

FINGERPRINT_BYTES = 16
_CHUNK = 5000
_INSERT_CHUNK = 100_000


class Fingerprinted(list[str]):
    """Codes with their fingerprints, worked out once: ``prints`` holds 16 bytes per code, in
    the codes' order (16 MB for a million), so that the check against the ledger and the
    insert that records them do not each compute an HMAC of every code."""

    prints: bytes = b""

    def print_of(self, index: int) -> bytes:
        return self.prints[index * FINGERPRINT_BYTES : (index + 1) * FINGERPRINT_BYTES]


class CodeStore:
    """The codes of a ledger's database (the base of its
    :class:`~voucherbot.ledger.batches.BatchStore`)."""

    def __init__(self, db: sqlite3.Connection, secret: bytes) -> None:
        self.db = db
        self._secret = secret

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self.db)

    def fingerprint(self, code: str) -> bytes:
        return hmac.digest(self._secret, code.encode(), "sha256")[:FINGERPRINT_BYTES]

    def issued(self, codes: Sequence[str]) -> set[str]:
        """The subset of ``codes`` the ledger has issued before (in any batch, any set).

        Checked a few thousand at a time, so a million codes cost little memory.
        """
        return self._check(codes, None)

    def _check(self, codes: Sequence[str], prints: bytearray | None) -> set[str]:
        """:meth:`issued`, appending each code's fingerprint to ``prints`` (when given) on the
        way."""
        found: set[str] = set()
        for start in range(0, len(codes), _CHUNK):
            chunk = codes[start : start + _CHUNK]
            chunk_prints = [self.fingerprint(c) for c in chunk]
            if prints is not None:
                prints += b"".join(chunk_prints)
            by_print = dict(zip(chunk_prints, chunk, strict=True))
            for (fp,) in self.db.execute(
                f"SELECT fingerprint FROM codes WHERE fingerprint IN ({marks(by_print)})",  # noqa: S608
                list(by_print),
            ):
                found.add(by_print[bytes(fp)])
        return found

    def issued_count(self, shape: str) -> int:
        row = self.db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM batches WHERE shape = ? AND status != ?",
            (shape, BatchStatus.ABANDONED),
        ).fetchone()
        return int(row[0])

    def fresh_codes(self, spec: CodeSpec, count: int, *, rounds: int = 32) -> Fingerprinted:
        """``count`` new codes of shape ``spec`` that the ledger has never issued, with their
        fingerprints (each code is fingerprinted once: :meth:`new_batch` reuses them)."""
        before = self.issued_count(shape_key(spec))
        drawn = generate(spec, count, issued_count=before)
        prints = bytearray()
        clash = self._check(drawn, prints)
        if not clash:  # nearly always: a fresh random code is almost never an old one
            fresh = Fingerprinted(drawn)
            fresh.prints = bytes(prints)
            return fresh
        chosen, kept = self._without(drawn, prints, clash)
        taken = set(drawn)  # a code drawn (fresh or found issued) is not drawn again
        for _ in range(rounds):
            more = generate(
                spec, count - len(chosen), issued=taken, issued_count=before + len(chosen)
            )
            more_prints = bytearray()
            clash = self._check(more, more_prints)
            fresh_more, fresh_prints = self._without(more, more_prints, clash)
            chosen += fresh_more
            kept += fresh_prints
            taken.update(more)
            if len(chosen) == count:
                fresh = Fingerprinted(chosen)
                fresh.prints = bytes(kept)
                return fresh
        raise VoucherbotError(
            f"could not find {count:,} codes the ledger has not issued before "
            f"after {rounds} rounds; use a longer code shape"
        )

    @staticmethod
    def _without(
        codes: Sequence[str], prints: bytes | bytearray, clash: set[str]
    ) -> tuple[list[str], bytearray]:
        """``codes`` and their fingerprints, less those in ``clash``."""
        kept_codes, kept_prints = [], bytearray()
        for i, code in enumerate(codes):
            if code not in clash:
                kept_codes.append(code)
                kept_prints += prints[i * FINGERPRINT_BYTES : (i + 1) * FINGERPRINT_BYTES]
        return kept_codes, kept_prints

    def mark_rejected(self, batch_id: int, codes: Iterable[str]) -> int:
        """Mark the codes of a batch that the import rejected; returns how many matched."""
        fps = [(self.fingerprint(c), batch_id) for c in codes]
        with self._transaction():
            cursor = self.db.executemany(
                "UPDATE codes SET state = 'rejected' WHERE fingerprint = ? AND batch_id = ?", fps
            )
        return cursor.rowcount

    def _record_codes(
        self, batch_id: int, codes: Sequence[str], on_chunk: Callable[[int], None] | None
    ) -> None:
        """Insert the fingerprints of a new batch's codes (inside its transaction)."""
        # sorted a chunk at a time: inserts land near each other in the index,
        # several times faster than in random order, for little memory
        known = isinstance(codes, Fingerprinted) and len(codes.prints) == len(codes) * (
            FINGERPRINT_BYTES
        )
        for start in range(0, len(codes), _INSERT_CHUNK):
            end = min(start + _INSERT_CHUNK, len(codes))
            if known:  # worked out when the codes were checked: not again
                assert isinstance(codes, Fingerprinted)
                prints = sorted(codes.print_of(i) for i in range(start, end))
            else:
                prints = sorted(map(self.fingerprint, codes[start:end]))
            self.db.executemany(
                "INSERT INTO codes (fingerprint, batch_id) VALUES (?, ?)",
                ((fp, batch_id) for fp in prints),
            )
            if on_chunk is not None:
                on_chunk(min(start + _INSERT_CHUNK, len(codes)))
