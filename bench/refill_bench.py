"""One refill of 1,000,000 codes, end to end: generate, ledger, CSV, upload, poll.

    python bench/refill_bench.py [--count 1000000] [--max-mb 200]

A sandbox runs in this process; ``voucherbot refill SET --count N`` runs in a child process
(with a ledger, as in production), so the figures are those of voucherbot alone: its wall
time and its peak memory (the kernel's high-water mark of its resident set, VmHWM, read by
the child itself as it exits). Goal: under 200 MB. Exit status 1 if the goal or the refill
fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voucherbot.sandbox import SandboxConfig, start_sandbox

KEY = "bench-key"
#: runs voucherbot's CLI, then reports the process's peak memory on its last stderr line
CHILD = """
import sys
from voucherbot.cli import main
try:
    main()
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"peak-kb {peak}", file=sys.stderr)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--max-mb", type=float, default=200.0)
    args = parser.parse_args()
    config = SandboxConfig(
        seed=1, api_key=KEY, rate_limit=0, demand=False, import_rows_per_second=1_000_000.0
    )
    with start_sandbox(config) as sandbox, tempfile.TemporaryDirectory() as tmp:
        target = next(s for s in sandbox.state.coupon_sets() if s.type == "multiple")
        before = target.available or 0
        rules = Path(tmp) / "rules.toml"
        rules.write_text("[polling]\ninterval = 0.5\n")
        env = {**os.environ, "CONNECTIF_BASE_URL": sandbox.url, "CONNECTIF_API_KEY": KEY}
        started = time.perf_counter()
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                CHILD,
                "refill",
                target.id,
                "--count",
                str(args.count),
                "--rules",
                str(rules),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            check=False,
        )
        wall = time.perf_counter() - started
        after = sandbox.state.get_set(target.id).available or 0
    peak_mb = int(child.stderr.strip().splitlines()[-1].split()[1]) / 1024
    print(child.stdout.strip())
    print(
        f"{args.count:,} codes: wall time {wall:.1f} s, voucherbot peak memory "
        f"{peak_mb:.0f} MB (VmHWM), set available {before:,} -> {after:,}"
    )
    ok = child.returncode == 0 and after - before == args.count
    met = peak_mb < args.max_mb
    print(f"{'met ' if met else 'MISSED'} peak memory under {args.max_mb:g} MB")
    print(f"{'met ' if ok else 'MISSED'} every code imported")
    return 0 if ok and met else 1


if __name__ == "__main__":
    sys.exit(main())
