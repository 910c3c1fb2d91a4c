"""`voucherbot codes generate|check|info`: voucher codes offline (no API calls), and the
code-shape options those three share."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from voucherbot.cli.inputs import rules_config
from voucherbot.cli.options import FiniteRange, rules_option, yes_option
from voucherbot.cli.output import warn
from voucherbot.errors import EXIT_FAILED

if TYPE_CHECKING:
    from voucherbot.codes import CodeSpec
    from voucherbot.config import Config


def shape_options(fn: Any) -> Any:
    """The code-shape options shared by the `codes` commands."""
    options: list[Callable[[Any], Any]] = [
        click.option(
            "--rule",
            "rule_name",
            metavar="NAME",
            help="Start from the code shape of this [[rule]] in the rules file "
            "('defaults' for [defaults.code]); other options override it.",
        ),
        rules_option,
        click.option(
            "--block",
            "blocklist",
            multiple=True,
            metavar="WORD",
            help="Extra word codes must not contain (repeatable).",
        ),
        click.option(
            "--check/--no-check",
            "check_symbol",
            default=None,
            help="Append a check symbol [default: on].",
        ),
        click.option("--separator", help="Group separator [default: -]."),
        click.option(
            "--group",
            type=click.IntRange(0),
            metavar="K",
            help="Put the separator every K symbols (with --length).",
        ),
        click.option("--suffix", help="Fixed text after the code."),
        click.option("--prefix", help="Fixed text before the code, e.g. WEL-."),
        click.option(
            "--alphabet",
            metavar="NAME|SYMBOLS",
            help="unambiguous (default), digits, alphanumeric, upper, hex, crockford, "
            "or the symbols themselves.",
        ),
        click.option(
            "--length",
            type=click.IntRange(1),
            metavar="L",
            help="Random symbols per code [default: 10].",
        ),
        click.option(
            "--pattern", metavar="P", help="A shape where # is a random symbol, e.g. WEL-####-####."
        ),
    ]
    for option in options:
        fn = option(fn)
    return fn


def _shape(
    rules_path: Path | None, builtin_rules: bool, rule_name: str | None, **given: Any
) -> CodeSpec:
    """A CodeSpec from a rule's shape (if asked) with the given options laid over it."""
    from voucherbot.codes import CodeSpec
    from voucherbot.errors import ConfigError

    base: dict[str, Any] = {}
    if rule_name is not None:
        base = _rule_shape(rules_config(rules_path, builtin_rules), rule_name)
    options = {k: v for k, v in given.items() if v is not None and v != ()}
    if "length" in options:
        base.pop("pattern", None)
    if options.get("pattern") is not None and "length" in options:
        raise ConfigError("give either --pattern or --length, not both")
    if "blocklist" in options:
        options["blocklist"] = tuple(base.get("blocklist", ())) + tuple(options["blocklist"])
    return CodeSpec(**{**base, **options})


def _rule_shape(cfg: Config, rule_name: str) -> dict[str, Any]:
    """The code shape of the rule named ``rule_name`` ('defaults': [defaults.code])."""
    from dataclasses import asdict

    from voucherbot.errors import ConfigError

    if rule_name == "defaults":
        return asdict(cfg.defaults.code)
    found = [r for r in cfg.rules if r.name == rule_name]
    if not found:
        names = ", ".join(repr(r.name) for r in cfg.rules if r.name) or "none"
        raise ConfigError(f"no [[rule]] named {rule_name!r} in {cfg.path} (named rules: {names})")
    return asdict(found[0].settings.code)


@click.group()
def codes() -> None:
    """Generate, check and size voucher codes offline (no API calls)."""


