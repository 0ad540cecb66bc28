"""Quiet hours: non-urgent messages wait for the morning in the reader's time zone.

The dispatcher asks :func:`held_until` of every claimed delivery; a held one goes
back to the outbox due at the end of the quiet hours (no attempt counted), so a
reminder worked out at 23:00 reaches its reader at 08:00, and a red warning goes
at once.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def reader_zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    """The reader's time zone, or ``default`` when theirs is unset or unknown."""
    if not name:
        return default
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default


def held_until(
    moment: datetime, *, zone: ZoneInfo, quiet: tuple[time, time] | None
) -> datetime | None:
    """When a non-urgent message due at ``moment`` may go, if not now.

    Args:
        moment: an aware moment (the dispatcher's now).
        zone: the reader's time zone.
        quiet: (start, end) local times; a start after the end spans midnight
            (22:00-08:00); None means no quiet hours.

    Returns:
        None when ``moment`` is outside the quiet hours; otherwise the aware moment
        (in ``zone``) at which they end.
    """
    if quiet is None:
        return None
    start, end = quiet
    local = moment.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    if start < end:
        if not start <= now < end:
            return None
        day = local.date()
    else:
        if end <= now < start:
            return None
        day = local.date() + timedelta(days=1) if now >= start else local.date()
    return datetime.combine(day, end, tzinfo=zone)
