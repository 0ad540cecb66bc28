"""The clock of the service: APScheduler says *when*, the database says *what*.

Every future action is a row with a ``due_at``; the jobs here only say "do what
is due now" and are thin: open a session, call the planning or dispatch
function, log what came of it.  The schedule lives in code (no job store), so
several instances may run it: the monthly cycle is idempotent per period and
dispatch workers claim their own rows.  Each tick is also led through a
PostgreSQL advisory lock (:mod:`riskprompt.notifications.ticklock`), so two instances never
run the same tick at once.

At start-up :func:`catch_up` runs every past period whose monthly cycle never
ran (the service was down on the 1st), and says so in the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.db import session_scope
from riskprompt.notifications import escalation, planning, receipts
from riskprompt.notifications.channels.sms import provider_from_settings
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.ticklock import led

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A job that fires late (the machine slept, the loop was busy) still runs once
#: within this many seconds; older misfires are left to the next start's catch-up.
MISFIRE_GRACE_SECONDS = 3600

MONTHLY_JOB = "monthly-cycle"
DISPATCH_JOB = "dispatch"
BROADCAST_JOB = "special-prompts"
FOLLOW_UP_JOB = "follow-up"
RECEIPTS_JOB = "sms-receipts"
DINGTALK_RECEIPTS_JOB = "dingtalk-receipts"


def _in_transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    with session_scope(engine) as session:
        return work(session)


def plan_period(
    *, engine: Engine, settings: Settings, clock: Clock, period: str
) -> planning.CycleResult:
    """Run the monthly cycle of ``period`` (blocking; the cycle commits in chunks).

    Args:
        engine: the database.
        settings: the settings.
        clock: the clock.
        period: ``YYYY-MM``.

    Returns:
        The counts of what the run did.

    Raises:
        InvalidInput: ``period`` is malformed.
        sqlalchemy.exc.SQLAlchemyError: the database failed; chunks committed stay.
    """
    return planning.plan_monthly_cycle(engine, period=period, clock=clock, settings=settings)


def catch_up(*, engine: Engine, settings: Settings, clock: Clock) -> list[str]:
    """Run every past period whose monthly cycle never ran, oldest first (blocking).

    Each period is planned on its own and logged as
    ``catching up period 2026-10 (monthly cycle never ran)``; a period whose run
    was interrupted (started, never finished) is completed the same way.

    Args:
        engine: the database.
        settings: the settings.
        clock: the clock.

    Returns:
        The periods that were caught up.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed; earlier periods stay done.
    """
    with Session(engine) as session:
        periods = list(planning.missed_periods(session, clock=clock, settings=settings))
    for period in periods:
        log.warning("catching up period %s (monthly cycle never ran)", period)
        result = plan_period(engine=engine, settings=settings, clock=clock, period=period)
        log.info("period %s caught up: %d prompts created", period, result.prompts_created)
    return periods


@led(MONTHLY_JOB)
async def monthly_job(*, engine: Engine, settings: Settings, clock: Clock) -> None:
    """The monthly tick: plan the current period's prompts (idempotent per period)."""
    period = planning.current_period(clock=clock, settings=settings)
    log.info("monthly cycle for period %s", period)
    # The planner logs its counts; the thread keeps the loop (and its sends) going.
    await asyncio.to_thread(
        plan_period, engine=engine, settings=settings, clock=clock, period=period
    )


def _expand(engine: Engine, settings: Settings, clock: Clock) -> int:
    return _in_transaction(
        engine,
        lambda session: planning.expand_due_broadcasts(session, clock=clock, settings=settings),
    )


@led(BROADCAST_JOB)
async def broadcast_job(
    *, engine: Engine, settings: Settings, clock: Clock, dispatcher: Dispatcher | None = None
) -> None:
    """Expand the special prompts that have fallen due into prompts and deliveries."""
    result = await asyncio.to_thread(_expand, engine, settings, clock)
    if result:
        log.info("%d special prompts fell due and were expanded", result)
        if dispatcher is not None:
            dispatcher.tick()  # their deliveries are due now: no need to wait a tick


@led(FOLLOW_UP_JOB)
async def follow_up_job(
    *, engine: Engine, settings: Settings, clock: Clock, dispatcher: Dispatcher | None = None
) -> None:
    """Take the reminder and escalation steps that have fallen due (each once)."""
    stats = await asyncio.to_thread(
        escalation.run_follow_ups, engine, clock=clock, settings=settings
    )
    if stats.busy and dispatcher is not None:
        dispatcher.tick()  # the steps' deliveries are due now


