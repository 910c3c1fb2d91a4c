"""In-memory state of one sandbox: data, clock, rate limiter, import queue, demand and faults.

One ``threading.Lock`` guards everything. Readers get copies, so nothing they hold changes
under them.

The clock is real time plus an offset that :meth:`SandboxState.advance` moves forward; every
timestamp the API shows (``createdAt``, ``updatedAt``, import times) comes from it. Imports
move lazily with the clock, real or advanced: :meth:`SandboxState.settle` brings them up to
it, and the app calls it at the start of every request. Imports run one at a time in creation
order (the documented sandbox choice: one queue per account). Each waits
``import_queue_delay`` seconds in ``queued`` (longer if an earlier import is still running),
then is ``inProgress`` while rows are processed at ``import_rows_per_second``, then
``finished``. While imports are paused (:meth:`SandboxState.pause_imports`) time passes but
no import moves.

The API shows each set's counters as Connectif does, up to ``counter_lag`` seconds behind:
:meth:`SandboxState.listed_sets` leaves out the rows an import applied less than
``counter_lag`` seconds ago (demand is shown at once). :meth:`SandboxState.coupon_sets` is
the truth, for tests.

Demand (codes handed out by active workflows, :mod:`.demand`) moves only with
:meth:`SandboxState.advance`, interleaved in time order with the imports running during the
advance. Faults (:mod:`.faults`) live in ``state.faults``.
"""

from __future__ import annotations

import copy
import math
import secrets
import threading
import time
from collections import deque
from fractions import Fraction

from voucherbot.sandbox.config import SandboxConfig
from voucherbot.sandbox.data import CouponSetRecord, WorkflowRecord, generate
from voucherbot.sandbox.demand import DemandModel, amount, seed_rates
from voucherbot.sandbox.faults import FaultInjector
from voucherbot.sandbox.imports import ImportRecord
from voucherbot.sandbox.ratelimit import RateDecision, RollingWindowLimiter

TERMINAL = frozenset({"finished", "error", "cancelled"})


class QueueFullError(Exception):
    """``max_queued_imports`` imports are already queued (Connectif's 400 E0401)."""


class NotMultipleError(ValueError):
    """Codes can only be imported into ``multiple`` coupon sets (a sandbox choice)."""


