"""The shape of a voucher code (:class:`CodeSpec`), its validation, and its compiled layout.

This module is re-exported by :mod:`voucherbot.codes`; import from there.  The user-facing
reference is ``docs/codes.md``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache

from voucherbot.codes.blocklist import Blocklist, canonical
from voucherbot.codes.checksum import CheckSystem, check_system
from voucherbot.errors import ConfigError

__all__ = ["MAX_LENGTH", "PRESETS", "CodeSpec", "Layout", "compile_spec", "resolve_alphabet"]

#: Built-in alphabets.  "unambiguous" (the default) drops the look-alikes 0/O and 1/I/L.
PRESETS: Mapping[str, str] = {
    "unambiguous": "23456789ABCDEFGHJKMNPQRSTUVWXYZ",
    "digits": "0123456789",
    "hex": "0123456789ABCDEF",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "alphanumeric": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "crockford": "0123456789ABCDEFGHJKMNPQRSTVWXYZ",
}

MAX_LENGTH = 64  #: most random symbols in one code
MAX_AFFIX = 32  #: longest prefix or suffix
MAX_PATTERN = 128  #: longest pattern

_CSV_UNSAFE = ',;"'  # would break (or need quoting in) the Connectif import CSV
_NOISE = "-_."  # stripped from typed codes, so never symbols
_FORMULA = "=+-@"  # a CSV cell starting with one of these is a formula in spreadsheets
_LOOKALIKE_GROUPS = ("0Oo", "1IiLl")
_NAME_LIKE = re.compile(r"[a-z][a-z0-9]*")


def _bad_char(text: str) -> str | None:
    """Describe the first character of ``text`` that cannot appear in a code, or None."""
    for ch in text:
        if ch.isspace():
            return "whitespace"
        if not ("!" <= ch <= "~"):
            return f"the character {ch!r} (only printable ASCII is allowed)"
        if ch in _CSV_UNSAFE:
            return f"{ch!r} (it would break the import CSV)"
    return None


def resolve_alphabet(name_or_symbols: str) -> str:
    """The symbols of a preset name, or of a literal custom symbol set (validated).

    A value that looks like a name (lower-case letters and digits, starting with a letter)
    must be a preset, so that a typo never silently becomes a weak custom alphabet; write
    ``custom:`` before a custom set of lower-case symbols.
    """
    value = name_or_symbols
    if not isinstance(value, str):
        raise ConfigError(f"alphabet must be a string, got {type(value).__name__}")
    if value in PRESETS:
        return PRESETS[value]
    if value.startswith("custom:"):
        symbols = value.removeprefix("custom:")
    elif _NAME_LIKE.fullmatch(value):
        close = difflib.get_close_matches(value, list(PRESETS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError(
            f"unknown alphabet preset '{value}'{hint}; presets: {', '.join(PRESETS)}, "
            "or give the symbols themselves (prefix lower-case sets with 'custom:')"
        )
    else:
        symbols = value
    bad = _bad_char(symbols)
    if bad:
        raise ConfigError(f"custom alphabet contains {bad}")
    for ch in symbols:
        if ch in _NOISE or ch in _FORMULA:
            raise ConfigError(
                f"custom alphabet contains {ch!r}; '-', '_' and '.' are dropped from typed codes "
                "and '=', '+', '@' start spreadsheet formulas, so none of them can be symbols"
            )
    dupes = sorted({ch for ch in symbols if symbols.count(ch) > 1})
    if dupes:
        raise ConfigError(f"custom alphabet lists {', '.join(map(repr, dupes))} more than once")
    if len(symbols) < 2:
        raise ConfigError(f"custom alphabet needs at least 2 symbols, got {len(symbols)}")
    return symbols


@dataclass(frozen=True)
class CodeSpec:
    """The shape of a voucher code; invalid combinations raise ConfigError when built."""

    length: int = 10  # random symbols, used when pattern is None
    pattern: str | None = None  # '#' = one random symbol; every other char is literal
    alphabet: str = "unambiguous"  # a preset name or a literal custom symbol set
    prefix: str = ""
    suffix: str = ""
    group: int = 0  # insert `separator` every `group` symbols of the body (length mode only)
    separator: str = "-"
    check_symbol: bool = True  # append one check symbol computed over the random symbols
    blocklist: tuple[str, ...] = ()  # extra words on top of the built-in list

    def __post_init__(self) -> None:
        if isinstance(self.blocklist, list):  # TOML arrays arrive as lists
            object.__setattr__(self, "blocklist", tuple(self.blocklist))
        self.validate()

    @property
    def symbols(self) -> str:
        """The alphabet's symbols, in value order."""
        return resolve_alphabet(self.alphabet)

    @property
    def random_symbols(self) -> int:
        """How many random symbols a code has (the check symbol not counted)."""
        return self.pattern.count("#") if self.pattern is not None else self.length

    def validate(self) -> None:
        """Raise ConfigError with a one-line message if this spec cannot make safe codes."""
        if not isinstance(self.blocklist, tuple) or not all(
            isinstance(word, str) for word in self.blocklist
        ):
            raise ConfigError("blocklist must be a list of words")
        _check_fields(self)
        compile_spec(self)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_fields(spec: CodeSpec) -> str:
    """Validate everything but the blocklist-vs-literals rule; return the symbols."""
    symbols = resolve_alphabet(spec.alphabet)
    if spec.pattern is None:
        _check_length(spec.length)
    else:
        _check_pattern(spec.pattern, spec.group)
    for name in ("prefix", "suffix"):
        _check_affix(name, getattr(spec, name))
    if not _whole(spec.group) or spec.group < 0:
        raise ConfigError(f"group must be a whole number, 0 or more, got {spec.group!r}")
    _check_separator(spec.separator, symbols)
    _check_check_symbol(spec.check_symbol, symbols)
    for word in spec.blocklist:
        if len(canonical(word)) < 2:
            raise ConfigError(f"blocklist word {word!r} needs at least 2 letters or digits")
    return symbols


