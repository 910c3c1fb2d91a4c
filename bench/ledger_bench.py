"""What a refill costs the ledger as it grows: CPU, peak memory and bytes written to disk for
``fresh_codes`` + ``new_batch`` of N codes into ledgers already holding M fingerprints.

    python bench/ledger_bench.py [--codes 1000000] [--prefill 0,5000000]

Each ledger is prefilled with random fingerprints (as a ledger of past refills holds) in a
child process, then the refill runs in a fresh child process, so that each figure is its own.
The issue 14 goal is a ratio: CPU at 10M at most 1.3x CPU at 0, at 50M at most 1.5x.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PREFILL = """
import os, sys
from pathlib import Path
from voucherbot.ledger import Ledger
path, count = Path(sys.argv[1]), int(sys.argv[2])
with Ledger.open(path) as ledger:
    cur = ledger.db.execute(
        "INSERT INTO batches (coupon_set_id, coupon_set_name, count, shape, status, created_at) "
        "VALUES ('old', 'old', ?, 'old', 'finished', '2026-01-01T00:00:00Z')", (count,))
    batch = cur.lastrowid
    for start in range(0, count, 1_000_000):
        n = min(1_000_000, count - start)
        prints = sorted(os.urandom(16) for _ in range(n))
        ledger.db.executemany(
            "INSERT INTO codes (fingerprint, batch_id) VALUES (?, ?)", ((p, batch) for p in prints))
        ledger.db.commit()
"""

REFILL = """
import json, resource, sys, time
from pathlib import Path
from voucherbot.codes import CodeSpec
from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import Ledger
path, count = Path(sys.argv[1]), int(sys.argv[2])
target = CouponSet(id="s1", name="W", type="multiple", assigned=0, available=0, quantity=0)
with Ledger.open(path) as ledger:
    started = time.process_time()
    codes = ledger.fresh_codes(CodeSpec(), count)
    ledger.new_batch(None, target, codes, CodeSpec())
    cpu = time.process_time() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"cpu": cpu, "peak_mb": peak}))
"""


def child_write_bytes(code: str, *args: str) -> tuple[str, int]:
    """Run ``code`` in a child; its stdout and the bytes it wrote to disk."""
    wrapper = (
        f"{code}\nimport os\n"
        "io = open(f'/proc/{os.getpid()}/io').read().splitlines()\n"
        "fields = dict(line.split(': ') for line in io)\n"
        "print('WRITE', fields['write_bytes'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    lines = out.strip().splitlines()
    return "\n".join(lines[:-1]), int(lines[-1].split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--prefill", default="0,5000000", help="comma-separated sizes")
    args = parser.parse_args()
    base = None
    print(f"refill of {args.codes:,} codes (fresh_codes + new_batch), by ledger size:")
    for size in (int(s) for s in args.prefill.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ledger.sqlite"
            child_write_bytes(PREFILL, str(path), str(size))
            out, wrote = child_write_bytes(REFILL, str(path), str(args.codes))
            figures = json.loads(out)
            base = base or figures["cpu"]
            new_prints = 16 * args.codes
            ratio = figures["cpu"] / base
            print(
                f"  {size:>11,} fingerprints: {figures['cpu']:5.2f} s CPU ({ratio:.2f}x), "
                f"peak {figures['peak_mb']:.0f} MB, wrote {wrote / 2**20:,.0f} MiB "
                f"({wrote / new_prints:.1f}x the new fingerprints)"
            )


if __name__ == "__main__":
    main()
