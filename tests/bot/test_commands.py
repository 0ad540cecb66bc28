"""Short replies shared by SMS and chat."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from riskprompt.bot.commands import Intent, handle_reply, parse_reply
from riskprompt.models import Prompt, PromptKind, PromptStatus
from riskprompt.models.clock import FixedClock
from tests.builders import make_person, make_unit


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("1", Intent.ACK_LATEST),
        (" y ", Intent.ACK_LATEST),
        ("OK", Intent.ACK_LATEST),
        ("收到", Intent.ACK_LATEST),
        ("已阅。", Intent.ACK_LATEST),
        ("１", Intent.ACK_LATEST),  # full-width digit from a Chinese keyboard
        ("p12", Intent.ACK_CODE),
        ("STOP", Intent.STOP),
        ("退订", Intent.STOP),
        ("start", Intent.START),
        ("what is this?", Intent.HELP),
        ("", Intent.HELP),
        ("1" * 5000, Intent.HELP),
    ],
)
def test_parse_reply(text: str, intent: Intent) -> None:
    assert parse_reply(text).intent is intent


def test_code_carries_the_prompt_id() -> None:
    assert parse_reply("P 42").prompt_id == 42


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_handle_reply_acknowledges_stops_and_refuses(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit, locale="en")
    other = make_person(session, unit=unit)
    mine = Prompt(kind=PromptKind.SPECIAL, person_id=person.id, title="T1", created_at=clock.now())
    theirs = Prompt(kind=PromptKind.SPECIAL, person_id=other.id, title="T2", created_at=clock.now())
    session.add_all([mine, theirs])
    session.flush()
    reply = handle_reply(session, person=person, text=f"P{theirs.id}", clock=clock, via="sms")
    assert "No prompt of yours has that code" in reply
    assert theirs.status is PromptStatus.OPEN
    assert "Acknowledged" in handle_reply(session, person=person, text="1", clock=clock, via="sms")
    assert mine.status is PromptStatus.ACKNOWLEDGED
    assert "no prompt waiting" in handle_reply(
        session, person=person, text="1", clock=clock, via="sms"
    )
    assert "Already" in handle_reply(
        session, person=person, text=f"P{mine.id}", clock=clock, via="sms"
    )
    handle_reply(session, person=person, text="STOP", clock=clock, via="sms")
    assert person.sms_opt_out
    handle_reply(session, person=person, text="START", clock=clock, via="sms")
    assert not person.sms_opt_out
