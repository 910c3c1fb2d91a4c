"""Capacity and guessability maths for voucher codes (re-exported by :mod:`voucherbot.codes`).

* :func:`space_size` is ``n ** k`` for ``k`` random symbols over ``n`` symbols; the check
  symbol is a function of the others, so it adds nothing.
* A request fails with :class:`CapacityError` when the codes already issued plus those
  requested would pass ``max_fill`` (default 50 %) of the space: beyond that, redraws get
  costly and a random guess is too likely to hit a live code.
* :func:`guess_time_seconds` is the expected time for an attacker guessing ``A`` codes a second
  to hit one of ``S`` live codes, ``(2^B + 1) / (2·A·S)``.

Worked numbers for the default shape are in ``docs/codes.md``.
"""

from __future__ import annotations

import math

from voucherbot.codes.spec import MAX_LENGTH, CodeSpec
from voucherbot.errors import ConfigError
from voucherbot.text import YEAR, format_duration

__all__ = [
    "DEFAULT_GUESS_FLOOR",
    "DEFAULT_GUESS_RATE",
    "YEAR",
    "CapacityError",
    "check_capacity",
    "entropy_bits",
    "fill_warning",
    "format_duration",
    "guess_time_seconds",
    "guessability_warning",
    "room_hint",
    "space_size",
]

DEFAULT_GUESS_RATE = 100.0  #: guesses per second an attacker gets through a shop's checkout
DEFAULT_GUESS_FLOOR = YEAR  #: warn when a live code can be guessed faster than this


class CapacityError(ConfigError):
    """The code shape has too little room for the codes requested."""


def space_size(spec: CodeSpec) -> int:
    """How many distinct codes the shape allows (the check symbol adds none)."""
    return int(len(spec.symbols) ** spec.random_symbols)


def entropy_bits(spec: CodeSpec) -> float:
    """Bits of randomness per code: ``random symbols * log2(alphabet size)``."""
    return spec.random_symbols * math.log2(len(spec.symbols))


def room_hint(spec: CodeSpec, needed: int, share: float) -> str:
    """Advice: the smallest number of random symbols whose space holds ``needed`` at ``share``."""
    n, k = len(spec.symbols), spec.random_symbols
    for length in range(k + 1, MAX_LENGTH + 1):
        if math.floor(share * n**length) >= needed:
            if spec.pattern is not None:
                return f"add {length - k} more '#' to the pattern ({length} random symbols)"
            return f"use length = {length} or more"
    return f"no shape of up to {MAX_LENGTH} random symbols has room; use a larger alphabet"


def check_capacity(spec: CodeSpec, count: int, used: int, max_fill: float) -> None:
    space = space_size(spec)
    allowed = math.floor(max_fill * space)
    if used + count > allowed:
        raise CapacityError(
            f"not enough room: this shape has {space:,} possible codes, {used:,} already "
            f"issued and {count:,} requested, but at most {max_fill:.0%} ({allowed:,}) may be "
            f"used so that codes stay hard to guess; {room_hint(spec, used + count, max_fill)}"
        )


def fill_warning(spec: CodeSpec, issued_total: int, threshold: float = 0.1) -> str | None:
    """A warning once ``issued_total`` codes fill ``threshold`` or more of the space, else None."""
    space = space_size(spec)
    share = issued_total / space
    if share < threshold:
        return None
    return (
        f"{issued_total:,} codes issued fill {share:.1%} of the {space:,} possible codes of "
        f"this shape (warning at {threshold:.0%}); each issued code makes guessing easier and "
        f"new codes slower to find: {room_hint(spec, issued_total * 10, threshold)}"
    )


def guess_time_seconds(spec: CodeSpec, live: int, rate: float) -> float:
    """Expected seconds for an attacker guessing ``rate`` codes/s to hit one of ``live`` codes.

    ``(2^B + 1) / (2·A·S)`` with ``B`` = :func:`entropy_bits`, ``A`` = rate, ``S`` = live
    codes (``2^B`` is the exact space size).  Infinite when nothing is live.
    """
    if live < 0 or not rate > 0:
        raise ConfigError("live codes must be 0 or more and the guess rate above 0")
    if live == 0:
        return math.inf
    return (space_size(spec) + 1) / (2 * rate * live)


def guessability_warning(
    spec: CodeSpec,
    live: int,
    rate: float = DEFAULT_GUESS_RATE,
    floor_seconds: float = DEFAULT_GUESS_FLOOR,
) -> str | None:
    """A warning when a live code can be guessed faster than ``floor_seconds``, else None."""
    seconds = guess_time_seconds(spec, live, rate)
    if seconds >= floor_seconds:
        return None
    needed = math.ceil(floor_seconds * 2 * rate * live)
    about = "" if seconds < 1 else "about "
    return (
        f"codes are too easy to guess: at {rate:g} guesses a second an attacker finds one of "
        f"{live:,} live codes in {about}{format_duration(seconds)} on average (the floor is "
        f"{format_duration(floor_seconds)}); {room_hint(spec, needed, 1.0)}"
    )
