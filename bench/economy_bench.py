"""What refilling many sets costs in API requests: voucherbot against a reference client.

    python bench/economy_bench.py [--sets 300] [--low 40] [--rows-per-second 200]

A sandbox (in this process) holds 300 coupon sets, 40 of them low and used by an active
workflow; an import of 5,000 codes takes about 25 s of server time (200 rows a second, one
import at a time, as the sandbox processes them), and the sandbox rate-limits at 100 requests
a rolling minute. Time is simulated: whenever a client would sleep, the sandbox clock moves
instead, so a run of half an hour of server time takes seconds and both clients see exactly
the same server. Both clients refill the same 40 sets to 5,000 available:

* **voucherbot** ``run`` with the built-in defaults (100 requests a minute, polling from 2 s
  growing to 60 s, at most 8 imports queued);
* a **reference** client in the style of Connectif's published example: list the sets and
  workflows, then for each low set POST the import and poll ``GET /imports/{id}`` every
  2 seconds until it ends, one import after another (it waits out 429s as the server says).

It prints, for each: requests in all and by kind, requests per refilled set beyond the list
pages, 429s met, and the simulated wall time. Goals: zero 429s for voucherbot, at most 3
requests per refilled set beyond the list pages, at least 5x fewer requests than the
reference. Exit status 1 if a goal is missed.
"""

from __future__ import annotations

import argparse
import io
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from voucherbot.app import run
from voucherbot.config import Config
from voucherbot.connectif.client import ConnectifClient
from voucherbot.connectif.ratelimit import RateBudget
from voucherbot.ledger import Ledger
from voucherbot.sandbox import SandboxConfig, SandboxState, start_sandbox

KEY = "bench-key"
TARGET = 5000
THRESHOLD = 500


def build(state: SandboxState, sets: int, low: int) -> None:
    """Fill the account: every seeded set full, then new sets up to ``sets``, ``low`` low."""
    active = next(w.id for w in state.workflows() if w.status == "active")
    for cs in state.coupon_sets():
        if cs.type == "multiple":
            state.set_available(cs.id, max(cs.quantity or 0, TARGET))
    for i in range(sets - len(state.coupon_sets())):
        available = 100 + i if i < low else TARGET
        state.add_coupon_set(
            f"Bench set {i:03d}", quantity=TARGET, available=available, workflow_ids=(active,)
        )


def sandbox_config(rows_per_second: float) -> SandboxConfig:
    return SandboxConfig(
        seed=1,
        api_key=KEY,
        rate_limit=100,
        page_size=50,
        demand=False,
        import_queue_delay=2.0,
        import_rows_per_second=rows_per_second,
    )


def run_voucherbot(sets: int, low: int, rows_per_second: float) -> dict[str, Any]:
    with start_sandbox(sandbox_config(rows_per_second)) as sandbox:
        state = sandbox.state
        build(state, sets, low)
        start, real = state.now(), time.perf_counter()
        budget = RateBudget(100, clock=state.now, wall=state.now, sleep=state.advance)
        with (
            ConnectifClient(KEY, sandbox.url, budget=budget, sleep=state.advance) as client,
            Ledger.memory() as ledger,
        ):
            result = run(client, Config(), ledger, clock=state.now, sleep=state.advance)
            stats = dict(client.stats)
        refilled = sum(r.ok for r in result.results)
        return {
            "stats": stats,
            "refilled": refilled,
            "failed": len(result.failed),
            "simulated": state.now() - start,
            "real": time.perf_counter() - real,
        }


def run_reference(sets: int, low: int, rows_per_second: float) -> dict[str, Any]:
    """One blocking loop per import, polling every 2 s (Connectif's example's style)."""
    with start_sandbox(sandbox_config(rows_per_second)) as sandbox:
        state = sandbox.state
        build(state, sets, low)
        start, real = state.now(), time.perf_counter()
        stats: Counter[str] = Counter()
        http = requests.Session()
        http.headers["Authorization"] = f"apiKey {KEY}"

        def call(kind: str, method: str, url: str, **kwargs: Any) -> Any:
            while True:
                stats[kind] += 1
                response = http.request(method, url, timeout=30, **kwargs)
                if response.status_code != 429:
                    response.raise_for_status()
                    return response.json()
                stats["429"] += 1
                state.advance(float(response.headers.get("Retry-After", "5")))

        def every(path: str) -> list[dict[str, Any]]:
            items, url = [], sandbox.url + path
            while url:
                page = call("list", "GET", url)
                items += page["results"]
                url = (page.get("links") or {}).get("next")
            return items

        active = {w["id"] for w in every("/workflows/") if w.get("status") == "active"}
        refilled = 0
        for cs in every("/coupon-sets/"):
            used = {u["workflowId"] for u in cs.get("usedInWorkflows") or []}
            if cs["type"] != "multiple" or cs["available"] >= THRESHOLD or not used & active:
                continue
            count = TARGET - cs["available"]
            csv = "code\n" + "\n".join(secrets.token_hex(6).upper() for _ in range(count)) + "\n"
            created = call(
                "import",
                "POST",
                sandbox.url + "/imports/",
                data={
                    "type": "coupons",
                    "couponSetId": cs["id"],
                    "delimiter": ",",
                    "overrideExisting": "false",
                    "updateOnlyEmptyFields": "false",
                },
                files={"file": ("codes.csv", io.BytesIO(csv.encode()), "text/csv")},
            )
            while True:
                state.advance(2.0)
                imp = call("poll", "GET", f"{sandbox.url}/imports/{created['id']}")
                if imp["status"] in ("finished", "error", "cancelled"):
                    refilled += imp["status"] == "finished"
                    break
        return {
            "stats": dict(stats),
            "refilled": refilled,
            "failed": 0,
            "simulated": state.now() - start,
            "real": time.perf_counter() - real,
        }


def describe(name: str, figures: dict[str, Any]) -> tuple[int, float]:
    stats = figures["stats"]
    kinds = ("list", "get", "import", "poll", "error-report")
    total = sum(stats.get(k, 0) for k in kinds)
    beyond = total - stats.get("list", 0)
    per_set = beyond / max(1, figures["refilled"])
    by_kind = ", ".join(f"{k} {stats[k]}" for k in kinds if stats.get(k))
    print(
        f"{name:<11} requests {total:>5} ({by_kind}); per refilled set beyond the list "
        f"pages {per_set:.2f}; 429s {stats.get('429', 0)}; refilled {figures['refilled']} "
        f"(failed {figures['failed']}); simulated wall time {figures['simulated']:,.0f} s "
        f"({figures['real']:.1f} s real)"
    )
    return total, per_set


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=300)
    parser.add_argument("--low", type=int, default=40)
    parser.add_argument("--rows-per-second", type=float, default=200.0)
    args = parser.parse_args()
    ours = run_voucherbot(args.sets, args.low, args.rows_per_second)
    theirs = run_reference(args.sets, args.low, args.rows_per_second)
    total, per_set = describe("voucherbot", ours)
    ref_total, _ = describe("reference", theirs)
    ratio = ref_total / total
    print(f"voucherbot makes {ratio:.1f}x fewer requests than the reference")
    goals = {
        "zero 429s": ours["stats"].get("429", 0) == 0,
        "at most 3 requests per refilled set beyond the list pages": per_set <= 3,
        "at least 5x fewer requests than the reference": ratio >= 5,
        "every low set refilled": ours["refilled"] == args.low == theirs["refilled"],
    }
    for goal, met in goals.items():
        print(f"{'met ' if met else 'MISSED'} {goal}")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
