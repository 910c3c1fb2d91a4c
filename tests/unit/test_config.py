"""rules.toml validation: every key, every type, every impossible combination, clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from voucherbot.codes import CodeSpec
from voucherbot.config import Config, RuleSettings, load_config, parse_config, parse_duration
from voucherbot.config.settings import ForecastSettings, ImportPolicy
from voucherbot.errors import ConfigError

REPO_RULES = Path(__file__).resolve().parents[2] / "rules.toml"


def parse(text: str) -> Config:
    return parse_config(text.encode(), Path("rules.toml"))


def test_repo_example_is_valid() -> None:
    config = load_config(REPO_RULES)
    assert config.rules, "the example should show rules"
    assert config.digest


def test_empty_file_gives_builtin_defaults() -> None:
    config = parse("")
    assert config.requests_per_minute == 100
    assert config.active_workflow_statuses == {"active"}
    assert config.defaults.min_available == 500 and config.defaults.refill_to == 5000
    assert config.defaults.code == CodeSpec()
    assert config.rules == ()


def test_full_example_parses_every_key() -> None:
    config = parse("""
[connectif]
base_url = "http://127.0.0.1:8765"
requests_per_minute = 60
timeout = 30
retry_backoff = 0.5
active_workflow_statuses = ["active", "running"]
inactive_workflow_statuses = ["draft"]
post_attempts = 5
lookup_delay = "30s"
clock_skew = 2
lookup_pages = 30
imports_newest_first = true
counter_lag = "1m"

[security]
guess_rate = 5
min_guess_time = "2y"

[polling]
interval = 1
growth = 2
max_interval = 10
timeout = 600

[defaults]
min_available_percent = 10
refill_to = 5000
max_per_run = 20000
require_active_workflow = true
cooldown = "6h"

[defaults.code]
length = 12
alphabet = "unambiguous"
check_symbol = true

[[rule]]
name = "welcome"
match = { name = "WELCOME*" }
min_available = 200
refill_to = 2000
code = { prefix = "WEL-" }

[[rule]]
match = { id = "5f0c00000000000000000001" }
enabled = false
""")
    assert config.base_url == "http://127.0.0.1:8765"
    assert (config.requests_per_minute, config.timeout, config.retry_backoff) == (60, 30.0, 0.5)
    assert config.active_workflow_statuses == {"active", "running"}
    assert config.inactive_workflow_statuses == {"draft"}
    assert config.imports == ImportPolicy(
        post_attempts=5,
        lookup_delay=30,
        clock_skew=2,
        lookup_pages=30,
        newest_first=True,
        counter_lag=60,
    )
    assert (
        config.poll.interval,
        config.poll.growth,
        config.poll.max_interval,
        config.poll.timeout,
    ) == (1, 2, 10, 600)
    assert (config.guess_rate, config.min_guess_time) == (5.0, 2 * 365.25 * 86400)
    d = config.defaults
    assert (d.min_available, d.min_available_percent, d.refill_to, d.max_per_run) == (
        None,
        10.0,
        5000,
        20000,
    )
    assert d.cooldown == 6 * 3600
    assert d.code == CodeSpec(length=12)
    welcome, off = config.rules
    assert welcome.label == "rule 'welcome'" and off.label == "rule #2"
    # a rule's threshold replaces the default threshold as a whole
    assert (welcome.settings.min_available, welcome.settings.min_available_percent) == (200, None)
    assert welcome.settings.cooldown == 6 * 3600  # inherited
    assert welcome.settings.code == CodeSpec(length=12, prefix="WEL-")  # merged over defaults
    assert off.settings.enabled is False


def test_first_matching_rule_wins_and_globs_ignore_case() -> None:
    config = parse("""
[[rule]]
match = { name = "welcome*" }
min_available = 1
refill_to = 2
[[rule]]
match = { name = "*" }
min_available = 3
refill_to = 4
[[rule]]
match = { id = "abc" }
enabled = false
""")
    rule, settings = config.rule_for("x", "WELCOME-10 spring")
    assert rule is not None and rule.index == 1 and settings.refill_to == 2
    rule, _ = config.rule_for("abc", "Other")
    assert rule is not None and rule.index == 2  # the catch-all comes first
    assert parse('[[rule]]\nmatch = { id = "abc" }\nenabled = false').rule_for("abd", "x") == (
        None,
        Config().defaults,
    )


def test_rule_length_replaces_inherited_pattern() -> None:
    config = parse("""
