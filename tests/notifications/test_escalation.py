"""Reminders and escalation with an injected clock: prompts, warnings, quiet hours, downtime."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, acknowledge_prompt
from riskprompt.models.warnings import (
    Warning,
    WarningColour,
    WarningStatus,
    deadline_on,
    issue_warning,
    review_rectification,
    submit_rectification,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.escalation import run_follow_ups, warning_steps
from riskprompt.notifications.notices import expand_all
from riskprompt.notifications.planning import issue_and_expand, plan_monthly_cycle
from riskprompt.notifications.quiet import held_until
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: 2026-12-20 09:00 in Shanghai: the steps below cross the month's end.
START = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        LOCAL_CHANNEL="file",
        OUTBOX_DIR=tmp_path / "outbox",
        RATE_LIMITS=False,
        QUIET_HOURS="22:00-08:00",
    )


@pytest.fixture
def start() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def org(session: Session) -> dict[str, Any]:
    """A city with a district: the officer sits in the city, the clerk in the district."""
    city = make_unit(session, name="市纪委")
    district = make_unit(session, name="财政局", parent=city)
    officer = make_person(session, unit=city, staff_id="JJ001", role=Role.OFFICER, channels="email")
    boss = make_person(session, unit=district, staff_id="CZ001", name="张局长", channels="email")
    clerk = make_person(session, unit=district, staff_id="CW001", name="王出纳", supervisor=boss)
    clerk.telegram_chat_id = 1001
    session.add(clerk)
    session.commit()
    return {"officer": officer, "boss": boss, "clerk": clerk}


def follow_up(engine: Engine, clock: FixedClock, settings: Settings, at: datetime) -> Any:
    """One follow-up, then what the dispatcher's next pass does first: expand the notices."""
    clock.current = at
    stats = run_follow_ups(engine, clock=clock, settings=settings)
    expand(engine, clock, settings)
    return stats


def expand(engine: Engine, clock: FixedClock, settings: Settings) -> int:
    return expand_all(
        lambda: Session(engine, expire_on_commit=False), now=clock.now(), settings=settings
    )


def deliveries(session: Session, **where: Any) -> list[Delivery]:
    session.expire_all()
    query = select(Delivery).order_by(col(Delivery.id))
    for name, value in where.items():
        query = query.where(getattr(Delivery, name) == value)
    return list(session.exec(query).all())


def audit_actions(session: Session) -> Counter[str]:
    return Counter(session.exec(select(AuditEvent.action)).all())


