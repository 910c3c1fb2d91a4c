"""Every settings dataclass: the whole validated configuration (:class:`Config`), a coupon set's
rule (:class:`Rule`, :class:`Match`, :class:`RuleSettings`) and the parts that are not rules:
polling, forecasts, the import policy, notifications and the shop.

Plain values, checked when built, with no I/O: the pure planner and the I/O modules read them
from here and never from each other, nor from the parsers that build them
(:mod:`voucherbot.config.load` and the modules beside it).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voucherbot.codes import DEFAULT_GUESS_FLOOR, DEFAULT_GUESS_RATE, CodeSpec
from voucherbot.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_ACTIVE_STATUSES = ("active",)
#: Statuses known to mean "not running" (the sandbox's and Connectif's UI words). A status in
#: neither list is reported as unknown and treated as not active.
DEFAULT_INACTIVE_STATUSES = ("draft", "paused", "finalized", "finished", "inactive", "stopped")

#: A command imports or generates at most this many codes unless [limits] max_codes says
#: otherwise, and needs --yes above CONFIRM_ABOVE.
MAX_CODES = 10_000_000
CONFIRM_ABOVE = 1_000_000


@dataclass(frozen=True)
class PollSettings:
    """How to wait for imports: first interval, growth, longest interval, overall deadline."""

    interval: float = 2.0
    growth: float = 1.5
    max_interval: float = 60.0
    timeout: float = 1800.0

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.max_interval < self.interval or self.growth < 1:
            raise ConfigError("poll settings need 0 < interval <= max_interval and growth >= 1")
        if self.timeout <= 0:
            raise ConfigError("the poll timeout must be positive")


@dataclass(frozen=True)
class ForecastSettings:
    """How :func:`forecast` reads the history (``[forecast]`` in rules.toml)."""

    window_days: float = 14.0  #: only this much history counts
    half_life_days: float = 3.0  #: demand this old weighs half as much as demand now
    min_snapshots: int = 3  #: fewer (usable intervals + 1) gives "unknown"
    min_span_hours: float = 24.0  #: usable intervals covering less time give "unknown"

    def __post_init__(self) -> None:
        if not (0 < self.window_days < math.inf and 0 < self.half_life_days < math.inf):
            raise ValueError("window_days and half_life_days must be positive and finite")
        if self.min_snapshots < 2:
            raise ValueError("min_snapshots must be at least 2 (one interval)")
        if not 0 <= self.min_span_hours <= self.window_days * 24:
            raise ValueError("min_span_hours must be between 0 and the window")


@dataclass(frozen=True)
class ImportPolicy:
    """How imports are sent and confirmed (``[connectif]`` keys of the same names)."""

    #: POSTs of one batch at most (the first included); E0401 answers are not counted
    post_attempts: int = 3
    #: how long after the upload began an import must be listed before it counts as absent
    lookup_delay: float = 10.0
    #: how much earlier than voucherbot's mark the server may date the batch's import
    clock_skew: float = 10.0
    #: pages of GET /imports/ read, at most, to find a batch's import
    lookup_pages: int = 20
    #: Connectif lists imports newest first (undocumented; the sandbox does): then the list
    #: is read only back to the batch's mark, not to its end
    newest_first: bool = False
    #: how long Connectif's set counters may trail an import (its docs: "up to ~10 s")
    counter_lag: float = 15.0

    def __post_init__(self) -> None:
        if not 1 <= self.post_attempts <= 10:
            raise ConfigError("'post_attempts' must be between 1 and 10")
        if not 1 <= self.lookup_pages <= 1000:
            raise ConfigError("'lookup_pages' must be between 1 and 1000")
        for name in ("lookup_delay", "clock_skew", "counter_lag"):
            if not 0 <= getattr(self, name) <= 3600:
                raise ConfigError(f"'{name}' must be between 0 and 3600 seconds")


LEVELS = ("failures", "all")
NOTIFY_KEYS = ("url", "url_env", "level", "timeout", "empty_within")


@dataclass(frozen=True)
class NotifySettings:
    url: str | None = field(default=None, repr=False)  #: may hold a token: never shown
    level: str = "failures"
    timeout: float = 10.0
    #: warn (once a set a day) of a set that empties within this many seconds and that the
    #: bot will not refill; None: no such warnings
    empty_within: float | None = None


MONITOR_KEYS = ("ping_url", "ping_url_env", "timeout", "metrics_file")


@dataclass(frozen=True)
class MonitorSettings:
    """``[monitor]``: the health-check pings of ``voucherbot run`` and its metrics file."""

    ping_url: str | None = field(default=None, repr=False)  #: its path is its secret
    timeout: float = 5.0  #: seconds a ping may take, at most
    metrics_file: Path | None = None  #: Prometheus text format, for node_exporter


#: The environment variable that holds the API key when nothing says otherwise; the variable
#: named with ``_FILE`` after it may name a file that holds it instead.
API_KEY_ENV = "CONNECTIF_API_KEY"
#: A store's name: it names its ledger file and labels its metrics.
STORE_NAME = r"[a-z0-9][a-z0-9_-]{0,39}"
STORE_KEYS = (
    "name",
    "base_url",
    "api_key_env",
    "api_key_file",
    "ledger",
    "requests_per_minute",
    "shop",
)


@dataclass(frozen=True)
class Store:
    """One ``[[store]]``: its name and the whole configuration as that store sees it (its
    address, key, budget, ledger, shop and the rules that apply to it)."""

    name: str
    config: Config


SMTP_SECURITY = ("starttls", "tls", "none")
SMTP_KEYS = ("host", "port", "security", "user", "password_env", "from", "ca_file", "timeout")
REPORT_KEYS = ("email", "notify")
SMTP_PASSWORD_ENV = "VOUCHERBOT_SMTP_PASSWORD"  # noqa: S105 - a variable's name


@dataclass(frozen=True)
class SmtpSettings:
    """``[smtp]``: the mail server the report is sent through."""

    host: str | None = None
    port: int = 587
    security: str = "starttls"  #: "starttls", "tls" (implicit, port 465) or "none"
    user: str | None = None
    password_env: str = SMTP_PASSWORD_ENV  #: the password is read from this variable
    sender: str | None = None  #: the From address (the key ``from``)
    ca_file: Path | None = None  #: certificates to trust besides the system's
    timeout: float = 30.0


@dataclass(frozen=True)
class ReportSettings:
    """``[report]``: where ``voucherbot report`` also sends the report."""

    email: tuple[str, ...] = ()  #: mail it to these addresses (through [smtp])
    notify: bool = False  #: post what needs a person to the [notify] webhook


# --- the shop ([shop], a rule's ``shop``) ------------------------------------------------------

SOURCES = ("generate", "pool")
SINK_KINDS = ("none", "file", "command", "webhook", "woocommerce", "shopify")


@dataclass(frozen=True)
class SinkSettings:
    kind: str = "none"
    directory: Path | None = None  #: file sink (parse_sink resolves it against base_dir)
    command: tuple[str, ...] = ()  #: command sink: argv
    timeout: float = 60.0  #: command: run time limit; webhook: read timeout per request
    url: str | None = None  #: webhook sink; woocommerce: the store's address
    secret_env: str | None = None  #: webhook, woocommerce: the variable holding the secret
    chunk_size: int = 1000  #: webhook, woocommerce: codes per request
    retries: int = 4  #: webhook, woocommerce: retries of a request after 5xx, 429, network
    template: str | None = None  #: woocommerce: the coupon whose rules new codes copy
    key_env: str | None = None  #: woocommerce: the variable holding the consumer key
    store_domain: str | None = None  #: shopify: <store>.myshopify.com
    discount_id: str | None = (
        None  #: shopify: the code discount (gid://shopify/DiscountCodeNode/..)
    )
    token_env: str | None = None  #: shopify: the variable holding the Admin API access token
    api_version: str = "2025-10"  #: shopify: the Admin API version
    api_url: str | None = None  #: shopify: another origin for the API (a local server)
    job_timeout: float = 300.0  #: shopify: seconds to wait for a bulk creation to be done


@dataclass(frozen=True)
class ShopSettings:
    """Where a set's codes come from, and the sink that registers generated ones."""

    source: str = "generate"
    sink: SinkSettings = field(default_factory=SinkSettings)
    pool: Path | None = None  #: the pool directory (source = "pool")

    @property
    def registers_codes(self) -> bool:
        """False when generated codes reach Connectif without the shop hearing of them."""
        return self.source == "pool" or self.sink.kind != "none"

    def describe(self) -> str:
        if self.source == "pool":
            return f"codes from the shop's pool in {self.pool}"
        if self.sink.kind == "none":
            return "codes NOT registered with the shop (no [shop] sink)"
        program = self.sink.command[0] if self.sink.command else "?"
        return {
            "file": f"codes written for the shop to {self.sink.directory}",
            "command": f"codes handed to the shop by {program}",
            "webhook": "codes sent to the shop's webhook",
            "woocommerce": f"codes created as WooCommerce coupons like {self.sink.template!r}",
            "shopify": f"codes added to the Shopify discount {self.sink.discount_id}",
        }[self.sink.kind]


