"""``riskprompt dispatch``, ``riskprompt deliveries list`` and ``riskprompt run``."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from babel.dates import format_datetime
from sqlalchemy import Engine

from config.i18n import N_, _, babel_locale, format_number, ngettext
from config.settings import Settings
from models.clock import Clock
from models.errors import InvalidInput
from models.people import Channel
from models.prompts import DeliveryStatus
from notifications.dispatcher import (
    Dispatcher,
    DispatchStats,
    count_deliveries,
    list_deliveries,
)
from riskprompt.cli.common import app_context, reports_errors, table

log = logging.getLogger("riskprompt.run")

deliveries_app = typer.Typer(
    help=_("The outbox: deliveries and what came of them."), no_args_is_help=True
)

STATUS_LABELS: dict[DeliveryStatus, str] = {
    DeliveryStatus.PENDING: N_("pending"),
    DeliveryStatus.SENDING: N_("sending"),
    DeliveryStatus.SENT: N_("sent"),
    DeliveryStatus.FAILED: N_("failed"),
    DeliveryStatus.CANCELLED: N_("cancelled"),
}
CHANNEL_LABELS: dict[Channel, str] = {
    Channel.TELEGRAM: N_("Telegram"),
    Channel.SMS: N_("SMS"),
    Channel.EMAIL: N_("Email"),
}


def register(app: typer.Typer) -> None:
    """Add the dispatch, deliveries and run commands to ``app``."""
    app.command(
        "dispatch", help=_("Send the deliveries that are due now and record what came of them.")
    )(dispatch)
    app.command(
        "run",
        help=_(
            "Run the scheduler, the dispatcher, the bot and the web app until SIGINT or SIGTERM."
        ),
    )(run)
    app.add_typer(deliveries_app, name="deliveries")


def worker_id() -> str:
    """This process's name in ``claimed_by``: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _configure_logging(level: int) -> None:
    # Operators' log lines go to stderr; stdout stays for the command's own output.
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # APScheduler logs every job run at INFO: a line per tick is noise.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _on_stop_signals(callback: Callable[[], None]) -> None:
    """Call ``callback`` on SIGINT and SIGTERM (where the loop supports signal handlers)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, callback)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows, threads
            pass


def _stats_line(stats: DispatchStats) -> str:
    line = _(
        "Claimed %(claimed)s: sent %(sent)s, retried %(retried)s, failed %(failed)s "
        "(fell back to another channel: %(fell_back)s); recovered after a stopped worker: "
        "%(recovered)s."
    ) % {name: format_number(value) for name, value in stats.as_dict().items()}
    extra = []
    if stats.cancelled:
        extra.append(
            _("Not sent because the prompt was withdrawn: %(n)s.")
            % {"n": format_number(stats.cancelled)}
        )
    if stats.released:
        extra.append(
            _("Given back unsent on stopping: %(n)s.") % {"n": format_number(stats.released)}
        )
    if stats.unrecorded:
        extra.append(
            _("Outcomes not recorded (database error; retried after the lease): %(n)s.")
            % {"n": format_number(stats.unrecorded)}
        )
    return " ".join([line, *extra])


async def _dispatch(
    engine: Engine, settings: Settings, clock: Clock, until_idle: bool
) -> DispatchStats:
    from notifications.channels import build_adapters

    async with Dispatcher(engine, settings, clock, build_adapters(settings), worker_id()) as d:
        # Ctrl-C: sends under way finish and are recorded, the rest go back to the outbox.
        _on_stop_signals(d.request_stop)
        return await d.drain(until_idle=until_idle)


@reports_errors
def dispatch(
    ctx: typer.Context,
    until_idle: Annotated[
        bool,
        typer.Option("--until-idle", help=_("Keep going until nothing is due now.")),
    ] = False,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            min=1,
            max=10_000,
            help=_("Deliveries claimed per pass (default: RISKPROMPT_DISPATCH_BATCH_SIZE)."),
            show_default=False,
        ),
    ] = None,
) -> None:
    """Send the deliveries that are due now and record what came of them."""
    context = app_context(ctx)
    _configure_logging(logging.WARNING)
    settings = context.settings
    if batch is not None:
        settings = settings.model_copy(update={"DISPATCH_BATCH_SIZE": batch})
    engine = context.ready_engine()
    stats = asyncio.run(_dispatch(engine, settings, context.clock, until_idle))
    context.console.print(_stats_line(stats), highlight=False)


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    """A moment in the short form of the reader's locale (the table is wide enough as it is)."""
    if value is None:
        return ""
    return format_datetime(value, "short", tzinfo=zone, locale=babel_locale())


def _parse_channel(value: str | None) -> Channel | None:
    if not value:
        return None
    channels = Channel.parse_list(value)
    if len(channels) != 1:
        raise InvalidInput(N_("name one channel: telegram, sms or email"))
    return channels[0]


