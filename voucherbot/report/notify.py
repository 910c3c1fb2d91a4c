"""Notifications: tell a chat channel what a run did, so a failing cron job is not silent;
and the report's digest (what needs a person, the refills: :func:`attention_message`).

``[notify]`` in rules.toml names a webhook (``url``, or ``url_env``: the environment variable
that holds it, since a Slack webhook URL is itself a secret) and a ``level``:

``failures`` (default)  only runs that failed;
``all``                 also successful runs that refilled something (a run with nothing to do
                        stays quiet, so a cron job every few minutes does not flood the channel).

The message is Slack-compatible (``text`` plus Block Kit ``blocks``) and holds set names, ids,
counts, import ids and one-line failures: never codes or keys. Sending never raises: a failure
is logged as a warning naming only ``scheme://host`` of the webhook.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from voucherbot.config.settings import NotifySettings
from voucherbot.config.tables import origin, public_url, url_problem
from voucherbot.connectif.session import make_session
from voucherbot.report.attention import attention, headline
from voucherbot.report.model import Report

log = logging.getLogger("voucherbot.notify")  # its name in logs since before the subpackages

#: Slack's limits: a section's text, a header's text; items listed per section
_SECTION_CHARS, _HEADER_CHARS, _MAX_ITEMS = 2900, 150, 25


@dataclass(frozen=True)
class RunNotice:
    """What a run did, for a notification."""

    ok: bool
    #: (set name, set id, codes imported, import id or None, status text)
    refills: Sequence[tuple[str, str, int, str | None, str]]
    failures: Sequence[str]  #: one line each, no codes or keys
    source: str  #: the API base URL
    started_at: datetime  #: naive means UTC


def should_notify(settings: NotifySettings, notice: RunNotice) -> bool:
    """A URL is set, and the run failed, or the level is ``all`` and the run refilled sets."""
    if not settings.url:
        return False
    if not notice.ok:
        return True
    return settings.level == "all" and bool(notice.refills)


def slack_message(notice: RunNotice) -> dict[str, Any]:
    """The Slack-compatible message: ``text`` (the notification line) and ``blocks``."""
    title = "voucherbot: run failed" if not notice.ok else "voucherbot: run finished"
    total = sum(count for _, _, count, _, _ in notice.refills)
    parts = [f"{len(notice.refills)} set(s) refilled ({total:,} codes)"]
    if notice.failures:
        parts.append(f"{len(notice.failures)} failure(s)")
    source = public_url(notice.source)
    started = _utc(notice.started_at)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:_HEADER_CHARS]}}
    ]
    if notice.refills:
        lines = [
            f"• *{_esc(name)}* ({_code(set_id)}): {count:,} codes imported, "
            + (f"import {_code(import_id)}" if import_id else "no import")
            + f": {_esc(status)}"
            for name, set_id, count, import_id, status in notice.refills
        ]
        blocks.append(_section("Refills", lines))
    if notice.failures:
        blocks.append(_section("Failures", [f"• {_esc(line)}" for line in notice.failures]))
    if not notice.refills and not notice.failures:
        blocks.append(_section("Nothing to do", []))
    context = f"{_esc(source)} · started {started}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": f"{title}: {', '.join(parts)} ({source}, started {started})", "blocks": blocks}


def send(
    settings: NotifySettings, notice: RunNotice, *, session: requests.Session | None = None
) -> bool:
    """POST the message if :func:`should_notify`; True once the webhook answered 2xx.

    Never raises: any failure (an exception, a non-2xx answer, a timeout) is logged as a
    warning naming only the webhook's ``scheme://host``, and False is returned.
    """
    if not settings.url or not should_notify(settings, notice):
        return False
    return post(settings, slack_message(notice), "the run's outcome is unchanged", session)


def attention_message(report: Report) -> dict[str, Any]:
    """The report's digest for Slack: its headline, what needs a person, the refills."""
    items = attention(report)
    title = "voucherbot report"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_esc(headline(report))}*"}},
    ]
    for name, wanted in (("Needs a person", True), ("The bot will refill", False)):
        lines = [f"• {_esc(i.text)}" for i in items if i.needs_person is wanted]
        if lines:
            blocks.append(_section(name, lines))
    source = public_url(report.source)
    context = f"{_esc(source)} · {report.generated_text}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": f"{title}: {headline(report)} ({source})", "blocks": blocks}


def post(
    settings: NotifySettings,
    message: dict[str, Any],
    unchanged: str,
    session: requests.Session | None = None,
) -> bool:
    """POST ``message`` to the webhook; True once it answered 2xx. Never raises: a failure
    is logged as a warning naming only the webhook's ``scheme://host`` (and ``unchanged``:
    what it does not change)."""
    if not settings.url:
        return False
    where = origin(settings.url)
    if url_problem(settings.url):
        log.warning("notification to %s not sent: the webhook URL must be https://", where)
        return False
    try:
        own = session is None
        http = make_session(session)
        try:
            response = http.post(
                settings.url, json=message, timeout=settings.timeout, allow_redirects=False
            )
        finally:
            if own:
                http.close()
    except requests.Timeout:
        problem = f"no answer within {settings.timeout:g} s"
    except requests.ConnectionError:
        problem = "cannot connect"
    except Exception as exc:  # the text of a requests error holds the URL: show only the type
        problem = type(exc).__name__
    else:
        if 200 <= response.status_code < 300:
            return True
        problem = f"HTTP {response.status_code}"
    log.warning("notification to %s failed: %s; %s", where, problem, unchanged)
    return False


def empty_soon_message(
    lines: Sequence[str], source: str, when: datetime, store: str | None = None
) -> dict[str, Any]:
    """The warning of sets that empty soon and will not be refilled (one line each)."""
    title = "voucherbot: coupon sets running out" + (f" in store {store}" if store else "")
    what = f"{len(lines)} set{'s' if len(lines) != 1 else ''} will run out and not be refilled"
    context = f"{_esc(public_url(source))} · {_utc(when)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:_HEADER_CHARS]}},
        _section("Needs a person", [f"• {_esc(line)}" for line in lines]),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    return {"text": f"{title}: {what} ({public_url(source)})", "blocks": blocks}


def _section(title: str, lines: list[str]) -> dict[str, Any]:
    shown: list[str] = []
    size = len(title) + 3
    for line in lines[:_MAX_ITEMS]:
        line = line if len(line) <= 300 else line[:299] + "…"
        if size + len(line) + 1 > _SECTION_CHARS:
            break
        shown.append(line)
        size += len(line) + 1
    if len(shown) < len(lines):
        shown.append(f"… and {len(lines) - len(shown)} more")
    text = "\n".join([f"*{title}*", *shown])
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _esc(text: str) -> str:
    """Slack's three escapes, so names cannot form links or mentions."""
    return " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return "`" + _esc(text).replace("`", "'") + "`"


def _utc(when: datetime) -> str:
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")
