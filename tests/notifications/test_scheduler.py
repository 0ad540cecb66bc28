"""The scheduler is only a clock: its jobs, their triggers, and the catch-up at start."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models import Broadcast, CycleRun, Delivery, Prompt, PromptKind, Role
from riskprompt.notifications.planning import issue_and_expand
from riskprompt.notifications.scheduler import (
    BROADCAST_JOB,
    DISPATCH_JOB,
    FOLLOW_UP_JOB,
    MONTHLY_JOB,
    broadcast_job,
    build_scheduler,
    catch_up,
    monthly_job,
)
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit
from tests.conftest import BACKENDS

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The triggers do not touch the database: one backend is enough for them.
ONE_BACKEND = pytest.mark.parametrize("database", BACKENDS[:1], indirect=True)


class TickCounter:
    """Stands in for the dispatcher: counts the ticks it is given."""

    def __init__(self) -> None:
        self.ticks = 0

    def tick(self) -> bool:
        self.ticks += 1
        return True


@pytest.fixture
def settings(database: str) -> Settings:
    return load_settings(DATABASE_URL=database)


@pytest.fixture
def staff(session: Session):
    """A person holding a post with one risk point since September 2026."""
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    person = make_person(session, unit=unit, channels="email")
    assign(session, person=person, post=post, start_on=date(2026, 9, 1))
    session.commit()
    return person


def jobs_of(scheduler) -> dict:
    async def started() -> dict:
        scheduler.start(paused=True)  # pending jobs get their defaults on start
        try:
            return {job.id: job for job in scheduler.get_jobs()}
        finally:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)

    return asyncio.run(started())


@ONE_BACKEND
def test_jobs_run_in_the_configured_zone_with_safe_defaults(engine, settings, clock):
    scheduler = build_scheduler(
        engine=engine, settings=settings, clock=clock, dispatcher=TickCounter()
    )
    jobs = jobs_of(scheduler)

    assert set(jobs) == {MONTHLY_JOB, DISPATCH_JOB, BROADCAST_JOB, FOLLOW_UP_JOB}
    assert str(scheduler.timezone) == "Asia/Shanghai"
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == 3600
    monthly = jobs[MONTHLY_JOB].trigger
    assert isinstance(monthly, CronTrigger)
    after_the_first = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    assert monthly.get_next_fire_time(None, after_the_first) == datetime(
        2027, 1, 1, 9, 0, tzinfo=SHANGHAI
    )
    dispatch = jobs[DISPATCH_JOB].trigger
    assert isinstance(dispatch, IntervalTrigger)
    assert dispatch.interval == timedelta(seconds=settings.DISPATCH_INTERVAL_SECONDS)


@ONE_BACKEND
def test_the_monthly_cron_and_zone_are_configurable(engine, database, clock):
    settings = load_settings(
        DATABASE_URL=database, MONTHLY_CRON="30 8 5 * *", TIMEZONE="Europe/Berlin"
    )
    jobs = jobs_of(build_scheduler(engine=engine, settings=settings, clock=clock))

    assert DISPATCH_JOB not in jobs  # no dispatcher given
    berlin = ZoneInfo("Europe/Berlin")
    assert jobs[MONTHLY_JOB].trigger.get_next_fire_time(
        None, datetime(2026, 12, 1, tzinfo=berlin)
    ) == datetime(2026, 12, 5, 8, 30, tzinfo=berlin)


@ONE_BACKEND
def test_the_dispatch_tick_fires_on_the_interval(engine, settings, clock):
    settings = settings.model_copy(update={"DISPATCH_INTERVAL_SECONDS": 0.02})
    counter = TickCounter()

    async def go() -> None:
        scheduler = build_scheduler(
            engine=engine, settings=settings, clock=clock, dispatcher=counter
        )
        scheduler.remove_job(BROADCAST_JOB)
        scheduler.start()
        try:
            for _ in range(300):
                if counter.ticks >= 3:
                    return
                await asyncio.sleep(0.01)
        finally:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)

    asyncio.run(go())
    assert counter.ticks >= 3


def test_catch_up_runs_each_missed_period_once_and_says_so(engine, settings, clock, staff, caplog):
    clock.current = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    with caplog.at_level(logging.INFO, logger="riskprompt.notifications.scheduler"):
        periods = catch_up(engine=engine, settings=settings, clock=clock)

    assert periods == ["2026-09", "2026-10", "2026-11"]
    assert "catching up period 2026-10 (monthly cycle never ran)" in caplog.text
    with Session(engine) as s:
        runs = s.exec(select(CycleRun).order_by(col(CycleRun.period))).all()
        prompts = s.exec(select(Prompt.period).where(Prompt.person_id == staff.id)).all()
    assert [r.period for r in runs] == periods and all(r.finished_at for r in runs)
    assert sorted(prompts) == periods

    assert catch_up(engine=engine, settings=settings, clock=clock) == []


def test_the_monthly_job_plans_the_current_period(engine, settings, clock, staff):
    asyncio.run(monthly_job(engine=engine, settings=settings, clock=clock))
    asyncio.run(monthly_job(engine=engine, settings=settings, clock=clock))  # idempotent

    with Session(engine) as s:
        [prompt] = s.exec(select(Prompt).where(Prompt.person_id == staff.id)).all()
        [delivery] = s.exec(select(Delivery).where(Delivery.prompt_id == prompt.id)).all()
    assert prompt.kind is PromptKind.MONTHLY and prompt.period == "2026-12"
    assert delivery.channel == "email" and delivery.due_at == clock.now()


def test_the_broadcast_job_expands_special_prompts_when_due(
    engine, settings, clock, session, staff
):
    officer = make_person(session, unit=make_unit(session), role=Role.OFFICER)
    broadcast = issue_and_expand(
        session,
        actor=officer,
        target=f"person:{staff.staff_id}",
        text="节前廉洁提醒",
        at=clock.now() + timedelta(hours=2),
        clock=clock,
        settings=settings,
    )
    session.commit()
    counter = TickCounter()

    asyncio.run(broadcast_job(engine=engine, settings=settings, clock=clock, dispatcher=counter))
    assert counter.ticks == 0
    clock.advance(timedelta(hours=2))
    asyncio.run(broadcast_job(engine=engine, settings=settings, clock=clock, dispatcher=counter))

    assert counter.ticks == 1  # its deliveries are due now: dispatch at once
    with Session(engine) as s:
        assert s.get(Broadcast, broadcast.id).status == "expanded"
        [prompt] = s.exec(select(Prompt).where(Prompt.broadcast_id == broadcast.id)).all()
        assert s.exec(select(Delivery).where(Delivery.prompt_id == prompt.id)).one()
