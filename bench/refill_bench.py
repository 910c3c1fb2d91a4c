"""Refills end to end: generate, ledger, CSV, upload, poll; wall time and peak memory.

    python bench/refill_bench.py [--count 1000000] [--max-mb 200]
    python bench/refill_bench.py --count 5000000 --against 5

A sandbox runs in this process; ``voucherbot refill SET --count N`` runs in a child process
(with a ledger, as in production), so the figures are those of voucherbot alone: its wall
time, its CPU time and its peak memory (the kernel's high-water mark of its resident set,
VmHWM, read by the child itself as it exits). Goal: under 200 MB at any size.

With ``--against K`` the same ledger and set first get K refills of ``count / K`` codes one
after another, then one refill of ``count``: a big refill goes as several imports (each file
under Connectif's 50 MB), queued together, and the issue 14 goal is that it takes under 3x
the time of the K small ones. Exit status 1 if a goal or a refill fails.
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
#: runs voucherbot's CLI, then reports the process's peak memory and CPU on its last stderr line
CHILD = """
import os, sys
from voucherbot.cli import main
try:
    main()
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    times = os.times()
    print(f"peak-kb {peak} cpu {times.user + times.system:.2f}", file=sys.stderr)
"""


class Refills:
    """One sandbox, one folder with rules and a ledger, one coupon set to refill."""

    def __init__(self, url: str, folder: Path, set_id: str) -> None:
        self.folder = folder
        self.set_id = set_id
        self.rules = folder / "rules.toml"
        self.rules.write_text("[polling]\ninterval = 0.5\n")
        self.env = {**os.environ, "CONNECTIF_BASE_URL": url, "CONNECTIF_API_KEY": KEY}

    def refill(self, count: int) -> tuple[float, float, float, str, int]:
        """Wall time, CPU time, peak MB, what it printed, and its exit status."""
        started = time.perf_counter()
        argv = ["refill", self.set_id, "--count", str(count), "--rules", str(self.rules)]
        child = subprocess.run(
            [sys.executable, "-c", CHILD, *argv, "--quiet", "--yes"],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.folder,
            check=False,
        )
        wall = time.perf_counter() - started
        *said, last_line = child.stderr.strip().splitlines()
        if child.returncode:
            print("\n".join(said), file=sys.stderr)
        last = last_line.split()
        return wall, float(last[3]), int(last[1]) / 1024, child.stdout.strip(), child.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--against", type=int, default=0, help="K smaller refills first")
    parser.add_argument("--max-mb", type=float, default=200.0)
    args = parser.parse_args()
    config = SandboxConfig(
        seed=1, api_key=KEY, rate_limit=0, demand=False, import_rows_per_second=1_000_000.0
    )
    ok = True
    with start_sandbox(config) as sandbox, tempfile.TemporaryDirectory() as tmp:
        target = next(s for s in sandbox.state.coupon_sets() if s.type == "multiple")
        refills = Refills(sandbox.url, Path(tmp), target.id)
        small_wall, peaks = 0.0, []
        for _ in range(args.against):
            before = sandbox.state.get_set(target.id).available or 0
            wall, cpu, peak, _, status = refills.refill(args.count // args.against)
            small_wall += wall
            peaks.append(peak)
            ok &= status == 0
            ok &= (sandbox.state.get_set(target.id).available or 0) - before == (
                args.count // args.against
            )
        if args.against:
            print(
                f"{args.against} refills of {args.count // args.against:,} codes one after "
                f"another: {small_wall:.1f} s wall in all, peak {max(peaks):.0f} MB"
            )
        before = sandbox.state.get_set(target.id).available or 0
        imports_before = len(sandbox.state.imports)
        wall, cpu, peak, said, status = refills.refill(args.count)
        after = sandbox.state.get_set(target.id).available or 0
        imports = len(sandbox.state.imports) - imports_before
    print(said)
    print(
        f"{args.count:,} codes in {imports} import(s): wall time {wall:.1f} s, voucherbot CPU "
        f"{cpu:.1f} s, peak memory {peak:.0f} MB (VmHWM), set available {before:,} -> {after:,}"
    )
    ok &= status == 0 and after - before == args.count
    met = peak < args.max_mb and all(p < args.max_mb for p in peaks)
    print(f"{'met ' if met else 'MISSED'} peak memory under {args.max_mb:g} MB")
    if args.against:
        ratio = wall / small_wall
        print(f"{'met ' if ratio < 3 else 'MISSED'} {ratio:.2f}x the {args.against} small ones")
        met &= ratio < 3
    print(f"{'met ' if ok else 'MISSED'} every code imported")
    return 0 if ok and met else 1


if __name__ == "__main__":
    sys.exit(main())
