"""Reading codes typed by people: :func:`check_code` and :func:`normalise` (which says what
they forgive; ``docs/codes.md`` has the details).

Pure: no I/O, no clock."""

from __future__ import annotations

from dataclasses import dataclass

from voucherbot.codes.spec import CodeSpec, Layout, compile_spec
from voucherbot.errors import VoucherbotError

__all__ = ["CheckResult", "InvalidCodeError", "check_code", "normalise"]


class InvalidCodeError(VoucherbotError):
    """A typed code does not fit the shape (wrong length, symbol, prefix or check symbol)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid code: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_code`."""

    ok: bool
    code: str  #: the canonical code when ok, else the input cleaned as far as possible
    reason: str | None = None


def _parse(layout: Layout, text: str) -> CheckResult:
    typed = [ch for ch in text if not ch.isspace() and ch not in layout.noise]
    cleaned = "".join(layout.symbol_map.get(ch, ch.upper()) for ch in typed)
    sig, pre, suf = layout.significant, layout.prefix_cells, layout.suffix_cells
    body = len(sig) - pre - suf
    options = [(pre, suf), (0, 0), (pre, 0), (0, suf)]
    fits = [(p, s) for p, s in dict.fromkeys(options) if body + p + s == len(typed)]
    if not fits:
        got = len(typed)
        if pre and cleaned[:pre].casefold() == _literals(sig[:pre]).casefold():
            got -= pre
        if suf and cleaned[len(cleaned) - suf :].casefold() == _literals(sig[-suf:]).casefold():
            got -= suf
        return CheckResult(False, cleaned, f"wrong length: expected {body} symbols, got {got}")
    found: set[str] = set()
    reasons: list[str] = []
    for p, s in fits:  # when prefix and suffix are equally long, two readings may fit
        code, reason = _read(layout, sig[pre - p : len(sig) - suf + s], typed, p, s)
        if code:
            found.add(code)
        reasons.append(reason)
    if len(found) > 1:
        return CheckResult(False, cleaned, "ambiguous: type the whole code with prefix and suffix")
    if found:
        return CheckResult(True, found.pop(), None)
    return CheckResult(False, cleaned, reasons[0])


def _literals(cells: tuple[int | str, ...]) -> str:
    return "".join(c for c in cells if isinstance(c, str))


def _read(
    layout: Layout, cells: tuple[int | str, ...], typed: list[str], p: int, s: int
) -> tuple[str, str]:
    """Lay ``typed`` over ``cells``: (canonical code, "") or ("", reason for the mismatch)."""
    spec = layout.spec
    values: dict[int, int] = {}
    for pos, (cell, ch) in enumerate(zip(cells, typed, strict=True)):
        if isinstance(cell, str):
            if ch.casefold() == cell.casefold():
                continue
            if pos < p:
                return "", f"does not start with prefix {spec.prefix}"
            if pos >= len(cells) - s:
                return "", f"does not end with suffix {spec.suffix}"
            return "", f"expected '{cell}' at position {pos + 1}, got '{ch}'"
        symbol = layout.symbol_map.get(ch)
        if symbol is None:
            return "", f"symbol '{ch}' not in alphabet"
        values[cell] = layout.value[symbol]
    system = layout.system
    if system and not system.is_valid([*(values[i] for i in range(layout.k)), values[-1]]):
        return "", "check symbol mismatch"
    code = "".join(c if isinstance(c, str) else layout.symbols[values[c]] for c in layout.cells)
    return code, ""


def check_code(spec: CodeSpec, text: str) -> CheckResult:
    """Normalise ``text`` (see :func:`normalise`) and say whether it is a well-formed code."""
    return _parse(compile_spec(spec), text)


def normalise(spec: CodeSpec, text: str) -> str:
    """The canonical form of a typed code: exactly as :func:`generate` emits it.

    Whitespace, ``-``, ``_``, ``.``, the separator and the shape's other punctuation are
    dropped; letters take the alphabet's case; look-alikes map to the one symbol they can mean
    in this alphabet (e.g. O→0 and I/L→1 for "digits"); the prefix and suffix may be left out
    and are put back.  Raises InvalidCodeError when the result is not a valid code.
    """
    result = check_code(spec, text)
    if not result.ok:
        raise InvalidCodeError(result.reason or "not a code of this shape")
    return result.code
