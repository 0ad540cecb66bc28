"""What every route needs: the settings, the clock and one transaction per request.

Routes are thin: they parse the request, then hand one function of a session to
:meth:`WebContext.run`, which runs it inside a transaction (commit on success,
rollback on any error) and gives back its result: in a worker thread on
PostgreSQL, on the event loop on SQLite (see :meth:`WebContext.run`).  The whole
of a request's database work happens in one thread, on one connection (a new one
when the first was found dead: see :meth:`WebContext.run_sync`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from riskprompt.config.i18n import normalise_locale
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.db import is_disconnect

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Transactions a web process runs at once on PostgreSQL (each in a worker thread).
TRANSACTION_THREADS = 2
#: Receives a Telegram update (the decoded JSON of the webhook's body).
TelegramHandler = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class WebContext:
    """The web app's dependencies, built once by :func:`riskprompt.web.create_app`.

    Attributes:
        settings: the loaded settings.
        engine: the engine on the migrated database (one per process).
        clock: the clock (a fixed one in tests).
        telegram_handler: receives Telegram updates posted to the webhook, or None
            when the bot is not served by this app.
    """

    settings: Settings
    engine: Engine
    clock: Clock
    telegram_handler: TelegramHandler | None = None
    _write_lock: threading.Lock | None = field(default=None, init=False, repr=False)
    _executor: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.engine.dialect.name == "sqlite":
            # SQLite has one writer at a time, and its busy handler waits by polling
            # with growing sleeps (1, 2, 5 ... 100 ms), which shows in the tail latency.
            # This process's transactions take turns on a lock instead.
            self._write_lock = threading.Lock()
        else:
            # Every write appends to the audit chain, which takes turns on PostgreSQL.
            # Two threads overlap one transaction's round trips with the other's Python;
            # more only queue on the chain and contend for the GIL with the thread that
            # holds it (bench/inbound_bench.py, 2 web processes on 2 cores: 2 threads
            # each 500-710/s, 4 threads 480-515/s, 8 threads 340-430/s).  A plain
            # executor: handing it a call costs a third of what anyio.to_thread does.
            self._executor = ThreadPoolExecutor(
                min(self.engine.pool.size(), TRANSACTION_THREADS), thread_name_prefix="web-db"
            )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error (blocking)."""
        with self._write_lock or nullcontext(), Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def run_sync(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction in this thread and return its result.

        When the connection turns out dead before the commit (the database was
        restarted), the pool reconnects and ``work`` runs once more on a new
        connection: its first transaction was rolled back with the old one.
        """
        committing = False
        for attempt in (1, 2):
            try:
                with self.transaction() as session:
                    result = work(session)
                    committing = True  # the commit follows on leaving the block
                return result
            except DBAPIError as exc:
                if attempt == 2 or committing or not is_disconnect(exc):
                    raise
                log.warning("the database connection was lost; trying again on a new one")
        raise AssertionError("unreachable")

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a transaction and return its result.

        On PostgreSQL it runs in a worker thread (several at once).  On SQLite,
        where transactions take turns anyway, it runs on the event loop, like the
        bot's turns: a short synchronous step (about 2 ms for an acknowledgement)
        costs less there than handing it to a thread, whose every SQLite call
        would then wait for the loop's thread to give back the GIL.

        Raises:
            Whatever ``work`` raises (the transaction is rolled back first).
        """
        if self._write_lock is not None:
            return self.run_sync(work)
        # The thread sees this task's context variables (the reader's locale), as with anyio.
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, context.run, self.run_sync, work
        )

    async def run_blocking(self, call: Callable[[], T]) -> T:
        """Run a blocking ``call()`` (outside any transaction) in a worker thread."""
        return await anyio.to_thread.run_sync(call)


def web_context(request: Request) -> WebContext:
    """The context of the app serving ``request`` (a FastAPI dependency)."""
    context = request.app.state.context
    assert isinstance(context, WebContext)
    return context


def accepted_locale(header: str | None) -> str | None:
    """The first supported locale of an ``Accept-Language`` header (by weight), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header[:512].split(",")):
        tag, _sep, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag:
            ranked.append((-weight, index, tag.strip()))
    for negative_weight, _index, tag in sorted(ranked):
        if negative_weight >= 0:  # q=0: "not this one"
            continue
        locale = normalise_locale(tag) or normalise_locale(tag.split("-")[0].split("_")[0])
        if locale is not None:
            return locale
    return None


def reader_locale(request: Request, fallback: str | None = None) -> str:
    """The language to answer ``request`` in.

    ``Accept-Language`` first, then ``fallback`` (the officer's or the person's
    locale), then the configured default.
    """
    chosen = accepted_locale(request.headers.get("accept-language"))
    if chosen is None:
        chosen = normalise_locale(fallback) or normalise_locale(
            getattr(request.state, "reader_locale", None)
        )
    return chosen or web_context(request).settings.LOCALE