def special_prompt(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> Prompt:
    issue_and_expand(
        session,
        actor=org["officer"],
        target="person:CW001",
        text="年底资金支付请严格执行双人审核。",
        clock=clock,
        settings=settings,
    )
    session.commit()
    return session.exec(select(Prompt)).one()


# -- prompts ------------------------------------------------------------------------------


def test_unacknowledged_prompt_is_resent_on_the_next_channels_then_listed_to_the_officer(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    prompt = special_prompt(session, org, start, settings)
    assert prompt.remind_at == START + timedelta(hours=24)
    clerk = org["clerk"]

    assert not follow_up(engine, start, settings, START + timedelta(hours=23)).busy
    first = follow_up(engine, start, settings, START + timedelta(hours=24))
    assert first.prompt_reminders == 1
    second = follow_up(engine, start, settings, START + timedelta(hours=48))
    assert second.prompt_reminders == 1
    listed = follow_up(engine, start, settings, START + timedelta(hours=72))
    assert (listed.prompt_reminders, listed.officer_lists, listed.people_listed) == (0, 1, 1)
    assert not follow_up(engine, start, settings, START + timedelta(days=30)).busy

    mine = deliveries(session, person_id=clerk.id)
    # first on chat, then SMS, then email: the next channel each time
    assert [d.channel for d in mine] == ["telegram", "sms", "email"]
    assert [d.idempotency_key for d in mine[1:]] == [
        f"p{prompt.id}-sms-rem1",
        f"p{prompt.id}-email-rem2",
    ]
    assert "P" + str(prompt.id) in mine[1].body and "提醒" in mine[1].body
    assert mine[2].subject.startswith("提醒 2")
    assert "/ack/" in mine[2].body
    [listing] = deliveries(session, person_id=org["officer"].id)
    assert listing.channel == "email" and listing.prompt_id is None
    assert "王出纳 (CW001)" in listing.body and "1 人未确认" in listing.subject
    actions = audit_actions(session)
    assert actions["prompt.reminded"] == 2
    assert actions["prompt.unacknowledged_reported"] == 1


def test_an_acknowledged_prompt_is_not_followed_up(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    prompt = special_prompt(session, org, start, settings)
    acknowledge_prompt(session, prompt=prompt, actor=org["clerk"], clock=start, via="cli")
    session.commit()
    assert not follow_up(engine, start, settings, START + timedelta(days=10)).busy
    assert len(deliveries(session)) == 1


def test_the_officers_list_counts_people_not_prompts(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, tmp_path: Path
) -> None:
    quick = load_settings(LOCAL_CHANNEL="file", OUTBOX_DIR=tmp_path / "outbox", PROMPT_REMINDERS=0)
    for text in ("年底资金支付请严格执行双人审核。", "请按时报送自查表。", "节前廉洁提醒。"):
        issue_and_expand(
            session,
            actor=org["officer"],
            target="person:CW001",
            text=text,
            clock=start,
            settings=quick,
        )
    session.commit()
    prompts = session.exec(select(Prompt).order_by(col(Prompt.id))).all()
    assert len(prompts) == 3
    stats = follow_up(engine, start, quick, START + timedelta(hours=24))
    assert (stats.officer_lists, stats.people_listed) == (1, 3)
    [listing] = deliveries(session, person_id=org["officer"].id)
    assert "1 人未确认" in listing.subject  # one person, with three prompts
    assert listing.extra["unacknowledged"] == 1 and listing.extra["prompts"] == 3
    [line] = [row for row in listing.body.splitlines() if "王出纳 (CW001)" in row]
    assert all(f"[P{p.id}]" in line for p in prompts)
    assert listing.body.count("王出纳") == 1


def test_a_monthly_prompt_is_listed_to_the_officers_of_the_unit_above(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    from riskprompt.models.catalog import Unit

    unit = session.get(Unit, org["clerk"].unit_id)
    assert unit is not None
    post = make_post(session, unit=unit, name="出纳岗")
    make_risk_point(session, post=post)
    assign(session, person=org["clerk"], post=post)
    session.commit()
    plan_monthly_cycle(engine, period="2026-12", clock=start, settings=settings)
    quick = load_settings(LOCAL_CHANNEL="file", OUTBOX_DIR=settings.OUTBOX_DIR, PROMPT_REMINDERS=0)
    stats = follow_up(engine, start, quick, START + timedelta(hours=24))
    assert (stats.prompt_reminders, stats.officer_lists) == (0, 1)
    [listing] = deliveries(session, person_id=org["officer"].id)
    assert "王出纳" in listing.body


# -- warnings -----------------------------------------------------------------------------


def issue(
    session: Session,
    org: dict[str, Any],
    clock: FixedClock,
    settings: Settings,
    colour: str,
    **kw: Any,
) -> Warning:
    warning = issue_warning(
        session,
        actor=org["officer"],
        person=kw.pop("person", org["clerk"]),
        colour=colour,
        form="correct",
        reason="采购审批未经集体研究",
        clock=clock,
        settings=settings,
        **kw,
    )
    session.commit()
    expand(session.get_bind(), clock, settings)  # type: ignore[arg-type]
    return warning


def test_a_silent_warning_reminds_escalates_across_the_month_end_and_is_flagged(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, start, settings, "yellow")
    assert warning.deadline == deadline_on(START + timedelta(days=15), settings)  # 2027-01-04
    seen: list[tuple[int, str]] = []
    for day in range(0, 45):
        stats = follow_up(engine, start, settings, START + timedelta(days=day, hours=1))
        for name, value in stats.as_dict().items():
            seen.extend([(day, name)] * value)
    # Deadlines end whole days (23:59:59 in Shanghai); the follow-up ticks at 09:00,
    # so each step is taken on the morning after the moment it falls due.
    assert seen == [
        (13, "warning_reminders"),
        (15, "warning_reminders"),
        (16, "escalations"),  # yellow → orange, deadline the end of the day 10 days on
        (24, "warning_reminders"),
        (26, "warning_reminders"),
        (27, "escalations"),  # orange → red, deadline the end of the day 5 days on
        (30, "warning_reminders"),
        (32, "warning_reminders"),
        (33, "flagged"),
    ]
    session.refresh(warning)
    assert warning.colour is WarningColour.RED and warning.escalations == 2
    assert warning.flagged_at == START + timedelta(days=33, hours=1)
    assert warning.next_step_at is None
    keys = [d.idempotency_key for d in deliveries(session)]
    w = warning.id
    assert keys == [
        f"w{w}-telegram",
        f"w{w}-telegram-rm0.1",
        f"w{w}-telegram-rm0.2",
        f"w{w}-telegram-esc1",
        f"w{w}-sms-esc1",
        f"w{w}-email-esc1",
        f"w{w}-email-esc1-sup",
        f"w{w}-email-esc1-off",
        *(f"w{w}-{c}-rm1.{n}" for n in (1, 2) for c in ("telegram", "sms", "email")),
        f"w{w}-telegram-esc2",
        f"w{w}-sms-esc2",
        f"w{w}-email-esc2",
        f"w{w}-email-esc2-sup",
        f"w{w}-email-esc2-off",
        *(f"w{w}-{c}-rm2.{n}" for n in (1, 2) for c in ("telegram", "sms", "email")),
        f"w{w}-email-flag-off",
        f"w{w}-email-flag-sup",  # the supervisor hears of the flag too
    ]
    officer_notice = deliveries(session, idempotency_key=f"w{w}-email-esc1-off")[0]
    assert "由黄色升级为橙色" in officer_notice.body
    assert "您是向王出纳 (CW001)发出该预警的监督人员" in officer_notice.body
    flag = deliveries(session, idempotency_key=f"w{w}-email-flag-off")[0]
    assert "纪律" in flag.subject
    actions = audit_actions(session)
    assert (actions["warning.reminded"], actions["warning.escalated"]) == (6, 2)
    assert actions["warning.flagged"] == 1


def test_after_a_ten_day_outage_each_step_happens_once_in_order(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, start, settings, "yellow", deadline=START + timedelta(days=5))
    prompt = special_prompt(session, org, start, settings)
    follow_up(engine, start, settings, START)  # plans the steps; nothing is due yet
    back = START + timedelta(days=10)
    stats = follow_up(engine, start, settings, back)
    assert stats.reminders_skipped == 2  # 3 and 1 day before a deadline long gone
    assert (stats.warning_reminders, stats.escalations, stats.flagged) == (0, 1, 0)
    assert stats.prompt_reminders == 1  # one reminder, not ten days' worth
    for _ in range(3):  # ticks at the same moment find nothing more to do
        assert not follow_up(engine, start, settings, back).busy
    session.refresh(warning)
    session.refresh(prompt)
    assert warning.colour is WarningColour.ORANGE
    assert warning.deadline == deadline_on(back + timedelta(days=10), settings)
    assert prompt.remind_at == back + timedelta(hours=24)
    events = session.exec(
        select(AuditEvent.action)
        .where(col(AuditEvent.subject_type) == "warning", col(AuditEvent.subject_id) == warning.id)
        .order_by(col(AuditEvent.id))
    ).all()
    assert events == [
        "warning.issued",
        "warning.reminder_skipped",
        "warning.reminder_skipped",
        "warning.escalated",
    ]


def test_a_correction_under_review_is_not_overdue_and_a_late_rejection_gives_time_again(
    engine: Engine, session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, start, settings, "yellow", deadline=START + timedelta(days=5))
    rectification = submit_rectification(
        session,
        warning=warning,
        actor=org["clerk"],
        description="已完成整改",
        evidence=[],
        clock=start,
    )
    session.commit()
    assert not follow_up(engine, start, settings, START + timedelta(days=8)).busy
    review_rectification(
        session,
        rectification=rectification,
        actor=org["officer"],
        accept=False,
        note="证据不足",
        clock=start,
        settings=settings,
    )
    session.commit()
    session.refresh(warning)
    assert warning.status is WarningStatus.RETURNED
    assert warning.deadline == deadline_on(start.now() + timedelta(days=5), settings)
    stats = follow_up(engine, start, settings, start.now())
    assert stats.escalations == 0


def test_warning_steps_skip_reminders_before_the_deadline_was_set(
    session: Session, org: dict[str, Any], start: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, start, settings, "red", deadline=START + timedelta(days=2))
    steps = warning_steps(warning, settings)
    assert [s.days for s in steps] == [1.0, None]  # no "3 days before" for a 2-day deadline


# -- quiet hours ----------------------------------------------------------------------------


def drain(engine: Engine, settings: Settings, clock: FixedClock) -> Any:
    async def go() -> Any:
        async with Dispatcher(
            engine, settings, clock, build_adapters(settings), worker_id="test"
        ) as dispatcher:
            return await dispatcher.drain()

    return asyncio.run(go())


def test_quiet_hours_hold_reminders_until_morning_but_not_red_warnings(
    engine: Engine, session: Session, org: dict[str, Any], settings: Settings
) -> None:
    night = FixedClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))  # 23:00 in Shanghai
    issue(session, org, night, settings, "yellow")
    issue(session, org, night, settings, "red")
    stats = drain(engine, settings, night)
    assert (stats.sent, stats.held) == (4, 1)  # red: chat, SMS, email, the supervisor
    [held] = deliveries(session, status=DeliveryStatus.PENDING)
    assert held.due_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert held.attempts == 0
    morning = FixedClock(datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
    assert drain(engine, settings, morning).sent == 1


def test_quiet_hours_are_the_readers_own(
    engine: Engine, session: Session, org: dict[str, Any], settings: Settings
) -> None:
    clerk: Person = org["clerk"]
    clerk.timezone = "America/New_York"
    session.add(clerk)
    session.commit()
    noon_in_shanghai = FixedClock(datetime(2026, 12, 1, 4, 0, tzinfo=UTC))  # 23:00 in New York
    issue(session, org, noon_in_shanghai, settings, "yellow")
    stats = drain(engine, settings, noon_in_shanghai)
    assert stats.held == 1
    [held] = deliveries(session, status=DeliveryStatus.PENDING)
    assert held.due_at == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 08:00 in New York


def test_no_quiet_hours_when_unset(
    engine: Engine, session: Session, org: dict[str, Any], tmp_path: Path
) -> None:
    settings = load_settings(LOCAL_CHANNEL="file", OUTBOX_DIR=tmp_path / "o", QUIET_HOURS="")
    night = FixedClock(datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    issue(session, org, night, settings, "yellow")
    assert drain(engine, settings, night).sent == 1


@given(
    moment=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Kolkata"]),
    start=st.integers(0, 23),
    end=st.integers(0, 23),
)
def test_held_messages_go_at_the_end_of_the_quiet_hours(
    moment: datetime, zone: str, start: int, end: int
) -> None:
    if start == end:
        return
    where = ZoneInfo(zone)
    until = held_until(moment, zone=where, quiet=(time(start), time(end)))
    local = moment.astimezone(where)
    quiet = start <= local.hour < end if start < end else (local.hour >= start or local.hour < end)
    assert (until is not None) == quiet
    if until is not None:
        assert moment < until <= moment + timedelta(hours=25)
        assert until.astimezone(where).hour == end or until.astimezone(where).hour == end + 1
