"""``[notify]``: where the run notification goes (the message: :mod:`voucherbot.report.notify`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from voucherbot.config.settings import LEVELS, NOTIFY_KEYS, NotifySettings
from voucherbot.config.tables import TableReader, hide_url, url_problem


def parse_notify(
    table: Mapping[str, Any], where: str, *, env: Mapping[str, str] | None = None
) -> NotifySettings:
    """Validate ``[notify]``; ``url_env`` is read from ``env`` (default ``os.environ``) now."""
    read = TableReader(table, where, "[notify]", NOTIFY_KEYS)
    url = read.url("url")
    name = read.string("url_env")
    if name is not None:
        if url is not None:
            raise read.fail("give either 'url' or 'url_env', not both")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise read.fail("'url_env' must be the name of an environment variable")
        url = (os.environ if env is None else env).get(name, "").strip()
        if not url:
            raise read.fail(
                f"'url_env' names {name}, which is not set or empty; set it to the "
                "webhook URL, or remove [notify]"
            )
        problem = url_problem(url)
        if problem:
            raise read.fail(f"the URL in {name} {problem}")
    if url is not None:
        hide_url(url)  # a Slack webhook's path is its token
    empty_within = read.duration("empty_within")
    if empty_within is not None and (empty_within <= 0 or url is None):
        raise read.fail(
            "'empty_within' must be a duration above 0 such as \"3d\", with the 'url' to warn at"
        )
    return NotifySettings(
        url=url,
        level=read.choice("level", LEVELS, "failures"),
        timeout=float(read.number("timeout", 10.0, above=True, maximum=300)),
        empty_within=empty_within,
    )
