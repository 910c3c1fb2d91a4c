"""``voucherbot resolve``: a person settles an unresolved batch, by adopting the import they
found to be its own or by abandoning it."""

from __future__ import annotations

from datetime import timedelta

from voucherbot.app.runs import make_refiller, recorded_run
from voucherbot.config import Config
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.models import Import
from voucherbot.connectif.poll import ProgressCallback
from voucherbot.errors import ConfigError, NotFoundError
from voucherbot.ledger import Batch, BatchStatus, Ledger
from voucherbot.refill.results import RefillResult, result_of


def resolve(
    client: ConnectifClient,
    config: Config,
    ledger: Ledger,
    batch_id: int,
    *,
    adopt: str | None = None,
    abandon: bool = False,
    poll: PollSettings | None = None,
    on_progress: ProgressCallback | None = None,
) -> RefillResult:
    """Settle an unresolved batch by hand: adopt the import a person found to be its own
    (``adopt``: the import id; then follow it to its end), or ``abandon`` it (the set is
    planned afresh; its codes are never issued again either way)."""
    if (adopt is None) == (not abandon):
        raise ConfigError("give exactly one of --adopt IMPORT_ID or --abandon")
    with recorded_run(ledger, "resolve", config, client):
        batch = ledger.find_batch(batch_id)
        if batch is None:
            raise ConfigError(
                f"the ledger has no batch {batch_id}; 'voucherbot history' lists them"
            )
        if batch.status != BatchStatus.UNRESOLVED:
            raise ConfigError(
                f"batch {batch_id} is {batch.status}, not unresolved; only an "
                "unresolved batch is settled by hand"
            )
        if abandon:
            done = ledger.mark_abandoned(
                batch.id,
                "abandoned by hand (voucherbot resolve --abandon); its codes are never issued "
                "again",
            )
            return result_of(done, resumed=True)
        assert adopt is not None
        try:
            imp = client.get_import(adopt)
        except NotFoundError:
            raise ConfigError(
                f"Connectif has no import {adopt!r}; 'voucherbot imports' lists the recent ones"
            ) from None
        wrong = _not_its_own(imp, batch, ledger, config)
        if wrong:
            raise ConfigError(f"import {imp.id} cannot be batch {batch_id}'s: " + "; ".join(wrong))
        refiller = make_refiller(client, config, ledger, poll, on_progress, on_total=None)
        adopted = refiller.accepted(batch, imp)
        if adopted.status == BatchStatus.SUBMITTED:
            return refiller.follow([adopted])[0]
        return result_of(adopted)


def _not_its_own(imp: Import, batch: Batch, ledger: Ledger, config: Config) -> list[str]:
    """Why ``imp`` cannot be the batch's own import (nothing when it can be)."""
    wrong = []
    if imp.coupon_set_id not in (None, batch.coupon_set_id):
        wrong.append(f"it imports into coupon set {imp.coupon_set_id}, not {batch.coupon_set_id}")
    if imp.total not in (None, batch.count):
        wrong.append(f"it has {imp.total:,} rows, not the batch's {batch.count:,}")
    if imp.id in ledger.known_import_ids():
        wrong.append("the ledger already has it as another batch's import")
    if imp.type not in (None, "coupons"):
        wrong.append(f"it is a {imp.type} import, not a coupon import")
    if imp.origin == "app":
        wrong.append("it was made in Connectif's app, not through the API")
    skew = timedelta(seconds=config.imports.clock_skew)
    if batch.submitted_at and imp.created_at and imp.created_at < batch.submitted_at - skew:
        wrong.append(
            f"it was created at {imp.created_at:%Y-%m-%d %H:%M:%S} UTC, before the "
            f"batch was sent ({batch.submitted_at:%Y-%m-%d %H:%M:%S} UTC)"
        )
    return wrong
