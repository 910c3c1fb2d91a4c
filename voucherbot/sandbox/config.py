"""Settings of one sandbox server (:class:`SandboxConfig`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

#: Workflow ``status`` values the sandbox reports. Connectif does not document the field (see
#: CONNECTIF_API.md §5); these four follow the lifecycle of its web app. The order carries the
#: meaning: (draft, active, paused, finalized). Only the second one means "running".
WORKFLOW_STATUSES: tuple[str, str, str, str] = ("draft", "active", "paused", "finalized")

#: How simulated demand varies over time (see :mod:`voucherbot.sandbox.demand`).
DEMAND_PATTERNS: tuple[str, ...] = ("steady", "weekly", "bursty")

#: Connectif's documented import size limit (413 above it).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


#: Seed timestamps fall before this moment (ids carry their creation second, like ObjectIds).
DEFAULT_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class SandboxConfig:
    """How a sandbox behaves. Every field has a default suitable for trying voucherbot locally.

    ``api_key=None`` means a random ``sbx-…`` key, chosen once when the state is created.
    ``rate_limit`` is requests per rolling 60 s per API key (0 disables limiting and the
    ``X-RateLimit-*`` headers). ``workflow_statuses`` renames the four workflow statuses, in the
    order of :data:`WORKFLOW_STATUSES`. ``anchor`` is the moment seed timestamps are placed
    before; it is fixed by default, so the same seed gives byte-identical data on any day.
    ``counter_lag`` models Connectif's documented delay (CONNECTIF_API.md §4.2: counters are
    "updated in batches, up to ~10 s" late): the rows an import adds show in the listed
    ``quantity`` and ``available`` only ``counter_lag`` seconds (sandbox clock) after they
    were applied; 0 shows them at once (fast tests). ``demand`` seeds a per-day rate at which
    active workflows hand out each set's codes as the clock is advanced, varying over time by
    ``demand_pattern`` (``steady``, ``weekly`` or ``bursty``); with ``demand=False`` every
    rate starts at 0 (see :mod:`voucherbot.sandbox.demand`).
    """

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    api_key: str | None = None
    page_size: int = 5
    rate_limit: int = 100
    retry_after_header: bool = True
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_queued_imports: int = 10
    import_queue_delay: float = 0.05
    import_rows_per_second: float = 100_000.0
    workflow_statuses: tuple[str, str, str, str] = WORKFLOW_STATUSES
    anchor: datetime = DEFAULT_ANCHOR
    counter_lag: float = 10.0
    log_requests: bool = False
    demand: bool = True
    demand_pattern: str = "steady"

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.port <= 65535:
            problems.append("port must be between 0 and 65535")
        if not 1 <= self.page_size <= 100:
            problems.append("page_size must be between 1 and 100")
        if self.rate_limit < 0:
            problems.append("rate_limit must be 0 (off) or positive")
        if self.max_upload_bytes < 1:
            problems.append("max_upload_bytes must be positive")
        if self.max_queued_imports < 1:
            problems.append("max_queued_imports must be positive")
        if self.import_queue_delay < 0:
            problems.append("import_queue_delay must not be negative")
        if not 0 <= self.counter_lag <= 3600:
            problems.append("counter_lag must be between 0 and 3600 seconds")
        if self.import_rows_per_second <= 0:
            problems.append("import_rows_per_second must be positive")
        statuses = self.workflow_statuses
        if len(statuses) != 4 or len(set(statuses)) != 4 or not all(statuses):
            problems.append("workflow_statuses must be four different non-empty strings")
        if self.demand_pattern not in DEMAND_PATTERNS:
            problems.append("demand_pattern must be one of " + ", ".join(DEMAND_PATTERNS))
        if self.api_key is not None and (not self.api_key or self.api_key != self.api_key.strip()):
            problems.append("api_key must be non-empty and without surrounding spaces")
        if problems:
            raise ValueError("invalid sandbox configuration: " + "; ".join(problems))