def _check_length(length: int) -> None:
    if not _whole(length) or not 1 <= length <= MAX_LENGTH:
        raise ConfigError(
            f"code length must be a whole number from 1 to {MAX_LENGTH}, got {length!r}"
        )


def _check_pattern(pattern: str, group: int) -> None:
    if not isinstance(pattern, str):
        raise ConfigError("pattern must be a string such as 'WEL-####-####'")
    if "#" not in pattern:
        raise ConfigError(f"pattern '{pattern}' has no '#' (each '#' stands for one random symbol)")
    if pattern.count("#") > MAX_LENGTH or len(pattern) > MAX_PATTERN:
        raise ConfigError(
            f"pattern is too long: at most {MAX_LENGTH} '#' and {MAX_PATTERN} characters"
        )
    bad = _bad_char(pattern)
    if bad:
        raise ConfigError(f"pattern contains {bad}")
    if not _whole(group) or group != 0:
        raise ConfigError(
            "group cannot be combined with pattern; put the separators in the pattern"
        )


def _check_affix(name: str, value: str) -> None:
    """``prefix`` or ``suffix``."""
    if not isinstance(value, str) or len(value) > MAX_AFFIX:
        raise ConfigError(f"{name} must be a string of at most {MAX_AFFIX} characters")
    bad = _bad_char(value)
    if bad:
        raise ConfigError(f"{name} '{value}' contains {bad}")


def _check_separator(sep: str, symbols: str) -> None:
    if not isinstance(sep, str) or not 1 <= len(sep) <= 3:
        raise ConfigError("separator must be 1 to 3 characters, such as '-'")
    bad = _bad_char(sep)
    if bad:
        raise ConfigError(f"separator contains {bad}")
    if any(ch.isalnum() or ch in symbols for ch in sep):
        raise ConfigError(f"separator '{sep}' must not contain letters, digits or code symbols")


def _check_check_symbol(check_symbol: bool, symbols: str) -> None:
    if not isinstance(check_symbol, bool):
        raise ConfigError("check_symbol must be true or false")
    if check_symbol and len(symbols) < 3:
        raise ConfigError(
            f"check_symbol needs an alphabet of at least 3 symbols (got {len(symbols)}): "
            "with 2 no check symbol can catch a swap; add symbols or turn check_symbol off"
        )


@dataclass(frozen=True, eq=False)
class Layout:
    """A validated spec compiled for generation, normalisation and checking."""

    spec: CodeSpec
    symbols: str
    k: int  #: random symbols per code
    #: one entry per character of a code: ``i >= 0`` random symbol i, ``-1`` the check
    #: symbol, a ``str`` a literal character
    cells: tuple[int | str, ...]
    prefix_cells: int  #: how many of the significant cells belong to the prefix
    suffix_cells: int  #: how many of the significant cells belong to the suffix
    significant: tuple[int | str, ...]  #: cells that survive normalisation
    noise: frozenset[str]  #: characters dropped from typed codes
    symbol_map: Mapping[str, str]  #: typed character -> symbol (case, look-alikes)
    value: Mapping[str, int]  #: symbol -> value
    system: CheckSystem | None
    blocklist: Blocklist
    #: cells that go into the blocklist match buffer (None: match code by code)
    match_cells: tuple[int, ...] | None
    char_weight: Mapping[str, float]  #: expected folded characters per code, for scanning
    value_table: bytes = field(repr=False)  #: translate table: symbol byte -> value byte


