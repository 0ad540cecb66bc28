"""What officers look at in chat: who has not acknowledged (/status), a correction by code."""

from __future__ import annotations

import pytest
from sqlmodel import select

from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.warnings import submit_rectification
from tests.bot.conftest import OFFICER_CHAT, World
from tests.builders import make_prompt_with_delivery, make_warning

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def _prompts_for(world: World, staff_id: str, n: int, *, sent_by: Channel | None = None) -> None:
    with world.session() as session:
        person = session.exec(select(Person).where(Person.staff_id == staff_id)).one()
        for _ in range(n):
            _prompt, delivery = make_prompt_with_delivery(
                session, person=person, at=world.clock.now(), channel=sent_by
            )
            if sent_by is not None:
                delivery.status, delivery.sent_at = DeliveryStatus.SENT, world.clock.now()
                session.add(delivery)
        session.commit()


@sqlite_only
async def test_status_names_each_person_not_acknowledged_once(world: World) -> None:
    await world.bind("JJ001", OFFICER_CHAT)
    _prompts_for(world, "CW001", 2, sent_by=Channel.SMS)
    _prompts_for(world, "CW002", 1)
    with world.session() as session:
        delivery = session.exec(select(Delivery).order_by(Delivery.id)).first()
        assert delivery is not None
        delivery.extra = {**delivery.extra, "reminder": 1}
        session.add(delivery)
        session.commit()
    await world.send(OFFICER_CHAT, "/status")
    text = world.last_text(OFFICER_CHAT)
    assert "Not acknowledged yet:" in text
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    assert lines == [
        "• 张出纳 (CW001), 财政局, special prompt: 1 reminder sent, last sent by SMS",
        "• 李会计 (CW002), 财政局, special prompt: 0 reminders sent, not sent yet",
    ]


@sqlite_only
async def test_review_opens_the_correction_named(world: World) -> None:
    await world.bind("JJ001", OFFICER_CHAT)
    with world.session() as session:
        clerk = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
        officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
        warning = make_warning(session, person=clerk, officer=officer, at=world.clock.now())
        report = submit_rectification(
            session,
            warning=warning,
            actor=clerk,
            description="已组织集体研究",
            evidence=[],
            clock=world.clock,
        )
        session.commit()
        warning_id, report_id = warning.id, report.id
    await world.send(OFFICER_CHAT, f"/review C{report_id}")
    assert f"Correction R{report_id} on W{warning_id}" in world.last_text(OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "/review X1")
    assert "not a correction number 'X1'" in world.last_text(OFFICER_CHAT)
