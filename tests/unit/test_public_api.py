"""Every import path the README and docs/ show works, and the paths from before the package
was split into subpackages still import (with a DeprecationWarning naming the new one)."""

from __future__ import annotations

import importlib
import re
import sys
import warnings
from pathlib import Path

import pytest

from voucherbot._moved import MOVED

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: dotted names in the docs that are files, not Python: the ledger, unit files, the env file
NOT_PYTHON = re.compile(r"voucherbot\.(sqlite|service|timer|env|toml|db)\b")


def documented() -> list[str]:
    """``voucherbot.x.y`` in backticks, and each name of ``from voucherbot.x import a, b``."""
    names: set[str] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"from (voucherbot[\w.]*) import ([\w, ]+)", text):
            names.update(f"{match[1]}.{n.strip()}" for n in match[2].split(",") if n.strip())
        for match in re.finditer(r"`(voucherbot(?:\.\w+)+)", text):
            if not NOT_PYTHON.match(match[1]):
                names.add(match[1])
    return sorted(names)


def resolve(dotted: str) -> object:
    """The object a dotted name means: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ModuleNotFoundError(dotted)


def test_the_docs_name_the_public_paths() -> None:
    names = documented()
    for expected in (
        "voucherbot.refill_set",
        "voucherbot.config.load_config",
        "voucherbot.ledger.Ledger",
        "voucherbot.app.run",
        "voucherbot.codes.CodeSpec",
        "voucherbot.sandbox.start_sandbox",
    ):
        assert expected in names


@pytest.mark.parametrize("dotted", documented())
def test_each_documented_path_imports(dotted: str) -> None:
    if dotted in MOVED:  # documented as moved: it imports, and says where it went
        sys.modules.pop(dotted, None)
        with pytest.warns(DeprecationWarning, match=MOVED[dotted]):
            assert resolve(dotted) is not None
    else:
        assert resolve(dotted) is not None


def test_codes_keeps_its_public_names() -> None:
    codes = importlib.import_module("voucherbot.codes")
    for name in codes.__all__:
        assert getattr(codes, name) is not None, name
    assert callable(codes.generate)  # the function, not the module voucherbot.codes.generator


#: every public name the old modules had (their own, not what they imported)
OLD_NAMES = {
    "voucherbot.runner": (
        "AccountState KINDS describe_stats held_sets ledger_imports make_client make_plan "
        "notify read_workflows refill_set request_stats resolve run run_notice"
    ),
    "voucherbot.planner": "Action Decision ImportActivity Plan Skip plan unmatched_rules",
    "voucherbot.forecast": (
        "DEFAULT_SETTINGS Forecast ForecastSettings Snapshot forecast format_days "
        "format_duration format_rate"
    ),
}


@pytest.mark.parametrize("old", sorted(OLD_NAMES))
def test_moved_paths_still_import_with_a_warning(old: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} is now {MOVED[old]}"):
        module = importlib.import_module(old)
    new = importlib.import_module(MOVED[old])
    for name in OLD_NAMES[old].split():
        assert getattr(module, name) is not None, name
        if hasattr(new, name):  # the very same object, not a copy
            assert getattr(module, name) is getattr(new, name), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.import_module(old)  # once imported, it is not said again
