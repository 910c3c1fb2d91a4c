"""`voucherbot codes generate / check / info`: offline, exact output and exit codes."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from voucherbot.cli import cli
from voucherbot.codes import CodeSpec, check_code


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["codes", *args])


def test_generate_writes_a_connectif_csv_with_mode_0600(tmp_path: Path) -> None:
    out = tmp_path / "codes.csv"
    result = invoke("generate", "--count", "500", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    codes = [r["code"] for r in rows]
    assert len(codes) == len(set(codes)) == 500
    assert all(check_code(CodeSpec(), c).ok for c in codes)
    assert result.stdout == ""
    assert "Wrote 500 codes" in result.stderr


def test_generate_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "codes.csv"
    out.write_text("precious\n")
    result = invoke("generate", "-n", "3", "-o", str(out))
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert out.read_text() == "precious\n"


def test_generate_plain_with_a_pattern() -> None:
    result = invoke("generate", "-n", "20", "--pattern", "WEL-####-####", "--plain")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 20 and all(line.startswith("WEL-") for line in lines)
    spec = CodeSpec(pattern="WEL-####-####")
    assert all(check_code(spec, line).ok for line in lines)


def test_generate_shape_options_reach_the_codes() -> None:
    result = invoke(
        "generate",
        "-n",
        "5",
        "--plain",
        "--length",
        "8",
        "--group",
        "4",
        "--prefix",
        "X-",
        "--suffix",
        "-Y",
        "--alphabet",
        "digits",
        "--no-check",
    )
    assert result.exit_code == 0, result.output
    for line in result.stdout.splitlines():
        assert line.startswith("X-") and line.endswith("-Y")
        body = line[2:-2]
        assert len(body) == 9 and body[4] == "-" and body.replace("-", "").isdigit()


def test_generate_refuses_an_overfull_space() -> None:
    result = invoke("generate", "-n", "600", "--alphabet", "digits", "--length", "3", "--no-check")
    assert result.exit_code == 2
    assert "1,000 possible codes" in result.stderr and "600 requested" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--alphabet", "AAB"], "more than once"),
        (["--alphabet", "unambigous"], "did you mean 'unambiguous'"),
        (["--pattern", "WEL-####", "--length", "5"], "either --pattern or --length"),
        (["--pattern", "NOHASH"], "has no '#'"),
        (["--prefix", "A,B"], "would break the import CSV"),
    ],
    ids=["dupes", "typo", "both", "no-hash", "csv-comma"],
)
def test_generate_bad_shapes_exit_2(args: list[str], message: str) -> None:
    result = invoke("generate", "-n", "1", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_check_normalises_and_names_what_is_wrong() -> None:
    spec = CodeSpec(prefix="WEL-", group=4)
    codes = invoke(
        "generate", "-n", "40", "--plain", "--prefix", "WEL-", "--group", "4"
    ).stdout.splitlines()
    # a code whose last two symbols differ, so that swapping them makes another code
    good = next(code for code in codes if code[-1] != code[-2])
    sloppy = good.lower().replace("-", " ")
    swapped = good[:-2] + good[-1] + good[-2]
    result = invoke("check", "--prefix", "WEL-", "--group", "4", good, sloppy, swapped)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"valid    {good}"
    assert lines[1] == f"valid    {good}"
    assert lines[2].startswith(f"INVALID  {swapped!r}: ")
    assert check_code(spec, good).ok


def test_check_all_valid_exits_0() -> None:
    codes = invoke("generate", "-n", "3", "--plain").stdout.split()
    result = invoke("check", *codes)
    assert result.exit_code == 0
    assert result.stdout.count("valid    ") == 3


def test_check_uses_a_rule_shape(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[[rule]]\nname = 'w'\nmatch = { name = 'W*' }\ncode = { prefix = 'WEL-' }\n")
    code = invoke("generate", "-n", "1", "--plain", "--rule", "w", "--rules", str(rules)).stdout
    assert code.startswith("WEL-")
    assert invoke("check", "--rule", "w", "--rules", str(rules), code.strip()).exit_code == 0
    missing = invoke("check", "--rule", "nope", "--rules", str(rules), "X")
    assert missing.exit_code == 2 and "no [[rule]] named 'nope'" in missing.stderr


def test_info_reports_space_bits_and_guessing_time() -> None:
    result = invoke("info", "--length", "10", "--live", "10000", "--rate", "100")
    assert result.exit_code == 0
    assert "space:        819,628,286,980,801 codes (49.5 bits)" in result.stdout
    assert "13 years on average to hit one of 10,000 live codes at 100 guesses/s" in result.stdout
    assert result.stderr == ""


def test_info_warns_about_weak_shapes() -> None:
    result = invoke("info", "--length", "6", "--live", "100000")
    assert result.exit_code == 0
    assert result.stderr.startswith("Warning: codes are too easy to guess")
