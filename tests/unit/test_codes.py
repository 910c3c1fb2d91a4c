"""Tests for voucher-code generation (voucherbot.codes and the modules it re-exports).

The property-based tests are in ``test_codes_properties.py``; these are the exhaustive,
statistical and example-based ones.  The generator draws from ``os.urandom`` and cannot be
seeded (by design), so statistical tests bound their false-alarm rate instead; see
:func:`uniform_with_retry`.
"""

from __future__ import annotations

import ast
import math
import os
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from voucherbot.codes import (
    MAX_ROUNDS,
    PRESETS,
    CapacityError,
    CheckResult,
    CodeSpec,
    InvalidCodeError,
    blocked_word,
    check_code,
    entropy_bits,
    fill_warning,
    format_duration,
    generate,
    generate_batch,
    guess_time_seconds,
    guessability_warning,
    normalise,
    resolve_alphabet,
    space_size,
)
from voucherbot.codes.blocklist import CANON_BYTES, LOOKALIKES, Blocklist, builtin_words, canonical
from voucherbot.codes.capacity import YEAR
from voucherbot.codes.checksum import check_system
from voucherbot.codes.generator import (
    _build,
    _check_column_generic,
    _check_column_weighted,
    _generate,
    _random_symbols,
)
from voucherbot.codes.spec import compile_spec
from voucherbot.errors import ConfigError, VoucherbotError

ROOT = Path(__file__).resolve().parents[2]
PRESET_SPECS = [CodeSpec(alphabet=name) for name in PRESETS]
#: every character a custom alphabet may use except '#' (84 of them)
SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ',;"-_.=+@#')

# --- the check-symbol algebra ---------------------------------------------------------------------


def test_every_size_from_3_has_a_group_with_an_antisymmetric_permutation() -> None:
    """The lemma behind the check symbol, verified for every alphabet size a spec allows."""
    rng = random.Random(7)
    for n in range(3, 95):
        system = check_system(n)
        mul, inv, sigma = system.mul, system.inv, system.sigma
        assert sorted(sigma) == list(range(n)), n
        for x in range(n):
            assert mul[x] == x and mul[x * n] == x  # 0 is the identity
            assert mul[x * n + inv[x]] == 0
            assert sorted(mul[x * n : x * n + n]) == list(range(n))  # Latin square rows
            assert sorted(mul[y * n + x] for y in range(n)) == list(range(n))  # and columns
            for y in range(n):
                if x != y:
                    assert mul[x * n + sigma[y]] != mul[y * n + sigma[x]], (n, x, y)
        triples = (
            [(a, b, c) for a in range(n) for b in range(n) for c in range(n)]
            if n <= 24
            else [(rng.randrange(n), rng.randrange(n), rng.randrange(n)) for _ in range(4000)]
        )
        for a, b, c in triples:
            assert mul[mul[a * n + b] * n + c] == mul[a * n + mul[b * n + c]], (n, a, b, c)


@pytest.mark.parametrize("n", sorted({len(s) for s in PRESETS.values()}))
def test_running_product_never_hides_a_swap_for_preset_sizes(n: int) -> None:
    """The fold itself, state by state: (p·x)·σ(y) ≠ (p·y)·σ(x) for every p and x ≠ y."""
    system = check_system(n)
    mul, sigma = system.mul, system.sigma
    for p in range(n):
        for x in range(n):
            px = mul[p * n + x]
            for y in range(n):
                if x != y:
                    assert mul[px * n + sigma[y]] != mul[mul[p * n + y] * n + sigma[x]]


def test_families() -> None:
    assert check_system(31).family == "cyclic"
    assert check_system(10).family == "dihedral"
    assert check_system(26).family == "dihedral"
    assert check_system(36).family == "abelian"
    assert check_system(16).family == "abelian"
    with pytest.raises(ValueError, match="2 symbols"):
        check_system(2)


@pytest.mark.parametrize("n", [3, 5, 9, 15, 31, 83])
def test_cyclic_check_is_the_documented_weighted_sum(n: int) -> None:
    rng = random.Random(n)
    system = check_system(n)
    for k in (1, 2, 10, 64):
        weights = system.weights(k)
        assert weights is not None
        w, f = weights
        assert w == tuple(pow(2, i, n) for i in range(1, k + 1))
        for _ in range(50):
            values = [rng.randrange(n) for _ in range(k)]
            c = system.check_value(values)
            weighted = sum(a * b for a, b in zip(w, values, strict=True))
            assert c == f * weighted % n
            assert (weighted + pow(2, k + 1, n) * c) % n == 0


