"""Benchmark voucher-code generation against its goals; exit 1 if a goal is missed.

Run from the repository root::

    .venv/bin/python bench/codes_bench.py            # 1,000,000 codes, the goals below
    .venv/bin/python bench/codes_bench.py --count 200000 --naive-runs 1

Workload: ``count`` unique codes of the default shape (10 random symbols from the 31-symbol
"unambiguous" alphabet plus the check symbol, blocklist on).

Goals (for 1,000,000 codes on a 2-core machine):

* median wall time of ``voucherbot.codes.generator`` over ``--runs`` runs under 1.0 s
  (scaled linearly for other counts);
* peak memory under 200 MB: the peak resident set size of a fresh interpreter that imports
  voucherbot and generates once (``VmHWM`` from ``/proc/self/status``, falling back to
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` off Linux; ``ru_maxrss`` alone can report the
  *parent's* peak, which Linux carries across fork + exec); the increase over that
  interpreter's baseline right before generating is reported too;
* at least 3x faster than the naive loop, ``"".join(secrets.choice(alphabet) for _ in
  range(10))`` plus the same check-symbol computation done per code, collected into a set until
  ``count`` are unique.  The naive loop without a check symbol is reported as well.  (The naive
  loops skip the blocklist, which only flatters them.)

The "generic" line times an even-sized alphabet ("alphanumeric", 36 symbols), whose check
symbols are computed row by row instead of by byte-lane sums; it is informational.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voucherbot.codes import CodeSpec, check_code, generate  # noqa: E402
from voucherbot.codes.checksum import check_system  # noqa: E402

TIME_GOAL_PER_MILLION = 1.0  # seconds
MEMORY_GOAL_MB = 200.0
SPEEDUP_GOAL = 3.0

_MEMORY_PROBE = """
import resource, sys
from voucherbot.codes import CodeSpec, generate

def peak_kib():
    # VmHWM is this process image's own peak RSS; ru_maxrss can include the parent's peak,
    # because Linux carries the old image's high-water mark across fork/vfork + exec
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]), "VmHWM"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"

before, _ = peak_kib()
codes = generate(CodeSpec(), int(sys.argv[1]))
after, source = peak_kib()
assert len(set(codes)) == int(sys.argv[1])
print(before, after, source)
"""


def naive(count: int, *, with_check: bool) -> list[str]:
    """The obvious implementation: secrets.choice per symbol, a set for uniqueness."""
    alphabet = CodeSpec().symbols
    n, length = len(alphabet), CodeSpec().length
    value = {s: i for i, s in enumerate(alphabet)}
    weights = check_system(n).weights(length)
    assert weights is not None
    w, f = weights
    seen: set[str] = set()
    while len(seen) < count:
        code = "".join(secrets.choice(alphabet) for _ in range(length))
        if with_check:
            total = sum(wi * value[s] for wi, s in zip(w, code, strict=True))
            code += alphabet[f * total % n]
        seen.add(code)
    return list(seen)


def timed(fn: Callable[[], list[str]], runs: int, count: int) -> tuple[list[float], list[str]]:
    """Wall times of ``runs`` calls, and the codes of the last one (checked for uniqueness)."""
    times: list[float] = []
    codes: list[str] = []
    for _ in range(runs):
        del codes
        start = time.perf_counter()
        codes = fn()
        times.append(time.perf_counter() - start)
        assert len(codes) == count and len(set(codes)) == count, "codes missing or repeated"
    return times, codes


def peak_memory_mb(count: int) -> tuple[float, float, str]:
    """(peak RSS, increase over the baseline before generating) in MB, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before, after, source = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(count)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.split()
    return int(after) / 1024, (int(after) - int(before)) / 1024, source  # KiB -> MiB


def fmt(times: list[float]) -> str:
    runs = ", ".join(f"{t:.3f}" for t in times)
    return f"median {statistics.median(times):.3f} s  (runs: {runs})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="codes per run")
    parser.add_argument("--runs", type=int, default=5, help="runs of the fast generator")
    parser.add_argument("--naive-runs", type=int, default=3, help="runs of each naive loop")
    args = parser.parse_args(argv)
    count = args.count
    print(f"voucher codes benchmark: {count:,} codes, default shape {CodeSpec()}")
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")

    # memory first, while this process is still small
    peak, delta, source = peak_memory_mb(count)
    spec = CodeSpec()
    generate(spec, 1000)  # warm caches (compiled layout, tables, regexes)
    fast, codes = timed(lambda: generate(spec, count), args.runs, count)
    sample = codes[:: max(1, count // 2000)]
    assert all(check_code(spec, c).ok for c in sample), "a generated code failed its check"
    del codes
    generic_spec = CodeSpec(alphabet="alphanumeric")
    generic, codes = timed(lambda: generate(generic_spec, count), 1, count)
    del codes
    print(f"fast (voucherbot.codes.generator):  {fmt(fast)}")
    print(f"generic check path (alphanumeric): {fmt(generic)}  [informational]")

    naive_check, _ = timed(lambda: naive(count, with_check=True), args.naive_runs, count)
    print(f"naive + check symbol:              {fmt(naive_check)}")
    naive_plain, _ = timed(lambda: naive(count, with_check=False), args.naive_runs, count)
    print(f"naive, no check symbol:            {fmt(naive_plain)}")

    fast_median = statistics.median(fast)
    ratio_check = statistics.median(naive_check) / fast_median
    ratio_plain = statistics.median(naive_plain) / fast_median
    print(f"speed-up: {ratio_check:.1f}x over naive + check, {ratio_plain:.1f}x over naive plain")

    print(
        f"peak RSS of a fresh process generating once ({source}): {peak:.1f} MB, "
        f"{delta:.1f} MB over its baseline after imports"
    )

    time_goal = TIME_GOAL_PER_MILLION * count / 1_000_000
    goals = [
        (f"median under {time_goal:.2f} s", fast_median < time_goal),
        (f"peak memory under {MEMORY_GOAL_MB:.0f} MB", peak < MEMORY_GOAL_MB),
        (f"at least {SPEEDUP_GOAL:.0f}x faster than naive + check", ratio_check >= SPEEDUP_GOAL),
    ]
    for text, ok in goals:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return 0 if all(ok for _, ok in goals) else 1


if __name__ == "__main__":
    sys.exit(main())
