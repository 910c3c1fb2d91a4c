"""Voucher codes: secure generation, check symbols, normalisation, blocklist, capacity maths.

Pure functions: no I/O besides the operating system's random source, no clock, no click.
The user-facing reference (alphabets, pattern syntax, check-symbol algorithm, blocklist,
normalisation, capacity and guessability maths with worked numbers) is ``docs/codes.md``.
Generation lives in :mod:`voucherbot.codes.generator`, reading typed codes in
:mod:`voucherbot.codes.reading`; the other parts in :mod:`voucherbot.codes.spec` (the shape),
:mod:`voucherbot.codes.checksum`, :mod:`voucherbot.codes.blocklist` and
:mod:`voucherbot.codes.capacity`; import them all from here.

* **Shape**: :class:`CodeSpec` (length or pattern, alphabet, prefix/suffix, grouping, check
  symbol, extra blocked words), validated when built; invalid specs raise ConfigError.
* **Randomness** comes only from :func:`os.urandom`.  Bytes are turned into symbols by
  rejection sampling (a byte ``b`` is used only if ``b < 256 - 256 % n``, then ``b % n`` picks
  the symbol), so every symbol position is uniform over the alphabet, without modulo bias.
* **Check symbol** (on by default): one extra symbol that catches every single-symbol error and
  every swap of two neighbours, for every alphabet of 3 or more symbols; see
  :mod:`voucherbot.codes.checksum`.  For odd alphabet sizes (the default 31) it is a weighted sum
  ``Σ 2ⁱ·xᵢ + 2ᵏ⁺¹·c ≡ 0 (mod n)``.
* **Blocklist**: codes containing a blocked word (built-in list plus ``spec.blocklist``, with
  look-alike digits) anywhere, prefix and suffix included, are redrawn; see
  :mod:`voucherbot.codes.blocklist`.
* **Uniqueness**: within the batch and against ``issued`` (any container; asked once per
  distinct candidate).  Requests that would fill more than ``max_fill`` of the code space fail
  at once with :class:`CapacityError`; generation runs a bounded number of redraw rounds.
* **Speed**: codes are built column by column with ``bytes.translate``, big-integer lane sums
  and extended-slice assignment (1,000,000 default codes in about 0.4 s on a 2-core machine,
  see ``bench/codes_bench.py``); check symbols of the non-cyclic families (even alphabet
  sizes) are computed row by row, about half as fast, with identical results.
"""

from voucherbot.codes.capacity import (
    DEFAULT_GUESS_FLOOR,
    DEFAULT_GUESS_RATE,
    CapacityError,
    entropy_bits,
    fill_warning,
    format_duration,
    guess_time_seconds,
    guessability_warning,
    space_size,
)
from voucherbot.codes.generator import (
    MAX_FILL,
    MAX_ROUNDS,
    Batch,
    blocked_word,
    generate,
    generate_batch,
)
from voucherbot.codes.reading import CheckResult, InvalidCodeError, check_code, normalise
from voucherbot.codes.spec import MAX_LENGTH, PRESETS, CodeSpec, resolve_alphabet

__all__ = [
    "DEFAULT_GUESS_FLOOR",
    "DEFAULT_GUESS_RATE",
    "MAX_FILL",
    "MAX_LENGTH",
    "MAX_ROUNDS",
    "PRESETS",
    "Batch",
    "CapacityError",
    "CheckResult",
    "CodeSpec",
    "InvalidCodeError",
    "blocked_word",
    "check_code",
    "entropy_bits",
    "fill_warning",
    "format_duration",
    "generate",
    "generate_batch",
    "guess_time_seconds",
    "guessability_warning",
    "normalise",
    "resolve_alphabet",
    "space_size",
]