def test_default_alphabet_also_catches_jump_swaps_and_twin_errors() -> None:
    """The bonus claimed in docs/codes.md for 31 symbols: abc -> cba and aa -> bb."""
    system = check_system(31)
    rng = random.Random(31)
    base = [rng.randrange(31) for _ in range(10)]
    for i in range(9):  # positions i and i+2, the check symbol included
        for a in range(31):
            for b in range(31):
                if a == b:
                    continue
                word = [*base, 0]
                word[i], word[i + 2] = a, b
                if i + 2 == 10:  # (a, b) at (9th random symbol, check): vary the first symbol
                    word[10] = b
                    fits = [f for f in range(31) if system.check_value([f, *word[1:10]]) == b]
                    word[0] = fits[0]
                else:
                    word[10] = system.check_value(word[:10])
                assert system.is_valid(word)
                jumped = word.copy()
                jumped[i], jumped[i + 2] = b, a
                assert not system.is_valid(jumped)
                if i + 1 < 10:  # twins among the random symbols
                    twins = base.copy()
                    twins[i] = twins[i + 1] = a
                    good = [*twins, system.check_value(twins)]
                    bad = good.copy()
                    bad[i] = bad[i + 1] = b
                    assert not system.is_valid(bad)


def test_docs_examples() -> None:
    """The examples in docs/codes.md."""
    assert check_code(CodeSpec(), "23456789ABQ").ok  # the worked check-symbol example
    assert check_code(CodeSpec(), "KPKSFDCKJMR").ok
    spec = CodeSpec(prefix="WEL-", group=4)
    assert normalise(spec, "sazq t9zb mdf") == "WEL-SAZQ-T9ZB-MDF"
    assert check_code(spec, "WEL-SAZQ-T9BZ-MDF").reason == "check symbol mismatch"
    assert check_code(CodeSpec(pattern="WEL-####-####"), "WEL-2GS2-E3J2H").ok
    assert [len(s) for s in PRESETS.values()] == [31, 10, 16, 26, 36, 32]
    assert len(builtin_words()) == 65
    with pytest.raises(CapacityError) as caught:
        generate(CodeSpec(alphabet="digits", length=6), 600_000)
    assert str(caught.value) == (
        "not enough room: this shape has 1,000,000 possible codes, 0 already issued and "
        "600,000 requested, but at most 50% (500,000) may be used so that codes stay hard to "
        "guess; use length = 7 or more"
    )


# --- every single error and every adjacent swap, exhaustively, for each preset --------------------


def _valid_codes(spec: CodeSpec) -> Iterator[tuple[int, str, str, str]]:
    """For each neighbouring pair of positions (i, i+1) and symbols a != b: (i, a, b, code).

    ``code`` is valid and has ``a`` at i and ``b`` at i+1; the last pair is the last random
    symbol and the check symbol, for which the first symbol is varied until the check fits.
    """
    layout = compile_spec(spec)
    symbols, k = layout.symbols, layout.k
    rng = random.Random(k)
    base = [rng.choice(symbols) for _ in range(k)]
    assert layout.system is not None
    value = layout.value

    def with_check(body: list[str]) -> str:
        return "".join(body) + symbols[layout.system.check_value([value[s] for s in body])]  # type: ignore[union-attr]

    for i in range(k):
        for a in symbols:
            if i < k - 1:
                for b in symbols:
                    if a != b:
                        body = [*base[:i], a, b, *base[i + 2 :]]
                        yield i, a, b, with_check(body)
            else:
                by_check = {}
                for first in symbols:
                    body = [first, *base[1 : k - 1], a] if k > 1 else [a]
                    by_check[with_check(body)[-1]] = with_check(body)
                for b, code in by_check.items():
                    if a != b:
                        yield i, a, b, code


@pytest.mark.parametrize("spec", PRESET_SPECS, ids=list(PRESETS))
def test_every_single_substitution_is_rejected(spec: CodeSpec) -> None:
    symbols = spec.symbols
    for code in generate(spec, 3):
        assert check_code(spec, code).ok
        for i, original in enumerate(code):  # all 10 random symbols and the check symbol
            for s in symbols:
                if s != original:
                    result = check_code(spec, code[:i] + s + code[i + 1 :])
                    assert result == CheckResult(False, result.code, "check symbol mismatch")


