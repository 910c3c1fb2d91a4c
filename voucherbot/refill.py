"""Refilling coupon sets: generate codes -> CSV -> import -> poll.

:func:`refill_set` tops up one coupon set now; :func:`run_plan` carries out every refill of a
:class:`~voucherbot.planner.Plan`: one import per set, all submitted first, then followed in a
single poll loop (:func:`~voucherbot.poll.poll_imports`), so no set waits for another's import.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from voucherbot.codes import CodeSpec, generate
from voucherbot.config import Config
from voucherbot.connectif import ConnectifClient
from voucherbot.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    PermissionDeniedError,
    VoucherbotError,
)
from voucherbot.models import CouponSet, Import
from voucherbot.planner import Decision, Plan
from voucherbot.poll import PollSettings, PollTimeoutError, ProgressCallback, poll_imports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefillResult:
    """What a refill did: the set as it was, how many codes were sent, and the import's end."""

    coupon_set: CouponSet
    requested: int
    final: Import | None = None
    dry_run: bool = False
    error: str | None = None  #: why the refill did not start or did not end

    @property
    def ok(self) -> bool:
        """True for a dry run, nothing to do, or an import that finished with no error rows."""
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
    """The outcome of :func:`run_plan`: one RefillResult per refill decision, in plan order."""

    plan: Plan
    results: tuple[RefillResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> tuple[RefillResult, ...]:
        return tuple(r for r in self.results if not r.ok)


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


def submit_refill(
    client: ConnectifClient,
    coupon_set: CouponSet,
    count: int,
    spec: CodeSpec,
    *,
    workdir: Path | None = None,
) -> Import:
    """Generate ``count`` fresh codes, write them to a 0600 CSV, and create the import.

    The CSV lives in a private temporary directory (in ``workdir`` if given) and is removed as
    soon as the upload is over, whatever its outcome.
    """
    codes = generate(spec, count)
    with tempfile.TemporaryDirectory(prefix="voucherbot-", dir=workdir) as tmp:
        csv_path = Path(tmp) / f"codes-{coupon_set.id}.csv"
        write_codes_csv(csv_path, codes)
        del codes
        return client.create_coupon_import(coupon_set.id, csv_path)


def refill_set(
    client: ConnectifClient,
    set_id: str,
    *,
    count: int | None = None,
    to: int | None = None,
    spec: CodeSpec | None = None,
    config: Config | None = None,
    poll: PollSettings | None = None,
    workdir: Path | None = None,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RefillResult:
    """Top up one ``multiple`` coupon set with ``count`` new codes, or up to ``to`` available.

    The codes have the shape ``spec``, else the one of the rule in ``config`` that matches
    the set, else the default shape. The result's ``ok`` is True only when the import finished
    with no error rows. A dry run reads the set and generates nothing.
    """
    if (count is None) == (to is None):
        raise ConfigError("give exactly one of --count N or --to N")
    if count is not None and count < 1:
        raise ConfigError(f"--count must be at least 1, not {count}")
    if to is not None and to < 1:
        raise ConfigError(f"--to must be at least 1, not {to}")
    try:
        coupon_set = client.get_coupon_set(set_id)
    except NotFoundError:
        raise ConfigError(
            f"there is no coupon set with id {set_id!r}; list the sets with 'voucherbot report'"
        ) from None
    if not coupon_set.is_multiple:
        raise ConfigError(
            f"coupon set {coupon_set.name!r} ({set_id}) is a {coupon_set.type!r} set with one "
            "shared code; only 'multiple' sets hold codes to refill"
        )
    available = coupon_set.available or 0
    wanted = count if count is not None else max(0, (to or 0) - available)
    if wanted == 0 or dry_run:
        return RefillResult(coupon_set, wanted, dry_run=dry_run)
    if spec is None:
        spec = (config or Config()).rule_for(coupon_set.id, coupon_set.name)[1].code
    created = submit_refill(client, coupon_set, wanted, spec, workdir=workdir)
    if on_progress is not None:
        on_progress(created)
    final = created
    if not created.is_terminal:
        final = poll_imports(
            client, [created.id], settings=poll, on_progress=on_progress, sleep=sleep
        )[created.id]
    return RefillResult(coupon_set, wanted, final)


def run_plan(
    client: ConnectifClient,
    plan: Plan,
    *,
    poll: PollSettings | None = None,
    workdir: Path | None = None,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Carry out every refill of ``plan``: submit one import per set, then poll them together.

    A set whose refill cannot start (bad code shape, a refused import, the queue full) is
    reported as failed and the others go on. A refused API key stops the run at once
    (:class:`AuthError`/:class:`PermissionDeniedError` propagate: nothing else would work).
    """
    submitted: dict[str, tuple[Decision, Import]] = {}
    failed: dict[str, RefillResult] = {}
    for decision in plan.refills:
        cs = decision.coupon_set
        try:
            imp = submit_refill(client, cs, decision.count, decision.settings.code,
                                workdir=workdir)
        except (AuthError, PermissionDeniedError):
            raise
        except VoucherbotError as exc:
            log.error("%s (%s): refill of %d codes not started: %s", cs.name, cs.id,
                      decision.count, exc)
            failed[cs.id] = RefillResult(cs, decision.count, error=str(exc))
            continue
        log.info("%s (%s): import %s created for %d codes", cs.name, cs.id, imp.id,
                 decision.count)
        if on_progress is not None:
            on_progress(imp)
        submitted[cs.id] = (decision, imp)
    finals = {imp.id: imp for _, imp in submitted.values() if imp.is_terminal}
    running = [imp.id for _, imp in submitted.values() if not imp.is_terminal]
    timed_out: dict[str, Import] = {}
    if running:
        try:
            finals.update(poll_imports(client, running, settings=poll, on_progress=on_progress,
                                       sleep=sleep))
        except PollTimeoutError as exc:
            finals.update(exc.done)
            timed_out = exc.pending
    results = []
    for decision in plan.refills:
        cs = decision.coupon_set
        if cs.id in failed:
            results.append(failed[cs.id])
            continue
        imp = submitted[cs.id][1]
        if imp.id in timed_out:
            last = timed_out[imp.id]
            results.append(RefillResult(
                cs, decision.count, last,
                error=f"import {imp.id} still {last.status} when the poll deadline passed; "
                      f"follow it with 'voucherbot imports {imp.id}'"))
        else:
            results.append(RefillResult(cs, decision.count, finals[imp.id]))
    return RunResult(plan, tuple(results))
