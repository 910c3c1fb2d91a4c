"""Refilling coupon sets safely: ledger -> CSV -> import -> poll -> ledger.

A :class:`Refiller` carries out refills under the ledger's write-ahead protocol (see
:mod:`voucherbot.ledger`):

1. fresh codes, checked against every fingerprint in the ledger, are committed with their
   batch (``prepared``) before anything leaves the process;
2. the batch is marked ``submitting``, the CSV (mode 0600, in a private temporary directory)
   is uploaded, and the import id is committed (``submitted``) as soon as the POST answers;
3. all imports in flight are followed in one poll loop, and each outcome is committed as soon
   as it is known (``finished``, with the rows rejected marked from the error report; or
   ``failed``).

The POST is retried only when no import can have been created (a 5xx or 429 answer, or a
connection refused before sending). After an ambiguous failure (the connection broke after the
request went out) the refiller looks for the import in ``GET /imports/`` (same coupon set, same
row count, created after the batch was submitted, not known to the ledger) and adopts it; if
there is none, the batch is ``abandoned``: its codes never reached Connectif and are never
issued again. :meth:`Refiller.settle` applies the same rules, at the start of every run, to
batches an earlier run left open.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from voucherbot import failpoints
from voucherbot.codes import CodeSpec
from voucherbot.connectif import ConnectifClient
from voucherbot.errors import (
    ApiError,
    AuthError,
    NetworkError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    VoucherbotError,
)
from voucherbot.ledger import Batch, Ledger
from voucherbot.models import CouponSet, Import
from voucherbot.planner import Plan
from voucherbot.poll import PollSettings, PollTimeoutError, ProgressCallback, poll_imports

log = logging.getLogger(__name__)

#: Pages of GET /imports/ searched when adopting an import whose POST answer was lost.
RECONCILE_PAGES = 5
#: How far the server's clock may lag behind ours when matching an import to a batch.
CLOCK_SKEW = timedelta(minutes=5)
#: Abandoned batches younger than this are matched again at every settle, in case their
#: import shows up late in Connectif's list.
READOPT_WINDOW = timedelta(days=2)


@dataclass(frozen=True)
class RefillResult:
    """What one refill did: the set, how many codes were sent, and how its import ended."""

    coupon_set: CouponSet
    requested: int
    final: Import | None = None
    dry_run: bool = False
    error: str | None = None  #: why the refill did not start or did not end
    batch_id: int | None = None
    resumed: bool = False  #: a batch an earlier run left open
    abandoned: bool = False  #: its codes never reached Connectif

    @property
    def ok(self) -> bool:
        """True for a dry run, nothing to do, or an import that finished with no error rows.

        An earlier run's batch found abandoned is not a failure of this run: its codes never
        left, and the set is planned afresh.
        """
        if self.resumed and self.abandoned:
            return True
        if self.error is not None:
            return False
        return self.final is None or self.final.succeeded_cleanly

    def summary(self) -> str:
        name = f"{self.coupon_set.name} ({self.coupon_set.id})"
        if self.error is not None:
            return f"{name}: FAILED: {self.error}"
        if self.requested == 0:
            return f"{name}: nothing to do, {self.coupon_set.available} available"
        if self.dry_run or self.final is None:
            return f"{name}: would import {self.requested:,} new codes (dry run)"
        imp = self.final
        text = (
            f"{name}: import {imp.id} {imp.status}: {imp.success:,} imported, "
            f"{imp.errors:,} failed of {self.requested:,} sent"
        )
        if imp.errors and imp.error_report_file_url:
            text += f"; error report: {imp.error_report_file_url}"
        return text


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run: the batches settled from earlier runs, then this run's refills."""

    plan: Plan
    results: tuple[RefillResult, ...]
    settled: tuple[RefillResult, ...] = ()

    @property
    def all(self) -> tuple[RefillResult, ...]:
        return self.settled + self.results

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.all)

    @property
    def failed(self) -> tuple[RefillResult, ...]:
        return tuple(r for r in self.all if not r.ok)