class SandboxState:
    """Everything one sandbox knows. Safe to use from several threads."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        #: The key requests must present; resolved once, here.
        self.api_key: str = self.config.api_key or "sbx-" + secrets.token_hex(12)
        #: The fault injector; see :mod:`voucherbot.sandbox.faults`.
        self.faults = FaultInjector(clock=self.now, rate_limit=lambda: self._limiter.limit)
        self._lock = threading.Lock()
        self._offset = 0.0
        seed = generate(self.config.seed, self.config.anchor, self.config.workflow_statuses)
        self._sets = {cs.id: cs for cs in seed.coupon_sets}
        self._workflows = {wf.id: wf for wf in seed.workflows}
        self._codes: dict[str, dict[str, str]] = {cs.id: {} for cs in seed.coupon_sets}
        self._imports: dict[str, ImportRecord] = {}
        #: (when, set id, rows added) of import rows not yet shown in the listed counters
        self._lagging: deque[tuple[float, str, int]] = deque()
        self._pending: deque[ImportRecord] = deque()
        self._reports: dict[str, str] = {}
        self._paused = False
        self._sim_time = self.now()
        self._limiter = RollingWindowLimiter(self.config.rate_limit)
        rates = dict.fromkeys(self._sets, 0.0)
        if self.config.demand:
            rates = seed_rates(self.config.seed, self._sets.values(), self._consuming)
        self._demand = DemandModel(self.config.demand_pattern, self.config.seed, rates)
        #: The part of the current advance whose demand is still to be handed out.
        self._window: tuple[Fraction, Fraction] | None = None
        self._demand_mark = Fraction(self._sim_time)

    # --- clock ----------------------------------------------------------------------------

    def now(self) -> float:
        """The sandbox clock in Unix seconds: real time plus everything :meth:`advance` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward: imports progress, demand hands out codes, windows expire.

        Instant whatever the step: a month costs the same as a second.
        """
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        if not math.isfinite(seconds):
            raise ValueError("the sandbox clock moves by a finite number of seconds")
        with self._lock:
            self._settle()
            start = max(Fraction(self._sim_time), self._demand_mark)
            end = start + amount(seconds)
            self._offset += seconds
            self._window, self._demand_mark = (start, end), end
            self._settle()
            self._demand_to(end)

    def settle(self) -> None:
        """Bring imports up to the current sandbox time."""
        with self._lock:
            self._settle()

    # --- requests -------------------------------------------------------------------------

    def begin_request(self, key: str, *, count: bool = True) -> RateDecision | None:
        """Settle, then count a request for ``key`` (None when it is exempt from the limit)."""
        with self._lock:
            self._settle()
            return self._limiter.hit(key, self.now()) if count else None

    @property
    def rate_limit(self) -> int:
        return self._limiter.limit

    def set_rate_limit(self, limit: int) -> None:
        """Requests per rolling 60 s per key from now on (0 disables the limit)."""
        if limit < 0:
            raise ValueError("rate limit must be 0 (off) or positive")
        with self._lock:
            self._limiter.limit = limit

    # --- coupon sets and workflows --------------------------------------------------------

    def coupon_sets(self) -> list[CouponSetRecord]:
        """Copies of every coupon set in creation order."""
        with self._lock:
            return [copy.deepcopy(cs) for cs in self._sets.values()]

    def get_set(self, set_id: str) -> CouponSetRecord:
        """A copy of one coupon set; KeyError if there is none with that id."""
        with self._lock:
            return copy.deepcopy(self._sets[set_id])

    def listed_sets(self) -> list[CouponSetRecord]:
        """The coupon sets as the API lists them: counters up to ``counter_lag`` behind."""
        with self._lock:
            hidden = self._hidden_rows()
            return [self._as_listed(cs, hidden.get(cs.id, 0)) for cs in self._sets.values()]

    def listed_sets_page(self, offset: int, limit: int) -> tuple[list[CouponSetRecord], int]:
        """One page of :meth:`listed_sets`, and how many sets there are: only the page's sets
        are copied, so listing n sets a page at a time costs O(n), not O(n²)."""
        with self._lock:
            hidden = self._hidden_rows()
            page = list(self._sets.values())[offset : offset + limit]
            return [self._as_listed(cs, hidden.get(cs.id, 0)) for cs in page], len(self._sets)

    def workflows_page(self, offset: int, limit: int) -> tuple[list[WorkflowRecord], int]:
        """One page of :meth:`workflows` (copies of the page's only), and how many there are."""
        with self._lock:
            page = list(self._workflows.values())[offset : offset + limit]
            return [copy.copy(wf) for wf in page], len(self._workflows)

    def imports_page(self, offset: int, limit: int) -> tuple[list[ImportRecord], int]:
        """One page of :attr:`imports`, newest first (copies of the page's only), and the count."""
        with self._lock:
            newest_first = list(reversed(self._imports.values()))[offset : offset + limit]
            return [copy.copy(imp) for imp in newest_first], len(self._imports)

    def listed_set(self, set_id: str) -> CouponSetRecord:
        """One coupon set as the API shows it (KeyError if unknown); see :meth:`listed_sets`."""
        with self._lock:
            return self._as_listed(self._sets[set_id], self._hidden_rows().get(set_id, 0))

    def _hidden_rows(self) -> dict[str, int]:
        """Rows added by imports that the listed counters do not show yet, by set (lock held)."""
        shown_before = self.now() - self.config.counter_lag
        while self._lagging and self._lagging[0][0] <= shown_before:
            self._lagging.popleft()
        hidden: dict[str, int] = {}
        for _, set_id, rows in self._lagging:
            hidden[set_id] = hidden.get(set_id, 0) + rows
        return hidden

    @staticmethod
    def _as_listed(cs: CouponSetRecord, hidden: int) -> CouponSetRecord:
        shown = copy.deepcopy(cs)
        if hidden:
            shown.quantity = max(0, (shown.quantity or 0) - hidden)
            shown.available = max(0, (shown.available or 0) - hidden)
        return shown

    def codes_in_set(self, set_id: str) -> set[str]:
        """Codes imported into a set through the API (seeded sets hold counters only)."""
        with self._lock:
            return set(self._codes[set_id])

    def set_available(self, set_id: str, available: int) -> None:
        """Make a set low (or full): ``available`` becomes n, keeping quantity = assigned + n."""
        if available < 0:
            raise ValueError("available must not be negative")
        with self._lock:
            cs = self._sets[set_id]
            if cs.quantity is None:
                raise ValueError(f"coupon set {set_id} has unlimited uses; it has no counter")
            if available <= cs.quantity:
                cs.assigned = cs.quantity - available
            else:
                cs.quantity = cs.assigned + available
            cs.available = available
            cs.updated_at = self.now()
            self._lagging = deque(e for e in self._lagging if e[1] != set_id)  # shown at once

    def workflows(self) -> list[WorkflowRecord]:
        with self._lock:
            return [copy.copy(wf) for wf in self._workflows.values()]

    def get_workflow(self, workflow_id: str) -> WorkflowRecord:
        with self._lock:
            return copy.copy(self._workflows[workflow_id])

    def set_workflow_status(self, workflow_id: str, status: str) -> None:
        """Change a workflow's status (one of ``config.workflow_statuses``); KeyError if unknown.

        Demand follows: a set consumes only while an active workflow uses it.
        """
        if status not in self.config.workflow_statuses:
            raise ValueError(f"status must be one of {', '.join(self.config.workflow_statuses)}")
        with self._lock:
            workflow = self._workflows[workflow_id]
            workflow.status, workflow.updated_at = status, self.now()

    # --- demand ---------------------------------------------------------------------------

    @property
    def demand_pattern(self) -> str:
        return self._demand.pattern

    def demand_rate(self, set_id: str) -> float:
        """A set's demand in codes per day (KeyError if unknown); see :mod:`.demand`."""
        with self._lock:
            return self._demand.rate(set_id)

    def demand_rates(self) -> dict[str, float]:
        """Every set's demand in codes per day, by set id."""
        with self._lock:
            return self._demand.rates()

    def add_coupon_set(
        self, name: str, *, quantity: int, available: int, workflow_ids: tuple[str, ...] = ()
    ) -> str:
        """Add a ``multiple`` set (for tests and benchmarks with many sets); returns its id.

        Its demand is 0 until :meth:`set_demand_rate`; unknown workflow ids are refused.
        """
        with self._lock:
            missing = [w for w in workflow_ids if w not in self._workflows]
            if missing:
                raise KeyError(missing[0])
            now = self.now()
            set_id = f"{int(now) & 0xFFFFFFFF:08x}{secrets.randbits(64):016x}"
            self._sets[set_id] = CouponSetRecord(
                id=set_id,
                name=name,
                type="multiple",
                assigned=quantity - available,
                quantity=quantity,
                available=available,
                created_at=now,
                updated_at=now,
                workflow_ids=list(workflow_ids),
            )
            self._codes[set_id] = {}
            self._demand.add(set_id, self.config.seed)
            return set_id

    def set_demand_rate(self, set_id: str, per_day: float) -> None:
        """Set a set's demand in codes per day from now on (KeyError if unknown)."""
        with self._lock:
            if set_id not in self._sets:
                raise KeyError(set_id)
            self._demand.set_rate(set_id, per_day)

    def consuming(self, set_id: str) -> bool:
        """Whether the set hands out codes as the clock advances (rate > 0, active workflow)."""
        with self._lock:
            return self._demand.rate(set_id) > 0 and self._consuming(self._sets[set_id])

    def _consuming(self, cs: CouponSetRecord) -> bool:
        active = self.config.workflow_statuses[1]
        return any(
            wf is not None and wf.status == active
            for wf in map(self._workflows.get, cs.workflow_ids)
        )

    def _demand_to(self, when: float | Fraction) -> None:
        """Hand out the demand of the current advance up to ``when`` (lock held)."""
        if self._window is None:
            return
        cursor, end = self._window
        stop = min(Fraction(when), end)
        if stop > cursor:
            self._demand.run(self._sets.values(), self._consuming, cursor, stop)
            cursor = stop
        self._window = None if cursor >= end else (cursor, end)

    # --- imports --------------------------------------------------------------------------

    @property
    def imports(self) -> list[ImportRecord]:
        """Copies of every import, newest first."""
        with self._lock:
            return [copy.copy(imp) for imp in reversed(self._imports.values())]

    def get_import(self, import_id: str) -> ImportRecord:
        with self._lock:
            return copy.copy(self._imports[import_id])

    def create_import(
        self,
        coupon_set_id: str,
        codes: list[str],
        *,
        delimiter: str = ",",
        override_existing: bool = False,
        update_only_empty_fields: bool = False,
    ) -> ImportRecord:
        """Queue a coupon import; raises KeyError, NotMultipleError or QueueFullError."""
        with self._lock:
            self._settle()
            cs = self._sets[coupon_set_id]
            if cs.type != "multiple":
                raise NotMultipleError(coupon_set_id)
            queued = sum(1 for imp in self._pending if imp.status == "queued")
            if queued >= self.config.max_queued_imports:
                raise QueueFullError(self.config.max_queued_imports)
            now = self.now()
            import_id = f"{int(now) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"
            while import_id in self._imports:  # pragma: no cover - 64 random bits
                import_id = f"{int(now) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"
            imp = ImportRecord(
                id=import_id,
                coupon_set_id=coupon_set_id,
                delimiter=delimiter,
                override_existing=override_existing,
                update_only_empty_fields=update_only_empty_fields,
                created_at=now,
                codes=codes,
                report_token=secrets.token_hex(16),
            )
            outcome = self.faults.take_import_outcome(coupon_set_id)
            if outcome is not None:
                imp.shape(outcome)
            self._imports[import_id] = imp
            self._pending.append(imp)
            self._reports[imp.report_name] = import_id
            self._settle()
            return copy.copy(imp)

    def find_report(self, name: str) -> ImportRecord | None:
        """The finished import whose error report has this file name, if any."""
        with self._lock:
            imp = self._imports.get(self._reports.get(name, ""))
            return copy.copy(imp) if imp is not None and imp.has_report else None

    def pause_imports(self) -> None:
        """Freeze import processing: new imports stay ``queued``, running ones stop moving."""
        with self._lock:
            self._settle()
            self._paused = True

    def resume_imports(self) -> None:
        """Let imports move again; the paused time is skipped, not caught up."""
        with self._lock:
            self._settle()
            self._paused = False

    @property
    def imports_paused(self) -> bool:
        return self._paused

    def cancel_import(self, import_id: str) -> None:
        """End an import that has not finished as ``cancelled`` (rows applied so far stay)."""
        self._end_import(import_id, "cancelled")

    def fail_import(self, import_id: str) -> None:
        """End an import that has not finished with status ``error``."""
        self._end_import(import_id, "error")

    def _end_import(self, import_id: str, status: str) -> None:
        with self._lock:
            self._settle()
            imp = self._imports[import_id]
            if imp.status in TERMINAL:
                raise ValueError(f"import {import_id} has already ended ({imp.status})")
            imp.status = status
            if status == "cancelled":
                imp.cancelled_at = self.now()
            else:
                imp.finished_at = self.now()
            imp.codes = []
            self._pending.remove(imp)

    # --- import processing (lock held) ----------------------------------------------------

    def _settle(self) -> None:
        now = self.now()
        t, self._sim_time = self._sim_time, now
        if not self._paused:
            self._run_imports(t, now)
        self._demand_to(now)

    def _run_imports(self, t: float, now: float) -> None:
        default_rate, delay = self.config.import_rows_per_second, self.config.import_queue_delay
        while self._pending:
            imp = self._pending[0]
            rate = imp.rows_per_second or default_rate
            if imp.status == "queued":
                start = max(t, imp.created_at + delay)
                if start > now:
                    return
                imp.status, imp.started_at, t = "inProgress", start, start
            needed = imp.total / rate - imp.work_time
            if now - t < needed:
                imp.work_time += now - t
                done = min(imp.rows_to_process, int(imp.work_time * rate))
                self._apply(imp, done - imp.processed, now)
                return
            t += max(needed, 0.0)
            imp.work_time = imp.total / rate
            self._apply(imp, imp.rows_to_process - imp.processed, t)
            imp.status = imp.final_status
            if imp.status == "cancelled":
                imp.cancelled_at = t
            else:
                imp.finished_at = t
            imp.codes = []  # the rows are applied; keep only the counters and the failures
            self._pending.popleft()

    def _apply(self, imp: ImportRecord, rows: int, when: float) -> None:
        if rows <= 0:
            return
        self._demand_to(when)  # the demand due before these rows goes out first
        added = imp.apply_rows(rows, self._codes[imp.coupon_set_id])
        if added:
            cs = self._sets[imp.coupon_set_id]
            cs.quantity = (cs.quantity or 0) + added
            cs.available = (cs.available or 0) + added
            cs.updated_at = max(cs.updated_at, when)
            if self.config.counter_lag > 0:
                self._lagging.append((when, imp.coupon_set_id, added))
