"""Carrying out a whole plan: the import queue, the shared polling, refills in parts.

:func:`run_plan` keeps at most ``max_imports_in_flight`` of voucherbot's imports queued at
Connectif (it refuses an eleventh queued import with E0401, which is answered here by holding
the batch until there is room), follows all of them in one
:class:`~voucherbot.connectif.poll.Tracker` loop, and splits a refill whose file would pass
the 50 MB limit into several imports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from voucherbot.codes import CodeSpec
from voucherbot.codes.spec import compile_spec
from voucherbot.connectif.models import Import
from voucherbot.connectif.poll import Tracker, timeout_error
from voucherbot.ledger import Batch
from voucherbot.planning.planner import Decision, Plan
from voucherbot.refill.batch import QueueFull, Refiller
from voucherbot.refill.results import RefillResult, RunResult, import_of, result_of
from voucherbot.shop.pool import CodePool


def pools_left(
    decisions: Iterable[Decision], issued: Callable[[Sequence[str]], set[str]]
) -> dict[str, int]:
    """Unused codes left in the pool of each set (among ``decisions``) fed from a pool."""
    pools = {
        d.coupon_set.id: d.settings.shop.pool
        for d in decisions
        if d.settings.shop.source == "pool" and d.settings.shop.pool is not None
    }
    return {set_id: CodePool(pool).remaining(issued) for set_id, pool in pools.items()}


@dataclass(frozen=True, eq=False)
class Part:
    """One import of a refill: the whole refill, or a part of one too big for one file."""

    decision: Decision
    count: int
    index: int
    sizes: list[int]

    @property
    def of(self) -> int:
        return len(self.sizes)


def code_length(spec: CodeSpec) -> int:
    """How many characters every code of this shape has."""
    return len(compile_spec(spec).cells)


def parts(decision: Decision, max_import_bytes: int) -> list[int]:
    """How many codes each import of a refill carries: one import, unless its file would
    pass Connectif's 50 MB limit (``max_import_bytes``); then parts that each fit."""
    shop = decision.settings.shop
    per_code = (64 if shop.source == "pool" else code_length(decision.settings.code)) + 1
    most = max(1, (max_import_bytes - len("code\n")) // per_code)
    count = decision.count
    return [min(most, count - start) for start in range(0, count, most)]


def run_plan(refiller: Refiller, plan: Plan, settled: Iterable[RefillResult] = ()) -> RunResult:
    """Carry out every refill of ``plan``, keeping at most ``max_in_flight`` imports
    queued at Connectif (it refuses more than ten), and follow them all in one loop.

    A refill whose file would pass the 50 MB limit goes as several imports (parts),
    queued like the others."""
    queue = _Queue(
        refiller,
        deque(
            Part(d, n, i, total)
            for d in plan.refills
            for total in [parts(d, refiller.max_import_bytes)]
            for i, n in enumerate(total)
        ),
    )
    if refiller.on_total is not None and plan.total_codes:
        refiller.on_total(plan.total_codes)
    queue.run(deadline=refiller.clock() + refiller.poll.timeout)
    queue.finish()
    while refiller.ledger.merge_segments():  # the upkeep the imports left no time for
        pass
    results = queue.results
    ordered = []
    for part in sorted(results, key=lambda p: (plan.refills.index(p.decision), p.index)):
        result = results[part]
        if part.of > 1:
            result = replace(
                result,
                note="; ".join(filter(None, [f"part {part.index + 1} of {part.of}", result.note])),
            )
        ordered.append(result)
    remaining = pools_left(plan.refills, refiller.ledger.issued)
    return RunResult(plan, tuple(ordered), tuple(settled), remaining)


class _Queue:
    """One plan's parts on their way: those to start, those E0401 turned away (posted
    again first, when there is room), and the imports followed, by import id."""

    def __init__(self, refiller: Refiller, todo: deque[Part]) -> None:
        self.refiller = refiller
        self.todo = todo
        self.deferred: deque[tuple[Part, QueueFull]] = deque()  # refused with E0401
        self.results: dict[Part, RefillResult] = {}
        self.by_import: dict[str, tuple[Part, Batch]] = {}
        self.first_batch: dict[str, int] = {}  # the first part's batch, by set id
        self.tracker = Tracker(
            refiller.client,
            refiller.poll,
            on_progress=refiller.progress,
            on_done=self._done,
            clock=refiller.clock,
        )

    def _done(self, imp: Import) -> None:
        self.refiller.record(self.by_import[imp.id][1], imp)

    @property
    def waiting(self) -> bool:
        """Parts are still to be started (or posted again)."""
        return bool(self.todo or self.deferred)

    def run(self, *, deadline: float) -> None:
        """Start parts and follow their imports until all have ended or the deadline passed."""
        while self.waiting or self.tracker.pending:
            while self.waiting and len(self.tracker.pending) < self.refiller.max_in_flight:
                if not self._start_next():
                    break  # Connectif's queue is full: wait for one of ours to end
            if not (self.waiting or self.tracker.pending):
                break
            # while Connectif imports, the ledger merges its segments (one tier at a time)
            self.refiller.ledger.merge_segments()
            left = deadline - self.refiller.clock()
            if left <= 0:
                break
            # the last look falls on the deadline
            self.refiller.sleep(min(self.tracker.next_wait(), left))
            if self.tracker.pending:
                self.tracker.tick()

    def _start_next(self) -> bool:
        """Start the next part (one turned away first); False when E0401 turned it away."""
        waiting: QueueFull | None = None
        if self.deferred:
            part, waiting = self.deferred[0]
        else:
            part = self.todo[0]
        cs = part.decision.coupon_set
        try:
            if waiting is not None:
                outcome = self.refiller.retry_queued(waiting, cs)
            else:
                outcome = self.refiller.refill(
                    cs, part.count, part.decision.settings, part_of=self.first_batch.get(cs.id)
                )
        except QueueFull as refused:
            if waiting is None:  # a new batch: post it again when there is room
                self.todo.popleft()
                self.deferred.append((part, refused))
                self.first_batch.setdefault(cs.id, refused.batch.id)
            return False
        (self.deferred if waiting is not None else self.todo).popleft()
        if isinstance(outcome, RefillResult):
            self.results[part] = outcome
        else:
            self.first_batch.setdefault(cs.id, outcome.id)
            self.by_import[outcome.import_id or ""] = (part, outcome)
            self.tracker.add(import_of(outcome))
        return True

    def finish(self) -> None:
        """The deadline passed, or all ended: the result of every part. Imports still running
        stay in flight for the next run; parts never started or never let in are failures."""
        ledger = self.refiller.ledger
        if self.tracker.pending:
            for import_id, last in timeout_error(self.tracker).pending.items():
                self.refiller.still_running(self.by_import[import_id][1], last)
        for part in self.todo:  # our imports filled Connectif's queue until the deadline
            self.results[part] = RefillResult(
                part.decision.coupon_set,
                part.count,
                error=(
                    f"not started: {len(self.tracker.pending)} of voucherbot's imports were "
                    "still running when the poll deadline passed; the next run plans it again"
                ),
            )
        for part, never in self.deferred:
            ledger.forget_codes(never.batch.id)
            failed = ledger.mark_failed(
                never.batch.id,
                "Connectif's import queue stayed full (E0401) until the poll deadline; "
                "the next run tries again",
            )
            self.results[part] = replace(result_of(failed), coupon_set=part.decision.coupon_set)
        for part, batch in self.by_import.values():
            self.results[part] = replace(
                result_of(ledger.batch(batch.id)),
                coupon_set=part.decision.coupon_set,
                note=self.refiller.note(batch.id),
            )
