"""`voucherbot report` over many coupon sets: requests and time for 100 / 1,000 / 10,000 sets at
the sandbox's page sizes 5 and 100.

    python bench/many_sets_bench.py [--sets 100,1000,10000] [--page-sizes 5,100]

The sandbox runs in this process without a rate limit and the client without pacing, so the
wall time is what voucherbot and the sandbox cost; at Connectif's 100 requests a minute the
same report would take about requests x 0.6 s of waiting (printed as "at 100/min"). Requests
must grow with pages (sets / page size), not with sets. Exit 1 if a report needs more than
pages + 5 requests.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voucherbot.app import report
from voucherbot.config import Config
from voucherbot.connectif.client import ConnectifClient
from voucherbot.sandbox import SandboxConfig, start_sandbox


def measure(sets: int, page_size: int) -> tuple[int, int, float, float]:
    """(sets listed, requests, seconds the report took, CPU seconds of this process)."""
    config = SandboxConfig(seed=1, rate_limit=0, page_size=page_size, demand=False)
    with start_sandbox(config) as sandbox:
        seeded = len(sandbox.state.coupon_sets())
        for n in range(max(0, sets - seeded)):
            sandbox.state.add_coupon_set(f"Bench set {n}", quantity=1000, available=900)
        client = ConnectifClient(
            sandbox.api_key, sandbox.url, requests_per_minute=1_000_000, max_pages=100_000
        )
        with client:
            wall, cpu = time.monotonic(), time.process_time()
            built, _ = report(client, Config(), None, unmatched=True, pools=False)
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            total = sum(client.stats.values())
    return len(built.rows), total, wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="100,1000,10000")
    parser.add_argument("--page-sizes", default="5,100")
    args = parser.parse_args()
    ok = True
    heads = (("sets", 7), ("page", 5), ("requests", 9), ("pages", 6), ("wall s", 7), ("cpu s", 6))
    print(" ".join(f"{name:>{size}}" for name, size in heads) + "  at 100/min")
    for page_size in (int(p) for p in args.page_sizes.split(",")):
        for sets in (int(s) for s in args.sets.split(",")):
            listed, total, wall, cpu = measure(sets, page_size)
            pages = math.ceil(listed / page_size)
            ok &= total <= pages + 5
            print(
                f"{listed:>7,} {page_size:>5} {total:>9,} {pages:>6,} {wall:>7.1f} {cpu:>6.1f}"
                f"  ~{total * 0.6 / 60:,.0f} min"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
