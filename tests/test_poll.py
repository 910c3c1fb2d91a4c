"""poll_imports: one loop for every import in flight, a growing interval, a deadline."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import FakeClock
from voucherbot.errors import ConfigError
from voucherbot.models import Import
from voucherbot.poll import PollSettings, PollTimeoutError, poll_imports


class ScriptedClient:
    """get_import answers from a script: each import finishes after a number of reads."""

    def __init__(self, reads_until_done: dict[str, int], final: str = "finished") -> None:
        self.left = dict(reads_until_done)
        self.final = final
        self.calls: list[str] = []

    def get_import(self, import_id: str, *, kind: str = "get") -> Import:
        assert kind == "poll"
        self.calls.append(import_id)
        self.left[import_id] -= 1
        done = self.left[import_id] <= 0
        return Import(id=import_id, status=self.final if done else "inProgress", total=10,
                      success=10 if done else 3)


def run(client: Any, ids: list[str], clock: FakeClock, **settings: float) -> dict[str, Import]:
    return poll_imports(client, ids, settings=PollSettings(**settings), clock=clock.monotonic,
                        sleep=clock.sleep)


def test_one_tick_reads_every_pending_import_then_sleeps_once(fake_clock: FakeClock) -> None:
    client = ScriptedClient({"a": 1, "b": 3, "c": 2})
    done = run(client, ["a", "b", "c"], fake_clock, interval=1, growth=2, max_interval=3)
    assert client.calls == ["a", "b", "c", "b", "c", "b"]
    assert fake_clock.sleeps == [1, 2]  # one sleep per tick, growing, for all imports together
    assert {i: imp.status for i, imp in done.items()} == dict.fromkeys("abc", "finished")


def test_interval_grows_up_to_the_maximum(fake_clock: FakeClock) -> None:
    client = ScriptedClient({"a": 6})
    run(client, ["a"], fake_clock, interval=1, growth=2, max_interval=5, timeout=1000)
    assert fake_clock.sleeps == [1, 2, 4, 5, 5]


def test_progress_sees_every_snapshot(fake_clock: FakeClock) -> None:
    seen: list[tuple[str, str]] = []
    client = ScriptedClient({"a": 2})
    poll_imports(client, ["a"], settings=PollSettings(interval=1),  # type: ignore[arg-type]
                 on_progress=lambda imp: seen.append((imp.id, imp.status)),
                 clock=fake_clock.monotonic, sleep=fake_clock.sleep)
    assert seen == [("a", "inProgress"), ("a", "finished")]


@pytest.mark.parametrize("status", ["error", "cancelled"])
def test_failed_imports_are_terminal_too(fake_clock: FakeClock, status: str) -> None:
    client = ScriptedClient({"a": 1}, final=status)
    assert run(client, ["a"], fake_clock, interval=1)["a"].status == status


def test_deadline_gives_the_pending_and_the_done(fake_clock: FakeClock) -> None:
    client = ScriptedClient({"quick": 1, "slow": 100})
    with pytest.raises(PollTimeoutError) as caught:
        run(client, ["quick", "slow"], fake_clock, interval=1, growth=1, max_interval=1,
            timeout=5)
    assert set(caught.value.done) == {"quick"}
    assert set(caught.value.pending) == {"slow"}
    assert "slow (inProgress, 3/10)" in str(caught.value)
    assert "voucherbot imports" in str(caught.value)
    assert sum(fake_clock.sleeps) <= 5


@pytest.mark.parametrize("kwargs", [
    {"interval": 0}, {"interval": 5, "max_interval": 1}, {"growth": 0.5}, {"timeout": 0},
])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        PollSettings(**kwargs)
