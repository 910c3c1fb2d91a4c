"""Shared fixtures: isolation from the user's machine, a fake clock, API keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

API_KEY = "65f0c0ffee:S3cr3tK3yValue-Do-Not-Print"


class FakeClock:
    """monotonic(), time() and sleep() that move together, without real waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the user's Connectif settings, home directory or rules file."""
    for name in (
        "CONNECTIF_API_KEY",
        "CONNECTIF_BASE_URL",
        "VOUCHERBOT_RULES",
        "VOUCHERBOT_LEDGER",
        "VOUCHERBOT_RAISE_ERRORS",
        "VOUCHERBOT_SANDBOX_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield
