"""Short replies shared by SMS and chat."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from riskprompt.bot.commands import Intent, handle_reply, parse_reply
from riskprompt.models import Prompt, PromptKind, PromptStatus
from riskprompt.models.clock import FixedClock
from riskprompt.models.codes import Code, CodeKind
from riskprompt.models.people import Role
from riskprompt.models.warnings import Warning, WarningStatus
from tests.builders import make_person, make_unit, make_warning


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
        ("Ｗ７", Intent.ACK_CODE),
        ("R3", Intent.HELP),  # a correction's code acknowledges nothing
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
    assert parse_reply("w7").code == Code(CodeKind.WARNING, 7)
    assert parse_reply("w7").prompt_id is None


@pytest.mark.parametrize("text", ["P99999999999999999999999", "P١٢", "P𐩀"])
def test_impossible_codes_are_refused_not_raised(session: Session, clock, text) -> None:
    person = make_person(session, unit=make_unit(session), locale="en")
    reply = handle_reply(session, person=person, text=text, clock=clock, via="sms")
    assert "code" in reply and "Traceback" not in reply


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
    assert f"No prompt of yours has the number P{theirs.id}" in reply
    assert theirs.status is PromptStatus.OPEN
    assert "Acknowledged" in handle_reply(session, person=person, text="1", clock=clock, via="sms")
    assert mine.status is PromptStatus.ACKNOWLEDGED
    assert "no prompt waiting" in handle_reply(
        session, person=person, text="1", clock=clock, via="sms"
    )
    assert "Already" in handle_reply(
        session, person=person, text=f"P{mine.id}", clock=clock, via="sms"
    )
    missing = handle_reply(session, person=person, text="P999999", clock=clock, via="sms")
    assert missing == "No prompt of yours has the number P999999."  # the same as someone else's
    handle_reply(session, person=person, text="STOP", clock=clock, via="sms")
    assert person.sms_opt_out
    handle_reply(session, person=person, text="START", clock=clock, via="sms")
    assert not person.sms_opt_out


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_warning_code_acknowledges_the_warning_by_sms(session: Session, clock) -> None:
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    person = make_person(session, unit=unit, locale="en")
    other = make_person(session, unit=unit, locale="en")
    warning = make_warning(session, person=person, officer=officer, at=clock.now())
    refused = handle_reply(session, person=other, text=f"W{warning.id}", clock=clock, via="sms")
    assert refused == f"No warning of yours has the number W{warning.id}."
    reply = handle_reply(session, person=person, text=f"w{warning.id}", clock=clock, via="sms")
    assert reply == f"Acknowledged: W{warning.id}. Thank you."
    assert session.get(Warning, warning.id).status is WarningStatus.ACKNOWLEDGED
    again = handle_reply(session, person=person, text=f"W{warning.id}", clock=clock, via="sms")
    assert again.startswith("Already acknowledged")
