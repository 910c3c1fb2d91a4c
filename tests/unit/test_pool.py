"""Code pools: reading the shop's code files, skipping what cannot be issued, streaming."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voucherbot.config.shop import parse_shop
from voucherbot.errors import ConfigError, VoucherbotError
from voucherbot.shop.pool import CodePool, PoolError, PoolTake, _Fingerprints


class Issued:
    """A fake ledger: which codes were issued, and what it was asked."""

    def __init__(self, issued: Sequence[str] = ()) -> None:
        self.issued = set(issued)
        self.calls: list[int] = []

    def __call__(self, codes: Sequence[str]) -> set[str]:
        self.calls.append(len(codes))
        return self.issued & set(codes)


def write(directory: Path, name: str, text: str | bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def pool_dir(tmp_path: Path) -> Path:
    return tmp_path / "pool"


def test_files_are_read_in_name_order(pool_dir: Path) -> None:
    write(pool_dir, "b.txt", "B1\nB2\n")
    write(pool_dir, "a.csv", "A1\n")
    write(pool_dir, "10.txt", "T1\n")
    write(pool_dir, "2.TXT", "S1\n")
    pool = CodePool(pool_dir)
    assert [p.name for p in pool.files()] == ["10.txt", "2.TXT", "a.csv", "b.txt"]
    assert pool.take(10, Issued()).codes == ["T1", "S1", "A1", "B1", "B2"]


def test_other_files_hidden_files_and_directories_are_ignored(pool_dir: Path) -> None:
    write(pool_dir, "codes.txt", "A1\n")
    write(pool_dir, "notes.md", "NOTE\n")
    write(pool_dir, "codes.json", '["J1"]')
    write(pool_dir, ".partial.csv", "HIDDEN\n")
    write(pool_dir, "codes.csv.tmp", "TMP\n")
    write(pool_dir / "sub.csv", "inner.txt", "INNER\n")
    assert CodePool(pool_dir).take(10, Issued()).codes == ["A1"]


@pytest.mark.parametrize(
    "text",
    [
        "id,code,value\n1,AAA,5\n2,BBB,5\n",
        "id;Code;value\n1;AAA;5\n2;BBB;5\n",
        '"CODE","note"\n"AAA","x, y"\n"BBB",""\n',
        "code\r\nAAA\r\nBBB\r\n",
        "\ufeffcode;discount\nAAA;10%\nBBB;10%\n",
    ],
    ids=["comma", "semicolon", "quoted", "crlf", "bom"],
)
def test_csv_with_code_header(pool_dir: Path, text: str) -> None:
    write(pool_dir, "codes.csv", text)
    take = CodePool(pool_dir).take(5, Issued())
    assert take == PoolTake(["AAA", "BBB"], exhausted=True)


def test_csv_header_row_with_short_rows(pool_dir: Path) -> None:
    write(pool_dir, "codes.csv", "id,code\n1,AAA\n2\n\n3,BBB\n")
    take = CodePool(pool_dir).take(5, Issued())
    assert take.codes == ["AAA", "BBB"] and take.skipped_blank == 2


def test_csv_without_header_and_txt_are_one_code_per_line(pool_dir: Path) -> None:
    write(pool_dir, "a.csv", "AAA\nBBB\n")
    write(pool_dir, "b.txt", "\ufeffCCC\r\n  DDD  \n\tEEE")
    assert CodePool(pool_dir).take(10, Issued()).codes == ["AAA", "BBB", "CCC", "DDD", "EEE"]


def test_bom_is_ignored_in_txt(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", "\ufeffAAA\n".encode())
    assert CodePool(pool_dir).take(1, Issued()).codes == ["AAA"]


def test_skipped_lines_are_counted(pool_dir: Path) -> None:
    write(pool_dir, "1.txt", "A1\n\n   \nA2\nbad code\nA1\nA3\n")
    write(pool_dir, "2.csv", 'code\nA2\n"x,y"\nB1\n' + "L" * 65 + "\n" + "M" * 64 + "\n")
    write(pool_dir, "3.txt", 'semi;colon\nquo"te\nbell\x07\nB2\nA3\n')
    issued = Issued(["A2", "B1"])
    take = CodePool(pool_dir).take(100, issued)
    assert take == PoolTake(
        codes=["A1", "A3", "M" * 64, "B2"],
        skipped_blank=2,
        skipped_duplicate=3,  # A1 (same file), A2 (an earlier file, issued), A3
        skipped_issued=2,  # the first A2, B1
        skipped_invalid=6,
        exhausted=True,
    )
    assert CodePool(pool_dir).remaining(issued) == 4


def test_codes_that_differ_only_in_case_are_one_code_in_a_pool(pool_dir: Path) -> None:
    """Shops ignore case: ab12cd and AB12CD are the same code, so the second is a duplicate."""
    write(pool_dir, "a.txt", "ab12cd\nZZ99\n")
    write(pool_dir, "b.txt", "AB12CD\nzz99\nNEW1\n")
    take = CodePool(pool_dir).take(10, Issued())
    assert take.codes == ["ab12cd", "ZZ99", "NEW1"] and take.skipped_duplicate == 2


def test_take_stops_after_n_and_counts_only_what_it_passed(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", "A1\n\nI1\nA2\nA1\nA3\n\nA4\n")
    issued = Issued(["I1"])
    take = CodePool(pool_dir).take(2, issued)
    assert take == PoolTake(["A1", "A2"], skipped_blank=1, skipped_issued=1)
    assert not take.exhausted


def test_issued_codes_are_checked_in_chunks(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", "".join(f"C{i}\n" for i in range(25)))
    issued = Issued([f"C{i}" for i in range(0, 25, 2)])
    pool = CodePool(pool_dir, chunk_size=10)
    take = pool.take(100, issued)
    assert issued.calls == [10, 10, 5]
    assert take.codes == [f"C{i}" for i in range(1, 25, 2)]
    assert take.skipped_issued == 13 and take.exhausted
    issued.calls.clear()
    assert pool.remaining(issued) == 12
    assert issued.calls == [10, 10, 5]


def test_take_returns_codes_from_the_first_chunk_that_has_them(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", "".join(f"C{i}\n" for i in range(50)))
    issued = Issued()
    assert CodePool(pool_dir, chunk_size=10).take(3, issued).codes == ["C0", "C1", "C2"]
    assert issued.calls == [10]


def test_exhausted_pool(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", "A1\nA2\n")
    take = CodePool(pool_dir).take(3, Issued(["A2"]))
    assert take == PoolTake(["A1"], skipped_issued=1, exhausted=True)
    assert CodePool(pool_dir).take(0, Issued()) == PoolTake([])
    with pytest.raises(ValueError, match="n must not be negative"):
        CodePool(pool_dir).take(-1, Issued())


def test_take_does_not_change_the_pool(pool_dir: Path) -> None:
    path = write(pool_dir, "a.txt", "A1\nA2\n")
    before = path.read_bytes(), path.stat().st_mtime_ns
    ledger = Issued()
    first = CodePool(pool_dir).take(1, ledger)
    ledger.issued.update(first.codes)
    assert CodePool(pool_dir).take(1, ledger).codes == ["A2"]
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert os.listdir(pool_dir) == ["a.txt"]


@pytest.mark.parametrize("make", [lambda d: None, lambda d: d.mkdir()], ids=["missing", "empty"])
def test_missing_or_empty_directory(pool_dir: Path, make: Any) -> None:
    make(pool_dir)
    issued = Issued()
    pool = CodePool(pool_dir)
    assert pool.take(5, issued) == PoolTake([], exhausted=True)
    assert pool.remaining(issued) == 0
    assert issued.calls == []


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.csv", "A1\n")
    with pytest.raises(PoolError) as info:
        CodePool(path).take(1, Issued())
    assert isinstance(info.value, VoucherbotError)
    assert str(info.value) == (
        f"code pool {path} is a file, not a directory; set [shop] pool to the folder holding "
        "the shop's code files"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_unreadable_directory(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", "A1\n")
    pool_dir.chmod(0)
    try:
        with pytest.raises(PoolError, match=r"cannot read the code pool .*Permission denied"):
            CodePool(pool_dir).remaining(Issued())
    finally:
        pool_dir.chmod(0o700)


def test_unreadable_file(pool_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(pool_dir, "a.txt", "A1\n")
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(PoolError, match=r"cannot read code pool file .*a.txt: Permission denied"):
        CodePool(pool_dir).take(1, Issued())


def test_file_that_is_not_utf8(pool_dir: Path) -> None:
    write(pool_dir, "a.txt", b"A1\nA2\n\xff\xfeA3\n")
    with pytest.raises(PoolError, match=r"a.txt: not UTF-8 text .*; save it as UTF-8"):
        CodePool(pool_dir).take(5, Issued())


def test_describe(pool_dir: Path) -> None:
    assert CodePool(pool_dir).describe() == f"code pool in {pool_dir}"


def test_large_pool_streams_in_reasonable_time(pool_dir: Path) -> None:
    lines = 200_000
    write(pool_dir, "big.txt", "".join(f"SHOP{i:08d}\n" for i in range(lines)))
    pool = CodePool(pool_dir)
    ledger = Issued([f"SHOP{i:08d}" for i in range(0, lines, 4)])
    started = time.monotonic()
    take = pool.take(1000, ledger)
    assert len(take.codes) == 1000 and take.skipped_issued == 334
    assert ledger.calls == [10_000]
    assert pool.remaining(ledger) == lines - lines // 4
    assert time.monotonic() - started < 5


def test_large_pool_memory_is_fingerprints_not_codes(pool_dir: Path) -> None:
    lines = 60_000
    write(pool_dir, "big.txt", "".join(f"SHOP{i:08d}\n" for i in range(lines)))
    tracemalloc.start()
    try:
        assert CodePool(pool_dir, chunk_size=1000).remaining(Issued()) == lines
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # a chunk of 1,000 candidates and ~1.5 MB of fingerprints; a set of the codes takes ~6 MB
    assert peak < 2_500_000


# --- fingerprints --------------------------------------------------------------------------


@given(st.lists(st.text(min_size=0, max_size=6), max_size=3000))
def test_fingerprints_behave_like_a_set(codes: list[str]) -> None:
    fingerprints = _Fingerprints()
    seen: set[str] = set()
    for code in codes:
        assert fingerprints.add(code) == (code not in seen)
        seen.add(code)
    assert len(fingerprints) == len(seen)


# --- [shop] pool ---------------------------------------------------------------------------


def test_parse_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def pool(table: dict[str, Any], base: Path | None) -> Path | None:
        return parse_shop({"source": "pool", **table}, "rules.toml", base).pool

    assert parse_shop({}, "rules.toml", tmp_path).pool is None
    assert pool({"pool": "codes"}, tmp_path) == tmp_path / "codes"
    assert pool({"pool": "/srv/p"}, tmp_path) == Path("/srv/p")
    assert pool({"pool": "codes", "sink": "none"}, None) == Path("codes")
    monkeypatch.setenv("HOME", "/home/shop")
    assert pool({"pool": "~/p"}, tmp_path) == Path("/home/shop/p")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"source": "pool", "pool": 3},
            "'pool' must be a non-empty string, not a whole number (3)",
        ),
        ({"source": "pool", "pool": " "}, "'pool' must be a non-empty string"),
        ({"pol": "x"}, "unknown key 'pol' (did you mean 'pool'?)"),
        ({"pool": "p"}, "'pool' is only used with source = \"pool\""),
        (
            {"source": "pool", "pool": "p", "sink": "file", "directory": "d"},
            "give either 'sink' (voucherbot "
            'generates the codes and registers them with the shop) or source = "pool" (the '
            "shop generates them), not both",
        ),
    ],
)
def test_parse_pool_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shop(table, "rules.toml", None)
    assert message in str(info.value)
    assert str(info.value).startswith("rules.toml: [shop]: ")
