"""``[notify]``: where the run notification goes (the message: :mod:`voucherbot.report.notify`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from voucherbot.config.settings import LEVELS, NOTIFY_KEYS, NotifySettings
from voucherbot.config.tables import TableReader


def parse_notify(
    table: Mapping[str, Any], where: str, *, env: Mapping[str, str] | None = None
) -> NotifySettings:
    """Validate ``[notify]``; ``url_env`` is read from ``env`` (default ``os.environ``) now."""
    read = TableReader(table, where, "[notify]", NOTIFY_KEYS)
    # a Slack webhook's path is its token
    url = read.secret_url(
        "url", "url_env", os.environ if env is None else env,
        unset="; set it to the webhook URL, or remove [notify]",
    )  # fmt: skip
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
