"""Cancelling prompts: what is not yet acknowledged, within the officer's scope, told to readers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.cancel import cancel_prompts, parse_special_ref
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.notices import Notice, NoticeEvent, NoticeRole
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import (
    Broadcast,
    Delivery,
    DeliveryStatus,
    Prompt,
    PromptStatus,
    acknowledge_prompt,
)
from riskprompt.models.scope import Supervision
from riskprompt.notifications.notices import expand_notices
from riskprompt.notifications.planning import (
    expand_due_broadcasts,
    issue_and_expand,
    plan_monthly_cycle,
)
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit

PERIOD = "2026-12"
REASON = "周期误发，稍后重发"


@pytest.fixture
def settings(database: str) -> Settings:
    return load_settings(DATABASE_URL=database)


@pytest.fixture
def org(session: Session, engine: Engine, clock: FixedClock, settings: Settings) -> dict[str, Any]:
    """Two bureaus with two holders each, the month's prompts planned; one officer per scope."""
    city = make_unit(session, name="滨江市")
    bureau = make_unit(session, name="财政局", parent=city)
    section = make_unit(session, name="国库科", parent=bureau)
    other = make_unit(session, name="发改委", parent=city)
    people: dict[str, Person] = {}
    for key, unit in (("a1", bureau), ("a2", section), ("b1", other), ("b2", other)):
        post = make_post(session, unit=unit)
        make_risk_point(session, post=post, level=RiskLevel.HIGH)
        people[key] = make_person(session, unit=unit, staff_id=key.upper())
        assign(session, person=people[key], post=post)
    boss = make_person(session, unit=city, role=Role.OFFICER, staff_id="BOSS")
    inspector = make_person(session, unit=city, role=Role.OFFICER, staff_id="INSP")
    session.add(Supervision(officer_id=inspector.id or 0, unit_id=bureau.id or 0))
    session.commit()
    plan_monthly_cycle(engine, period=PERIOD, clock=clock, settings=settings)
    session.expire_all()
    return {"bureau": bureau, "other": other, "boss": boss, "inspector": inspector, **people}


def prompt_of(session: Session, person: Person) -> Prompt:
    return session.exec(select(Prompt).where(Prompt.person_id == person.id)).one()


def deliveries_of(session: Session, prompt: Prompt) -> list[Delivery]:
    return list(session.exec(select(Delivery).where(Delivery.prompt_id == prompt.id)).all())


def mark_sent(session: Session, person: Person) -> None:
    for delivery in deliveries_of(session, prompt_of(session, person)):
        delivery.status = DeliveryStatus.SENT
        session.add(delivery)
    session.commit()


def counts(session: Session) -> dict[str, Any]:
    return {
        "statuses": sorted(session.exec(select(Prompt.id, Prompt.status)).all()),
        "deliveries": sorted(session.exec(select(Delivery.id, Delivery.status)).all()),
        "audit": session.exec(select(func.count()).select_from(AuditEvent)).one(),
        "notices": session.exec(select(func.count()).select_from(Notice)).one(),
    }


def test_a_period_is_cancelled_for_everyone_but_what_was_acknowledged(
    session: Session, clock: FixedClock, org: dict[str, Any]
) -> None:
    a1, a2, b1, b2 = (org[key] for key in ("a1", "a2", "b1", "b2"))
    mark_sent(session, a1)
    mark_sent(session, b1)
    acknowledge_prompt(session, prompt=prompt_of(session, b2), actor=b2, clock=clock, via="cli")
    session.commit()
    before = counts(session)

    preview = cancel_prompts(
        session, actor=org["boss"], reason=REASON, clock=clock, period=PERIOD, dry_run=True
    )
    assert counts(session) == before  # a dry run changes nothing
    assert (preview.prompts, preview.people, preview.deliveries, preview.told) == (3, 3, 1, 2)

    clock.advance(timedelta(minutes=5))
    outcome = cancel_prompts(session, actor=org["boss"], reason=REASON, clock=clock, period=PERIOD)
    session.commit()
    assert (outcome.prompts, outcome.people, outcome.deliveries, outcome.told) == (3, 3, 1, 2)
    cancelled = {p.person_id for p in session.exec(select(Prompt)).all() if p.status == "cancelled"}
    assert cancelled == {a1.id, a2.id, b1.id}
    acknowledged = prompt_of(session, b2)
    assert acknowledged.status is PromptStatus.ACKNOWLEDGED  # untouched
    assert all(d.status is DeliveryStatus.PENDING for d in deliveries_of(session, acknowledged))
    assert prompt_of(session, a2).remind_at is None  # no more reminders
    [pending] = deliveries_of(session, prompt_of(session, a2))
    assert pending.status is DeliveryStatus.CANCELLED
    [sent] = deliveries_of(session, prompt_of(session, a1))
    assert sent.status is DeliveryStatus.SENT  # what was sent stays sent

    notices = session.exec(select(Notice).order_by(col(Notice.id))).all()
    assert [(n.reader_id, n.prompt_id) for n in notices] == sorted(
        [(a1.id, prompt_of(session, a1).id), (b1.id, prompt_of(session, b1).id)]
    )
    assert all(
        n.event is NoticeEvent.PROMPT_CANCELLED
        and n.role is NoticeRole.ADDRESSEE
        and n.actor_id == org["boss"].id
        and n.data == {"reason": REASON}
        and n.due_at == clock.now()
        for n in notices
    )
    [audit] = session.exec(select(AuditEvent).where(AuditEvent.action == "prompts.cancelled")).all()
    assert audit.actor_id == org["boss"].id
    assert audit.data["prompt_ids"] == outcome.prompt_ids
    assert sorted(audit.data["prompt_ids"]) == sorted(
        prompt_of(session, p).id for p in (a1, a2, b1)
    )
    assert audit.data["reason"] == REASON and audit.data["period"] == PERIOD

    again = cancel_prompts(session, actor=org["boss"], reason=REASON, clock=clock, period=PERIOD)
    assert again.prompts == 0  # nothing left to cancel, nothing audited
    assert session.exec(select(func.count()).select_from(AuditEvent)).one() == before["audit"] + 1


