"""Shared fixtures: isolation from the user's machine, a fake clock, API keys; and the tiers.

Each test is marked with its folder's tier: ``unit`` (one part at a time, in this process: the
tier to run on every change, well under 30 s), ``integration`` (a part against a server on
127.0.0.1, the sandbox or pytest-httpserver, or a real program), ``e2e`` (whole commands
against the sandbox; a subprocess only where a crash, a second process or file modes are the
point), ``browser`` (the HTML report in headless Chromium). ``pytest tests/unit`` or
``pytest -m unit`` runs one tier; ``pytest`` runs them all."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.support import Cli, FakeClock, sandbox_cli

# Property tests draw the same examples on every run, and no saved failure replays elsewhere.
settings.register_profile("voucherbot", derandomize=True, database=None)
settings.load_profile("voucherbot")

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "", None}
_real_getaddrinfo = socket.getaddrinfo


def _local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in _LOCAL_HOSTS:
        raise OSError(f"tests never touch the internet (tried to resolve {host!r})")
    return _real_getaddrinfo(host, *args, **kwargs)


TIERS = ("unit", "integration", "e2e", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = item.path.parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only loopback names resolve inside the test process."""
    monkeypatch.setattr(socket, "getaddrinfo", _local_only)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the user's Connectif settings, home directory or rules file, and an
    unexpected exception escapes (``VOUCHERBOT_RAISE_ERRORS=1``)."""
    for name in list(os.environ):
        if name.startswith(("CONNECTIF_", "VOUCHERBOT_")):
            monkeypatch.delenv(name)
    # an unexpected exception fails the test instead of becoming an exit code
    monkeypatch.setenv("VOUCHERBOT_RAISE_ERRORS", "1")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    # the secrets a test hid (webhook paths such as "/voucherbot") are not hidden in the next
    # test's messages: no test depends on the ones before it
    from voucherbot import errors

    hidden = set(errors._SECRETS)
    yield
    with errors._SECRETS_LOCK:
        errors._SECRETS.clear()
        errors._SECRETS.update(hidden)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """voucherbot against a fresh in-process sandbox, run in this process (see tests/support.py)."""
    with sandbox_cli(tmp_path) as running:
        yield running
