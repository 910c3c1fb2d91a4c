"""An import's error report: which of a batch's codes Connectif rejected, marked in the ledger.

The report is a CSV of the rows that failed; its codes are in the column ``code`` (or its
only column). Which codes were rejected is unknown when it cannot be downloaded or is not
such a CSV (they are never issued again either way).
"""

from __future__ import annotations

import csv
import io

from voucherbot.connectif.client import ConnectifClient
from voucherbot.errors import ApiError, VoucherbotError
from voucherbot.ledger import Batch, Ledger


class UnreadableReport(Exception):
    """The error report cannot be read as a CSV of codes (the message says why)."""


def mark_rejected(
    client: ConnectifClient, ledger: Ledger, batch: Batch, url: str
) -> tuple[int | None, str | None]:
    """Mark the codes the error report at ``url`` lists: how many matched, or None and what
    is wrong with the report (which codes were rejected is then unknown)."""
    try:
        codes = rejected_codes(client.download(url))
    except VoucherbotError as exc:  # the message would name the report's (secret) path
        answer = f" ({exc.status})" if isinstance(exc, ApiError) and exc.status else ""
        return None, f"could not be downloaded{answer}"
    except UnreadableReport as exc:
        return None, str(exc)
    return ledger.mark_rejected(batch.id, codes), None


def rejected_codes(data: bytes) -> list[str]:
    """The codes an error report lists (none for an empty report); raises
    :class:`UnreadableReport` when it is not a CSV of codes. PURE."""
    if data.startswith(b"PK\x03\x04"):
        raise UnreadableReport("is a ZIP file, not a CSV")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"))))
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    if "code" in header:
        column = header.index("code")
    elif len(header) == 1:
        column = 0
    else:
        raise UnreadableReport(f"has no 'code' column (columns: {', '.join(header[:5])})")
    codes = [row[column].strip() for row in rows[1:] if len(row) > column]
    return [c for c in codes if c]
