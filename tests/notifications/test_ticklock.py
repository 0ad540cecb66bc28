"""Scheduler ticks are led through a PostgreSQL advisory lock: one instance at a time.

Another instance is played by a second connection holding the tick's lock;
on SQLite (one instance) every tick leads.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from riskprompt.cli.app import app
from riskprompt.config.settings import load_settings
from riskprompt.models import CycleRun
from riskprompt.notifications.scheduler import MONTHLY_JOB, monthly_job
from riskprompt.notifications.ticklock import TickLock, leading, lock_key
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit
from tests.conftest import BACKENDS

ON_POSTGRES = pytest.mark.parametrize(
    "database", [b for b in BACKENDS if b == "postgres"], indirect=True
)
ON_SQLITE = pytest.mark.parametrize(
    "database", [b for b in BACKENDS if b == "sqlite"], indirect=True
)


@pytest.fixture
def staff(session: Session):
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    person = make_person(session, unit=unit, channels="email")
    assign(session, person=person, post=post, start_on=date(2026, 9, 1))
    session.commit()
    return person


class OtherInstance:
    """A second connection that holds a tick's lock, as another machine's scheduler would."""

    def __init__(self, engine, name: str) -> None:
        self.connection = engine.connect()
        self.key = lock_key(name)

    def __enter__(self) -> OtherInstance:
        self.connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
        self.connection.commit()
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self.connection.commit()
        self.connection.close()


def cycle_runs(engine) -> list[str]:
    with Session(engine) as s:
        return [r.period for r in s.exec(select(CycleRun)).all()]


def test_lock_keys_are_stable_and_distinct():
    assert lock_key(MONTHLY_JOB) == lock_key(MONTHLY_JOB)
    assert lock_key(MONTHLY_JOB) != lock_key("special-prompts")
    assert -(2**63) <= lock_key(MONTHLY_JOB) < 2**63


def test_only_one_holder_at_a_time(engine):
    first, second = TickLock(engine, MONTHLY_JOB), TickLock(engine, MONTHLY_JOB)
    other = TickLock(engine, "special-prompts")
    try:
        assert first.acquire()
        shared = engine.dialect.name == "postgresql"
        assert second.acquire() is not shared  # SQLite: a single instance always leads
        second.release()
        assert other.acquire()  # another tick's lock is another lock
    finally:
        first.release()
        other.release()
    assert second.acquire()
    second.release()


@ON_POSTGRES
def test_a_tick_held_elsewhere_is_skipped_here_then_runs(engine, database, clock, staff, caplog):
    settings = load_settings(DATABASE_URL=database)
    with OtherInstance(engine, MONTHLY_JOB), caplog.at_level(logging.INFO):
        asyncio.run(monthly_job(engine=engine, settings=settings, clock=clock))
        with leading(engine, MONTHLY_JOB) as leads:
            assert not leads
    assert cycle_runs(engine) == []
    assert f"tick {MONTHLY_JOB} skipped: another instance is running it" in caplog.text

    asyncio.run(monthly_job(engine=engine, settings=settings, clock=clock))
    assert cycle_runs(engine) == ["2026-12"]


@ON_POSTGRES
def test_the_tick_command_skips_the_monthly_cycle_another_instance_runs(
    engine, cli, staff, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "200")
    with OtherInstance(engine, MONTHLY_JOB):
        held = cli.invoke(app, ["--locale", "en", "tick", "--at", "2026-12-01 10:00"])
    assert held.exit_code == 0, held.output
    assert "Another instance is running the monthly cycle; skipped here." in held.output
    assert cycle_runs(engine) == []

    free = cli.invoke(app, ["--locale", "en", "tick", "--at", "2026-12-01 10:00"])
    assert free.exit_code == 0, free.output
    assert "Monthly cycle 2026-12" in free.output
    assert sorted(cycle_runs(engine)) == ["2026-09", "2026-10", "2026-11", "2026-12"]


@ON_SQLITE
def test_the_sqlite_single_instance_always_leads(engine, clock, staff, database):
    settings = load_settings(DATABASE_URL=database)
    asyncio.run(monthly_job(engine=engine, settings=settings, clock=clock))
    assert cycle_runs(engine) == ["2026-12"]