@deliveries_app.command(
    "list", help=_("List the newest deliveries, then the counts by status and channel.")
)
@reports_errors
def deliveries_list(
    ctx: typer.Context,
    failed: Annotated[
        bool,
        typer.Option("--failed", help=_("Only the failed ones (no channel reached).")),
    ] = False,
    channel: Annotated[
        str | None,
        typer.Option("--channel", help=_("telegram, sms or email."), show_default=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("How many of the newest to list."))
    ] = 50,
) -> None:
    """List the newest deliveries, then the counts by status and channel."""
    context = app_context(ctx)
    only = _parse_channel(channel)
    zone = context.settings.zone
    with context.session() as session:
        rows = list_deliveries(session, failed_only=failed, channel=only, limit=limit)
        counts = count_deliveries(session, failed_only=failed, channel=only)
    out = table(
        _("Failed deliveries") if failed else _("Deliveries"),
        _("ID"),
        _("Person"),
        _("Channel"),
        _("Status"),
        _("Attempts"),
        _("Due"),
        _("Sent"),
        _("Provider ID"),
        _("Last error"),
    )
    out.columns[-1].overflow = "fold"  # the error is what an officer acts on: never cut it
    for delivery, person in rows:
        out.add_row(
            str(delivery.id),
            f"{person.name} ({person.staff_id})",
            _(CHANNEL_LABELS[Channel(delivery.channel)]),
            _(STATUS_LABELS[delivery.status]),
            format_number(delivery.attempts),
            _when(delivery.due_at, zone),
            _when(delivery.sent_at, zone),
            delivery.provider_message_id or "",
            delivery.last_error or "",
        )
    console = context.console
    console.print(out)

    channels = [c for c in Channel if any(key[1] == c.value for key in counts)]
    summary = table(
        _("Deliveries by status"), _("Status"), *(_(CHANNEL_LABELS[c]) for c in channels)
    )
    summary.add_column(_("Total"))
    for status in DeliveryStatus:
        per_channel = [counts.get((status.value, c.value), 0) for c in channels]
        if any(per_channel):
            summary.add_row(
                _(STATUS_LABELS[status]),
                *(format_number(n) for n in per_channel),
                format_number(sum(per_channel)),
            )
    if counts:
        console.print(summary)
    total = sum(counts.values())
    console.print(
        ngettext(
            "Listed %(shown)s of %(n)s delivery.", "Listed %(shown)s of %(n)s deliveries.", total
        )
        % {"shown": format_number(len(rows)), "n": format_number(total)}
    )


async def _run(
    engine: Engine, settings: Settings, clock: Clock, web_socket: socket.socket | None = None
) -> bool:
    """Run until a stop signal; False when it stopped because the web server failed."""
    from notifications.channels import build_adapters
    from notifications.scheduler import build_scheduler, catch_up
    from riskprompt.cli.web import bound_url, start_telegram, stop_telegram
    from riskprompt.web import create_app
    from riskprompt.web.server import make_server

    stop = asyncio.Event()
    _on_stop_signals(stop.set)
    worker = worker_id()
    async with Dispatcher(engine, settings, clock, build_adapters(settings), worker) as dispatcher:
        periods = await asyncio.to_thread(catch_up, engine=engine, settings=settings, clock=clock)
        scheduler = build_scheduler(
            engine=engine, settings=settings, clock=clock, dispatcher=dispatcher
        )
        scheduler.start()
        dispatcher.tick()  # what is due already goes out now, not after the first interval
        log.info(
            "riskprompt running as %s: time zone %s, monthly cycle %r, dispatch every %g s%s",
            worker,
            settings.TIMEZONE,
            settings.MONTHLY_CRON,
            settings.DISPATCH_INTERVAL_SECONDS,
            f", caught up {', '.join(periods)}" if periods else "",
        )
        # Without the web app here, a webhook (PUBLIC_URL) is served by `riskprompt web`,
        # which then runs the bot; otherwise this process runs it (polling or webhook).
        bot, handler = await start_telegram(
            settings, engine, clock, polling=True, webhook=web_socket is not None
        )
        server = None
        serving: asyncio.Task[None] | None = None
        if web_socket is not None:
            app = create_app(
                settings=settings, engine=engine, clock=clock, telegram_handler=handler
            )
            server = make_server(app, host=settings.WEB_HOST, port=settings.WEB_PORT, embedded=True)
            serving = asyncio.create_task(server.serve(sockets=[web_socket]))
            log.info("riskprompt web app at %s", bound_url(web_socket))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait(
            [stopping, *([serving] if serving else [])], return_when=asyncio.FIRST_COMPLETED
        )
        clean = stop.is_set()
        if not clean:
            failure = serving.exception() if serving and not serving.cancelled() else None
            log.error("the web server stopped by itself (%r); stopping", failure)
        stopping.cancel()
        log.info("riskprompt stopping: finishing the sends in flight")
        if server is not None and serving is not None:
            server.should_exit = True  # answers the requests under way, takes no new ones
            await asyncio.gather(serving, return_exceptions=True)
        await stop_telegram(bot)
        scheduler.pause()  # no new tick while the dispatcher winds down
        dispatcher.request_stop()
        await dispatcher.wait_idle()
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # the shutdown runs on the loop's next turn
    log.info("riskprompt stopped")
    return clean


@reports_errors
def run(
    ctx: typer.Context,
    web: Annotated[
        bool,
        typer.Option(
            "--web/--no-web",
            help=_(
                "Also serve the web app (webhooks, links, officer API) on "
                "RISKPROMPT_WEB_HOST:RISKPROMPT_WEB_PORT."
            ),
        ),
    ] = True,
) -> None:
    """Run the scheduler, the dispatcher, the bot and the web app until SIGINT or SIGTERM."""
    from riskprompt.cli.web import listen

    context = app_context(ctx)
    _configure_logging(logging.INFO)
    engine = context.ready_engine()
    settings = context.settings
    # Bound first: a port in use is said at once, before anything has started.
    web_socket = listen(settings.WEB_HOST, settings.WEB_PORT) if web else None
    try:
        clean = asyncio.run(_run(engine, settings, context.clock, web_socket))
    finally:
        if web_socket is not None:
            web_socket.close()
        context.close()
    if not clean:
        raise typer.Exit(1)