@pytest.mark.parametrize("spec", PRESET_SPECS, ids=list(PRESETS))
def test_every_adjacent_swap_is_rejected(spec: CodeSpec) -> None:
    n = len(spec.symbols)
    pairs: Counter[int] = Counter()
    for i, a, b, code in _valid_codes(spec):
        assert check_code(spec, code).ok
        swapped = code[:i] + b + a + code[i + 2 :]
        assert not check_code(spec, swapped).ok, (code, i)
        pairs[i] += 1
    # every position pair, including (last random symbol, check symbol), with all a != b
    assert pairs == {i: n * (n - 1) for i in range(spec.length)}


# --- the two ways of computing check symbols agree ------------------------------------------------


@pytest.mark.parametrize(
    "symbols", ["23456789ABCDEFGHJKMNPQRSTUVWXYZ", "ABC", "ABCDEFGHI", SAFE[:83]]
)
@pytest.mark.parametrize("k", [1, 7, 10, 64])
def test_vectorised_check_column_equals_row_by_row(symbols: str, k: int) -> None:
    spec = CodeSpec(alphabet=f"custom:{symbols}", length=k)
    layout = compile_spec(spec)
    assert layout.system is not None and layout.system.family == "cyclic"
    m = 3000
    drawn = _random_symbols(layout.symbols, m * k)
    columns = [drawn[i::k] for i in range(k)]
    assert _check_column_weighted(layout, columns, m) == _check_column_generic(layout, columns, m)