@led(RECEIPTS_JOB)
async def receipts_job(*, engine: Engine, settings: Settings, clock: Clock) -> None:
    """Ask the SMS provider about the messages whose receipt is due (Alibaba Cloud)."""
    provider = provider_from_settings(settings)
    await provider.open()
    try:
        await receipts.poll_sms_receipts(engine, provider=provider, clock=clock, settings=settings)
    finally:
        await provider.close()


@led(DINGTALK_RECEIPTS_JOB)
async def dingtalk_receipts_job(*, engine: Engine, settings: Settings, clock: Clock) -> None:
    """Ask DingTalk (``getsendresult``) who read the work notifications whose query is due."""
    from riskprompt.notifications.channels.dingtalk import DingTalkClient, poll_dingtalk_receipts

    async with DingTalkClient.from_settings(settings, engine=engine, clock=clock) as client:
        await poll_dingtalk_receipts(engine, client=client, clock=clock, settings=settings)


async def dispatch_job(dispatcher: Dispatcher) -> None:
    """The dispatch tick: start a drain of the outbox unless one is running."""
    dispatcher.tick()


def build_scheduler(
    *,
    engine: Engine,
    settings: Settings,
    clock: Clock,
    dispatcher: Dispatcher | None = None,
) -> AsyncIOScheduler:
    """The scheduler with the monthly, special-prompt and dispatch jobs (not started).

    Jobs coalesce, never overlap themselves and still run up to an hour late.
    Start it inside the running event loop (``scheduler.start()``).

    Args:
        engine: the database.
        settings: ``TIMEZONE``, ``MONTHLY_CRON`` and ``DISPATCH_INTERVAL_SECONDS`` are read.
        clock: the clock the jobs pass to the domain (APScheduler keeps real time).
        dispatcher: an open dispatcher for the dispatch job; None leaves dispatch out.

    Returns:
        The configured scheduler.

    Raises:
        ValueError: ``MONTHLY_CRON`` is not a crontab expression.
    """
    zone = settings.zone
    scheduler = AsyncIOScheduler(
        timezone=zone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    scheduler.add_job(
        monthly_job,
        CronTrigger.from_crontab(settings.MONTHLY_CRON, timezone=zone),
        id=MONTHLY_JOB,
        name="monthly risk prompts",
        kwargs={"engine": engine, "settings": settings, "clock": clock},
    )
    interval = IntervalTrigger(seconds=settings.DISPATCH_INTERVAL_SECONDS, timezone=zone)
    scheduler.add_job(
        broadcast_job,
        interval,
        id=BROADCAST_JOB,
        name="due special prompts",
        kwargs={"engine": engine, "settings": settings, "clock": clock, "dispatcher": dispatcher},
    )
    scheduler.add_job(
        follow_up_job,
        IntervalTrigger(seconds=settings.FOLLOW_UP_INTERVAL_SECONDS, timezone=zone),
        id=FOLLOW_UP_JOB,
        name="reminders and escalation",
        kwargs={"engine": engine, "settings": settings, "clock": clock, "dispatcher": dispatcher},
    )
    if receipts.sms_receipts_polled(settings):
        scheduler.add_job(
            receipts_job,
            IntervalTrigger(seconds=settings.FOLLOW_UP_INTERVAL_SECONDS, timezone=zone),
            id=RECEIPTS_JOB,
            name="SMS delivery receipts",
            kwargs={"engine": engine, "settings": settings, "clock": clock},
        )
    if settings.dingtalk_enabled:
        scheduler.add_job(
            dingtalk_receipts_job,
            IntervalTrigger(seconds=settings.FOLLOW_UP_INTERVAL_SECONDS, timezone=zone),
            id=DINGTALK_RECEIPTS_JOB,
            name="DingTalk read receipts",
            kwargs={"engine": engine, "settings": settings, "clock": clock},
        )
    if dispatcher is not None:
        scheduler.add_job(
            dispatch_job,
            IntervalTrigger(seconds=settings.DISPATCH_INTERVAL_SECONDS, timezone=zone),
            id=DISPATCH_JOB,
            name="outbox dispatch",
            kwargs={"dispatcher": dispatcher},
        )
    return scheduler


__all__ = [
    "BROADCAST_JOB",
    "DINGTALK_RECEIPTS_JOB",
    "DISPATCH_JOB",
    "FOLLOW_UP_JOB",
    "MONTHLY_JOB",
    "RECEIPTS_JOB",
    "broadcast_job",
    "build_scheduler",
    "catch_up",
    "dingtalk_receipts_job",
    "dispatch_job",
    "follow_up_job",
    "monthly_job",
    "plan_period",
    "receipts_job",
]
