"""Refilling coupon sets safely: ledger -> CSV -> import -> poll -> ledger.

A :class:`Refiller` carries out refills under the ledger's write-ahead protocol (see
:mod:`voucherbot.ledger.batches`):

1. the codes (fresh ones, checked against every fingerprint in the ledger, or the next unused
   ones of the shop's pool: :mod:`voucherbot.refill.sources`) are committed with their batch
   (``prepared``) before anything leaves the process;
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
the start of every run, what an earlier run left open (:mod:`voucherbot.refill.recovery`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from voucherbot.codes import CodeSpec
from voucherbot.config import Config, RuleSettings
from voucherbot.config.settings import ImportPolicy, PollSettings, ShopSettings, SinkSettings
from voucherbot.connectif.client import MAX_IMPORT_BYTES, ConnectifClient
from voucherbot.connectif.models import CouponSet, Import, ImportStatus
from voucherbot.connectif.poll import PollTimeoutError, ProgressCallback, poll_imports
from voucherbot.errors import (
    ApiError,
    AuthError,
    PermissionDeniedError,
    VoucherbotError,
)
from voucherbot.ledger import Batch, BatchStatus, Ledger
from voucherbot.ledger.pending import KeptCodes
from voucherbot.refill import failpoints, recovery
from voucherbot.refill.delivery import Delivery
from voucherbot.refill.posting import (
    Finding,
    LookupFailed,
    Posted,
    QueueFull,
    check_answer,
    look,
    post_batch,
)
from voucherbot.refill.rejected import mark_rejected
from voucherbot.refill.results import RefillResult, result_of
from voucherbot.refill.sources import record_batch
from voucherbot.shop.sinks import Sink, make_sink

__all__ = ["LONG_REFILL", "RESOLVE_HINT", "QueueFull", "Refiller"]

log = logging.getLogger("voucherbot.refill")  # its name in logs since before the subpackages

#: What ``voucherbot resolve`` is for, said wherever a batch is left unresolved.
RESOLVE_HINT = (
    "the set is held until it is settled: look for the import in Connectif, then "
    "'voucherbot resolve {id} --adopt IMPORT_ID' or 'voucherbot resolve {id} "
    "--abandon'"
)


#: Refills of at least this many codes say what they are doing before their import starts.
LONG_REFILL = 100_000


@dataclass(kw_only=True)
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
    _notes: dict[int, str] = field(default_factory=dict, repr=False)
    _delivery: Delivery = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._delivery = Delivery(self.ledger, self.sink_factory, self._notes)

    def sink_for(self, shop: ShopSettings) -> Sink:
        """The run's sink for a shop (built once)."""
        return self._delivery.sink(shop)

    def check_sinks(self) -> None:
        """Build every sink the rules name now, so a missing secret or a bad URL stops the
        run before any API call (not half-way, with a batch prepared)."""
        if self.config is not None:
            for shop in self.config.shops:
                if shop.source == "generate":
                    self._delivery.sink(shop)

    # --- one batch -----------------------------------------------------------------------------

    def submit(self, batch: Batch, codes: KeptCodes) -> Batch:
        """Upload the batch's codes (see :mod:`voucherbot.refill.posting`); returns the batch as
        ``submitted``, ``finished`` (an import that ended at once), ``failed``,
        ``unresolved``, or still ``submitting`` when the search for the import an ambiguous
        answer may have made failed (the next run searches again). A refused API key is
        recorded, then raised; a full import queue (E0401) puts the batch back as it was and
        raises :class:`QueueFull`."""
        before = batch.status
        batch = self.ledger.mark_submitting(batch.id, self.client.now())
        failpoints.hit("after-submitting")
        posted = self._post(batch, codes.path)
        if isinstance(posted, Batch):
            return posted
        return self._answered(batch, before, posted, codes)

    def _post(self, batch: Batch, csv_path: Path) -> Posted | Batch:
        """POST the batch under the one retry policy: how the POSTs ended, or the batch when
        an answer settled it at once (a refusal, or a failed search for its import)."""
        try:
            return post_batch(
                lambda: self._send(batch, csv_path),
                lambda: self.find(batch.id, answered_at=self.client.now()),
                self.policy,
                backoff=self.client.backoff_delay,
                sleep=self.sleep,
                label=f"batch {batch.id}",
            )
        except LookupFailed as lost:  # the import may exist: the next run looks again
            batch = self.ledger.mark_waiting(
                batch.id, f"{lost}; the batch stays open and the next run looks for its import"
            )
            if isinstance(lost.cause, AuthError | PermissionDeniedError):
                raise lost.cause from None
            return batch
        except (AuthError, PermissionDeniedError) as exc:
            self.ledger.mark_failed(batch.id, str(exc))
            raise
        except ApiError as exc:  # any other answer: refused, nothing created
            return self.ledger.mark_failed(batch.id, str(exc))

    def _send(self, batch: Batch, csv_path: Path) -> Import:
        """One POST of the batch's CSV, its answer checked (:func:`check_answer`)."""
        imp = self.client.create_coupon_import(
            batch.coupon_set_id,
            csv_path,
            filename=f"voucherbot-batch-{batch.id}.csv",
            on_sent=lambda: self.ledger.mark_posted(batch.id, self.client.now()),
        )
        return check_answer(imp, batch, self.ledger.known_import_ids())

    def _answered(
        self, batch: Batch, before: BatchStatus, posted: Posted, codes: KeptCodes
    ) -> Batch:
        """Commit how the POSTs ended (``before``: the batch's status before them)."""
        if posted.queue_full is not None:  # nothing created: try again when there is room
            held = self.ledger.mark_unsent(batch.id, before, uploaded_before=posted.was_ambiguous)
            raise QueueFull(held, codes) from posted.queue_full
        if posted.failed is not None:
            return self.ledger.mark_failed(batch.id, posted.failed)
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
        """Commit how an import ended; mark the rejected codes from its error report. Only
        its first end counts (a list that holds an import twice reports its end twice)."""
        current = self.ledger.batch(batch.id)
        if current.status != BatchStatus.SUBMITTED:
            return current
        ended = imp.finished_at or imp.cancelled_at or self.client.now()
        if imp.status != ImportStatus.FINISHED:
            error = f"import {imp.id} ended as {imp.status}"
            return self.ledger.mark_failed(batch.id, error, imp=imp, ended=ended)
        if imp.processed < batch.count:
            # "finished" with rows neither imported nor rejected is not a success, whatever
            # the import says its total is
            error = (
                f"import {imp.id} says finished but accounts for "
                f"{imp.processed:,} of the batch's {batch.count:,} rows"
            )
            return self.ledger.mark_failed(batch.id, error, imp=imp, ended=ended)
        rejected = None
        if imp.errors and imp.error_report_file_url:
            rejected, unknown = mark_rejected(
                self.client, self.ledger, batch, imp.error_report_file_url
            )
            if unknown is not None:
                self._report_unknown(batch, unknown)
        return self.ledger.mark_finished(batch.id, imp, ended=ended, rejected=rejected)

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
        by_import = {
            b.import_id: b for b in batches if b.status == BatchStatus.SUBMITTED and b.import_id
        }

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
        return self.ledger.mark_still_running(batch.id, last)

    def settle(self) -> list[RefillResult]:
        """Finish the story of every batch an earlier run left open
        (:mod:`voucherbot.refill.recovery`); unresolved batches are reported again, as
        failures, until a person settles them."""
        return recovery.settle(self)

    def deliver(
        self,
        batch: Batch,
        codes: KeptCodes,
        shop: ShopSettings,
        *,
        spec: CodeSpec | None = None,
        again: bool = False,
    ) -> Batch:
        """Hand generated codes to the shop's sink before Connectif gets them
        (:mod:`voucherbot.refill.delivery`): codes it refuses are replaced by fresh ones of
        shape ``spec``; a refusal of the whole batch fails it."""
        return self._delivery.deliver(batch, codes, shop, spec=spec, again=again)

    # --- a refill ------------------------------------------------------------------------------

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
        recorded = self._say_recorded(coupon_set, count)
        try:
            batch, note = record_batch(
                self.ledger,
                self.run_id,
                coupon_set,
                count,
                settings,
                part_of=part_of,
                on_chunk=recorded,
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
        codes = self.ledger.kept_codes(batch.id)
        if codes is None:  # written before the batch committed; someone removed it since
            return self._posted(
                self.ledger.mark_abandoned(batch.id, "its codes' file was removed"), coupon_set
            )
        batch = self.deliver(batch, codes, settings.shop, spec=settings.code)
        if batch.status in (BatchStatus.DELIVERED, BatchStatus.PREPARED):
            batch = self.submit(batch, KeptCodes(codes.path))  # may raise QueueFull
        return self._posted(batch, coupon_set)

    def _say_recorded(self, coupon_set: CouponSet, count: int) -> Callable[[int], None] | None:
        """For a long refill: say that its codes are being generated, and return what says
        how many are recorded, at every tenth (None for a short refill)."""
        say = self.on_phase if count >= LONG_REFILL else None
        if say is None:
            return None
        name = f"{coupon_set.name} ({coupon_set.id})"
        say(f"{name}: generating and recording {count:,} codes...")
        step = [count // 10]  # a line at every tenth recorded

        def recorded(done: int) -> None:
            if done >= step[0] or done == count:
                say(f"{name}: {done:,} of {count:,} codes recorded in the ledger")
                step[0] = done + count // 10

        return recorded

    def retry_queued(self, refused: QueueFull, coupon_set: CouponSet) -> Batch | RefillResult:
        """Post a batch again that E0401 turned away (may raise QueueFull again)."""
        return self._posted(self.submit(refused.batch, refused.codes), coupon_set)

    def _posted(self, batch: Batch, coupon_set: CouponSet) -> Batch | RefillResult:
        """After the POST: the batch to follow, or its result when its import is not running
        (the codes kept for re-delivery are no longer needed either way)."""
        self.ledger.forget_codes(batch.id)
        if batch.status != BatchStatus.SUBMITTED:
            return replace(result_of(batch), coupon_set=coupon_set, note=self.note(batch.id))
        return batch

    def note(self, batch_id: int | None) -> str | None:
        """What to know about a batch that is not a failure (a short pool), if anything."""
        return self._notes.get(batch_id) if batch_id is not None else None
