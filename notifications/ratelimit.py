"""Physical pacing of sends: messages per second per channel, and per address.

Providers count what reaches them in real time, so pacing uses the event loop's
monotonic clock, never the injected domain clock (which decides what is *due*,
not how fast it goes out).  Both pacers hand out evenly spaced slots without
bursts: with a rate of 30/s no two sends start less than 1/30 s apart, so any
one-second window holds at most 30 (+1 at its edge) sends.  Callers take turns
and each turn is measured from when the previous one actually went, so a
stalled event loop delays sends but never lets a backlog out in a burst.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class StopRequested(Exception):
    """Pacing was cut short because the dispatcher is stopping."""


async def sleep_or_stop(delay: float, stop: asyncio.Event) -> None:
    """Sleep ``delay`` seconds unless ``stop`` is set first.

    Raises:
        StopRequested: ``stop`` was set before (or while) sleeping.
    """
    if stop.is_set():
        raise StopRequested
    if delay <= 0:
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except TimeoutError:
        return
    raise StopRequested


class RatePacer:
    """At most ``rate_per_sec`` send starts per second, evenly spaced.

    Callers take turns: each waits until ``1/rate`` seconds after the previous
    caller actually went, measured when it went.  Slots are not booked ahead, so
    a stalled event loop cannot release a backlog of sends at once afterwards.

    Args:
        rate_per_sec: messages per second; None or 0 disables pacing.
    """

    def __init__(self, rate_per_sec: float | None) -> None:
        self.interval = 1.0 / rate_per_sec if rate_per_sec else 0.0
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def acquire(self, stop: asyncio.Event) -> None:
        """Wait for this caller's turn; the send should start right after.

        Raises:
            StopRequested: the dispatcher is stopping; the turn is given up.
        """
        if not self.interval:
            if stop.is_set():
                raise StopRequested
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            if self._last is not None:
                await sleep_or_stop(self._last + self.interval - loop.time(), stop)
            elif stop.is_set():
                raise StopRequested
            self._last = loop.time()


class AddressPacer:
    """At least ``interval`` seconds between two send starts to the same address.

    Sends to one address are serialised while they wait, so the interval is
    measured from the moment the previous send actually started (after any
    channel pacing or concurrency wait), not from when it was reserved.

    Args:
        interval: seconds between two messages to one address; None or 0 disables it.
    """

    def __init__(self, interval: float | None) -> None:
        self.interval = interval or 0.0
        self._next_allowed: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def turn(self, address: str, stop: asyncio.Event) -> AsyncIterator[None]:
        """Hold ``address``'s turn: wait for its interval, then run the body.

        The body is where the caller waits for its channel slot; when the body
        finishes, the address's next send is allowed ``interval`` seconds later.

        Raises:
            StopRequested: the dispatcher is stopping before the turn came.
        """
        if not self.interval:
            yield
            return
        lock = self._locks.setdefault(address, asyncio.Lock())
        async with lock:
            loop = asyncio.get_running_loop()
            await sleep_or_stop(self._next_allowed.get(address, 0.0) - loop.time(), stop)
            yield
            self._next_allowed[address] = loop.time() + self.interval

    def prune(self) -> None:
        """Forget addresses whose interval has passed and nobody waits on (bounded memory)."""
        if not self.interval:
            return
        now = asyncio.get_running_loop().time()
        for address in [a for a, t in self._next_allowed.items() if t <= now]:
            lock = self._locks.get(address)
            if lock is None or not lock.locked():
                self._next_allowed.pop(address, None)
                self._locks.pop(address, None)