def write_codes_csv(path: Path, codes: Iterable[str]) -> int:
    """Write a Connectif coupon CSV (header ``code``) at ``path``, created with mode 0600.

    Returns the number of codes written. The file must not exist yet (codes are never written
    over another file). Codes never contain ``,``, ``;`` or quotes (the code generator refuses
    them), so the one-column CSV needs no quoting and suits either delimiter.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.write("code\n")
        for code in codes:
            out.write(code)
            out.write("\n")
            count += 1
    return count


def result_of(batch: Batch, *, resumed: bool = False) -> RefillResult:
    """A batch as the ledger records it, as a RefillResult."""
    coupon_set = CouponSet(
        id=batch.coupon_set_id,
        name=batch.coupon_set_name or batch.coupon_set_id,
        type="multiple",
        assigned=0,
    )
    final = None
    if batch.import_id is not None:
        final = Import(
            id=batch.import_id,
            status=batch.import_status or "queued",
            total=batch.total,
            success=batch.success or 0,
            errors=batch.errors or 0,
            error_report_file_url=batch.error_report_url,
            coupon_set_id=batch.coupon_set_id,
        )
    error = None
    if batch.status == "submitted":
        status = final.status if final else "running"
        error = (
            f"import {batch.import_id} still {status} when the poll deadline passed; "
            f"the next run follows it (or: voucherbot imports {batch.import_id})"
        )
    elif batch.status in ("failed", "abandoned"):
        error = batch.error or batch.status
    elif batch.status != "finished":
        error = f"batch {batch.id} is still {batch.status}"
    return RefillResult(
        coupon_set,
        batch.count,
        final,
        error=error,
        batch_id=batch.id,
        resumed=resumed,
        abandoned=batch.status == "abandoned",
    )


@dataclass
class Refiller:
    """Carries out refills for one run, recording every step in the ledger."""

    client: ConnectifClient
    ledger: Ledger
    run_id: int | None = None
    poll: PollSettings = field(default_factory=PollSettings)
    workdir: Path | None = None
    on_progress: ProgressCallback | None = None
    sleep: Callable[[float], None] = time.sleep
    post_retries: int = 2

    # --- one batch -----------------------------------------------------------------------------

    def prepare(self, coupon_set: CouponSet, count: int, spec: CodeSpec) -> tuple[Batch, list[str]]:
        """Fresh codes, committed with their batch before any of them leaves the process."""
        codes = self.ledger.fresh_codes(spec, count)
        batch = self.ledger.new_batch(self.run_id, coupon_set, codes, spec)
        failpoints.hit("after-batch")
        return batch, codes

    def submit(self, batch: Batch, codes: list[str]) -> Batch:
        """Upload the batch's codes; returns the batch as ``submitted``, ``failed`` or
        ``abandoned``. A refused API key is recorded, then raised."""
        with tempfile.TemporaryDirectory(prefix="voucherbot-", dir=self.workdir) as tmp:
            csv_path = Path(tmp) / f"codes-{batch.coupon_set_id}-{batch.id}.csv"
            write_codes_csv(csv_path, codes)
            batch = self.ledger.update(
                batch.id, status="submitting", submitted_at=datetime.now(UTC).isoformat()
            )
            failpoints.hit("after-submitting")
            attempt = 0
            while True:
                try:
                    imp = self.client.create_coupon_import(
                        batch.coupon_set_id, csv_path, filename=f"voucherbot-batch-{batch.id}.csv"
                    )
                    break
                except NetworkError as exc:
                    if not exc.sent and attempt < self.post_retries:
                        attempt += 1
                        self.sleep(self.poll.interval * attempt)
                        continue
                    if not exc.sent:
                        return self.ledger.update(batch.id, status="failed", error=str(exc))
                    log.warning(
                        "batch %d: %s; looking for the import it may have created", batch.id, exc
                    )
                    return self.reconcile(batch)
                except (ServerError, RateLimitedError) as exc:
                    if attempt < self.post_retries:  # an answer: no import was created
                        attempt += 1
                        self.sleep(self.poll.interval * attempt)
                        continue
                    return self.ledger.update(batch.id, status="failed", error=str(exc))
                except (AuthError, PermissionDeniedError) as exc:
                    self.ledger.update(batch.id, status="failed", error=str(exc))
                    raise
                except ApiError as exc:  # any other answer: refused, nothing created
                    return self.ledger.update(batch.id, status="failed", error=str(exc))
        failpoints.hit("post-answered")
        batch = self.ledger.update(
            batch.id,
            status="submitted",
            import_id=imp.id,
            import_status=imp.status,
            total=imp.total,
        )
        failpoints.hit("after-import-id")
        if self.on_progress is not None:
            self.on_progress(imp)
        if imp.is_terminal:
            batch = self.record(batch, imp)
        return batch

    def reconcile(self, batch: Batch, imports: list[Import] | None = None) -> Batch:
        """Adopt the import a lost POST answer created, or mark the batch abandoned."""
        if imports is None:
            imports = self.client.list_imports(max_pages=RECONCILE_PAGES)
        found = self._match(batch, imports)
        if found is not None:
            log.warning("batch %d: adopted import %s (%s)", batch.id, found.id, found.status)
            return self.ledger.update(
                batch.id,
                status="submitted",
                import_id=found.id,
                import_status=found.status,
                total=found.total,
                error=None,
            )
        if batch.status == "abandoned":
            return batch
        return self.ledger.update(
            batch.id,
            status="abandoned",
            error="the import was never created: its codes did not reach Connectif",
        )

    def _match(self, batch: Batch, imports: list[Import]) -> Import | None:
        if batch.submitted_at is None:
            return None
        known = self.ledger.known_import_ids()
        earliest = batch.submitted_at - CLOCK_SKEW
        candidates = [
            imp
            for imp in imports
            if imp.coupon_set_id == batch.coupon_set_id
            and imp.id not in known
            and imp.total in (None, batch.count)
            and imp.origin in (None, "api")
            and imp.created_at is not None
            and imp.created_at >= earliest
        ]
        return min(candidates, key=lambda i: (i.created_at, i.id)) if candidates else None

    def record(self, batch: Batch, imp: Import) -> Batch:
        """Commit how an import ended; mark the rejected codes from its error report."""
        fields: dict[str, object] = {
            "import_status": imp.status,
            "total": imp.total,
            "success": imp.success,
            "errors": imp.errors,
            "error_report_url": imp.error_report_file_url,
        }
        if imp.status == "finished":
            fields["status"] = "finished"
            if imp.errors and imp.error_report_file_url:
                fields["rejected"] = self._mark_rejected(batch, imp.error_report_file_url)
        else:
            fields["status"] = "failed"
            fields["error"] = f"import {imp.id} ended as {imp.status}"
        return self.ledger.update(batch.id, **fields)

    def _mark_rejected(self, batch: Batch, url: str) -> int | None:
        try:
            content = self.client.download(url).decode("utf-8-sig", errors="replace")
        except VoucherbotError as exc:
            log.warning("batch %d: could not download the error report: %s", batch.id, exc)
            return None
        rows = list(csv.reader(io.StringIO(content)))
        if not rows:
            return 0
        header = [h.strip().lower() for h in rows[0]]
        column = header.index("code") if "code" in header else 0
        codes = [row[column].strip() for row in rows[1:] if len(row) > column]
        return self.ledger.mark_rejected(batch.id, [c for c in codes if c])

    # --- many batches --------------------------------------------------------------------------

    def follow(self, batches: list[Batch]) -> list[RefillResult]:
        """Poll the imports of submitted batches together; record each end as it comes."""
        by_import = {b.import_id: b for b in batches if b.status == "submitted" and b.import_id}

        def done(imp: Import) -> None:
            self.record(by_import[imp.id], imp)

        def progress(imp: Import) -> None:
            failpoints.hit("polling")
            if self.on_progress is not None:
                self.on_progress(imp)

        if by_import:
            try:
                poll_imports(
                    self.client,
                    list(by_import),
                    settings=self.poll,
                    on_progress=progress,
                    on_done=done,
                    wait_first=True,
                    sleep=self.sleep,
                )
            except PollTimeoutError as exc:
                for import_id, last in exc.pending.items():
                    self.ledger.update(
                        by_import[import_id].id,
                        import_status=last.status,
                        success=last.success,
                        errors=last.errors,
                    )
        return [result_of(self.ledger.batch(b.id)) for b in batches]

    def settle(self) -> list[RefillResult]:
        """Finish the story of every batch an earlier run left open (see the module doc)."""
        open_batches = self.ledger.open_batches()
        since = datetime.now(UTC) - READOPT_WINDOW
        abandoned = self.ledger.recently_abandoned(since)
        if not open_batches and not abandoned:
            return []
        imports: list[Import] | None = None
        if abandoned or any(b.status == "submitting" for b in open_batches):
            imports = self.client.list_imports(max_pages=RECONCILE_PAGES)
        results: list[RefillResult] = []
        to_follow: list[Batch] = []
        for b in open_batches:
            if b.status == "submitting":
                b = self.reconcile(b, imports)
            elif b.status != "submitted":  # codes never left the process
                b = self.ledger.update(
                    b.id, status="abandoned", error="the run stopped before sending the codes"
                )
            if b.status == "submitted":
                to_follow.append(b)
            else:
                results.append(result_of(b, resumed=True))
        for b in abandoned:
            adopted = self.reconcile(b, imports)
            if adopted.status == "submitted":
                to_follow.append(adopted)
        return results + [replace(r, resumed=True) for r in self.follow(to_follow)]

    def refill(self, coupon_set: CouponSet, count: int, spec: CodeSpec) -> Batch | RefillResult:
        """Prepare and submit one refill; a RefillResult when it could not start."""
        try:
            batch, codes = self.prepare(coupon_set, count, spec)
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
        submitted = self.submit(batch, codes)
        del codes
        if submitted.status != "submitted":
            return replace(result_of(submitted), coupon_set=coupon_set)
        return submitted

    def run_plan(self, plan: Plan, settled: Iterable[RefillResult] = ()) -> RunResult:
        """Submit one import per refill decision, then follow them all together."""
        started: list[Batch] = []
        early: dict[str, RefillResult] = {}
        for decision in plan.refills:
            outcome = self.refill(decision.coupon_set, decision.count, decision.settings.code)
            if isinstance(outcome, RefillResult):
                early[decision.coupon_set.id] = outcome
            else:
                started.append(outcome)
        followed = {r.coupon_set.id: r for r in self.follow(started)}
        results = []
        for decision in plan.refills:
            cs = decision.coupon_set
            results.append(
                early[cs.id] if cs.id in early else replace(followed[cs.id], coupon_set=cs)
            )
        return RunResult(plan, tuple(results), tuple(settled))