@codes.command("generate")
@click.option("--count", "-n", type=click.IntRange(1), required=True, help="How many codes.")
@shape_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this new file (mode 0600) instead of stdout.",
)
@click.option("--plain", is_flag=True, help="One code per line, without the CSV header.")
@yes_option
def codes_generate(
    count: int,
    output: Path | None,
    plain: bool,
    rules_path: Path | None,
    builtin_rules: bool,
    rule_name: str | None,
    confirmed: bool,
    **shape: Any,
) -> None:
    """Generate unique codes as a Connectif coupon CSV (header `code`) or plain lines.

    At most [limits] max_codes (10,000,000 by default); above confirm_above (1,000,000) only
    with --yes."""
    from voucherbot.codes import fill_warning
    from voucherbot.files import code_csv

    limits = _limits(rules_path, builtin_rules, rule_name)
    limits.check_count(count, "codes generate", confirmed=confirmed)
    spec = _shape(rules_path, builtin_rules, rule_name, **shape)
    # the file first: a bad path costs no generation
    fd = None if output is None else _create(output)
    new = _generate(spec, count, fd, output)
    warning = fill_warning(spec, count)
    if warning:
        warn([warning])
    lines = code_csv(new, header=not plain)
    if fd is None:
        click.echo("".join(lines), nl=False)
        return
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        out.writelines(lines)
    click.echo(f"Wrote {count:,} codes to {output}", err=True)


def _limits(rules_path: Path | None, builtin_rules: bool, rule_name: str | None) -> Config:
    """The limits of the rules file, when there is one (generating needs no rules)."""
    from voucherbot.config import DEFAULT_RULES_FILE, Config

    found = rules_path or rule_name or Path(DEFAULT_RULES_FILE).exists()
    return rules_config(rules_path, builtin_rules) if found and not builtin_rules else Config()


def _create(output: Path) -> int:
    """The -o file, new and private (0600), open for writing."""
    from voucherbot.errors import ConfigError
    from voucherbot.files import create_private

    try:
        return create_private(output)
    except FileExistsError:
        raise ConfigError(f"{output} already exists; codes are never written over a file") from None
    except OSError as exc:
        raise ConfigError(f"cannot create {output}: {exc.strerror or exc}") from None


def _generate(spec: CodeSpec, count: int, fd: int | None, output: Path | None) -> list[str]:
    """``count`` new codes; the -o file made for them goes again when generating fails."""
    from voucherbot.codes import generate

    try:
        return generate(spec, count)
    except BaseException:
        if fd is not None:
            os.close(fd)
            assert output is not None
            output.unlink()
        raise


@codes.command("check")
@click.argument("typed", nargs=-1, required=True, metavar="CODE...")
@shape_options
def codes_check(
    typed: tuple[str, ...],
    rules_path: Path | None,
    builtin_rules: bool,
    rule_name: str | None,
    **shape: Any,
) -> None:
    """Normalise and validate codes typed by people (shape and check symbol).

    Prints the canonical form of each valid code; exit status 1 if any code is invalid.
    """
    from voucherbot.codes import check_code

    spec = _shape(rules_path, builtin_rules, rule_name, **shape)
    bad = 0
    for text in typed:
        result = check_code(spec, text)
        if result.ok:
            click.echo(f"valid    {result.code}")
        else:
            bad += 1
            click.echo(f"INVALID  {text!r}: {result.reason}")
    if bad:
        sys.exit(EXIT_FAILED)


@codes.command("info")
@shape_options
@click.option(
    "--live",
    type=click.IntRange(0, 2**53),
    default=10_000,
    show_default=True,
    help="Codes live (issued, not yet used) at once.",
)
@click.option(
    "--rate",
    type=FiniteRange(min=0, min_open=True, max=1e15),
    default=100.0,
    show_default=True,
    help="Guesses per second an attacker manages.",
)
def codes_info(
    live: int,
    rate: float,
    rules_path: Path | None,
    builtin_rules: bool,
    rule_name: str | None,
    **shape: Any,
) -> None:
    """Show a shape's space, entropy and how long guessing a live code takes."""
    from voucherbot.codes import (
        entropy_bits,
        format_duration,
        generate,
        guess_time_seconds,
        guessability_warning,
        space_size,
    )

    spec = _shape(rules_path, builtin_rules, rule_name, **shape)
    check = " + 1 check symbol" if spec.check_symbol else ""
    click.echo(f"example:      {generate(spec, 1)[0]}")
    click.echo(
        f"symbols:      {spec.random_symbols} random{check}, from {len(spec.symbols)} "
        f"({spec.symbols})"
    )
    click.echo(f"space:        {space_size(spec):,} codes ({entropy_bits(spec):.1f} bits)")
    seconds = guess_time_seconds(spec, live, rate)
    click.echo(
        f"guessing:     {format_duration(seconds)} on average to hit one of {live:,} live "
        f"codes at {rate:g} guesses/s"
    )
    warning = guessability_warning(spec, live, rate)
    if warning:
        warn([warning])
