"""The codes a ledger has issued, as keyed fingerprints, never as plaintext.

A fingerprint is the first 16 bytes of the code's HMAC-SHA256 under the ledger's secret
(:mod:`voucherbot.ledger.opening`); every code ever issued has one, kept in the segments of
:mod:`voucherbot.ledger.segments`, so no code is issued twice, in any batch or set.

A batch's codes are checked and recorded a chunk at a time (:data:`CHUNK` codes), inside the
batch's transaction: fingerprinted once, checked against every segment, added to the batch's
own segment and written to the batch's file. A refill of any size costs the same memory.
"""

from __future__ import annotations

import hmac
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager

from voucherbot.codes import MAX_FILL, CodeSpec, generate
from voucherbot.codes.capacity import check_capacity
from voucherbot.errors import VoucherbotError
from voucherbot.files import chunked
from voucherbot.ledger import segments
from voucherbot.ledger.pending import CodeWriter, PendingCodes
from voucherbot.ledger.records import BatchStatus, shape_key
from voucherbot.ledger.segments import Segment
from voucherbot.ledger.sql import transaction

FINGERPRINT_BYTES = segments.WIDTH
#: Codes drawn, checked and recorded at a time (a few MB).
CHUNK = 100_000
#: Draws in a row that may find no new code before a shape is called too full.
ROUNDS = 32

#: Told how many of a batch's codes are recorded so far.
OnChunk = Callable[[int], None] | None


