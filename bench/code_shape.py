"""The shape of the package: the largest modules and functions, and the most complex ones.

    python bench/code_shape.py [PACKAGE_DIR] [--top N]

Lines are physical lines; a function's length runs from its ``def`` to its last line.
Complexity is McCabe's (1 + branches: if/elif, loops, except, boolean operators, conditional
expressions, comprehension filters, match cases), as radon and mccabe count it, near enough to
find the functions to split. Functions over 60 lines must say why beside them.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

BRANCHES = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ExceptHandler,
    ast.IfExp,
    ast.match_case,
    ast.Assert,
)


def complexity(fn: ast.AST) -> int:
    score = 1
    for node in ast.walk(fn):
        if node is not fn and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue  # nested functions are measured on their own (their nodes still count here)
        if isinstance(node, BRANCHES):
            score += 1
        elif isinstance(node, ast.BoolOp):
            score += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            score += len(node.ifs)
    return score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default=str(Path(__file__).parents[1] / "voucherbot"))
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    root = Path(args.package)
    modules, functions = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(root.parent))
        modules.append((len(text.splitlines()), name))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                functions.append((length, complexity(node), f"{name}:{node.lineno} {node.name}"))
    print(
        f"{len(modules)} modules, {sum(n for n, _ in modules):,} lines; "
        f"{sum(1 for n, _ in modules if n > 400)} over 400 lines; "
        f"{sum(1 for f in functions if f[0] > 60)} functions over 60 lines"
    )
    print("largest modules:")
    for lines, name in sorted(modules, reverse=True)[: args.top]:
        print(f"  {lines:5}  {name}")
    print("longest functions (lines, complexity):")
    for length, cc, name in sorted(functions, reverse=True)[: args.top]:
        print(f"  {length:5} {cc:4}  {name}")
    print("most complex functions (complexity, lines):")
    for length, cc, name in sorted(functions, key=lambda f: (f[1], f[0]), reverse=True)[: args.top]:
        print(f"  {cc:5} {length:4}  {name}")


if __name__ == "__main__":
    main()
