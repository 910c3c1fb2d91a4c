"""How fast `voucherbot --help` and `voucherbot config check` start (goal: under 0.3 s each).

    python bench/startup_bench.py [--runs 10]

Each command runs in a fresh process (as from a shell), ``--runs`` times; the median wall
time is reported. Exit status 1 if a median is 0.3 s or more.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "voucherbot --help": ["--help"],
    "voucherbot config check": ["config", "check", "--rules", str(REPO / "rules.toml")],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    ok = True
    for name, argv in COMMANDS.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "voucherbot", *argv], check=True, capture_output=True
            )
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        ok &= median < 0.3
        print(
            f"{name:<26} median {median * 1000:.0f} ms over {args.runs} runs "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