class CodeStore:
    """The codes of a ledger's database (the base of its
    :class:`~voucherbot.ledger.batches.BatchStore`)."""

    def __init__(self, db: sqlite3.Connection, secret: bytes, pending: PendingCodes) -> None:
        self.db = db
        self._secret = secret
        self._pending = pending

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self.db)

    def fingerprint(self, code: str) -> bytes:
        """The code's fingerprint, whatever its case: codes that differ only in case are one
        code (shops and pools ignore case). Codes are printable ASCII, so lower is casefold."""
        return self._hmac(code.lower())

    def _hmac(self, text: str) -> bytes:
        return hmac.digest(self._secret, text.encode(), "sha256")[:FINGERPRINT_BYTES]

    def _variants(
        self, codes: Sequence[str], prints: Sequence[bytes], held: Sequence[Segment]
    ) -> dict[bytes, bytes] | None:
        """For legacy segments (fingerprints of codes as they were written, before
        case-insensitive ones): each code's fingerprint as written and in upper case, mapped to
        its own. None when no segment is legacy (a ledger made by this version)."""
        if not any(seg.legacy for seg in held):
            return None
        variants: dict[bytes, bytes] = {}
        for code, fp in zip(codes, prints, strict=True):
            for form in {code, code.upper()} - {code.lower()}:
                variants[self._hmac(form)] = fp
        return variants

    def issued(self, codes: Iterable[str]) -> set[str]:
        """The subset of ``codes`` the ledger has issued before (in any batch, any set)."""
        found: set[str] = set()
        held = segments.listed(self.db)
        for chunk in chunked(codes, CHUNK):
            prints = [self.fingerprint(c) for c in chunk]
            segments.stage(self.db, prints, self._variants(chunk, prints, held))
            clash = segments.clashes(self.db, held)
            # a code in two cases has one fingerprint: each is issued
            found.update(c for c, fp in zip(chunk, prints, strict=True) if fp in clash)
        return found

    def issued_count(self, shape: str, *, besides: int | None = None) -> int:
        """How many codes of ``shape`` the ledger has issued (less batch ``besides``'s)."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(count), 0) FROM batches WHERE shape = ? AND status != ? "
            "AND id IS NOT ?",
            (shape, BatchStatus.ABANDONED, besides),
        ).fetchone()
        return int(row[0])

    def mark_rejected(self, batch_id: int, codes: Iterable[str]) -> int:
        """Mark the codes of a batch that the import rejected; returns how many are the
        batch's."""
        codes = list(codes)
        prints = [self.fingerprint(c) for c in codes]
        with self._transaction():
            held = segments.listed(self.db)
            segments.stage(self.db, prints, self._variants(codes, prints, held))
            mine = segments.clashes(self.db, held, batch_id=batch_id)
            self.db.executemany(
                "INSERT OR IGNORE INTO rejected_codes VALUES (?, ?)",
                ((fp, batch_id) for fp in mine),
            )
        return len(mine)

    # --- recording a batch's codes (inside its transaction) ------------------------------------

    def _record_given(
        self, seg: Segment, codes: Sequence[str], write: CodeWriter, on_chunk: OnChunk
    ) -> int:
        """Record given codes (the shop's pool, a library caller's): every one must be new."""
        check = segments.Check(self.db, seg, len(codes))
        done = 0
        for chunk in chunked(codes, CHUNK):
            prints = [self.fingerprint(c) for c in chunk]  # a code twice: staged once
            staged = segments.stage(self.db, prints, self._variants(chunk, prints, check.older))
            clash = check.clashes(staged)  # the batch's own segment: its earlier chunks
            if clash or segments.append(self.db, seg) < len(chunk):
                raise VoucherbotError(
                    "a code of this batch was issued before; not sending it "
                    "(the ledger refuses duplicates)"
                )
            check.added(staged)
            write(chunk)
            done += len(chunk)
            _tell(on_chunk, done)
        check.keep()
        return done

    def _record_fresh(
        self,
        seg: Segment,
        spec: CodeSpec,
        count: int,
        write: CodeWriter,
        on_chunk: OnChunk,
        *,
        topping_up: bool = False,
    ) -> None:
        """Draw ``count`` codes of shape ``spec`` that the ledger has never issued, and record
        them. Each code is fingerprinted once."""
        # a new batch's row already counts these codes; a batch topped up counts its own
        besides = None if topping_up else seg.batch_id
        before = self.issued_count(shape_key(spec), besides=besides)
        check_capacity(spec, count, before, MAX_FILL)
        check = segments.Check(self.db, seg, count)
        refused: set[str] = set()  # drawn, but issued before: never drawn again
        done = idle = 0
        while done < count:
            drawn = generate(
                spec, min(CHUNK, count - done), issued=refused, issued_count=before + done
            )
            prints = [self.fingerprint(c) for c in drawn]
            if len(set(prints)) < len(prints):  # one code in two cases (a mixed-case alphabet)
                first = dict(zip(prints, drawn, strict=True))
                refused.update(c for c, fp in zip(drawn, prints, strict=True) if first[fp] != c)
                drawn = [c for c, fp in zip(drawn, prints, strict=True) if first[fp] == c]
                prints = [self.fingerprint(c) for c in drawn]
            staged = segments.stage(self.db, prints, self._variants(drawn, prints, check.older))
            clash = self._add(check, staged)
            if clash:  # nearly never: a fresh random code is almost never an old one
                refused.update(c for c, fp in zip(drawn, prints, strict=True) if fp in clash)
                drawn = [c for c, fp in zip(drawn, prints, strict=True) if fp not in clash]
            idle = 0 if drawn else idle + 1
            if idle == ROUNDS:
                raise VoucherbotError(
                    f"could not find {count:,} codes the ledger has not issued before "
                    f"after {ROUNDS} rounds; use a longer code shape"
                )
            write(drawn)
            done += len(drawn)
            _tell(on_chunk, done)
        check.keep()

    def _add(self, check: segments.Check, staged: segments.Staged) -> set[bytes]:
        """Add the staged fingerprints that no segment holds (an older one, or the batch's
        own: its earlier chunks) to the batch's segment; returns those left out."""
        clash = check.clashes(staged)
        segments.unstage(self.db, clash)
        segments.append(self.db, check.own)
        check.added(staged)
        return clash


def _tell(on_chunk: OnChunk, done: int) -> None:
    if on_chunk is not None:
        on_chunk(done)
