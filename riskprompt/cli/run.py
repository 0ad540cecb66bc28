"""``riskprompt run [--role worker|scheduler|all]``: the long-running service.

- ``worker``: the dispatcher alone.  It claims due deliveries (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL), sends and records them every
  ``DISPATCH_INTERVAL_SECONDS``.  Run as many as the providers' limits allow.
- ``scheduler``: the clock alone: the catch-up at start, the monthly cycle and
  the special prompts that fall due.  Each tick is led through a PostgreSQL
  advisory lock, so schedulers on several machines never run the same tick at
  once (and the work is idempotent anyway).
- ``all`` (the default): both, plus the Telegram bot and the web app: the
  single-machine deployment.

The web app is served by ``--role all`` (unless ``--no-web``) or by
``--web`` with any role; a multi-instance deployment usually serves it with
``riskprompt web`` behind the reverse proxy.  The Telegram bot runs where the
webhook is served (``PUBLIC_URL`` set) or, polling, in ``--role all``: polling
from two processes at once is refused by Telegram.

SIGINT or SIGTERM stops it cleanly: no new claim or tick starts, sends under
way finish and are recorded, sends still waiting are given back to the outbox,
a tick under way may finish (up to :data:`SHUTDOWN_GRACE_SECONDS`; the monthly
cycle resumes where it stopped otherwise), the web server answers the requests
it has and the bot stops.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
from contextlib import AsyncExitStack
from typing import Annotated, Any

import typer
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine

from riskprompt.cli.common import app_context, reports_errors
from riskprompt.cli.dispatch import _configure_logging, _on_stop_signals, worker_id
from riskprompt.config.i18n import _
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.notifications.dispatcher import Dispatcher

log = logging.getLogger("riskprompt.run")

#: How long a stopping scheduler waits for a tick under way before leaving it.
SHUTDOWN_GRACE_SECONDS = 30.0


class RunRole(enum.StrEnum):
    """What one ``riskprompt run`` process does."""

    WORKER = "worker"
    SCHEDULER = "scheduler"
    ALL = "all"

    @property
    def dispatches(self) -> bool:
        """Whether this role sends deliveries."""
        return self in (RunRole.WORKER, RunRole.ALL)

    @property
    def schedules(self) -> bool:
        """Whether this role runs the clock's jobs."""
        return self in (RunRole.SCHEDULER, RunRole.ALL)


def register(app: typer.Typer) -> None:
    """Add the run command to ``app``."""
    app.command(
        "run",
        help=_(
            "Run the service until SIGINT or SIGTERM: the scheduler, the dispatcher, the bot "
            "and the web app (--role all), or one part of it."
        ),
    )(run)


class RunningJobs:
    """Counts the scheduler's jobs under way, so that a stop can let them finish."""

    def __init__(self, scheduler: BaseScheduler) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()
        scheduler.add_listener(
            self._on_event,
            EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED,
        )

    def _on_event(self, event: JobEvent) -> None:
        if event.code == EVENT_JOB_SUBMITTED:
            self.count += 1
            self.idle.clear()
        elif event.code != EVENT_JOB_MISSED:
            self.count = max(0, self.count - 1)
            if not self.count:
                self.idle.set()

    async def wait(self, timeout: float) -> bool:
        """Wait until no job is under way; False when ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def _catch_up(engine: Engine, settings: Settings, clock: Clock) -> list[str]:
    """The start-up catch-up, led through the monthly tick's lock (blocking)."""
    from riskprompt.notifications.scheduler import MONTHLY_JOB, catch_up
    from riskprompt.notifications.ticklock import leading

    with leading(engine, MONTHLY_JOB) as leads:
        if not leads:
            log.info("another instance is running the monthly cycle; no catch-up here")
            return []
        return catch_up(engine=engine, settings=settings, clock=clock)


