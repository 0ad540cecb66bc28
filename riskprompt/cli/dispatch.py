"""``riskprompt dispatch`` and ``riskprompt deliveries list`` (``run`` is in :mod:`.run`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from babel.dates import format_datetime
from sqlalchemy import Engine

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.cli.listing import Column, FormatOption, Listing, WideOption, is_table, show
from riskprompt.config.i18n import _, babel_locale, format_number, ngettext
from riskprompt.config.settings import Settings
from riskprompt.logs import configure_logging
from riskprompt.models.clock import Clock
from riskprompt.models.listings import count_deliveries, page_deliveries
from riskprompt.models.people import CHANNEL_LABELS, Channel
from riskprompt.models.prompts import DELIVERY_STATUS_LABELS, DeliveryStatus
from riskprompt.models.queries import get_person
from riskprompt.notifications.dispatcher import Dispatcher, DispatchStats

log = logging.getLogger("riskprompt.run")

deliveries_app = typer.Typer(
    help=_("The outbox: deliveries and what came of them."), no_args_is_help=True
)

#: The label maps live in models/ (one per enum); these names stay for the importers.
STATUS_LABELS = DELIVERY_STATUS_LABELS


def register(app: typer.Typer) -> None:
    """Add the dispatch and deliveries commands to ``app``."""
    app.command(
        "dispatch", help=_("Send the deliveries that are due now and record what came of them.")
    )(dispatch)
    app.add_typer(deliveries_app, name="deliveries")


def worker_id() -> str:
    """This process's name in ``claimed_by``: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _configure_logging(level: int, settings: Settings) -> None:
    # Operators' log lines go to stderr (text or JSON, secrets hidden); stdout stays for
    # the command's own output.
    configure_logging(level, settings)


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
    from riskprompt.notifications.channels import build_adapters

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
    settings = context.settings
    _configure_logging(logging.WARNING, settings)
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
        Channel | None,
        params.option("--channel", read=params.channel, help=_("telegram, sms or email.")),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help=_("How many of the newest to list."))
    ] = 50,
    viewer: params.ViewerOption = None,
    wide: WideOption = False,
    output: FormatOption = None,
) -> None:
    """List the newest deliveries, then the counts by status and channel."""
    context = app_context(ctx)
    only = channel
    zone = context.settings.zone
    with context.session() as session:
        looking = get_person(session, staff_id=viewer) if viewer else None
        rows = page_deliveries(
            session, viewer=looking, failed_only=failed, channel=only, limit=limit
        ).rows
        counts = count_deliveries(session, viewer=looking, failed_only=failed, channel=only)
    listing = Listing(
        _("Failed deliveries") if failed else _("Deliveries"),
        [
            Column("id", _("ID")),
            Column("person", _("Person")),
            Column("channel", _("Channel")),
            Column("status", _("Status")),
            Column("sent", _("Sent"), keep=1),
            Column("due", _("Due"), keep=3),
            Column("attempts", _("Attempts"), keep=2, numeric=True),
            # The error is what an officer acts on: it wraps, it is never cut.
            Column("last_error", _("Last error"), keep=4, wraps=True),
            Column("provider_id", _("Provider ID"), keep=5),
        ],
        zone,
    )
    for row in rows:
        delivery, person = row.delivery, row.person
        listing.add(
            str(delivery.id),
            f"{person.name} ({person.staff_id})",
            _(CHANNEL_LABELS[Channel(delivery.channel)]),
            _(STATUS_LABELS[delivery.status]),
            delivery.sent_at,
            delivery.due_at,
            delivery.attempts,
            delivery.last_error or "",
            delivery.provider_message_id or "",
        )
    console = context.console
    total = sum(counts.values())
    footer = ngettext(
        "Listed %(shown)s of %(n)s delivery.", "Listed %(shown)s of %(n)s deliveries.", total
    ) % {"shown": format_number(len(rows)), "n": format_number(total)}
    if not is_table(output, console):
        show(listing, console, form=output, err=context.err, notes=[footer])
        return
    show(listing, console, wide=wide, form=output)

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
    console.print(footer, highlight=False)
