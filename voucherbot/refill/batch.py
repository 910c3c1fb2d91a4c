"""Refilling coupon sets safely: ledger -> CSV -> import -> poll -> ledger.

A :class:`Refiller` carries out refills under the ledger's write-ahead protocol (see
:mod:`voucherbot.ledger`):

1. the codes (fresh ones, checked against every fingerprint in the ledger, or the next unused
   ones of the shop's pool) are committed with their batch (``prepared``) before anything
   leaves the process;
2. generated codes go to the shop's sink first (``delivering``, then ``delivered``; kept in a
   0600 file until imported, so an interrupted delivery can be made again);
3. the batch is marked ``submitting``, the CSV (mode 0600, in the ledger's private
   ``.pending`` folder) is uploaded, ``posted_at`` is committed as its first byte leaves, and
   the import id is committed (``submitted``) as soon as the POST answers;
4. the imports in flight are followed together (:mod:`voucherbot.refill.queue` runs a whole plan)
   and each outcome is committed as soon as it is known (``finished``, with the rows rejected
   marked from the error report; or ``failed``).

The POST and its one retry policy are in :mod:`voucherbot.refill.posting`: an answer that may mean
"created" is looked up in ``GET /imports/`` before anything is sent again, and an import is
adopted only when it is provably the batch's own; otherwise the batch is ``unresolved`` and
holds its set until ``voucherbot resolve`` settles it. :meth:`Refiller.settle` finishes, at
the start of every run, what an earlier run left open: a ``submitting`` batch whose upload
never began is abandoned (its codes never left), one whose upload began is looked up the same
way.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from voucherbot.codes import CodeSpec, fill_warning
from voucherbot.config import Config, RuleSettings
from voucherbot.config.settings import ImportPolicy, PollSettings
from voucherbot.config.shop import ShopSettings, SinkSettings
from voucherbot.connectif.client import MAX_IMPORT_BYTES, ConnectifClient
from voucherbot.connectif.models import CouponSet, Import
from voucherbot.connectif.poll import PollTimeoutError, ProgressCallback, poll_imports
from voucherbot.errors import (
    ApiError,
    AuthError,
    ImportUnconfirmedError,
    PermissionDeniedError,
    VoucherbotError,
)
from voucherbot.files import code_csv, write_private
from voucherbot.ledger import Batch, Ledger, shape_key
from voucherbot.ledger.records import stamp
from voucherbot.refill import failpoints
from voucherbot.refill.posting import Finding, LookupFailed, Verdict, look, post_batch
from voucherbot.refill.results import RefillResult, result_of
from voucherbot.shop.pool import CodePool, PoolError
from voucherbot.shop.sinks import Sink, SinkBatch, SinkError, make_sink

log = logging.getLogger(__name__)

#: What ``voucherbot resolve`` is for, said wherever a batch is left unresolved.
RESOLVE_HINT = (
    "the set is held until it is settled: look for the import in Connectif, then "
    "'voucherbot resolve {id} --adopt IMPORT_ID' or 'voucherbot resolve {id} "
    "--abandon'"
)


#: Refills of at least this many codes say what they are doing before their import starts.
LONG_REFILL = 100_000


def write_codes_csv(path: Path, codes: Iterable[str]) -> int:
    """Write a Connectif coupon CSV (header ``code``) at ``path``, created with mode 0600.

    Returns the number of codes written. The file must not exist yet (codes are never written
    over another file). Codes never contain ``,``, ``;`` or quotes (the code generator refuses
    them), so the one-column CSV needs no quoting and suits either delimiter.
    """
    return write_private(path, code_csv(codes)) - 1


class QueueFull(Exception):
    """Connectif refused the POST because ten imports are queued; nothing was created, and
    the batch (back in its status before the POST) can be posted again later."""

    def __init__(self, batch: Batch, codes: list[str]) -> None:
        super().__init__(f"batch {batch.id}: the import queue is full")
        self.batch = batch
        self.codes = codes


@dataclass
class Refiller:
    """Carries out refills for one run, recording every step in the ledger."""

    client: ConnectifClient
    ledger: Ledger
    run_id: int | None = None
    poll: PollSettings = field(default_factory=PollSettings)
    on_progress: ProgressCallback | None = None
    #: told the codes the imports about to be followed carry, so a progress bar knows its end
    on_total: Callable[[int], None] | None = None
    #: told what a long refill is doing before its import starts (generating codes...)
    on_phase: Callable[[str], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    #: how imports are sent and confirmed (attempts, lookups, the counters' lag)
    policy: ImportPolicy = field(default_factory=ImportPolicy)
    #: at most this many of our imports queued or running at Connectif at once (it takes ten)
    max_in_flight: int = 8
    #: largest import file: Connectif's 50 MB, less room for the multipart envelope
    max_import_bytes: int = MAX_IMPORT_BYTES - 64 * 1024
    clock: Callable[[], float] = time.monotonic
    #: the rules, to find the shop sink of a batch an earlier run left undelivered
    config: Config | None = None
    sink_factory: Callable[[SinkSettings], Sink] = make_sink
    _sinks: dict[SinkSettings, Sink] = field(default_factory=dict, repr=False)
    _notes: dict[int, str] = field(default_factory=dict, repr=False)

    def check_sinks(self) -> None:
        """Build every sink the rules name now, so a missing secret or a bad URL stops the
        run before any API call (not half-way, with a batch prepared)."""
        if self.config is not None:
            for shop in self.config.shops:
                if shop.source == "generate":
                    self._sink(shop)

    # --- one batch -----------------------------------------------------------------------------

    def submit(self, batch: Batch, codes: list[str]) -> Batch:
        """Upload the batch's codes (see :mod:`voucherbot.refill.posting`); returns the batch as
        ``submitted``, ``finished`` (an import that ended at once), ``failed``,
        ``unresolved``, or still ``submitting`` when the search for the import an ambiguous
        answer may have made failed (the next run searches again). A refused API key is
        recorded, then raised; a full import queue (E0401) puts the batch back as it was and
        raises :class:`QueueFull`."""
        csv_path = self.ledger.upload_path(batch.id)
        try:
            write_codes_csv(csv_path, codes)
            before = batch.status
            batch = self.ledger.mark_submitting(batch.id, self.client.now())
            failpoints.hit("after-submitting")

            def send() -> Import:
                imp = self.client.create_coupon_import(
                    batch.coupon_set_id,
                    csv_path,
                    filename=f"voucherbot-batch-{batch.id}.csv",
                    on_sent=lambda: self.ledger.mark_posted(batch.id, self.client.now()),
                )
                if imp.id in self.ledger.known_import_ids():  # an answer that cannot be true
                    raise ImportUnconfirmedError(
                        f"POST /imports/: the server answered with import {imp.id}, which is "
                        "already another batch's; the import may or may not have been created"
                    )
                if imp.coupon_set_id not in (None, batch.coupon_set_id):
                    raise ImportUnconfirmedError(
                        f"POST /imports/: the server answered with import {imp.id} into coupon "
                        f"set {imp.coupon_set_id}, not {batch.coupon_set_id}; the import may or "
                        "may not have been created"
                    )
                return imp

            try:
                posted = post_batch(
                    send,
                    lambda: self.find(batch.id, answered_at=self.client.now()),
                    self.policy,
                    backoff=self.client.backoff_delay,
                    sleep=self.sleep,
                    label=f"batch {batch.id}",
                )
            except LookupFailed as lost:  # the import may exist: the next run looks again
                batch = self.ledger.update(
                    batch.id,
                    error=(f"{lost}; the batch stays open and the next run looks for its import"),
                )
                if isinstance(lost.cause, AuthError | PermissionDeniedError):
                    raise lost.cause from None
                return batch
            except (AuthError, PermissionDeniedError) as exc:
                self.ledger.update(batch.id, status="failed", error=str(exc))
                raise
            except ApiError as exc:  # any other answer: refused, nothing created
                return self.ledger.update(batch.id, status="failed", error=str(exc))
        finally:
            csv_path.unlink(missing_ok=True)
        if posted.queue_full is not None:  # nothing created: try again when there is room
            held = self.ledger.mark_unsent(batch.id, before, uploaded_before=posted.was_ambiguous)
            raise QueueFull(held, codes) from posted.queue_full
        if posted.failed is not None:
            return self.ledger.update(batch.id, status="failed", error=posted.failed)
        if posted.unresolved is not None:
            return self.unresolved(batch, posted.unresolved)
        assert posted.imp is not None
        failpoints.hit("post-answered")
        return self.accepted(batch, posted.imp)

    def find(self, batch_id: int, *, answered_at: datetime | None = None) -> Finding:
        """What GET /imports/ says about the import of a batch whose POST may have made one
        (``answered_at``: when the ambiguous answer came, by the server's clock)."""
        batch = self.ledger.batch(batch_id)
        rivals = [
            b.id
            for b in self.ledger.open_batches()
            if b.coupon_set_id == batch.coupon_set_id
            and b.id != batch.id
            and b.import_id is None
            and b.posted_at is not None
            and b.count == batch.count
        ]
        return look(
            self.client,
            batch,
            self.ledger.known_import_ids(),
            self.policy,
            self.sleep,
            answered_at=answered_at,
            rivals=rivals,
        )

    def accepted(self, batch: Batch, imp: Import) -> Batch:
        """The batch's import exists: commit its id, and its end if it has already ended."""
        batch = self.ledger.mark_submitted(batch.id, imp)
        failpoints.hit("after-import-id")
        if self.on_progress is not None:
            self.on_progress(imp)
        if imp.is_terminal:
            batch = self.record(batch, imp)
        return batch

    def unresolved(self, batch: Batch, why: str) -> Batch:
        log.error(
            "batch %d (%s): %s; %s",
            batch.id,
            batch.coupon_set_id,
            why,
            RESOLVE_HINT.format(id=batch.id),
        )
        return self.ledger.mark_unresolved(batch.id, f"{why}; {RESOLVE_HINT.format(id=batch.id)}")

    def record(self, batch: Batch, imp: Import) -> Batch:
        """Commit how an import ended; mark the rejected codes from its error report."""
        ended = imp.finished_at or imp.cancelled_at or self.client.now()
        fields: dict[str, object] = {
            "import_status": imp.status,
            "total": imp.total,
            "success": imp.success,
            "errors": imp.errors,
            "error_report_url": imp.error_report_file_url,
            "import_finished_at": stamp(ended),
        }
        if imp.status == "finished" and imp.processed < batch.count:
            # "finished" with rows neither imported nor rejected is not a success, whatever
            # the import says its total is
            fields["status"] = "failed"
            fields["error"] = (
                f"import {imp.id} says finished but accounts for "
                f"{imp.processed:,} of the batch's {batch.count:,} rows"
            )
        elif imp.status == "finished":
            fields["status"] = "finished"
            if imp.errors and imp.error_report_file_url:
                fields["rejected"] = self._mark_rejected(batch, imp.error_report_file_url)
        else:
            fields["status"] = "failed"
            fields["error"] = f"import {imp.id} ended as {imp.status}"
        return self.ledger.update(batch.id, **fields)

    def _mark_rejected(self, batch: Batch, url: str) -> int | None:
        """Mark the codes the error report lists; None (which codes were rejected is not
        known, and it is said) when the report cannot be read as a CSV of codes."""
        try:
            data = self.client.download(url)
        except VoucherbotError as exc:  # the message would name the report's (secret) path
            answer = f" ({exc.status})" if isinstance(exc, ApiError) and exc.status else ""
            self._report_unknown(batch, f"could not be downloaded{answer}")
            return None
        if data.startswith(b"PK\x03\x04"):
            self._report_unknown(batch, "is a ZIP file, not a CSV")
            return None
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"))))
        if not rows:
            return 0
        header = [h.strip().lower() for h in rows[0]]
        if "code" in header:
            column = header.index("code")
        elif len(header) == 1:
            column = 0
        else:
            self._report_unknown(batch, f"has no 'code' column (columns: {', '.join(header[:5])})")
            return None
        codes = [row[column].strip() for row in rows[1:] if len(row) > column]
        return self.ledger.mark_rejected(batch.id, [c for c in codes if c])

    def _report_unknown(self, batch: Batch, why: str) -> None:
        note = (
            f"the error report {why}; which codes were rejected is unknown (they are "
            "never issued again either way)"
        )
        log.warning("batch %d: %s", batch.id, note)
        self._notes[batch.id] = "; ".join(filter(None, [self._notes.get(batch.id), note]))

    # --- many batches --------------------------------------------------------------------------

    def follow(self, batches: list[Batch]) -> list[RefillResult]:
        """Poll the imports of submitted batches together; record each end as it comes."""
        by_import = {b.import_id: b for b in batches if b.status == "submitted" and b.import_id}

        def done(imp: Import) -> None:
            self.record(by_import[imp.id], imp)

        if by_import:
            try:
                poll_imports(
                    self.client,
                    list(by_import),
                    settings=self.poll,
                    on_progress=self.progress,
                    on_done=done,
                    wait_first=True,
                    clock=self.clock,
                    sleep=self.sleep,
                )
            except PollTimeoutError as exc:
                for import_id, last in exc.pending.items():
                    self.still_running(by_import[import_id], last)
        return [result_of(self.ledger.batch(b.id)) for b in batches]

    def progress(self, imp: Import) -> None:
        """Each state seen of an import in flight (the crash tests' 'polling' point)."""
        failpoints.hit("polling")
        if self.on_progress is not None:
            self.on_progress(imp)

    def still_running(self, batch: Batch, last: Import) -> Batch:
        """The poll deadline passed: the batch stays open, with the last state seen."""
        return self.ledger.update(
            batch.id, import_status=last.status, success=last.success, errors=last.errors
        )

    def settle(self) -> list[RefillResult]:
        """Finish the story of every batch an earlier run left open (see the module doc);
        unresolved batches are reported again, as failures, until a person settles them."""
        results: list[RefillResult] = []
        to_follow: list[Batch] = []
        for b in self.ledger.open_batches():
            if b.status in ("prepared", "delivered") and b.posted_at is not None:
                # an E0401 put it back after an upload with an ambiguous answer: that
                # upload's import, if it exists, is found first
                b = self._look_for_upload(b, "an earlier upload had an ambiguous answer") or b
            if b.status == "submitting":
                b = self._settle_submitting(b)
            elif b.status in ("delivering", "delivered"):
                b = self._resume_delivery(b)
            elif b.status not in ("submitted", "unresolved"):  # codes never left the process
                b = self.ledger.update(
                    b.id, status="abandoned", error="the run stopped before sending the codes"
                )
            if b.status == "submitted":
                to_follow.append(b)
            else:
                results.append(result_of(b, resumed=True))
        self.ledger.sweep_pending()
        if to_follow and self.on_total is not None:
            self.on_total(sum(b.count for b in to_follow))
        return results + [replace(r, resumed=True) for r in self.follow(to_follow)]

    def _settle_submitting(self, batch: Batch) -> Batch:
        """A run stopped during the POST of this batch: find out what it did."""
        if batch.posted_at is None:
            return self.ledger.update(
                batch.id,
                status="abandoned",
                error=(
                    "the run stopped before the upload began: its codes never reached Connectif"
                ),
            )
        return self._look_for_upload(
            batch, "a run stopped during the upload"
        ) or self.ledger.update(
            batch.id,
            status="abandoned",
            error=(
                "a run stopped during the upload, and GET /imports/ shows that no import was "
                "created: its codes never reached Connectif"
            ),
        )

    def _look_for_upload(self, batch: Batch, what: str) -> Batch | None:
        """Adopt the import an upload of the batch made, or leave the batch unresolved;
        None when GET /imports/ shows that there is none."""
        found = self.find(batch.id)
        if found.verdict is Verdict.ADOPT:
            assert found.imp is not None
            log.warning(
                "batch %d: adopted import %s (%s): %s",
                batch.id,
                found.imp.id,
                found.imp.status,
                what,
            )
            return self.accepted(batch, found.imp)
        if found.verdict is Verdict.UNRESOLVED:
            return self.unresolved(batch, f"{what}, and {found.why}")
        return None

    def _resume_delivery(self, batch: Batch) -> Batch:
        """Deliver an interrupted batch again (same codes, same id), then import it."""
        codes = self.ledger.kept_codes(batch.id)
        shop = self._shop_of(batch)
        if codes is None or shop is None:
            why = "its kept codes are gone" if codes is None else "no rules to find its sink"
            return self.ledger.update(
                batch.id, status="abandoned", error=f"could not deliver the batch again: {why}"
            )
        if batch.status == "delivering":
            batch = self.deliver(batch, codes, shop, again=True)
        if batch.status == "delivered":
            try:
                batch = self.submit(batch, codes)
            except QueueFull as full:  # nothing created: it stays delivered, codes kept
                return self.ledger.update(
                    full.batch.id,
                    error=("Connectif's import queue is full (E0401); the next run sends it"),
                )
        self.ledger.forget_codes(batch.id)
        return batch

    def _shop_of(self, batch: Batch) -> ShopSettings | None:
        if self.config is None:
            return None
        return self.config.rule_for(batch.coupon_set_id, batch.coupon_set_name)[1].shop

    # --- where codes come from, and the shop -----------------------------------------------------

    def _sink(self, shop: ShopSettings) -> Sink:
        if shop.sink not in self._sinks:
            self._sinks[shop.sink] = self.sink_factory(shop.sink)
        return self._sinks[shop.sink]

    def take_codes(
        self, coupon_set: CouponSet, count: int, settings: RuleSettings
    ) -> tuple[list[str], CodeSpec | None, str | None]:
        """The codes for a refill: fresh ones, or the next unused ones of the shop's pool
        (with a note when the pool held fewer than wanted, when lines were skipped, or when
        the codes issued fill a worrying share of their shape's space)."""
        shop = settings.shop
        if shop.source != "pool" or shop.pool is None:
            spec = settings.code
            codes = self.ledger.fresh_codes(spec, count)
            crowded = fill_warning(spec, self.ledger.issued_count(shape_key(spec)) + count)
            if crowded:
                log.warning("%s (%s): %s", coupon_set.name, coupon_set.id, crowded)
            return codes, spec, crowded
        take = CodePool(shop.pool).take(count, self.ledger.issued)
        skipped = [
            f"{n:,} {what}"
            for n, what in (
                (take.skipped_blank, "blank"),
                (take.skipped_duplicate, "duplicate"),
                (take.skipped_issued, "already issued"),
                (take.skipped_invalid, "invalid"),
            )
            if n
        ]
        said = f" (skipped {', '.join(skipped)})" if skipped else ""
        if not take.codes:
            raise PoolError(
                f"the code pool in {shop.pool} has no unused codes left{said}; "
                "add the shop's new codes there"
            )
        note = None
        if len(take.codes) < count:
            note = (
                f"the pool in {shop.pool} held only {len(take.codes):,} unused codes of the "
                f"{count:,} wanted{said}"
            )
        elif skipped:
            note = f"pool lines skipped: {', '.join(skipped)}"
        return take.codes, None, note

    def deliver(
        self, batch: Batch, codes: list[str], shop: ShopSettings, *, again: bool = False
    ) -> Batch:
        """Hand generated codes to the shop's sink before Connectif gets them.

        The codes are kept (mode 0600, beside the ledger) until the batch is submitted, so an
        interrupted delivery can be made again with the same codes and batch id. A refusal
        fails the batch: nothing of it is imported.
        """
        sink = self._sink(shop)
        if shop.source == "pool" or not sink.registers_codes:
            return batch
        if not again:
            self.ledger.keep_codes(batch.id, codes)
            batch = self.ledger.update(batch.id, status="delivering")
        failpoints.hit("delivering")
        try:
            sink.deliver(
                SinkBatch(
                    batch.coupon_set_id,
                    batch.coupon_set_name,
                    self.ledger.sink_batch_id(batch),
                    codes,
                )
            )
        except SinkError as exc:
            self.ledger.forget_codes(batch.id)
            return self.ledger.update(
                batch.id,
                status="failed",
                error=f"{sink.describe()} did not take the codes, so none were imported: {exc}",
            )
        return self.ledger.update(batch.id, status="delivered")

    def refill(
        self,
        coupon_set: CouponSet,
        count: int,
        settings: RuleSettings,
        *,
        part_of: int | None = None,
    ) -> Batch | RefillResult:
        """Take the codes, commit the batch, deliver it to the shop and submit the import;
        a RefillResult when it stopped before the import was created."""
        say = self.on_phase if count >= LONG_REFILL else None
        if say is not None:
            say(f"{coupon_set.name} ({coupon_set.id}): generating and recording {count:,} codes...")
        step = [count // 10]  # a line at every tenth recorded

        def recorded(done: int) -> None:
            if say is not None and (done >= step[0] or done == count):
                say(
                    f"{coupon_set.name} ({coupon_set.id}): {done:,} of {count:,} codes "
                    "recorded in the ledger"
                )
                step[0] = done + count // 10

        try:
            codes, spec, note = self.take_codes(coupon_set, count, settings)
            batch = self.ledger.new_batch(
                self.run_id, coupon_set, codes, spec, part_of=part_of, on_chunk=recorded
            )
            failpoints.hit("after-batch")
        except (AuthError, PermissionDeniedError):
            raise
        except VoucherbotError as exc:
            log.error(
                "%s (%s): refill of %d codes not started: %s",
                coupon_set.name,
                coupon_set.id,
                count,
                exc,
            )
            return RefillResult(coupon_set, count, error=str(exc))
        if note:
            self._notes[batch.id] = note
        batch = self.deliver(batch, codes, settings.shop)
        if batch.status in ("delivered", "prepared"):
            batch = self.submit(batch, codes)  # may raise QueueFull
        return self._posted(batch, coupon_set)

    def retry_queued(self, refused: QueueFull, coupon_set: CouponSet) -> Batch | RefillResult:
        """Post a batch again that E0401 turned away (may raise QueueFull again)."""
        return self._posted(self.submit(refused.batch, refused.codes), coupon_set)

    def _posted(self, batch: Batch, coupon_set: CouponSet) -> Batch | RefillResult:
        """After the POST: the batch to follow, or its result when its import is not running
        (the codes kept for re-delivery are no longer needed either way)."""
        self.ledger.forget_codes(batch.id)
        if batch.status != "submitted":
            return replace(result_of(batch), coupon_set=coupon_set, note=self.note(batch.id))
        return batch

    def note(self, batch_id: int | None) -> str | None:
        """What to know about a batch that is not a failure (a short pool), if anything."""
        return self._notes.get(batch_id) if batch_id is not None else None

    @staticmethod
    def import_of(batch: Batch) -> Import:
        return Import(
            id=batch.import_id or "",
            status=batch.import_status or "queued",
            total=batch.total,
            coupon_set_id=batch.coupon_set_id,
        )
