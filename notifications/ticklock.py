"""One instance at a time per scheduler tick: PostgreSQL advisory locks.

Several instances may run the scheduler (``riskprompt run --role scheduler``,
or ``--role all`` on every machine).  The work of each tick is idempotent by
construction (one monthly prompt per person, post and period; a special prompt
expanded once), so a tick run twice creates nothing twice; the lock keeps two
instances from doing the same tick *at the same moment*, contending for the
same rows and logging the same work twice.

Each tick first takes a session-level advisory lock named after its job
(``pg_try_advisory_lock``) on a connection of its own, held while the tick
runs; an instance that does not get it skips that tick (the holder is doing
the work).  The planner commits in chunks, so a transaction-level lock would
not cover it.  A process that dies drops its connection, and PostgreSQL drops
the lock with it.  SQLite serves a single instance: there every tick leads.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

T = TypeVar("T")


def lock_key(name: str) -> int:
    """The advisory lock's 64-bit key for the tick ``name`` (stable across versions)."""
    digest = hashlib.sha256(f"riskprompt:tick:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class TickLock:
    """The cluster-wide lock of one tick; :meth:`acquire` never waits.

    Args:
        engine: the database; on anything but PostgreSQL the lock is always granted.
        name: the tick's name (the scheduler job's id).
    """

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self.key = lock_key(name)
        self._connection: Connection | None = None

    @property
    def shared(self) -> bool:
        """Whether other instances can share this database (and so the lock matters)."""
        return self.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        """Take the lock if nobody holds it.

        Returns:
            True when this instance now leads the tick.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database did not answer.
        """
        if not self.shared:
            return True
        connection = self.engine.connect()
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar_one()
            connection.commit()  # ends the transaction; the session's lock stays
        except BaseException:
            connection.close()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        """Give the lock back (a connection that cannot unlock is dropped, and the lock too)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            connection.commit()
        except SQLAlchemyError:
            log.warning("could not unlock tick %s; dropping its connection instead", self.name)
            connection.invalidate()
        finally:
            connection.close()


@contextmanager
def leading(engine: Engine, name: str) -> Iterator[bool]:
    """Hold the lock of tick ``name`` for the block (blocking).

    Yields:
        True when this instance leads the tick; False when another one holds it
        (the block should then skip the work).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database did not answer.
    """
    lock = TickLock(engine, name)
    got = lock.acquire()
    try:
        yield got
    finally:
        if got:
            lock.release()


@asynccontextmanager
async def leading_async(engine: Engine, name: str) -> AsyncIterator[bool]:
    """:func:`leading` for the event loop: the database calls run in a thread."""
    lock = TickLock(engine, name)
    got = await asyncio.to_thread(lock.acquire)
    try:
        yield got
    finally:
        if got:
            await asyncio.to_thread(lock.release)


def led(name: str) -> Callable[[Callable[..., Awaitable[T]]], Callable[..., Awaitable[T | None]]]:
    """Make a scheduler job run only on the instance that takes tick ``name``'s lock.

    The job must take the database as the keyword argument ``engine``.  When
    another instance holds the lock the job is skipped (logged at INFO) and
    returns None.

    Args:
        name: the tick's name, usually the job's id.

    Returns:
        The decorator.
    """

    def decorate(job: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T | None]]:
        @functools.wraps(job)
        async def wrapper(*args: Any, engine: Engine, **kwargs: Any) -> T | None:
            async with leading_async(engine, name) as leads:
                if not leads:
                    log.info("tick %s skipped: another instance is running it", name)
                    return None
                return await job(*args, engine=engine, **kwargs)

        return wrapper

    return decorate


__all__ = ["TickLock", "leading", "leading_async", "led", "lock_key"]