def _shape_regex(spec: CodeSpec) -> re.Pattern[str]:
    """A regex for the codes of ``spec``, written from the spec (not from the layout)."""
    sym = "[" + re.escape(spec.symbols) + "]"
    if spec.pattern is not None:
        body = "".join(sym if ch == "#" else re.escape(ch) for ch in spec.pattern)
        body += sym if spec.check_symbol else ""
    else:
        total = spec.length + spec.check_symbol
        sizes = [spec.group] * (total // spec.group) if spec.group else [total]
        if spec.group and total % spec.group:
            sizes.append(total % spec.group)
        body = re.escape(spec.separator).join(f"{sym}{{{size}}}" for size in sizes)
    return re.compile(re.escape(spec.prefix) + body + re.escape(spec.suffix))


SHAPES = [
    CodeSpec(),
    CodeSpec(prefix="WEL-", group=4),
    CodeSpec(pattern="WEL-####-####", suffix="/X"),
    CodeSpec(length=6, group=2, separator="::", check_symbol=False),
    CodeSpec(alphabet="digits", prefix="N"),
    CodeSpec(alphabet="alphanumeric", group=3),
    CodeSpec(alphabet="upper", pattern="##-##-##"),
    CodeSpec(alphabet="hex", length=12),
    CodeSpec(alphabet="crockford", group=5, separator="~"),
    CodeSpec(alphabet="AB*CDEFG", length=8),  # a symbol that is not a letter or digit
    CodeSpec(alphabet="custom:abcdefghjkmnpqrstuvwxyz", length=9),
]


@pytest.mark.parametrize("spec", SHAPES, ids=[str(i) for i in range(len(SHAPES))])
@pytest.mark.parametrize("vectorised", [True, False], ids=["fast", "generic"])
def test_both_paths_give_valid_codes_of_the_same_format(spec: CodeSpec, vectorised: bool) -> None:
    batch = _generate(spec, 400, frozenset(), None, 0.5, vectorised=vectorised)
    shape = _shape_regex(spec)
    assert len(batch.codes) == 400 == len(set(batch.codes))
    for code in batch.codes:
        assert shape.fullmatch(code), code
        assert check_code(spec, code) == CheckResult(True, code, None)
        assert blocked_word(spec, code) is None


# --- uniform symbols: chi-square with a bounded false-alarm rate ----------------------------------


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X ~ chi-square(df): the regularised upper incomplete gamma Q(df/2, x/2)."""
    a, z = df / 2, x / 2
    if z <= 0:
        return 1.0
    log_front = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:  # series for P(a, z)
        term = total = 1 / a
        for i in range(1, 10_000):
            term *= z / (a + i)
            total += term
            if term < total * 1e-15:
                break
        return 1 - total * math.exp(log_front)
    # continued fraction for Q(a, z) (modified Lentz)
    tiny = 1e-300
    b = z + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(log_front) * h


@pytest.mark.parametrize(
    ("df", "critical"), [(9, 27.877), (15, 37.697), (30, 59.703), (35, 66.619), (80, 124.839)]
)
def test_chi2_tail_matches_published_critical_values(df: int, critical: float) -> None:
    """Upper 0.1 % points of the chi-square distribution, from standard tables."""
    assert chi2_sf(critical, df) == pytest.approx(0.001, rel=0.03)
    assert chi2_sf(critical * 1.5, df) < 1e-5 < 0.5 < chi2_sf(df - 2, df)


def chi2_pvalue(counts: Counter[str], symbols: str) -> float:
    """p-value of "every symbol equally likely" for the observed counts."""
    total = sum(counts.values())
    assert set(counts) <= set(symbols)
    expected = total / len(symbols)
    statistic = sum((counts[s] - expected) ** 2 / expected for s in symbols)
    return chi2_sf(statistic, len(symbols) - 1)


ALPHA = 0.001  # family-wise false-alarm rate of one attempt


def uniform_with_retry(sample: Callable[[], list[Counter[str]]], symbols: str) -> bool:
    """True unless two independent attempts both find a non-uniform column.

    Each attempt tests every column at ``ALPHA / columns`` (Bonferroni), so a correct
    generator fails an attempt with probability at most ``ALPHA`` and the test (two failed
    attempts) with probability at most ``ALPHA ** 2`` = 1e-6.
    """
    for _ in range(2):
        columns = sample()
        if min(chi2_pvalue(c, symbols) for c in columns) >= ALPHA / len(columns):
            return True
    return False


@pytest.mark.parametrize(
    "spec",
    [CodeSpec(), CodeSpec(alphabet="alphanumeric"), CodeSpec(alphabet="digits", length=6)],
    ids=["unambiguous-fast", "alphanumeric-generic", "digits-generic"],
)
def test_every_position_is_uniform(spec: CodeSpec) -> None:
    """Every random symbol and the check symbol, per position: false alarm <= 1e-6.

    Codes with blocked words are left out by design, which skews counts far too little to
    show at this sample size (about 1 % of codes, spread over many symbols).
    """
    symbols = spec.symbols
    width = spec.length + 1

    def sample() -> list[Counter[str]]:
        joined = "".join(generate(spec, 300 * len(symbols)))
        return [Counter(joined[i::width]) for i in range(width)]

    assert uniform_with_retry(sample, symbols)


@pytest.mark.parametrize("n", [3, 10, 26, 31, 36, 84])
def test_sampler_is_uniform(n: int) -> None:
    symbols = SAFE[:n]
    assert uniform_with_retry(
        lambda: [Counter(_random_symbols(symbols, 2000 * n).decode())], symbols
    )


def test_modulo_bias_would_be_detected() -> None:
    """The same chi-square check rejects ``byte % 31`` (symbols 0-7 come 9/8 as often)."""
    symbols = PRESETS["unambiguous"]
    size = 200_000

    def biased() -> list[Counter[str]]:
        return [Counter(symbols[b % 31] for b in os.urandom(size))]

    def rejection() -> list[Counter[str]]:
        return [Counter(_random_symbols(symbols, size).decode())]

    assert chi2_pvalue(biased()[0], symbols) < 1e-9  # expected statistic ~590 on 30 df
    assert not uniform_with_retry(biased, symbols)
    assert uniform_with_retry(rejection, symbols)


def test_no_module_uses_the_random_module() -> None:
    for name in ("generator", "spec", "checksum", "blocklist", "capacity"):
        tree = ast.parse((ROOT / "voucherbot" / "codes" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(alias.name != "random" for alias in node.names), name
            if isinstance(node, ast.ImportFrom):
                assert node.module != "random", name


# --- blocklist ------------------------------------------------------------------------------------


def test_builtin_words_are_obfuscated_in_the_source() -> None:
    words = builtin_words()
    assert len(words) >= 40
    assert all(w.isascii() and w.isalnum() and w.isupper() for w in words)
    source = (ROOT / "voucherbot" / "codes" / "blocklist.py").read_text()
    assert not any(re.search(rf"\b{w}\b", source) for w in words if len(w) > 3)


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("XB00BX", "BOOB"),
        ("b-o-o-b", "BOOB"),
        ("8OO8", "BOOB"),
        ("A55", "ASS"),
        ("FVCK", "FUCK"),
        ("5H1T", "SHIT"),
        ("CU1O", "CUIO"),
        ("PU7A", "PUTA"),
        ("NO-WORD", None),
        ("23456789", None),
    ],
)
def test_lookalikes_are_caught(text: str, word: str | None) -> None:
    assert blocked_word(CodeSpec(), text) == word


def test_lookalike_table_is_as_documented() -> None:
    assert LOOKALIKES == {
        "0": "O",
        "1": "I",
        "L": "I",
        "2": "Z",
        "3": "E",
        "4": "A",
        "5": "S",
        "6": "G",
        "7": "T",
        "8": "B",
        "9": "G",
        "V": "U",
    }
    assert canonical("a-b.c 0l1") == "ABCOII"


def test_extra_words_are_matched_case_insensitively() -> None:
    spec = CodeSpec(blocklist=("acme", "Zed"))
    assert blocked_word(spec, "x-ACME") == "ACME"
    assert blocked_word(spec, "2ED") == "ZED"
    toml_list = CodeSpec(blocklist=["foo", "bar"])  # type: ignore[arg-type]
    assert toml_list.blocklist == ("foo", "bar")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prefix": "SEX-"},
        {"suffix": "-A55"},
        {"pattern": "PU7A-####"},
        {"prefix": "AS", "pattern": "S###"},
        {"prefix": "ACME-", "blocklist": ("acme",)},
        {"pattern": "##-K.K.K-##"},
    ],
)
def test_fixed_parts_that_spell_a_blocked_word_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="contains the blocked word"):
        CodeSpec(**kwargs)  # type: ignore[arg-type]


def test_fast_scan_agrees_with_the_plain_matcher() -> None:
    """The anchored multi-regex scan finds exactly the rows the simple search finds."""
    specs = [
        CodeSpec(alphabet="ACEKSTUX", length=12, check_symbol=False),
        CodeSpec(alphabet="ACEKNPRSTU45", prefix="FU-", group=3),
        CodeSpec(alphabet="ACKSTU", pattern="A#-#S-##", suffix="K"),
        CodeSpec(alphabet="ABCOR0", length=6, blocklist=("COBRA", "RAC", "oboe")),
    ]
    for spec in specs:
        layout = compile_spec(spec)
        out, hits = _build(layout, 5000, vectorised=True)
        rows = out.decode().split("\n")[:-1]
        expected = {i for i, row in enumerate(rows) if layout.blocklist.find(row)}
        assert hits == expected
        assert 0 < len(hits) < len(rows)


def test_blocked_codes_are_redrawn_never_emitted() -> None:
    spec = CodeSpec(alphabet="ABC", length=8, blocklist=("ABC", "CAB", "BB"))
    words = ("ABC", "CAB", "BB")
    batch = generate_batch(spec, 300)
    assert batch.blocked > 100  # most candidates hit: redraws certainly happened
    assert len(batch.codes) == 300 == len(set(batch.codes))
    for code in batch.codes:
        assert not any(w in code for w in words), code


def test_scan_buffer_is_folded() -> None:
    assert bytes([CANON_BYTES[ord(c)] for c in "a0l\n-"]) == b"AOI\n-"
    assert Blocklist(("xy",)).find("..x.Y..") == "XY"


# --- uniqueness -----------------------------------------------------------------------------------


def test_codes_are_unique_and_never_in_issued() -> None:
    spec = CodeSpec(alphabet="digits", length=4)
    first = generate(spec, 2000)
    batch = generate_batch(spec, 2000, issued=set(first))
    assert len(set(first)) == 2000 == len(set(batch.codes))
    assert not set(first) & set(batch.codes)
    assert batch.already_issued > 0


class CountingLedger:
    """A container without __len__, like the ledger's fingerprint lookup."""

    def __init__(self, issued: set[str]) -> None:
        self.issued = issued
        self.asked: list[str] = []

    def __contains__(self, code: object) -> bool:
        assert isinstance(code, str)
        self.asked.append(code)
        return code in self.issued


def test_issued_is_asked_once_per_distinct_candidate() -> None:
    spec = CodeSpec(alphabet="digits", length=3)
    ledger = CountingLedger(set(generate(spec, 300)))
    batch = generate_batch(spec, 150, issued=ledger, issued_count=300, max_fill=0.5)
    assert len(ledger.asked) == len(set(ledger.asked))
    assert len(ledger.asked) == batch.drawn - batch.blocked - batch.duplicates
    assert batch.already_issued == sum(code in ledger.issued for code in ledger.asked) > 0
    assert set(batch.codes) <= set(ledger.asked) and not set(batch.codes) & ledger.issued


def test_issued_count_defaults() -> None:
    spec = CodeSpec(alphabet="digits", length=3)  # 1,000 codes, 500 usable
    with pytest.raises(CapacityError, match="400 already issued"):
        generate(spec, 101, issued={str(i) for i in range(400)})
    assert len(generate(spec, 101, issued=CountingLedger(set()))) == 101  # unknown size: 0
    with pytest.raises(CapacityError):
        generate(spec, 101, issued=CountingLedger(set()), issued_count=400)


# --- capacity and guessability --------------------------------------------------------------------


def test_default_space_and_entropy() -> None:
    assert space_size(CodeSpec()) == 31**10 == 819_628_286_980_801
    assert entropy_bits(CodeSpec()) == pytest.approx(49.54, abs=0.01)
    assert space_size(CodeSpec(check_symbol=False)) == space_size(CodeSpec())
    assert space_size(CodeSpec(pattern="WEL-####", alphabet="digits")) == 10_000


def test_request_over_the_share_fails_at_once_with_the_numbers() -> None:
    spec = CodeSpec(alphabet="digits", length=3)
    with pytest.raises(CapacityError) as caught:
        generate(spec, 501)
    message = str(caught.value)
    assert "1,000 possible codes" in message and "0 already issued" in message
    assert "501 requested" in message and "50% (500)" in message
    assert "use length = 4 or more" in message and "\n" not in message
    assert isinstance(caught.value, ConfigError)
    assert len(generate(spec, 100, issued_count=400)) == 100
    with pytest.raises(CapacityError, match="400 already issued and 101 requested"):
        generate(spec, 101, issued_count=400)
    with pytest.raises(CapacityError, match=r"add 2 more '#' to the pattern \(5 random"):
        generate(CodeSpec(alphabet="digits", pattern="N-###"), 20_000, issued_count=10_000)


def test_near_full_space_finishes_or_fails_within_bounded_rounds() -> None:
    """Asking for every code of a 1,000-code space ends quickly, by construction."""
    spec = CodeSpec(alphabet="digits", length=3)
    layout = compile_spec(spec)
    assert layout.system is not None
    every = set()
    for x in range(1000):
        digits = [x // 100, x // 10 % 10, x % 10]
        code = "".join(map(str, digits)) + str(layout.system.check_value(digits))
        if blocked_word(spec, code) is None:
            every.add(code)
    assert 900 < len(every) < 1000  # e.g. 455x reads ASS
    batch = generate_batch(spec, len(every), max_fill=1.0)
    assert set(batch.codes) == every and batch.rounds <= MAX_ROUNDS
    with pytest.raises(CapacityError, match=f"gave up after {MAX_ROUNDS} rounds"):
        generate(spec, len(every) + 1, max_fill=1.0)


def test_fill_warning() -> None:
    spec = CodeSpec(alphabet="digits", length=4)
    assert fill_warning(spec, 999) is None
    warning = fill_warning(spec, 1000)
    assert warning is not None and "10.0% of the 10,000 possible codes" in warning
    assert fill_warning(spec, 100, threshold=0.01) is not None


def test_guess_time_formula() -> None:
    spec = CodeSpec()
    space = 31**10
    assert guess_time_seconds(spec, 10_000, 100) == pytest.approx((space + 1) / (2 * 100 * 10_000))
    assert guess_time_seconds(spec, 0, 100) == math.inf
    assert guessability_warning(spec, 10_000) is None  # about 13 years
    warning = guessability_warning(spec, 1_000_000)
    assert warning is not None and "about 47 days" in warning and "1 year" in warning
    assert "use length = 11 or more" in warning  # 31**11 / (2 * 100 * 1e6) s = 4 years
    short = guessability_warning(CodeSpec(alphabet="digits", length=6), 1000, rate=10)
    assert short is not None and "in about 50 seconds" in short  # 1e6 / (2 * 10 * 1000)
    instant = guessability_warning(CodeSpec(alphabet="digits", length=4), 1000, rate=1000)
    assert instant is not None and "codes in less than a second" in instant
    with pytest.raises(ConfigError):
        guess_time_seconds(spec, 1, 0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (90, "1.5 minutes"),
        (7200, "2 hours"),
        (86400 * 3.5, "3.5 days"),
        (YEAR, "1 year"),
        (YEAR * 13.04, "13 years"),
        (YEAR * 12_345, "12,345 years"),
        (YEAR * 2.1e6, "2.1 million years"),
        (YEAR * 3e9, "3 billion years"),
        (YEAR * 4e16, "4.0e+16 years"),
        (math.inf, "forever"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


# --- reading typed codes --------------------------------------------------------------------------


def test_sloppy_input_normalises_to_the_emitted_code() -> None:
    spec = CodeSpec(prefix="WEL-", group=4)
    code = generate(spec, 1)[0]  # e.g. WEL-23AB-CD45-XYZ
    body = code.removeprefix("WEL-").replace("-", "")
    for typed in (
        code,
        code.lower(),
        f"wel {body[:4]} {body[4:]}",
        body,
        body.lower(),
        f" Wel_{body[:6]}.{body[6:]} ",
        "-".join(code),
    ):
        assert normalise(spec, typed) == code, typed


def test_lookalikes_map_only_where_the_alphabet_has_one_target() -> None:
    digits = CodeSpec(alphabet="digits", length=4, check_symbol=False)
    assert normalise(digits, "O1lI") == "0111"
    upper = CodeSpec(alphabet="upper", length=4, check_symbol=False)
    assert normalise(upper, "0abc") == "OABC"
    assert check_code(upper, "1ABC").reason == "symbol '1' not in alphabet"  # I or L?
    unambiguous = CodeSpec(length=4, check_symbol=False)
    for typed in ("O234", "0234", "I234", "l234"):
        assert check_code(unambiguous, typed).reason == f"symbol '{typed[0]}' not in alphabet"


DOCUMENTED_LOOKALIKES = {
    "unambiguous": {},
    "digits": {"O": "0", "o": "0", "I": "1", "i": "1", "L": "1", "l": "1"},
    "hex": {"O": "0", "o": "0", "I": "1", "i": "1", "L": "1", "l": "1"},
    "crockford": {"O": "0", "o": "0", "I": "1", "i": "1", "L": "1", "l": "1"},
    "upper": {"0": "O"},
    "alphanumeric": {},
}


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_maps_exactly_the_documented_lookalikes(name: str) -> None:
    spec = CodeSpec(alphabet=name, length=1, check_symbol=False)
    symbols = spec.symbols
    mapped = {}
    for c in map(chr, range(0x21, 0x7F)):
        result = check_code(spec, c)
        if result.ok and result.code != c and result.code != c.upper():
            mapped[c] = result.code
        assert result.ok == (c in symbols or c.upper() in symbols or c in mapped), c
    assert mapped == DOCUMENTED_LOOKALIKES[name]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("WEL-2345-6789-AB", "wrong length: expected 11 symbols, got 10"),
        ("WEL-2345-6789-ABCD", "wrong length: expected 11 symbols, got 12"),
        ("WEX-2345-6789-ABC", "does not start with prefix WEL-"),
        ("WEL-2345-6789-ABO", "symbol 'O' not in alphabet"),
    ],
)
def test_check_code_reasons(typed: str, reason: str) -> None:
    assert check_code(CodeSpec(prefix="WEL-", group=4), typed).reason == reason


def test_check_symbol_mismatch_and_literal_reasons() -> None:
    spec = CodeSpec(pattern="AB-####", suffix="-Z")
    code = generate(spec, 1)[0]
    wrong = code[:3] + ("2" if code[3] != "2" else "3") + code[4:]
    assert check_code(spec, wrong).reason == "check symbol mismatch"
    assert check_code(spec, "X" + code[1:]).reason == "expected 'A' at position 1, got 'X'"
    assert check_code(spec, code[:-1] + "Y").reason == "does not end with suffix -Z"
    assert normalise(spec, code[:-2]) == code  # suffix left out


def test_ambiguous_partial_affixes_are_refused() -> None:
    spec = CodeSpec(alphabet="upper", length=3, prefix="A", suffix="B", check_symbol=False)
    assert normalise(spec, "AXYZB") == "AXYZB"
    # "AAYB" is prefix + "AYB" or "AAY" + suffix
    reason = check_code(spec, "AAYB").reason
    assert reason == "ambiguous: type the whole code with prefix and suffix"


def test_normalise_raises_without_echoing_the_code() -> None:
    with pytest.raises(InvalidCodeError) as caught:
        normalise(CodeSpec(), "SECRET2345")
    assert isinstance(caught.value, VoucherbotError)
    assert caught.value.reason == "wrong length: expected 11 symbols, got 10"
    assert "SECRET" not in str(caught.value)


# --- configuration errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"alphabet": "unambigous"},
            "unknown alphabet preset 'unambigous' (did you mean 'unambiguous'?)",
        ),
        ({"alphabet": "base32"}, "unknown alphabet preset 'base32'"),
        ({"alphabet": "AAB3"}, "custom alphabet lists 'A' more than once"),
        ({"alphabet": "AB C"}, "custom alphabet contains whitespace"),
        (
            {"alphabet": "A", "check_symbol": False},
            "custom alphabet needs at least 2 symbols, got 1",
        ),
        ({"alphabet": "AB-C"}, "custom alphabet contains '-'"),
        ({"alphabet": "ABÇD"}, "only printable ASCII"),
        ({"alphabet": "AB,C"}, "would break the import CSV"),
        ({"alphabet": 31}, "alphabet must be a string"),
        ({"length": 0}, "code length must be a whole number from 1 to 64, got 0"),
        ({"length": 65}, "from 1 to 64, got 65"),
        ({"length": "10"}, "got '10'"),
        ({"pattern": "WEL-"}, "pattern 'WEL-' has no '#'"),
        ({"pattern": "WEL ####"}, "pattern contains whitespace"),
        ({"pattern": "A;###"}, "pattern contains ';'"),
        ({"pattern": "#" * 65}, "pattern is too long"),
        ({"pattern": "####", "group": 2}, "group cannot be combined with pattern"),
        ({"prefix": "WEL,"}, "prefix 'WEL,' contains ','"),
        ({"prefix": "WÉL-"}, "prefix 'WÉL-' contains the character 'É'"),
        ({"suffix": '"X'}, "suffix '\"X' contains '\"'"),
        ({"prefix": "W L"}, "prefix 'W L' contains whitespace"),
        ({"prefix": "X" * 33}, "prefix must be a string of at most 32"),
        ({"separator": ""}, "separator must be 1 to 3 characters"),
        ({"separator": "----"}, "separator must be 1 to 3 characters"),
        ({"separator": " "}, "separator contains whitespace"),
        ({"separator": "x"}, "must not contain letters, digits or code symbols"),
        (
            {"separator": "*", "alphabet": "AB*C"},
            "must not contain letters, digits or code symbols",
        ),
        ({"group": -1}, "group must be a whole number, 0 or more"),
        ({"alphabet": "AB"}, "check_symbol needs an alphabet of at least 3 symbols (got 2)"),
        ({"check_symbol": "yes"}, "check_symbol must be true or false"),
        ({"blocklist": ("a",)}, "blocklist word 'a' needs at least 2 letters or digits"),
        ({"blocklist": "abc"}, "blocklist must be a list of words"),
        ({"prefix": "=X"}, "spreadsheets read as a formula"),
        ({"pattern": "-###"}, "spreadsheets read as a formula"),
    ],
)
def test_invalid_specs_are_one_line_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        CodeSpec(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_invalid_generate_arguments() -> None:
    with pytest.raises(ConfigError, match="0 or more"):
        generate(CodeSpec(), -1)
    with pytest.raises(ConfigError, match="max_fill"):
        generate(CodeSpec(), 1, max_fill=0)
    with pytest.raises(ConfigError, match="issued_count"):
        generate(CodeSpec(), 1, issued_count=-5)
    assert generate(CodeSpec(), 0) == []


def test_presets_and_custom_alphabets() -> None:
    assert PRESETS["unambiguous"] == "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    assert not set("01OIL") & set(PRESETS["unambiguous"])
    assert [len(s) for s in PRESETS.values()] == [31, 10, 16, 26, 36, 32]
    assert resolve_alphabet("digits") == "0123456789"
    assert resolve_alphabet("custom:abcdef") == "abcdef"
    assert resolve_alphabet("ABCDEF") == "ABCDEF"
    assert resolve_alphabet("0123") == "0123"
    spec = CodeSpec(alphabet="custom:abcdefgh", length=5)
    assert all(set(c) <= set("abcdefgh") for c in generate(spec, 20))
    assert normalise(spec, generate(spec, 1)[0].upper()).islower()
    assert hash(CodeSpec()) == hash(CodeSpec())