@lru_cache(maxsize=128)
def compile_spec(spec: CodeSpec) -> Layout:
    """Validate ``spec`` and compile it into a :class:`Layout` (cached per spec)."""
    symbols = _check_fields(spec)
    cells = _cells(spec)
    first = cells[0]
    if isinstance(first, str) and first in _FORMULA:
        raise ConfigError(
            f"codes would start with {first!r}, which spreadsheets read as a formula; "
            "choose another prefix or pattern"
        )
    blocklist = _blocklist(spec.blocklist)
    _check_fixed_parts(cells, blocklist)

    def significant(cell: int | str) -> bool:
        return isinstance(cell, int) or cell.isalnum() or cell in symbols

    value = {s: i for i, s in enumerate(symbols)}
    alnum = all(s.isascii() and s.isalnum() for s in symbols)
    match_cells = tuple(j for j, c in enumerate(cells) if significant(c)) if alnum else None
    return Layout(
        spec=spec,
        symbols=symbols,
        k=spec.random_symbols,
        cells=cells,
        prefix_cells=sum(map(significant, spec.prefix)),
        suffix_cells=sum(map(significant, spec.suffix)),
        significant=tuple(c for c in cells if significant(c)),
        noise=frozenset(_NOISE + spec.separator)
        | {c for c in cells if isinstance(c, str) and not significant(c)},
        symbol_map=_symbol_map(symbols),
        value=value,
        system=check_system(len(symbols)) if spec.check_symbol else None,
        blocklist=blocklist,
        match_cells=match_cells,
        char_weight=_char_weight(cells, symbols),
        value_table=bytes(value.get(chr(b), 0) for b in range(256)),
    )


def _cells(spec: CodeSpec) -> tuple[int | str, ...]:
    """The prefix, the body (the pattern, or the random symbols in groups) and the suffix."""
    k = spec.random_symbols
    body: list[int | str] = []
    if spec.pattern is not None:
        slots = iter(range(k))
        body = [next(slots) if ch == "#" else ch for ch in spec.pattern]
        if spec.check_symbol:
            body.append(-1)
    else:
        body_symbols: list[int] = list(range(k)) + ([-1] if spec.check_symbol else [])
        for i, cell in enumerate(body_symbols):
            if i and spec.group and i % spec.group == 0:
                body.extend(spec.separator)
            body.append(cell)
    return (*spec.prefix, *body, *spec.suffix)


def _check_fixed_parts(cells: tuple[int | str, ...], blocklist: Blocklist) -> None:
    """Fixed parts must not spell a blocked word on their own."""
    fixed = "".join("\n" if isinstance(c, int) else c for c in cells)
    for run in fixed.split("\n"):
        word = blocklist.find(run)
        if word:
            raise ConfigError(
                f"the fixed part '{run}' of the code contains the blocked word '{word}'; "
                "choose another prefix, suffix or pattern"
            )


def _char_weight(cells: tuple[int | str, ...], symbols: str) -> dict[str, float]:
    """Expected folded characters per code, for scanning: each cell spreads one over its
    options (the symbols for a random cell, itself for a literal)."""
    weight: dict[str, float] = {}
    for c in cells:
        options = symbols if isinstance(c, int) else c
        for s in options:
            folded = canonical(s)
            if folded:
                weight[folded] = weight.get(folded, 0.0) + 1.0 / len(options)
    return weight


@cache
def _blocklist(extra: tuple[str, ...]) -> Blocklist:
    return Blocklist(extra)


def _symbol_map(symbols: str) -> dict[str, str]:
    """Map what people type to symbols: exact, other case if unused, then look-alikes.

    A look-alike group ("0Oo", "1IiLl") maps onto a symbol only when exactly one symbol of
    the alphabet is in the group, e.g. O -> 0 for digits; never for "alphanumeric" (all
    present) or "unambiguous" (none present).
    """
    result = {s: s for s in symbols}
    for s in symbols:
        for variant in (s.upper(), s.lower()):
            if variant not in symbols:
                result.setdefault(variant, s)
    for group in _LOOKALIKE_GROUPS:
        targets = {result[c] for c in group if c in result}
        if len(targets) == 1:
            (target,) = targets
            for c in group:
                result.setdefault(c, target)
    return result
