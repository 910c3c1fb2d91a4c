"""Check symbols that catch every single-symbol error and every swap of two neighbours.

A voucher code carries one check symbol after its random symbols. It is chosen so that a code
with *any* single wrong symbol, or with *any* two adjacent symbols swapped (the check symbol
included), is recognised as mistyped instead of being looked up as a (possibly valid) code.

The algorithm (Verhoeff/Gumm style, generalised)
------------------------------------------------
Number the alphabet's symbols ``0 .. n-1`` (their position in the alphabet) and read each
number as an element of a group ``G`` of order ``n`` (identity ``0``) that has an
*anti-symmetric* permutation ``σ``:  ``x·σ(y) ≠ y·σ(x)`` for all ``x ≠ y``.  A string of symbols
``x1 .. xk c`` (``c`` the check symbol) is valid when::

    σ¹(x1) · σ²(x2) · … · σᵏ(xk) · σᵏ⁺¹(c) = 0

so ``c = σ^-(k+1)( (σ¹(x1)…σᵏ(xk))^-1 )``.  Why errors are caught:

* one symbol changed: ``σⁱ`` is a bijection and group elements cancel, so the product moves
  away from the identity;
* neighbours ``a b`` at positions ``i, i+1`` swapped (``a ≠ b``): the product is unchanged
  only if ``σⁱ(a)·σ(σⁱ(b)) = σⁱ(b)·σ(σⁱ(a))``, which anti-symmetry forbids
  (with ``x = σⁱ(a)``, ``y = σⁱ(b)``).  The check symbol is position ``k+1`` like any other,
  so swapping it with the last random symbol is caught too.

The group and ``σ`` depend only on the alphabet size ``n = 2ᵃ·m`` (``m`` odd):

============  ==================================  ========================================
``n``         group ``G``                         ``σ``
============  ==================================  ========================================
odd           ``Z_n`` (addition mod n)            ``σ(x) = 2x mod n``
``2 mod 4``   dihedral group ``D_m`` (order 2m),  ``σ(r_a) = r_-a``, ``σ(s_a) = s_a+1``
              ``n ≥ 6``
``0 mod 4``   ``Z_m × GF(2ᵃ)⁺``                   ``σ(x, y) = (2x mod m, t·y)``
============  ==================================  ========================================

(``r_a`` are the rotations and ``s_a`` the reflections of a regular ``m``-gon; ``t`` is the
polynomial ``t`` in ``GF(2)[t]/(f)`` for a fixed irreducible ``f`` of degree ``a``.)
Anti-symmetry holds because ``x ↦ x - σ(x)`` is a bijection for the abelian cases (it is
``-x`` and ``(1 - t)·y``), and for ``D_m`` by checking the four rotation/reflection cases, each
of which reduces to ``2(a-b) ≢ 0 (mod m)`` or to ``a+b+1 ≢ a+b``.  Every ``n ≥ 3`` is served;
``n = 2`` cannot be (one parity bit cannot see a swap of ``01`` and ``10``).

For odd ``n`` the rule is simply a weighted sum: ``Σ 2ⁱ·xᵢ + 2ᵏ⁺¹·c ≡ 0 (mod n)``; the default
31-symbol alphabet uses it, and :meth:`CheckSystem.weights` exposes the weights so that
:mod:`voucherbot.codes` can compute a whole column of check symbols at once.  The claims are
checked exhaustively in ``tests/unit/test_codes.py`` for every size up to 94.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

__all__ = ["CheckSystem", "check_system"]

#: Irreducible polynomials over GF(2), indexed by degree; t and 1 + t are units modulo each.
_GF2_POLY = {
    2: 0b111,
    3: 0b1011,
    4: 0b10011,
    5: 0b100101,
    6: 0b1000011,
    7: 0b10000011,
    8: 0b100011011,
}


@dataclass(frozen=True, eq=False)  # one cached instance per size: compare by identity
class CheckSystem:
    """A group of order ``n`` (elements ``0..n-1``, identity 0) with an anti-symmetric ``σ``."""

    n: int
    family: str  #: "cyclic", "dihedral" or "abelian"
    mul: tuple[int, ...]  #: flat Cayley table: ``mul[a * n + b] = a·b``
    inv: tuple[int, ...]  #: ``inv[a] = a⁻¹``
    sigma: tuple[int, ...]  #: the anti-symmetric permutation

    def sigma_power(self, power: int) -> tuple[int, ...]:
        """The permutation ``σ^power`` (``power`` may be negative)."""
        return _sigma_power(self, power)

    def step_tables(self, k: int) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
        """Tables for computing check values of ``k`` random symbols one symbol at a time.

        Returns ``(steps, final)``: the running product ``p`` (stored premultiplied as
        ``p * n``) advances as ``p = steps[i][p + x]`` for the ``i``-th symbol value ``x``
        (0-based), starting at 0, and the check value is ``final[p]``.
        """
        return _step_tables(self, k)

    def check_value(self, values: Sequence[int]) -> int:
        """The check value for the random symbol values ``values`` (each in ``0..n-1``)."""
        steps, final = self.step_tables(len(values))
        p = 0
        for table, x in zip(steps, values, strict=True):
            p = table[p + x]
        return final[p]

    def is_valid(self, values: Sequence[int]) -> bool:
        """True when ``values`` (random symbol values followed by the check value) is valid."""
        n, mul, p = self.n, self.mul, 0
        for i, x in enumerate(values, start=1):
            p = mul[p * n + self.sigma_power(i)[x]]
        return p == 0

    def weights(self, k: int) -> tuple[tuple[int, ...], int] | None:
        """For the cyclic family: ``(w, f)`` with check value ``(f · Σ wᵢ·xᵢ) mod n``.

        ``w`` has one weight per random symbol (``2ⁱ mod n``) and ``f = -2^-(k+1) mod n``.
        Returns None for the other families, whose products are not weighted sums.
        """
        if self.family != "cyclic":
            return None
        n = self.n
        w = tuple(pow(2, i, n) for i in range(1, k + 1))
        return w, (-pow(2, -(k + 1), n)) % n


def check_system(n: int) -> CheckSystem:
    """The check system for an alphabet of ``n`` symbols; ValueError when ``n < 3``."""
    if n < 3:
        raise ValueError(f"no check symbol can catch every swap in an alphabet of {n} symbols")
    return _build(n)


@cache
def _build(n: int) -> CheckSystem:
    m, a = n, 0
    while m % 2 == 0:
        m //= 2
        a += 1
    if a == 0:
        mul = tuple((x + y) % n for x in range(n) for y in range(n))
        sigma = tuple(2 * x % n for x in range(n))
        family = "cyclic"
    elif a == 1:
        mul = tuple(_dihedral_mul(m, x, y) for x in range(n) for y in range(n))
        sigma = tuple([(-r) % m for r in range(m)] + [m + (r + 1) % m for r in range(m)])
        family = "dihedral"
    else:
        if a not in _GF2_POLY:
            raise ValueError(f"alphabets of {n} symbols are not supported for check symbols")
        poly, top = _GF2_POLY[a], 1 << a

        def times_t(y: int) -> int:
            y <<= 1
            return y ^ poly if y & top else y

        # element v <-> (v % m in Z_m, v // m in GF(2^a))
        mul = tuple(
            (x % m + y % m) % m + m * ((x // m) ^ (y // m)) for x in range(n) for y in range(n)
        )
        sigma = tuple(2 * (v % m) % m + m * times_t(v // m) for v in range(n))
        family = "abelian"
    inv = tuple(next(y for y in range(n) if mul[x * n + y] == 0) for x in range(n))
    return CheckSystem(n=n, family=family, mul=mul, inv=inv, sigma=sigma)


def _dihedral_mul(m: int, x: int, y: int) -> int:
    """Product in D_m: ``v < m`` is the rotation r_v, ``v >= m`` the reflection s_(v-m)."""
    (ex, a), (ey, b) = divmod(x, m), divmod(y, m)
    if ex == 0:  # r_a·r_b = r_(a+b);  r_a·s_b = s_(a+b)
        return ey * m + (a + b) % m
    # s_a·r_b = s_(a-b);  s_a·s_b = r_(a-b)
    return (1 - ey) * m + (a - b) % m


@cache
def _sigma_power(system: CheckSystem, power: int) -> tuple[int, ...]:
    n = system.n
    if power < 0:
        forward = _sigma_power(system, -power)
        backward = [0] * n
        for x, y in enumerate(forward):
            backward[y] = x
        return tuple(backward)
    result = tuple(range(n))
    for _ in range(power):
        result = tuple(system.sigma[x] for x in result)
    return result


@cache
def _step_tables(
    system: CheckSystem, k: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    n, mul = system.n, system.mul
    steps = []
    for i in range(1, k + 1):
        s = _sigma_power(system, i)
        steps.append(tuple(mul[p * n + s[x]] * n for p in range(n) for x in range(n)))
    back = _sigma_power(system, -(k + 1))
    final_by_p = [back[system.inv[p]] for p in range(n)]
    # the running product is stored premultiplied by n: index final by p * n as well
    final = [0] * (n * n)
    for p in range(n):
        final[p * n] = final_by_p[p]
    return tuple(steps), tuple(final)
