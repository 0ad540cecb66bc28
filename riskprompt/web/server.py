"""Serving the web app with uvicorn, alone (``riskprompt web``) or inside ``riskprompt run``."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

from riskprompt.logs import install_link_filters

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a new event loop: uvloop's when it is installed.

    uvloop (``uvicorn[standard]``) runs the loop's I/O in C; with httptools, which
    uvicorn then parses HTTP with, a request costs the web app less CPU.
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is not built for Windows
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to its host.

    ``riskprompt run`` stops the scheduler, the dispatcher, the bot and the web
    server in order on one signal; uvicorn's own handlers would take the signal
    for themselves.  The host sets :attr:`should_exit` instead.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: the host handles the signals."""
        yield


def make_server(
    app: FastAPI, *, host: str, port: int, embedded: bool = False, access_log: bool = True
) -> uvicorn.Server:
    """A uvicorn server for ``app``; logging is left to the process's own configuration.

    The access log never holds a link's token: its logger gets a
    :class:`~riskprompt.logs.LinkPathFilter` (``/ack/<redacted>``).

    Args:
        app: the app from :func:`riskprompt.web.create_app`.
        host: the address to listen on.
        port: the port (0: any free one).
        embedded: leave the signals to the host (see :class:`EmbeddedServer`).
        access_log: log one line per request (``uvicorn.access`` at INFO).
    """
    install_link_filters()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=access_log,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
    )
    return (EmbeddedServer if embedded else uvicorn.Server)(config)
