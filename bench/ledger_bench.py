"""What a refill costs the ledger as it grows: CPU, peak memory and bytes written to disk for
a refill of N fresh codes (``Ledger.draw_batch``: drawn, fingerprinted, checked against every
segment, recorded and written to the batch's file) into ledgers already holding M
fingerprints; and, with ``--sequence``, K refills one after another from an empty ledger,
merges included.

    python bench/ledger_bench.py [--codes 1000000] [--prefill 0,10000000,50000000]
    python bench/ledger_bench.py --sequence 20

Each ledger is prefilled in a child process the way refills fill it: 1M fingerprints at a time
(random, as past refills' are), each followed by the merge that is due, so its segments are
what 1M refills leave. The refill then runs in a fresh child process, so that each figure is
its own. The issue 14 goals are ratios of one run: CPU at 10M at most 1.3x CPU at 0, at 50M
at most 1.5x; bytes written under 3x the new fingerprints (16 bytes each).
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
from voucherbot.ledger import Ledger, segments
path, count = Path(sys.argv[1]), int(sys.argv[2])
with Ledger.open(path) as ledger:
    for start in range(0, count, 1_000_000):
        n = min(1_000_000, count - start)
        ledger.db.execute("BEGIN IMMEDIATE")
        batch = ledger.db.execute(
            "INSERT INTO batches (coupon_set_id, coupon_set_name, count, shape, status, "
            "created_at) VALUES ('old', 'old', ?, 'old', 'finished', '2026-01-01T00:00:00Z')",
            (n,)).lastrowid
        segments.plant(ledger.db, batch, (os.urandom(16) for _ in range(n)))
        ledger.db.execute("COMMIT")
        segments.merge_due(ledger.db)
    ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
"""

REFILL = """
import json, resource, sys, time
from pathlib import Path
from voucherbot.codes import CodeSpec
from voucherbot.connectif.models import CouponSet
from voucherbot.ledger import Ledger, segments
path, count, runs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
cpus, merges, csv = [], [], 0
with Ledger.open(path) as ledger:
    probed = len(segments.listed(ledger.db))
    for n in range(runs):
        target = CouponSet(id=f"s{n}", name="W", type="multiple", assigned=0, available=0,
                           quantity=0)
        started = time.process_time()
        batch = ledger.draw_batch(None, target, CodeSpec(), count)
        ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what the refill wrote, all of it
        cpus.append(time.process_time() - started)
        started = time.process_time()
        merged = ledger.merge_segments()  # while the import runs
        merges.append((time.process_time() - started, merged))
        csv += ledger.kept_codes(batch.id).path.stat().st_size
        ledger.mark_abandoned(batch.id, "bench")
        ledger.forget_codes(batch.id)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"cpus": cpus, "merges": merges, "peak_mb": peak, "probed": probed, "csv": csv}))
"""


def child(code: str, *args: str) -> tuple[str, int]:
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


def by_size(codes: int, sizes: list[int]) -> None:
    base = None
    print(f"one refill of {codes:,} codes, by ledger size:")
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ledger.sqlite"
            child(PREFILL, str(path), str(size))
            out, wrote = child(REFILL, str(path), str(codes), "1")
            figures = json.loads(out)
            (cpu,) = figures["cpus"]
            base = base or cpu
            ((merge_cpu, merged),) = figures["merges"]
            then = f", then a merge of {merged:,} in {merge_cpu:.1f} s" if merged else ""
            print(
                f"  {size:>11,} fingerprints, {figures['probed']} segments: {cpu:5.2f} s CPU "
                f"({cpu / base:.2f}x){then}, peak {figures['peak_mb']:.0f} MB, "
                f"{wrote_ledger(wrote, figures['csv'], codes)}"
            )


def sequence(codes: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.sqlite"
        out, wrote = child(REFILL, str(path), str(codes), str(runs))
    figures = json.loads(out)
    cpus = figures["cpus"]
    print(f"{runs} refills of {codes:,} codes one after another, from an empty ledger:")
    print("  CPU per refill (s): " + " ".join(f"{c:.1f}" for c in cpus))
    merges = [cpu for cpu, _ in figures["merges"]]
    print("  CPU of the merges after each (s): " + " ".join(f"{c:.1f}" for c in merges))
    mean, merging = sum(cpus) / runs, sum(merges) / runs
    print(
        f"  refill mean {mean:.2f} s ({mean / cpus[0]:.2f}x the first), worst {max(cpus):.2f} s;"
        f" merges {merging:.2f} s a refill on average; peak {figures['peak_mb']:.0f} MB; "
        f"a refill and its merges on average "
        f"{wrote_ledger(wrote / runs, figures['csv'] / runs, codes)}"
    )


def wrote_ledger(wrote: float, csv: float, codes: int) -> str:
    """Bytes written: the ledger's (less the batch's coupon CSV, which is the upload file),
    and against the new fingerprints' 16 bytes each."""
    ledger = wrote - csv
    return (
        f"wrote {ledger / 2**20:,.0f} MiB to the ledger ({ledger / (16 * codes):.2f}x the new "
        f"fingerprints) + {csv / 2**20:,.0f} MiB of coupon CSV"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=1_000_000)
    parser.add_argument("--prefill", default="0,10000000", help="comma-separated sizes")
    parser.add_argument("--sequence", type=int, default=0, help="refills one after another")
    args = parser.parse_args()
    if args.sequence:
        sequence(args.codes, args.sequence)
    else:
        by_size(args.codes, [int(s) for s in args.prefill.split(",")])


if __name__ == "__main__":
    main()
