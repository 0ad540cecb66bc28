"""The clock, injected everywhere so that tests and ``--at`` can move time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current moment (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """The current moment in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current moment in UTC."""
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that stands still until moved (tests, ``tick --at``)."""

    current: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 1, 0, tzinfo=UTC))

    def __post_init__(self) -> None:
        if self.current.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")

    def now(self) -> datetime:
        """The moment the clock was set to."""
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta``; returns the new moment."""
        self.current = self.current + delta
        return self.current
