"""Tracker and poll_imports: every import in flight read in one tick, waits that adapt."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import FakeClock
from voucherbot.config.settings import PollSettings
from voucherbot.connectif.models import Import
from voucherbot.connectif.poll import PollTimeoutError, Tracker, poll_imports
from voucherbot.errors import ConfigError


class ScriptedServer:
    """Imports that advance by script on each read of the server, listed newest first."""

    def __init__(self, clock: FakeClock, page_size: int = 5) -> None:
        self.clock = clock
        self.page_size = page_size
        self.imports: dict[str, dict[str, Any]] = {}  #: id -> {total, rate, start, status}
        self.order: list[str] = []
        self.calls: list[str] = []

    def add(
        self,
        import_id: str,
        total: int,
        rows_per_second: float,
        start: float = 0.0,
        final: str = "finished",
    ) -> None:
        self.imports[import_id] = {
            "total": total,
            "rate": rows_per_second,
            "start": self.clock.now + start,
            "final": final,
        }
        self.order.insert(0, import_id)

    def state(self, import_id: str) -> Import:
        spec = self.imports[import_id]
        elapsed = self.clock.now - spec["start"]
        if elapsed < 0:
            return Import(id=import_id, status="queued", total=spec["total"])
        done = min(spec["total"], int(elapsed * spec["rate"]))
        if done >= spec["total"]:
            ok = spec["final"] == "finished"
            return Import(
                id=import_id, status=spec["final"], total=spec["total"], success=done if ok else 0
            )
        return Import(id=import_id, status="inProgress", total=spec["total"], success=done)

    def imports_page(self, url: str | None = None) -> tuple[list[Import], str | None]:
        self.calls.append(f"page {url or 0}")
        start = int(url or 0)
        ids = self.order[start : start + self.page_size]
        more = start + self.page_size < len(self.order)
        return [self.state(i) for i in ids], str(start + self.page_size) if more else None

    def get_import(self, import_id: str, *, kind: str = "get") -> Import:
        assert kind == "poll"
        self.calls.append(f"get {import_id}")
        return self.state(import_id)


def settings(**kw: float) -> PollSettings:
    return PollSettings(**{"interval": 1, "growth": 2, "max_interval": 8, "timeout": 1000, **kw})


def run(server: ScriptedServer, ids: list[str], clock: FakeClock, **kw: float) -> dict[str, Import]:
    return poll_imports(
        server,
        ids,
        settings=settings(**kw),  # type: ignore[arg-type]
        clock=clock.monotonic,
        sleep=clock.sleep,
    )


def test_one_page_reads_every_import_in_flight(fake_clock: FakeClock) -> None:
    server = ScriptedServer(fake_clock)
    for i in range(4):
        server.add(f"i{i}", total=100, rows_per_second=100, start=i)
    done = run(server, ["i0", "i1", "i2", "i3"], fake_clock)
    assert set(done) == {"i0", "i1", "i2", "i3"}
    assert all(call == "page 0" for call in server.calls)  # never one GET per import
    assert len(server.calls) <= 6


def test_pages_are_followed_while_they_hold_ours_then_single_reads(fake_clock: FakeClock) -> None:
    server = ScriptedServer(fake_clock, page_size=2)
    server.add("old", total=10, rows_per_second=1000)  # ends up on the last page
    for i in range(4):
        server.add(f"other{i}", total=10, rows_per_second=1000)
    server.add("new", total=10, rows_per_second=1000)
    tracker = Tracker(server, settings(), clock=fake_clock.monotonic)  # type: ignore[arg-type]
    for import_id in ("new", "old"):
        tracker.add(Import(id=import_id, status="queued", total=10))
    fake_clock.sleep(1)
    ended = tracker.tick()
    # page 0 holds "new"; page 2 ("other" imports only) stops the walk; "old" is read alone
    assert server.calls == ["page 0", "page 2", "get old"]
    assert {imp.id for imp in ended} == {"new", "old"}


def test_wait_grows_while_nothing_changes(fake_clock: FakeClock) -> None:
    server = ScriptedServer(fake_clock)
    server.add("a", total=10, rows_per_second=1000, start=30)  # stays queued for 30 s
    run(server, ["a"], fake_clock, interval=1, growth=2, max_interval=8)
    assert fake_clock.sleeps[:5] == [2, 4, 8, 8, 8]


def test_wait_follows_the_observed_rate(fake_clock: FakeClock) -> None:
    server = ScriptedServer(fake_clock)
    server.add("big", total=10_000, rows_per_second=100)  # 100 s of work
    run(server, ["big"], fake_clock, interval=1, growth=2, max_interval=60)
    # first reads are spaced by the growing wait; once the rate is known, the next read is
    # timed for the end, instead of a read every few seconds
    assert len(server.calls) <= 5
    assert fake_clock.now - 1_800_000_000.0 < 110


def test_progress_and_done_callbacks(fake_clock: FakeClock) -> None:
    seen: list[tuple[str, str]] = []
    ended: list[str] = []
    server = ScriptedServer(fake_clock)
    server.add("a", total=10, rows_per_second=5)
    poll_imports(
        server,
        ["a"],
        settings=settings(),  # type: ignore[arg-type]
        on_progress=lambda imp: seen.append((imp.id, imp.status)),
        on_done=lambda imp: ended.append(imp.id),
        clock=fake_clock.monotonic,
        sleep=fake_clock.sleep,
    )
    assert seen[-1] == ("a", "finished") and ended == ["a"]


@pytest.mark.parametrize("status", ["error", "cancelled"])
def test_failed_imports_are_terminal_too(fake_clock: FakeClock, status: str) -> None:
    server = ScriptedServer(fake_clock)
    server.add("a", total=10, rows_per_second=10, final=status)
    assert run(server, ["a"], fake_clock)["a"].status == status


def test_deadline_gives_the_pending_and_the_done(fake_clock: FakeClock) -> None:
    server = ScriptedServer(fake_clock)
    server.add("quick", total=10, rows_per_second=100)
    server.add("slow", total=10_000, rows_per_second=1)
    with pytest.raises(PollTimeoutError) as caught:
        run(server, ["quick", "slow"], fake_clock, timeout=30)
    assert set(caught.value.done) == {"quick"}
    assert set(caught.value.pending) == {"slow"}
    assert "slow (inProgress" in str(caught.value)
    assert "voucherbot imports" in str(caught.value)
    assert sum(fake_clock.sleeps) <= 30


@pytest.mark.parametrize("timeout", [3, 8, 30, 100])
def test_the_wait_lasts_the_whole_timeout_and_the_last_look_is_at_the_deadline(
    fake_clock: FakeClock, timeout: float
) -> None:
    """Reproduced before: a timeout of 3 s gave up after 0.6 s (the next wait would pass it)."""
    server = ScriptedServer(fake_clock)
    server.add("slow", total=10_000, rows_per_second=0)
    started = fake_clock.now
    with pytest.raises(PollTimeoutError):
        poll_imports(
            server,
            ["slow"],
            settings=settings(timeout=timeout, interval=0.5),  # type: ignore[arg-type]
            wait_first=True,
            clock=fake_clock.monotonic,
            sleep=fake_clock.sleep,
        )
    assert fake_clock.now - started == pytest.approx(timeout)
    assert server.calls[-1] == "page 0"  # it looked once more, at the deadline


@pytest.mark.parametrize(
    "kwargs",
    [
        {"interval": 0},
        {"interval": 5, "max_interval": 1},
        {"growth": 0.5},
        {"timeout": 0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PollSettings(**kwargs)


class ListsTwice(ScriptedServer):
    """A server whose list shows each import twice on its page (a paging glitch)."""

    def imports_page(self, url: str | None = None) -> tuple[list[Import], str | None]:
        items, nxt = super().imports_page(url)
        return [item for item in items for _ in (1, 2)], nxt


def test_an_import_listed_twice_ends_once(fake_clock: FakeClock) -> None:
    server = ListsTwice(fake_clock)
    server.add("a", total=10, rows_per_second=1000)
    ended: list[Import] = []
    tracker = Tracker(
        server,  # type: ignore[arg-type]
        settings(),
        on_done=ended.append,
        clock=fake_clock.monotonic,
    )
    tracker.add(Import(id="a", status="queued", total=10))
    fake_clock.sleep(1)
    assert [imp.id for imp in tracker.tick()] == ["a"]
    assert [imp.id for imp in ended] == ["a"]  # told once, not once per listing
    assert tracker.pending == []
