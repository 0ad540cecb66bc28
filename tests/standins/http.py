"""The common part of the HTTP stand-ins: an aiohttp.web app on 127.0.0.1, ephemeral port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web


class HttpStandin:
    """An aiohttp.web server started inside the running loop; subclasses add the routes.

    Use ``async with Standin() as server:`` or ``await server.start()`` /
    ``await server.stop()``; ``server.url`` is ``http://127.0.0.1:<port>``.
    """

    def __init__(self) -> None:
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None

    def routes(self, app: web.Application) -> None:
        """Add the stand-in's routes to ``app``."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        """Listen on 127.0.0.1 and a free port (the same port again after :meth:`down`)."""
        app = web.Application()
        self.routes(app)
        if self._changed is None:
            self._changed = asyncio.Condition()
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock, backlog=1024).start()
        return self

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def down(self) -> None:
        """An outage: stop listening (connections are refused) until :meth:`up`."""
        await self.stop()

    async def up(self) -> None:
        """End an outage: listen again on the same port."""
        if self._runner is None:
            await self.start()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _notify(self) -> None:
        """Wake whoever waits for a recorded call."""
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (checked after each recorded call).

        Raises:
            TimeoutError: it did not hold within ``timeout`` seconds.
        """
        if self._changed is None:
            raise RuntimeError("the stand-in is not started")
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)
