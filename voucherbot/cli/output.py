"""What the commands print: text cleaned and redacted, warnings, the import progress bar and
the phase lines of a long refill, the --stats line. Data goes to stdout, the rest to stderr."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from voucherbot.errors import redact

if TYPE_CHECKING:
    from voucherbot.connectif.models import Import


def echo(text: str, *, err: bool = False, nl: bool = True, raw: bool = False) -> None:
    """Print text for people: every line cleaned of control characters (outside text may
    hold terminal escapes). ``raw`` (a data format: CSV, JSON, HTML, Markdown) is cleaned
    only when it goes to a terminal."""
    from voucherbot.text import clean_lines

    stream = sys.stderr if err else sys.stdout
    text = redact(text, os.environ.get("CONNECTIF_API_KEY"))  # a second line of defence
    if not raw or stream is None or stream.isatty():
        text = clean_lines(text)
    click.echo(text, err=err, nl=nl)


def warn(lines: Iterable[str]) -> None:
    for line in lines:
        echo(f"Warning: {line}", err=True)


def width() -> int:
    """The terminal's width for tables on a terminal, else 100 columns."""
    import shutil

    return shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100


def stats_line(client: Any, started: float) -> str:
    """The --stats line: the client's requests since ``started`` (a monotonic time)."""
    import time

    from voucherbot.app import describe_stats, request_stats

    return describe_stats(request_stats(client, time.monotonic() - started))


class ImportProgress:
    """One progress bar on stderr for any number of imports; silent when off. Its end is
    the codes :meth:`expect` announced (the whole run's), else those of the imports seen."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.total = 0
        self._bar: Any = None
        self._seen: dict[str, tuple[int, int]] = {}
        self._shown = 0

    def expect(self, codes: int) -> None:
        """More imports, of ``codes`` codes in all, are about to be followed."""
        self.total += codes
        if self._bar is not None:
            self._bar.length = max(self._bar.length, self.total)

    def __call__(self, imp: Import) -> None:
        if not self.enabled:
            return
        self._seen[imp.id] = (imp.processed, imp.total or 0)
        total = max(self.total, sum(t for _, t in self._seen.values()))
        if not total:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=total, label=self.label, file=sys.stderr, show_percent=True, show_pos=True
            )
            self._bar.__enter__()
        self._bar.length = max(self._bar.length, total)
        done = min(sum(min(p, t) for p, t in self._seen.values()), total)
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done

    def phase(self, text: str) -> None:
        """Say what a long refill is doing before its import shows progress."""
        if self.enabled:
            if self._bar is not None:
                click.echo("", err=True)
            echo(text, err=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextmanager
def progress(quiet: bool, label: str) -> Iterator[ImportProgress]:
    """The progress bar for the block: on when stderr is a terminal and not ``quiet``."""
    bar = ImportProgress(not quiet and sys.stderr.isatty(), label)
    try:
        yield bar
    finally:
        bar.close()
