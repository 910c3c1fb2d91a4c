"""Monitoring people already run: health-check pings and a metrics file (``[monitor]``).

**Pings** follow the Healthchecks.io convention (also Cronitor-compatible services and
Uptime Kuma's push monitors that take it): ``<ping_url>/start`` when a run starts work,
``<ping_url>`` when it ends well, ``<ping_url>/fail`` when it does not, each a POST whose body
is the run's one-line summary, and each with the same ``rid`` (a run id, so overlapping runs
are told apart). A run that another one's lock held back did nothing and sends
``<ping_url>/log``: a note that changes no check's state. The start is sent in the
background, so the run never waits for it; every ping takes at most ``[monitor] timeout``
seconds (default 5) and a failed one is logged and changes nothing, not the exit status.

**Metrics** are written in the Prometheus text format (:mod:`voucherbot.report.metrics`) to
``--metrics-file`` (or ``[monitor] metrics_file``) atomically: a file beside it, then a
rename, so node_exporter's textfile collector never reads half a file.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

import requests

from voucherbot.config.settings import MonitorSettings
from voucherbot.config.tables import origin
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.models import CouponSet
from voucherbot.errors import ConfigError, redact
from voucherbot.ledger import Ledger
from voucherbot.planning.planner import Plan
from voucherbot.refill.results import RunResult
from voucherbot.report.metrics import DEFAULT_STORE, SetFigures, StoreFigures, render_metrics
from voucherbot.text import clean

log = logging.getLogger("voucherbot.monitor")

#: a ping's body at most (Healthchecks keeps the first 100 kB)
MAX_BODY = 10_000


class Pinger:
    """The pings of one run (see the module doc); with no ``ping_url`` every call does
    nothing."""

    def __init__(self, settings: MonitorSettings, session: requests.Session | None = None):
        self.url = settings.ping_url
        self.timeout = settings.timeout
        self.run_id = str(uuid.uuid4())
        self._session = session
        self._started: threading.Thread | None = None

    def start(self) -> None:
        """``/start``, in the background; only the first call sends it."""
        if self.url is None or self._started is not None:
            return
        self._started = threading.Thread(
            target=self._send, args=("/start", ""), name="voucherbot-ping", daemon=True
        )
        self._started.start()

    def finish(self, ok: bool, summary: str) -> bool:
        """``<url>`` or ``/fail`` with the summary, after the start ping (waited for at most
        its timeout); True once the service answered 2xx."""
        return self._after_start("" if ok else "/fail", summary)

    def note(self, text: str) -> bool:
        """``/log``: a note that changes no state (a run held back by another's lock)."""
        return self._after_start("/log", text)

    def _after_start(self, suffix: str, body: str) -> bool:
        if self.url is None:
            return False
        if self._started is not None:
            self._started.join(self.timeout)
        return self._send(suffix, body)

    def _send(self, suffix: str, body: str) -> bool:
        """One POST in a thread of its own, waited for at most ``timeout`` seconds in all
        (requests' own timeout is per read, so a trickling server could hold it longer)."""
        assert self.url is not None
        result: list[bool] = []
        worker = threading.Thread(
            target=self._post, args=(suffix, body, result), name="voucherbot-ping", daemon=True
        )
        worker.start()
        worker.join(self.timeout)
        if not result:
            if worker.is_alive():
                log.warning("ping %s to %s: no answer within %g s", suffix or "/", origin(self.url),
                            self.timeout)  # fmt: skip
            return False
        return result[0]

    def _post(self, suffix: str, body: str, result: list[bool]) -> None:
        from voucherbot.connectif.session import make_session

        assert self.url is not None
        text = clean(redact(body))[:MAX_BODY]
        own = self._session is None
        http = make_session(self._session)
        try:
            response = http.post(
                f"{self.url}{suffix}",
                params={"rid": self.run_id},
                data=text.encode("utf-8"),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.timeout,
                allow_redirects=False,
            )
            ok = 200 <= response.status_code < 300
            if not ok:
                log.warning("ping %s to %s: HTTP %s", suffix or "/", origin(self.url),
                            response.status_code)  # fmt: skip
            result.append(ok)
        except Exception as exc:  # the text of a requests error holds the URL: the type only
            log.warning("ping %s to %s failed: %s", suffix or "/", origin(self.url),
                        type(exc).__name__)  # fmt: skip
            result.append(False)
        finally:
            if own:
                http.close()


# --- metrics -----------------------------------------------------------------------------------


def store_figures(
    store: str | None,
    ledger: Ledger,
    plan: Plan | None,
    after: Iterable[CouponSet] = (),
) -> StoreFigures:
    """A store's figures: its sets as the plan read them (``after``: sets read again once
    their refills ended), and the ledger's totals."""
    totals = ledger.totals()
    fresh = {cs.id: cs for cs in after}
    sets: list[SetFigures] = []
    for d in plan.decisions if plan is not None else ():
        cs = fresh.get(d.coupon_set.id, d.coupon_set)
        days = d.forecast.days_left if d.forecast is not None else None
        burn = d.forecast.burn_per_day if d.forecast is not None else None
        if cs.id in fresh and burn is not None and cs.available is not None:
            days = cs.available / burn if burn > 0 else math.inf  # the counters after it
        sets.append(SetFigures(cs.id, cs.name, cs.available, cs.quantity, days))
    return StoreFigures(
        store=store or DEFAULT_STORE,
        sets=sets,
        last_run=totals.last_run,
        last_success=totals.last_success,
        codes_imported=totals.codes_imported,
        refill_failures=totals.refill_failures,
        requests=totals.requests,
    )


def refilled_sets(client: ConnectifClient, result: RunResult) -> list[CouponSet]:
    """The sets this run imported into, read again (one request each): their counters now.
    A set that cannot be read keeps the plan's figures."""
    read: list[CouponSet] = []
    for r in result.results:
        if r.final is not None and r.final.success:
            try:
                read.append(client.get_coupon_set(r.coupon_set.id))
            except Exception as exc:
                log.warning("metrics: could not read %s again: %s", r.coupon_set.id, exc)
    return read


def write_metrics(path: Path, stores: Iterable[StoreFigures]) -> None:
    """The metrics file, replaced atomically (mode 0644: node_exporter reads it)."""
    text = render_metrics(list(stores))
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ConfigError(
            f"--metrics-file {path}: cannot write in {folder}: {exc.strerror}"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ConfigError(f"--metrics-file {path}: cannot write it: {exc.strerror}") from None