[defaults.code]
pattern = "####-####"
[[rule]]
match = { name = "X*" }
code = { length = 8 }
""")
    assert config.defaults.code.pattern == "####-####"
    assert config.rules[0].settings.code == CodeSpec(length=8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[conectif]\n", "rules.toml: unknown key 'conectif' (did you mean 'connectif'?)"),
        (
            "[defaults]\nmin_availble = 5\n",
            "rules.toml: [defaults]: unknown key 'min_availble' (did you mean 'min_available'?)",
        ),
        (
            '[[rule]]\nname = "w"\nmatch = { name = "W*" }\nrefil_to = 9\n',
            "rules.toml: rule 'w' (#1): unknown key 'refil_to' (did you mean 'refill_to'?)",
        ),
        (
            '[[rule]]\nmatch = { nme = "W*" }\n',
            "rules.toml: rule #1 match: unknown key 'nme' (did you mean 'name'?)",
        ),
        (
            "[defaults.code]\nlenght = 9\n",
            "rules.toml: [defaults] code: unknown key 'lenght' (did you mean 'length'?)",
        ),
        (
            "[polling]\nintervall = 9\n",
            "rules.toml: [polling]: unknown key 'intervall' (did you mean 'interval'?)",
        ),
        (
            "[connectif]\npost_attempts = 0\n",
            "rules.toml: [connectif]: 'post_attempts' must be at least 1, not 0",
        ),
        (
            "[connectif]\npost_attempts = 11\n",
            "rules.toml: [connectif]: 'post_attempts' must be between 1 and 10",
        ),
        (
            "[connectif]\nlookup_pages = 1001\n",
            "rules.toml: [connectif]: 'lookup_pages' must be between 1 and 1000",
        ),
        (
            '[connectif]\ncounter_lag = "2h"\n',
            "rules.toml: [connectif]: 'counter_lag' must be between 0 and 3600 seconds",
        ),
        (
            '[connectif]\nlookup_delay = "soon"\n',
            "rules.toml: [connectif]: 'lookup_delay' must be seconds or a duration such as",
        ),
        (
            "[connectif]\nimports_newest_first = 1\n",
            "rules.toml: [connectif]: 'imports_newest_first' must be true or false",
        ),
        (
            "[connectif]\nclock_skw = 3\n",
            "rules.toml: [connectif]: unknown key 'clock_skw' (did you mean 'clock_skew'?)",
        ),
        (
            '[defaults]\nmin_available = "500"\n',
            "rules.toml: [defaults]: 'min_available' must be a whole number, not a string ('500')",
        ),
        (
            "[defaults]\nmin_available = 1.5\n",
            "rules.toml: [defaults]: 'min_available' must be a whole number, not a number (1.5)",
        ),
        (
            "[defaults]\nmin_available = -1\n",
            "rules.toml: [defaults]: 'min_available' must be at least 0, not -1",
        ),
        (
            "[defaults]\nmax_per_run = 0\n",
            "rules.toml: [defaults]: 'max_per_run' must be at least 1, not 0",
        ),
        (
            '[defaults]\nenabled = "yes"\n',
            "rules.toml: [defaults]: 'enabled' must be true or false, not a string ('yes')",
        ),
        (
            "[defaults]\nmin_available = 10\nmin_available_percent = 5\n",
            "give either 'min_available' or 'min_available_percent', not both",
        ),
        ("[defaults]\nmin_available_percent = 100\n", "'min_available_percent' must be below 100"),
        (
            "[defaults]\nmin_available_percent = 0\n",
            "'min_available_percent' must be above 0, not 0",
        ),
        (
            "[defaults]\nmin_available = 600\nrefill_to = 600\n",
            "'refill_to' (600) must be above the threshold 'min_available' (600)",
        ),
        (
            '[[rule]]\nname = "hot"\nmatch = { name = "H*" }\nrefill_to = 100\n',
            "rules.toml: rule 'hot' (#1): 'refill_to' (100) must be above the threshold "
            "'min_available' (500)",
        ),
        ("[[rule]]\nenabled = false\n", "rules.toml: rule #1: missing 'match'"),
        ('[[rule]]\nmatch = { name = "" }\n', "rule #1: match 'name' must be a non-empty string"),
        ("[[rule]]\nmatch = {}\n", "rule #1: 'match' needs exactly one of 'id' or 'name'"),
        (
            '[[rule]]\nmatch = { id = "a", name = "b" }\n',
            "'match' needs exactly one of 'id' or 'name'",
        ),
        ('[[rule]]\nmatch = "WELCOME*"\n', "rule #1: 'match' must be a table"),
        ("rule = 5\n", "'rule' must be an array of tables"),
        (
            '[defaults]\ncooldown = "soon"\n',
            "'cooldown' must be seconds or a duration such as \"6h\"",
        ),
        (
            '[connectif]\nactive_workflow_statuses = "active"\n',
            "'active_workflow_statuses' must be a list of strings",
        ),
        (
            "[connectif]\nactive_workflow_statuses = []\n",
            "'active_workflow_statuses' must list at least one status",
        ),
        ("[connectif]\nrequests_per_minute = 0\n", "'requests_per_minute' must be at least 1"),
        (
            "[polling]\ninterval = 20\nmax_interval = 10\n",
            "[polling]: poll settings need 0 < interval <= max_interval",
        ),
        (
            '[defaults.code]\nalphabet = "unambigous"\n',
            "rules.toml: [defaults] code: unknown alphabet preset 'unambigous' (did you mean "
            "'unambiguous'?)",
        ),
        (
            '[[rule]]\nmatch = { id = "x" }\ncode = { length = 0 }\n',
            "rules.toml: rule #1 code: code length must be a whole number from 1",
        ),
        ('[defaults]\ncode = "short"\n', "'code' must be a table"),
        (
            "[defaults]\nmin_day_left = 3\n",
            "rules.toml: [defaults]: unknown key 'min_day_left' (did you mean 'min_days_left'?)",
        ),
        (
            '[[rule]]\nmatch = { id = "x" }\ncover_day = 3\n',
            "rules.toml: rule #1: unknown key 'cover_day' (did you mean 'cover_days'?)",
        ),
        ("[defaults]\nsafety_factr = 1.5\n", "(did you mean 'safety_factor'?)"),
        (
            "[defaults]\nmin_days_left = 0\n",
            "rules.toml: [defaults]: 'min_days_left' must be above 0, not 0",
        ),
        (
            '[defaults]\nmin_days_left = "7"\n',
            "rules.toml: [defaults]: 'min_days_left' must be a number, not a string ('7')",
        ),
        (
            "[defaults]\nmin_days_left = true\n",
            "rules.toml: [defaults]: 'min_days_left' must be a number of days, or false to turn it "
            "off, not true",
        ),
        ("[defaults]\nmin_days_left = inf\n", "'min_days_left' must be above 0, not inf"),
        ("[defaults]\ncover_days = -1\n", "rules.toml: [defaults]: 'cover_days' must be above 0"),
        ("[defaults]\ncover_days = [30]\n", "'cover_days' must be a number, not a list"),
        (
            "[defaults]\nsafety_factor = 0.9\n",
            "rules.toml: [defaults]: 'safety_factor' must be at least 1, not 0.9",
        ),
        ("[defaults]\nsafety_factor = false\n", "'safety_factor' must be a number, not a boolean"),
        (
            "[defaults]\nmin_days_left = 10\ncover_days = 7\n",
            "rules.toml: [defaults]: 'cover_days' (7) must be above 'min_days_left' (10), or every "
            "refill would leave the set due for the next one",
        ),
        (
            '[defaults]\nmin_days_left = 7\n[[rule]]\nname = "hot"\n'
            'match = { name = "H*" }\ncover_days = 5\n',
            "rules.toml: rule 'hot' (#1): 'cover_days' (5) must be above 'min_days_left' (7)",
        ),
        ("[forcast]\n", "rules.toml: unknown key 'forcast' (did you mean 'forecast'?)"),
        ("forecast = 3\n", "'forecast' must be a table, not a whole number (3)"),
        (
            "[forecast]\nwindow_days = 3\n",
            "rules.toml: [forecast]: unknown key 'window_days' (did you mean 'window'?)",
        ),
        (
            '[forecast]\nwindow = "two weeks"\n',
            "rules.toml: [forecast]: 'window' must be seconds or a duration such as \"6h\"",
        ),
        (
            "[forecast]\nhalf_life = 0\n",
            "rules.toml: [forecast]: 'half_life' must be a duration above 0 such as \"14d\", not 0",
        ),
        ("[forecast]\nwindow = inf\n", "'window' must be at most 10 years"),
        (
            "[forecast]\nmin_snapshots = 1\n",
            "rules.toml: [forecast]: 'min_snapshots' must be at least 2, not 1",
        ),
        ("[forecast]\nmin_snapshots = 2.5\n", "'min_snapshots' must be a whole number"),
        ('[forecast]\nmin_span = "soon"\n', "'min_span' must be seconds or a duration"),
        (
            '[forecast]\nwindow = "12h"\n',
            "rules.toml: [forecast]: 'min_span' (24 h) must not be longer than 'window' (12 h), "
            "or no forecast would ever be known",
        ),
        ("[defaults\n", "rules.toml: not valid TOML: "),
        ("a = 1\na = 2\n", "rules.toml: not valid TOML: "),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else None,
)
def test_invalid_configs_name_file_rule_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_not_utf8() -> None:
    with pytest.raises(ConfigError, match="not UTF-8"):
        parse_config(b"\xff\xfe[defaults]", Path("r.toml"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such rules file"):
        load_config(tmp_path / "nope.toml")
    assert load_config(tmp_path / "nope.toml", required=False) == Config()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("6h", 21600),
        ("1d12h", 129600),
        ("1.5h", 5400),
        ("2H 30M", 9000),
        ("1y", 365.25 * 86400),
        ("", None),
        ("6", None),
        ("h", None),
        ("6x", None),
        ("-1h", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_forecast_keys_parse_and_inherit() -> None:
    config = parse("""