# --- the rules and the whole configuration ------------------------------------------------


@dataclass(frozen=True)
class RuleSettings:
    """What applies to one coupon set, after a rule's keys are laid over ``[defaults]``."""

    enabled: bool = True
    min_available: int | None = 500
    min_available_percent: float | None = None
    refill_to: int = 5000
    max_per_run: int = 50_000
    require_active_workflow: bool = True
    cooldown: float = 0.0  #: seconds between two refills of the same set
    code: CodeSpec = field(default_factory=CodeSpec)
    #: also refill when the forecast says the set empties within this many days
    min_days_left: float | None = None
    #: with a known forecast, refill enough for this many days of demand (instead of refill_to)
    cover_days: float | None = None
    safety_factor: float = 1.2  #: cover_days demand is multiplied by this
    #: where the codes come from and how the shop hears of them ([shop], a rule's ``shop``)
    shop: ShopSettings = field(default_factory=ShopSettings)

    def threshold(self, quantity: int | None) -> int:
        """Refill when ``available`` is below this many codes."""
        if self.min_available_percent is not None:
            return math.ceil((quantity or 0) * self.min_available_percent / 100)
        return self.min_available or 0


@dataclass(frozen=True)
class Match:
    """Which sets a rule is for: an exact ``id`` or a case-insensitive ``name`` glob."""

    id: str | None = None
    name: str | None = None

    def matches(self, set_id: str, set_name: str) -> bool:
        if self.id is not None:
            return set_id == self.id
        return self.name is not None and fnmatch.fnmatchcase(
            set_name.casefold(), self.name.casefold()
        )

    def describe(self) -> str:
        return f"id {self.id}" if self.id is not None else f"name {self.name!r}"