def test_a_person_or_a_unit_with_its_subtree(
    session: Session, clock: FixedClock, org: dict[str, Any]
) -> None:
    one = cancel_prompts(
        session, actor=org["boss"], reason=REASON, clock=clock, period=PERIOD, person="B1"
    )
    assert [prompt_of(session, org["b1"]).id] == one.prompt_ids
    unit = cancel_prompts(
        session, actor=org["boss"], reason=REASON, clock=clock, period=PERIOD, unit="财政局"
    )
    session.commit()
    assert sorted(unit.prompt_ids) == sorted(
        prompt_of(session, org[key]).id for key in ("a1", "a2")
    )
    assert prompt_of(session, org["b2"]).status is PromptStatus.OPEN


def test_an_officer_cannot_cancel_outside_their_scope(
    session: Session, clock: FixedClock, org: dict[str, Any]
) -> None:
    inspector = org["inspector"]
    before = counts(session)
    with pytest.raises(PermissionDenied) as person:
        cancel_prompts(
            session, actor=inspector, reason=REASON, clock=clock, period=PERIOD, person="B1"
        )
    assert "B1" in str(person.value)
    with pytest.raises(PermissionDenied) as unit:
        cancel_prompts(
            session, actor=inspector, reason=REASON, clock=clock, period=PERIOD, unit="发改委"
        )
    assert "发改委" in str(unit.value)
    with pytest.raises(PermissionDenied):
        cancel_prompts(session, actor=org["a1"], reason=REASON, clock=clock, period=PERIOD)  # staff
    assert counts(session) == before
    everyone = cancel_prompts(session, actor=inspector, reason=REASON, clock=clock, period=PERIOD)
    session.commit()
    assert sorted(everyone.prompt_ids) == sorted(
        prompt_of(session, org[key]).id for key in ("a1", "a2")
    )
    assert prompt_of(session, org["b1"]).status is PromptStatus.OPEN


def test_a_special_prompt_is_cancelled_and_a_scheduled_one_stopped(
    session: Session, clock: FixedClock, settings: Settings, org: dict[str, Any]
) -> None:
    sent = issue_and_expand(
        session, actor=org["boss"], target="all", text="节前提醒", clock=clock, settings=settings
    )
    later = issue_and_expand(
        session,
        actor=org["boss"],
        target="all",
        text="节后提醒",
        at=clock.now() + timedelta(days=1),
        clock=clock,
        settings=settings,
    )
    session.commit()
    outcome = cancel_prompts(
        session, actor=org["boss"], reason=REASON, clock=clock, special=f"B{sent.id}"
    )
    assert outcome.prompts == sent.prompt_count and not outcome.broadcast_stopped
    statuses = session.exec(select(Prompt.status).where(col(Prompt.broadcast_id).is_(None))).all()
    assert set(statuses) == {PromptStatus.OPEN}  # the monthly prompts are untouched

    with pytest.raises(PermissionDenied):  # another officer's, reaching beyond the scope
        cancel_prompts(
            session, actor=org["inspector"], reason=REASON, clock=clock, special=str(later.id)
        )
    stopped = cancel_prompts(
        session, actor=org["boss"], reason=REASON, clock=clock, special=str(later.id)
    )
    session.commit()
    assert stopped.broadcast_stopped and stopped.prompts == 0
    assert session.get(Broadcast, later.id).status == "cancelled"
    clock.advance(timedelta(days=2))
    assert expand_due_broadcasts(session, clock=clock, settings=settings) == 0
    assert session.exec(select(Prompt).where(Prompt.broadcast_id == later.id)).all() == []


def test_bad_requests_are_refused_in_words(
    session: Session, clock: FixedClock, org: dict[str, Any]
) -> None:
    boss = org["boss"]
    for kwargs, error in (
        ({}, InvalidInput),  # neither period nor special prompt
        ({"period": PERIOD, "special": "B1"}, InvalidInput),
        ({"period": PERIOD, "person": "A1", "unit": "财政局"}, InvalidInput),
        ({"period": "2026-13"}, InvalidInput),
        ({"special": "X9"}, InvalidInput),
        ({"special": "B99999"}, NotFound),
        ({"period": PERIOD, "person": "NOBODY"}, NotFound),
    ):
        with pytest.raises(error):
            cancel_prompts(session, actor=boss, reason=REASON, clock=clock, **kwargs)
    with pytest.raises(InvalidInput):
        cancel_prompts(session, actor=boss, reason="  ", clock=clock, period=PERIOD)
    assert parse_special_ref(" b 12 ") == 12 and parse_special_ref("12") == 12


def test_the_notices_become_messages_on_the_readers_channel(
    session: Session, clock: FixedClock, settings: Settings, org: dict[str, Any]
) -> None:
    mark_sent(session, org["a1"])
    cancel_prompts(session, actor=org["boss"], reason=REASON, clock=clock, period=PERIOD)
    session.commit()
    assert expand_notices(session, now=clock.now(), settings=settings) == 1
    session.commit()
    [told] = session.exec(select(Delivery).where(col(Delivery.notice_id).is_not(None))).all()
    assert told.person_id == org["a1"].id and told.status is DeliveryStatus.PENDING
    assert REASON in told.body
