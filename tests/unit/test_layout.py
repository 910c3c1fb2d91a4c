"""The shape of the project: layering rules and documentation that must not drift."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from voucherbot.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "voucherbot"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_cli_imports_click() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in PACKAGE.rglob("*.py")
        if "cli" not in p.relative_to(PACKAGE).parts and "click" in imported_modules(p)
    ]
    assert offenders == []


def test_pure_modules_do_no_io() -> None:
    """No network, files, clock or processes in planning/ and codes/ (codes uses os only for
    os.urandom); lint-imports checks the same of what they import, indirectly too."""
    io = {"requests", "socket", "sqlite3", "time", "subprocess", "pathlib", "shutil"}
    pure = [*PACKAGE.glob("planning/*.py"), *PACKAGE.glob("codes/*.py")]
    assert len(pure) >= 10
    for path in pure:
        assert not imported_modules(path) & io, path.name
    for path in PACKAGE.glob("planning/*.py"):
        assert "os" not in imported_modules(path), path.name


#: the logger names log filters match on (cli/logs.py): kept from before the subpackages
LOGGERS = {
    "voucherbot",
    "voucherbot.refill",
    "voucherbot.posting",
    "voucherbot.connectif",
    "voucherbot.poll",
    "voucherbot.ratelimit",
    "voucherbot.ledger",
    "voucherbot.sinks",
    "voucherbot.notify",
    "voucherbot.monitor",
}


def test_every_logger_has_one_of_the_documented_names() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "sandbox" in path.relative_to(PACKAGE).parts:
            continue  # the sandbox is not the product: its own loggers
        text = path.read_text(encoding="utf-8")
        assert "getLogger(__name__)" not in text, path
        for name in re.findall(r'getLogger\("([^"]*)"\)', text):
            assert name in LOGGERS, (path, name)


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, full + " "))
    return found


def test_every_command_has_help_and_is_in_the_readme() -> None:
    for name, command in all_commands(cli):
        assert command.help, f"voucherbot {name} has no help"
        assert f"voucherbot {name}" in README, f"README.md does not mention voucherbot {name}"


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["config", "check", "--rules", str(ROOT / "rules.toml")]],
    ids=["help", "config-check"],
)
def test_fast_commands_do_not_import_heavy_modules(argv: list[str]) -> None:
    """They must start fast (bench/startup_bench.py measures it): no requests, faker,
    werkzeug or sqlite3 until a command needs them."""
    code = (
        "import sys\nfrom voucherbot.cli import main\n"
        f"sys.argv = ['voucherbot', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('requests', 'faker', 'werkzeug', 'sqlite3') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"
