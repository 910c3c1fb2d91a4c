"""The ``command`` sink: the shop's own program, run without a shell, gets each batch's CSV
on stdin; exit status 0 means the shop accepted the codes."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
from collections.abc import Collection, Mapping, Sequence
from typing import IO

from voucherbot.errors import redact
from voucherbot.files import code_csv_bytes
from voucherbot.shop.base import Refused, SinkBatch, SinkError, hide_codes, shorten

log = logging.getLogger("voucherbot.sinks")  # its name in logs since before the subpackages


class CommandSink:
    """Runs a program per batch, CSV on stdin; exit status 0 confirms the batch."""

    kind = "command"
    registers_codes = True

    def __init__(
        self,
        argv: Sequence[str],
        timeout: float,
        env: Mapping[str, str],
        *,
        kill_grace: float = 2.0,
    ) -> None:
        self.argv, self.timeout, self.env, self.kill_grace = tuple(argv), timeout, env, kill_grace

    def describe(self) -> str:
        return f"command sink running {self.argv[0]}"

    def deliver(self, batch: SinkBatch) -> Refused:
        if not batch.codes:
            return {}
        program = self.argv[0]
        env = {
            **self.env,
            "VOUCHERBOT_COUPON_SET_ID": batch.coupon_set_id,
            "VOUCHERBOT_COUPON_SET_NAME": batch.coupon_set_name,
            "VOUCHERBOT_BATCH_ID": batch.batch_id,
            "VOUCHERBOT_COUNT": str(len(batch.codes)),
        }
        what = f"command sink: {program} (batch {batch.batch_id})"
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    env=env,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise SinkError(
                    f"command sink: program {program} not found; check [shop] "
                    "command (cron's PATH is short: use an absolute path)"
                ) from None
            except OSError as exc:
                raise SinkError(
                    f"command sink: cannot start {program}: {exc.strerror or exc}; "
                    "check that it is executable (chmod +x)"
                ) from None
            try:
                proc.communicate(code_csv_bytes(batch.codes), timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._stop(proc)
                tail = _last_line(errors, batch.codes)
                raise SinkError(
                    f"{what} did not finish within {self.timeout:g} s and was "
                    f"stopped{tail}; make it faster or raise [shop] timeout"
                ) from None
            status = proc.returncode
            if status != 0:
                how = f"exit status {status}" if status > 0 else f"killed by signal {-status}"
                tail = _last_line(errors, batch.codes)
                raise SinkError(
                    f"{what} refused the batch ({how}){tail}; the codes were not "
                    "imported; fix the command and run again"
                )
        return {}  # exit status 0: all of them

    def _stop(self, proc: subprocess.Popen[bytes]) -> None:
        """Stop the program's whole process group: TERM, then KILL after a grace period."""
        _killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(self.kill_grace)
        _killpg(proc.pid, signal.SIGKILL)  # a leader that ignored TERM, or its children
        proc.wait()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _last_line(stream: IO[bytes], codes: Collection[str]) -> str:
    """``": <last stderr line>"`` (at most 200 characters, codes hidden), or ""."""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - 4096))
    lines = [ln.strip() for ln in stream.read().decode("utf-8", "replace").splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return ""
    line = "".join(c if c.isprintable() else "?" for c in lines[-1])
    return ": " + shorten(hide_codes(redact(line), codes))
