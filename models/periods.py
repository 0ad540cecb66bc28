"""Periods (``YYYY-MM``): parsing, bounds and the current one in the configured time zone."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> str:
    """A period ``YYYY-MM``, checked.

    Raises:
        InvalidInput: anything else (``2026-13``, ``2026/12``, ``202612``).
    """
    value = text.strip()
    if not _PERIOD.match(value):
        raise InvalidInput(
            N_("not a period %(value)r: write it as YYYY-MM, e.g. 2026-12"), value=text
        )
    return value


def period_bounds(period: str) -> tuple[date, date]:
    """The first and the last day of ``period``.

    Raises:
        InvalidInput: the period is malformed.
    """
    year, month = (int(part) for part in parse_period(period).split("-"))
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def shift_period(period: str, months: int) -> str:
    """``period`` moved by ``months`` (negative: back).

    Raises:
        InvalidInput: the period is malformed.
    """
    year, month = (int(part) for part in parse_period(period).split("-"))
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def period_of(moment: datetime | date, settings: Settings) -> str:
    """The period a moment (read in the configured time zone) or a day falls in."""
    day = moment.astimezone(settings.zone).date() if isinstance(moment, datetime) else moment
    return f"{day.year:04d}-{day.month:02d}"


def current_period(*, clock: Clock, settings: Settings) -> str:
    """The current month in the configured time zone, as ``YYYY-MM``."""
    return period_of(clock.now(), settings)


def local_day(moment: datetime, settings: Settings) -> date:
    """The calendar day of ``moment`` in the configured time zone."""
    return moment.astimezone(settings.zone).date()