@dataclass(frozen=True)
class Rule:
    index: int  #: 1-based position in the file
    match: Match
    settings: RuleSettings
    name: str | None = None
    store: str | None = None  #: the only store it applies to (None: every store)

    @property
    def label(self) -> str:
        return f"rule '{self.name}'" if self.name else f"rule #{self.index}"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path | None = None
    base_url: str | None = None
    requests_per_minute: int = 100
    timeout: float = 60.0
    #: seconds a whole request may take, its answer included (a trickling answer is cut off)
    request_deadline: float = 300.0
    #: answers larger than this many MB are not read
    max_response_mb: float = 64.0
    #: pages of a list (coupon sets, workflows) read before giving up on links.next
    max_pages: int = 1000
    #: the workflow field that holds its status (Connectif does not document it)
    workflow_status_field: str = "status"
    #: the ids of the active workflows, if GET /workflows/ is not to be read (None: read it)
    active_workflows: frozenset[str] | None = None
    #: at most this many codes a command (refill, a run's plan, codes generate)
    max_codes: int = MAX_CODES
    #: a command that would import or generate more codes than this needs --yes
    confirm_above: int = CONFIRM_ABOVE
    #: seconds before the first retry of a failed request; doubled each time (with jitter)
    retry_backoff: float = 1.0
    #: at most this many of our imports queued or running at once (Connectif takes ten)
    max_imports_in_flight: int = 8
    #: pages of GET /imports/ read to find other imports in flight (0: none)
    import_pages: int = 1
    active_workflow_statuses: frozenset[str] = frozenset(DEFAULT_ACTIVE_STATUSES)
    inactive_workflow_statuses: frozenset[str] = frozenset(DEFAULT_INACTIVE_STATUSES)
    poll: PollSettings = field(default_factory=PollSettings)
    #: how imports are sent and confirmed, and how long the set counters may trail them
    imports: ImportPolicy = field(default_factory=ImportPolicy)
    #: guesses per second an attacker is assumed to manage at the shop's checkout
    guess_rate: float = DEFAULT_GUESS_RATE
    #: warn when a live code could be guessed faster than this many seconds, on average
    min_guess_time: float = DEFAULT_GUESS_FLOOR
    defaults: RuleSettings = field(default_factory=RuleSettings)
    rules: tuple[Rule, ...] = ()
    #: how burn rates are read from the history ([forecast])
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    #: the ledger file as written in rules.toml (relative paths are relative to the rules file)
    ledger_path: Path | None = None
    notify: NotifySettings = field(default_factory=NotifySettings)  #: [notify]
    smtp: SmtpSettings = field(default_factory=SmtpSettings)  #: [smtp]
    report: ReportSettings = field(default_factory=ReportSettings)  #: [report]
    monitor: MonitorSettings = field(default_factory=MonitorSettings)  #: [monitor]
    #: the variable holding the API key (its ``_FILE`` twin may name a file holding it)
    api_key_env: str = API_KEY_ENV
    #: a file holding the API key (``[connectif]`` or a store's ``api_key_file``)
    api_key_file: Path | None = None
    #: the ``[[store]]`` tables; empty: one store, this configuration's
    stores: tuple[Store, ...] = ()
    #: the store this configuration is of (None: the one store of a file without [[store]])
    store: str | None = None
    digest: str = ""  #: sha256 of the file's bytes ("" for built-in defaults)

    def each_store(self) -> tuple[Store, ...]:
        """The stores to work on: the ``[[store]]`` tables, else the one this file is of."""
        return self.stores or (Store(self.store or "", self),)

    def store_named(self, name: str) -> Store:
        """The ``[[store]]`` called ``name``; a ConfigError listing them otherwise."""
        for store in self.stores:
            if store.name == name:
                return store
        known = ", ".join(s.name for s in self.stores)
        if not known:
            raise ConfigError(f"--store {name}: {self.path or 'the rules'} has no [[store]] tables")
        raise ConfigError(f"--store {name}: no such store; the stores are {known}")

    @property
    def shops(self) -> tuple[ShopSettings, ...]:
        """The shop settings of the defaults and of every rule."""
        return (self.defaults.shop, *(r.settings.shop for r in self.rules))

    @property
    def needs_workflows(self) -> bool:
        """Whether GET /workflows/ must be read: some enabled rule (or the defaults) requires
        an active workflow and no [connectif] active_workflows list says which are active."""
        if self.active_workflows is not None:
            return False
        every = [self.defaults, *(r.settings for r in self.rules)]
        return any(s.enabled and s.require_active_workflow for s in every)

    def check_count(self, count: int, what: str, *, confirmed: bool) -> None:
        """Refuse, before anything is generated, a count above [limits] max_codes, or above
        [limits] confirm_above without ``confirmed`` (--yes)."""
        if count > self.max_codes:
            raise ConfigError(
                f"{what}: {count:,} codes is above the limit of {self.max_codes:,} codes a "
                "command ([limits] max_codes in rules.toml); ask for fewer, or raise the limit"
            )
        if count > self.confirm_above and not confirmed:
            raise ConfigError(
                f"{what}: {count:,} codes is more than {self.confirm_above:,} ([limits] "
                "confirm_above); add --yes if that many are really wanted (for a cron job, "
                "raise confirm_above)"
            )

    def rule_for(self, set_id: str, set_name: str) -> tuple[Rule | None, RuleSettings]:
        """The first rule that matches the set, or None and the defaults."""
        for rule in self.rules:
            if rule.match.matches(set_id, set_name):
                return rule, rule.settings
        return None, self.defaults
