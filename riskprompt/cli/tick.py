"""``riskprompt tick``: run, once, everything due up to now or up to ``--at``.

For deployments driven by cron instead of ``riskprompt run``, for catching up by
hand, and for checks that move the clock: with ``--at`` in the future the run
behaves exactly as if that moment had come (the clock is injected everywhere).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated

import typer
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors
from riskprompt.cli.dispatch import _configure_logging, _dispatch, _stats_line
from riskprompt.config.i18n import _, format_number
from riskprompt.config.settings import Settings
from riskprompt.context import AppContext
from riskprompt.models.clock import Clock, FixedClock
from riskprompt.models.db import session_scope
from riskprompt.models.periods import current_period, period_bounds
from riskprompt.notifications.escalation import FollowUpStats, run_follow_ups
from riskprompt.notifications.planning import expand_due_broadcasts
from riskprompt.notifications.scheduler import (
    BROADCAST_JOB,
    FOLLOW_UP_JOB,
    MONTHLY_JOB,
    catch_up,
    plan_period,
)
from riskprompt.notifications.ticklock import leading


def register(app: typer.Typer) -> None:
    """Add the tick command to ``app``."""
    app.command(
        "tick",
        help=_(
            "Run once everything due up to now (or --at): missed monthly cycles, "
            "due special prompts, reminders and escalations, and due deliveries."
        ),
    )(tick)


def monthly_cycle_due(*, clock: Clock, settings: Settings) -> bool:
    """Whether this month's monthly tick (``MONTHLY_CRON``) has come by now."""
    zone = settings.zone
    now = clock.now().astimezone(zone)
    first_day, _last_day = period_bounds(current_period(clock=clock, settings=settings))
    month_start = datetime(first_day.year, first_day.month, 1, tzinfo=zone)
    trigger = CronTrigger.from_crontab(settings.MONTHLY_CRON, timezone=zone)
    fire = trigger.get_next_fire_time(None, month_start)
    return fire is not None and fire <= now


def _monthly(context: AppContext, engine: Engine, clock: Clock) -> None:
    """Catch up missed monthly cycles and run this month's once it is due."""
    settings, console = context.settings, context.console
    for period in catch_up(engine=engine, settings=settings, clock=clock):
        console.print(_("Caught up the monthly cycle of %(period)s.") % {"period": period})
    if monthly_cycle_due(clock=clock, settings=settings):
        period = current_period(clock=clock, settings=settings)
        result = plan_period(engine=engine, settings=settings, clock=clock, period=period)
        console.print(
            _("Monthly cycle %(period)s: %(n)s new prompts.")
            % {"period": period, "n": format_number(result.prompts_created)}
        )


def follow_up_line(stats: FollowUpStats) -> str:
    """One line: the reminders, lists, escalations and flags of a follow-up run."""
    return _(
        "Reminders: %(prompts)s prompts, %(warnings)s warnings (%(skipped)s overtaken); "
        "lists to officers: %(lists)s (%(people)s people); escalations: %(escalations)s; "
        "flagged: %(flagged)s."
    ) % {
        "prompts": format_number(stats.prompt_reminders),
        "warnings": format_number(stats.warning_reminders),
        "skipped": format_number(stats.reminders_skipped),
        "lists": format_number(stats.officer_lists),
        "people": format_number(stats.people_listed),
        "escalations": format_number(stats.escalations),
        "flagged": format_number(stats.flagged),
    }


@reports_errors
def tick(
    ctx: typer.Context,
    at: Annotated[
        datetime | None,
        params.option(
            "--at",
            read=params.moment,
            help=_(
                "Run as if it were this moment, YYYY-MM-DD HH:MM in the configured time zone "
                "(default: now)."
            ),
        ),
    ] = None,
) -> None:
    """Run once everything that is due."""
    context = app_context(ctx)
    _configure_logging(logging.WARNING, context.settings)
    settings = context.settings
    clock: Clock = FixedClock(at) if at else context.clock
    engine = context.ready_engine()
    console = context.console
    # The same locks as the scheduler's ticks: another instance doing this work now
    # (PostgreSQL) means it is being done; it is idempotent anyway.
    with leading(engine, MONTHLY_JOB) as leads:
        if leads:
            _monthly(context, engine, clock)
        else:
            console.print(_("Another instance is running the monthly cycle; skipped here."))
    expanded = 0
    with leading(engine, BROADCAST_JOB) as leads, session_scope(engine) as session:
        if leads:
            expanded = expand_due_broadcasts(session, clock=clock, settings=settings)
    console.print(
        _("Special prompts fallen due: %(n)s.") % {"n": format_number(expanded)}, highlight=False
    )
    with leading(engine, FOLLOW_UP_JOB) as leads:
        follow_up = (
            run_follow_ups(engine, clock=clock, settings=settings) if leads else FollowUpStats()
        )
    console.print(follow_up_line(follow_up), highlight=False)
    stats = asyncio.run(_dispatch(engine, settings, clock, True))
    console.print(_stats_line(stats), highlight=False)