async def _run(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    web_socket: socket.socket | None = None,
    role: RunRole = RunRole.ALL,
) -> bool:
    """Run ``role`` until a stop signal; False when it stopped because a part failed."""
    from riskprompt.cli.web import bound_url, start_telegram, stop_telegram
    from riskprompt.notifications.channels import build_adapters
    from riskprompt.notifications.scheduler import build_scheduler
    from riskprompt.web import create_app
    from riskprompt.web.server import make_server

    stop = asyncio.Event()
    _on_stop_signals(stop.set)
    worker = worker_id()
    async with AsyncExitStack() as stack:
        dispatcher: Dispatcher | None = None
        if role.dispatches:
            dispatcher = await stack.enter_async_context(
                Dispatcher(engine, settings, clock, build_adapters(settings), worker)
            )
        scheduler = None
        jobs: RunningJobs | None = None
        periods: list[str] = []
        if role.schedules:
            periods = await asyncio.to_thread(_catch_up, engine, settings, clock)
            scheduler = build_scheduler(
                engine=engine, settings=settings, clock=clock, dispatcher=dispatcher
            )
            jobs = RunningJobs(scheduler)
            scheduler.start()
        watched: list[asyncio.Future[Any]] = []
        if dispatcher is not None and scheduler is not None:
            dispatcher.tick()  # what is due already goes out now, not after the first interval
        elif dispatcher is not None:
            watched.append(asyncio.create_task(dispatcher.run(stop)))
        log.info(
            "riskprompt running as %s (role %s): time zone %s, monthly cycle %r, "
            "dispatch every %g s%s",
            worker,
            role.value,
            settings.TIMEZONE,
            settings.MONTHLY_CRON,
            settings.DISPATCH_INTERVAL_SECONDS,
            f", caught up {', '.join(periods)}" if periods else "",
        )
        # With a webhook (PUBLIC_URL) the bot runs where the web app is served; polling,
        # only `--role all` runs it (Telegram refuses two pollers of one bot).
        bot, handler = await start_telegram(
            settings,
            engine,
            clock,
            polling=role is RunRole.ALL,
            webhook=web_socket is not None,
        )
        server = None
        serving: asyncio.Task[None] | None = None
        if web_socket is not None:
            app = create_app(
                settings=settings, engine=engine, clock=clock, telegram_handler=handler
            )
            server = make_server(app, host=settings.WEB_HOST, port=settings.WEB_PORT, embedded=True)
            serving = asyncio.create_task(server.serve(sockets=[web_socket]))
            watched.append(serving)
            log.info("riskprompt web app at %s", bound_url(web_socket))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, *watched], return_when=asyncio.FIRST_COMPLETED)
        clean = stop.is_set()
        if not clean:
            failed = next(t for t in watched if t.done())
            failure = failed.exception() if not failed.cancelled() else None
            log.error("a part of the service stopped by itself (%r); stopping", failure)
        stopping.cancel()
        log.info("riskprompt stopping: finishing the sends in flight")
        if scheduler is not None:
            scheduler.pause()  # no new tick while the rest winds down
        if dispatcher is not None:
            dispatcher.request_stop()  # no new claim; waiting sends go back to the outbox
        if server is not None and serving is not None:
            server.should_exit = True  # answers the requests under way, takes no new ones
        stop.set()
        await asyncio.gather(*watched, return_exceptions=True)
        await stop_telegram(bot)
        if dispatcher is not None:
            await dispatcher.wait_idle()
        if scheduler is not None and jobs is not None:
            if not await jobs.wait(SHUTDOWN_GRACE_SECONDS):
                log.warning("a scheduler tick was still running at shutdown; it resumes next time")
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the shutdown runs on the loop's next turn
    log.info("riskprompt stopped")
    return clean


@reports_errors
def run(
    ctx: typer.Context,
    role: Annotated[
        RunRole,
        typer.Option(
            "--role",
            help=_(
                "worker: the dispatcher; scheduler: the clock's jobs; all: both, with the bot "
                "and the web app."
            ),
            case_sensitive=False,
        ),
    ] = RunRole.ALL,
    web: Annotated[
        bool | None,
        typer.Option(
            "--web/--no-web",
            help=_(
                "Also serve the web app (webhooks, links, officer API) on "
                "RISKPROMPT_WEB_HOST:RISKPROMPT_WEB_PORT (default: with --role all)."
            ),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the service until SIGINT or SIGTERM."""
    from riskprompt.cli.web import listen

    context = app_context(ctx)
    settings = context.settings
    _configure_logging(logging.INFO, settings)
    engine = context.ready_engine()
    serve_web = role is RunRole.ALL if web is None else web
    # Bound first: a port in use is said at once, before anything has started.
    web_socket = listen(settings.WEB_HOST, settings.WEB_PORT) if serve_web else None
    try:
        clean = asyncio.run(_run(engine, settings, context.clock, web_socket, role))
    finally:
        if web_socket is not None:
            web_socket.close()
        context.close()
    if not clean:
        raise typer.Exit(1)


__all__ = ["RunRole", "RunningJobs", "register", "run"]
