"""The offensive-word filter for voucher codes.

A code is *blocked* when a blocked word appears anywhere in its **canonical skeleton**: the
whole code (prefix and suffix included) upper-cased, with everything that is not an ASCII
letter or digit removed, and with look-alikes folded together (:data:`LOOKALIKES`: ``0→O``,
``1→I``, ``L→I``, ``2→Z``, ``3→E``, ``4→A``, ``5→S``, ``6→G``, ``7→T``, ``8→B``, ``9→G``,
``V→U``).  Words are folded the same way, so ``B00B``, ``b-o-o-b`` and ``8OO8`` all match
the same blocked word.  Folding also merges a few innocent strings with blocked ones (``L``
and ``I`` fold together); that only costs a redraw.

The built-in list (:func:`builtin_words`) holds a few dozen short English and Spanish
profanities and slurs, stored ROT13-encoded so that the source stays readable.  Users add
their own words through ``CodeSpec.blocklist``.

For bulk generation :meth:`Blocklist.scan` searches a buffer of fixed-width rows in a few
C-speed passes: each word is anchored on one of its characters, the anchors are picked to be
rare in the codes being scanned (a greedy weighted set cover), and each anchor gets one regular
expression that starts with that literal character (so ``re`` can skip ahead with ``memchr``)
and checks the rest of the word with a look-behind and the following characters.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from functools import cache

__all__ = ["CANON_BYTES", "LOOKALIKES", "Blocklist", "builtin_words", "canonical"]

_BUILTIN_ROT13 = (
    # English
    "NAHF",
    "NEFR",
    "NFF",
    "OVGPU",
    "OBBO",
    "PUVAX",
    "PBPX",
    "PBBA",
    "PENC",
    "PHZ",
    "PHAG",
    "QVPX",
    "QVYQB",
    "QLXR",
    "SNT",
    "SPX",
    "SHPX",
    "SHX",
    "TBBX",
    "UVGYRE",
    "WVMM",
    "XVXR",
    "XXX",
    "ANMV",
    "AVTTN",
    "AVTTRE",
    "CNXV",
    "CRAVF",
    "CVFF",
    "CBEA",
    "CEVPX",
    "CHFFL",
    "ENCR",
    "ERGNEQ",
    "FRK",
    "FUVG",
    "FYHG",
    "FCVP",
    "GVG",
    "GENAAL",
    "GJNG",
    "JNAX",
    "JUBER",
    # Spanish
    "PNOEBA",
    "PNPN",
    "PUVATN",
    "PUBPUB",
    "PBWBA",
    "PBAB",
    "PHYB",
    "WBQRE",
    "ZNZBA",
    "ZNEVPN",
    "ZVREQN",
    "CRQB",
    "CRAQRWB",
    "CRAR",
    "CVWN",
    "CBYYN",
    "CHGN",
    "CHGB",
    "FHQNPN",
    "GRGN",
    "IRETN",
    "MBEEN",
)

#: Look-alike folding applied (after upper-casing) to codes and words before matching.
LOOKALIKES: dict[str, str] = {
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

_STR_FOLD = str.maketrans(LOOKALIKES)


def _byte_fold(b: int) -> int:
    ch = chr(b)
    if ch.isascii() and ch.isalnum():
        return ord(LOOKALIKES.get(ch.upper(), ch.upper()))
    return b


#: ``bytes.translate`` table: upper-case ASCII letters and fold look-alikes; other bytes stay.
CANON_BYTES = bytes(_byte_fold(b) for b in range(256))


def canonical(text: str) -> str:
    """The matching skeleton of ``text``: ASCII letters/digits only, upper-cased, folded."""
    kept = "".join(ch for ch in text if ch.isascii() and ch.isalnum())
    return kept.upper().translate(_STR_FOLD)


@cache
def builtin_words() -> tuple[str, ...]:
    """The built-in blocked words (decoded, upper-case)."""
    return tuple(codecs.decode(word, "rot13") for word in _BUILTIN_ROT13)


class Blocklist:
    """A compiled set of blocked words (built-in plus ``extra``)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        folded = {canonical(w) for w in (*builtin_words(), *extra)}
        folded.discard("")
        # a word that contains another blocked word adds nothing
        self.words: tuple[str, ...] = tuple(
            sorted(w for w in folded if not any(o != w and o in w for o in folded))
        )
        self._regex = re.compile("|".join(map(re.escape, self.words)))

    def find(self, text: str) -> str | None:
        """The (folded) blocked word that occurs in ``text``, or None."""
        match = self._regex.search(canonical(text))
        return match.group() if match else None

    def scan(
        self, buffer: bytes | bytearray, row_width: int, char_weight: Mapping[str, float]
    ) -> set[int]:
        """Indexes of the rows of ``buffer`` that contain a blocked word.

        ``buffer`` holds fixed-width rows of ``row_width`` bytes, each ending in ``\\n``, already
        passed through :data:`CANON_BYTES` and containing letters and digits only.
        ``char_weight`` gives how often each folded character is expected per row; characters
        it does not list are assumed never to occur, so words needing them are skipped.
        """
        hits: set[int] = set()
        for regex in _anchored(self.words, tuple(sorted(char_weight.items()))):
            hits.update(m.start() // row_width for m in regex.finditer(buffer))
        return hits


@cache
def _anchored(
    words: tuple[str, ...], weights: tuple[tuple[str, float], ...]
) -> tuple[re.Pattern[bytes], ...]:
    """One regex per anchor character, together covering every word that can occur."""
    weight = dict(weights)
    todo = [w for w in words if all(weight.get(ch, 0.0) > 0.0 for ch in w)]
    groups: dict[str, _Trie] = {}
    while todo:
        # greedy weighted set cover: most words covered per expected regex entry (+ a pass)
        anchor = max(
            sorted({ch for w in todo for ch in w}),
            key=lambda ch: sum(ch in w for w in todo) / (weight[ch] + 0.05),
        )
        for word in [w for w in todo if anchor in w]:
            j = word.index(anchor)
            groups.setdefault(anchor, _Trie()).add(word[j + 1 :], word if j else "")
            todo.remove(word)
    return tuple(
        re.compile((re.escape(anchor) + trie.regex()).encode("ascii"))
        for anchor, trie in groups.items()
    )


class _Trie:
    """The characters that follow an anchor, each path ending in a look-behind (or nothing).

    Alternatives that start with a literal character fail fast inside ``re``; the whole word
    before the anchor is confirmed by one look-behind once the characters after it matched.
    """

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.behind: set[str] = set()  # whole words to confirm with a look-behind; "" = done

    def add(self, rest: str, behind: str) -> None:
        node = self
        for ch in rest:
            node = node.children.setdefault(ch, _Trie())
        node.behind.add(behind)

    def regex(self) -> str:
        if "" in self.behind:  # a word ends here unconditionally: nothing more to check
            return ""
        alternatives = [re.escape(c) + node.regex() for c, node in sorted(self.children.items())]
        by_width: dict[int, list[str]] = {}
        for word in sorted(self.behind):
            by_width.setdefault(len(word), []).append(re.escape(word))
        alternatives += [f"(?<={'|'.join(ws)})" for ws in by_width.values()]
        return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