[forecast]
window = "21d"
half_life = "36h"
min_snapshots = 4
min_span = "2d"

[defaults]
min_available = 100
min_days_left = 5
cover_days = 21.5
safety_factor = 1.5

[[rule]]
name = "quiet"
match = { name = "Q*" }
min_days_left = false
cover_days = false

[[rule]]
name = "hot"
match = { name = "H*" }
min_days_left = 10
safety_factor = 2

[[rule]]
match = { id = "x" }
refill_to = 900
""")
    assert config.forecast == ForecastSettings(
        window_days=21, half_life_days=1.5, min_snapshots=4, min_span_hours=48
    )
    d = config.defaults
    assert (d.min_days_left, d.cover_days, d.safety_factor) == (5.0, 21.5, 1.5)
    quiet, hot, plain = (rule.settings for rule in config.rules)
    assert (quiet.min_days_left, quiet.cover_days, quiet.safety_factor) == (None, None, 1.5)
    assert (hot.min_days_left, hot.cover_days, hot.safety_factor) == (10.0, 21.5, 2.0)
    assert (plain.min_days_left, plain.cover_days, plain.refill_to) == (5.0, 21.5, 900)
    assert plain.min_available == 100  # the absolute threshold is kept alongside


def test_forecast_defaults() -> None:
    config = parse("")
    assert config.forecast == ForecastSettings() == ForecastSettings(14.0, 3.0, 3, 24.0)
    assert (RuleSettings().min_days_left, RuleSettings().cover_days) == (None, None)
    assert RuleSettings().safety_factor == 1.2
    assert parse("[forecast]\nwindow = 86400\nmin_span = 3600").forecast == ForecastSettings(
        window_days=1, min_span_hours=1
    )  # plain numbers are seconds, as for cooldown
    assert parse("[defaults]\nmin_days_left = 0.5\ncover_days = 1").defaults.cover_days == 1.0
    assert parse("[defaults]\ncover_days = 7\nsafety_factor = 1").defaults.safety_factor == 1.0
