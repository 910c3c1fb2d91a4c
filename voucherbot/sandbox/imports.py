"""Coupon imports in the sandbox: reading the CSV, the Import resource, applying rows.

Documented sandbox choices (CONNECTIF_API.md §7.5 leaves them open):

* Every line after the header row is a data row; a final newline does not add a row, but a blank
  line (in the middle, or last before the final newline) does, and fails as an empty code.
  ``total`` is the number of data rows. Only the ``code`` column is read (its header matched
  after stripping spaces, a UTF-8 BOM is allowed); extra columns are ignored. Codes are
  compared exactly (case-sensitive) after stripping surrounding whitespace.
* A row fails, is counted in ``errors`` and listed in the error report when its code is empty,
  when the same code appeared earlier in the same file, or when the code already exists in the
  coupon set (duplicates are per set: another set may hold the same code).
* ``overrideExisting`` / ``updateOnlyEmptyFields`` are validated and echoed in ``options``;
  they change nothing for coupon imports.
* Rows are applied as they are processed: each successful row adds its code to the set and
  raises the set's ``quantity`` and ``available`` by one at that moment, so the counters are
  final the moment the import is ``finished``.
* The error report is a CSV with the header ``row,code,reason`` (``row`` = 1-based data row).

Fault injection (:meth:`~voucherbot.sandbox.faults.FaultInjector.import_outcome`) can give an
import its own processing speed, a number of leading rows that fail with
:data:`REASON_REJECTED`, or a final status other than ``finished``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import IO, Any

from voucherbot.sandbox.data import iso
from voucherbot.sandbox.faults import ImportOutcome

REASON_EMPTY = "empty code"
REASON_DUPLICATE_IN_FILE = "duplicate code: it appears earlier in this file"
REASON_EXISTS_IN_SET = "duplicate code: it already exists in this coupon set"
REASON_REJECTED = "rejected by fault injection"

REPORT_PATH = "/_sandbox/files/import-errors/"


class CsvProblem(ValueError):
    """The uploaded file cannot be read as a coupon CSV; the message is the reason for a 422."""


def read_codes(stream: IO[bytes], delimiter: str) -> list[str]:
    """The ``code`` value of every data row (stripped; ``""`` when a row lacks the column)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        header = next(reader, None)
        if header is None:
            raise CsvProblem("the file is empty: a header row with a 'code' column is required")
        names = [name.strip() for name in header]
        if "code" not in names:
            raise CsvProblem(
                f"the header row has no 'code' column (read with delimiter "
                f"{delimiter!r}: {', '.join(repr(n) for n in names[:5])})"
            )
        column = names.index("code")
        codes: list[str] = []
        append = codes.append
        for row in reader:
            append(row[column].strip() if column < len(row) else "")
        return codes
    except UnicodeDecodeError as exc:
        raise CsvProblem(f"the file is not UTF-8 (byte {exc.start} cannot be decoded)") from None
    except csv.Error as exc:
        raise CsvProblem(f"the file is not valid CSV: {exc}") from None
    finally:
        text.detach()


@dataclass
class ImportRecord:
    """One import job. Mutated only by :class:`~voucherbot.sandbox.state.SandboxState`."""

    id: str
    coupon_set_id: str
    delimiter: str
    override_existing: bool
    update_only_empty_fields: bool
    created_at: float
    codes: list[str]
    report_token: str
    type: str = "coupons"
    origin: str = "api"
    status: str = "queued"
    total: int = 0
    success: int = 0
    errors: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    cancelled_at: float | None = None
    work_time: float = 0.0
    failures: list[tuple[int, str, str]] = field(default_factory=list)
    #: Set by fault injection: the status it ends with, the rows it processes before ending
    #: (``None``: all), its own rows per second, and how many leading rows are rejected.
    final_status: str = "finished"
    row_limit: int | None = None
    rows_per_second: float | None = None
    reject_first: int = 0

    def __post_init__(self) -> None:
        self.total = len(self.codes)

    def shape(self, outcome: ImportOutcome) -> None:
        """Make this import run as an injected fault says."""
        self.final_status = outcome.final_status
        if outcome.final_status != "finished":
            self.row_limit = outcome.after_rows
        self.rows_per_second = outcome.rows_per_second
        self.reject_first = outcome.rows if outcome.outcome == "reject_rows" else 0

    @property
    def rows_to_process(self) -> int:
        """The rows this import processes before it ends (all of them unless faulted)."""
        return self.total if self.row_limit is None else min(self.total, self.row_limit)

    @property
    def processed(self) -> int:
        return self.success + self.errors

    @property
    def report_name(self) -> str:
        return f"{self.id}-{self.report_token}.csv"

    @property
    def has_report(self) -> bool:
        return self.status == "finished" and self.errors > 0

    def apply_rows(self, count: int, store: dict[str, str]) -> int:
        """Process the next ``count`` rows into ``store`` (code -> import id); new successes."""
        before = self.success
        end = min(self.total, self.processed + count)
        for index in range(self.processed, end):
            code = self.codes[index]
            owner = store.get(code) if code else None
            if index < self.reject_first:
                self._fail(index, code, REASON_REJECTED)
            elif not code:
                self._fail(index, code, REASON_EMPTY)
            elif owner is None:
                store[code] = self.id
                self.success += 1
            elif owner == self.id:
                self._fail(index, code, REASON_DUPLICATE_IN_FILE)
            else:
                self._fail(index, code, REASON_EXISTS_IN_SET)
        return self.success - before

    def _fail(self, index: int, code: str, reason: str) -> None:
        self.errors += 1
        self.failures.append((index + 1, code, reason))

    def to_json(self, base_url: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "origin": self.origin,
            "total": self.total,
            "success": self.success,
            "errors": self.errors,
        }
        if self.has_report:
            doc["errorReportFileUrl"] = base_url.rstrip("/") + REPORT_PATH + self.report_name
        doc["options"] = {
            "couponSetId": self.coupon_set_id,
            "delimiter": self.delimiter,
            "overrideExisting": self.override_existing,
            "updateOnlyEmptyFields": self.update_only_empty_fields,
        }
        doc["createdAt"] = iso(self.created_at)
        for key, value in (
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
            ("cancelledAt", self.cancelled_at),
        ):
            if value is not None:
                doc[key] = iso(value)
        return doc

    def error_report_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("row", "code", "reason"))
        writer.writerows(self.failures)
        return out.getvalue()
