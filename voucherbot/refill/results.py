"""What refills did: :class:`RefillResult` per set and :class:`RunResult` per run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from voucherbot.connectif.models import CouponSet, Import, ImportStatus
from voucherbot.ledger import Batch, BatchStatus
from voucherbot.planning.planner import Plan
from voucherbot.text import plural


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
    #: nobody can tell whether its import exists; the set is held until a person settles it
    unresolved: bool = False
    note: str | None = None  #: something to know that is not a failure (a short pool...)

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

    def summary(self, *, links: bool = True) -> str:
        """One line for people; ``links=False`` leaves out the error report's URL (an
        unauthenticated link to a CSV of codes: for the terminal and the ledger, never for a
        chat message)."""
        name = f"{self.coupon_set.name} ({self.coupon_set.id})"
        if self.error is not None:
            return f"{name}: {'UNRESOLVED' if self.unresolved else 'FAILED'}: {self.error}"
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
            text += (
                f"; error report: {imp.error_report_file_url}"
                if links
                else "; 'voucherbot imports' lists its error report"
            )
        if self.note:
            text += f"; {self.note}"
        return text


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run: the batches settled from earlier runs, then this run's refills."""

    plan: Plan
    results: tuple[RefillResult, ...]
    settled: tuple[RefillResult, ...] = ()
    #: unused codes left in the pool of each set refilled from a pool, after the run
    pool_remaining: Mapping[str, int] = field(default_factory=dict)

    @property
    def all(self) -> tuple[RefillResult, ...]:
        return self.settled + self.results

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.all)

    @property
    def failed(self) -> tuple[RefillResult, ...]:
        return tuple(r for r in self.all if not r.ok)

    @property
    def imported(self) -> int:
        """Codes imported, by this run's refills and the earlier ones it settled."""
        return sum(r.final.success for r in self.all if r.final is not None and not r.abandoned)

    def summary(self, *, failures: bool = True) -> str:
        """One line: "3 of 4 refills succeeded; 14,763 codes imported." (and, with
        ``failures``, the sets whose refills failed)."""
        if not self.all:
            return f"Nothing to do: {plural(len(self.plan.decisions), 'set')} checked."
        done = len(self.results) - sum(not r.ok for r in self.results)
        total = (
            f"{done} of {plural(len(self.results), 'refill')} succeeded; "
            if self.results
            else "No new refills; "
        )
        line = f"{total}{plural(self.imported, 'code')} imported."
        if failures and self.failed:
            line += " Failed: " + ", ".join(r.coupon_set.name for r in self.failed) + "."
        return line


def result_of(batch: Batch, *, resumed: bool = False) -> RefillResult:
    """A batch as the ledger records it, as a RefillResult."""
    coupon_set = CouponSet(
        id=batch.coupon_set_id,
        name=batch.coupon_set_name or batch.coupon_set_id,
        type="multiple",
        assigned=0,
    )
    final = import_of(batch) if batch.import_id is not None else None
    error = None
    if batch.status == BatchStatus.SUBMITTED:
        status = final.status if final else "running"
        error = (
            f"import {batch.import_id} still {status} when the poll deadline passed; "
            f"the next run follows it (or: voucherbot imports {batch.import_id})"
        )
    elif batch.status in (BatchStatus.FAILED, BatchStatus.ABANDONED, BatchStatus.UNRESOLVED):
        error = batch.error or str(batch.status)
    elif batch.status != BatchStatus.FINISHED:
        error = batch.error or f"batch {batch.id} is still {batch.status}"
    return RefillResult(
        coupon_set,
        batch.count,
        final,
        error=error,
        batch_id=batch.id,
        resumed=resumed,
        abandoned=batch.status == BatchStatus.ABANDONED,
        unresolved=batch.status == BatchStatus.UNRESOLVED,
    )


def import_of(batch: Batch) -> Import:
    """A batch's import as the ledger last saw it (``queued`` until it has seen more)."""
    return Import(
        id=batch.import_id or "",
        status=batch.import_status or ImportStatus.QUEUED,
        total=batch.total,
        success=batch.success or 0,
        errors=batch.errors or 0,
        error_report_file_url=batch.error_report_url,
        coupon_set_id=batch.coupon_set_id,
    )
