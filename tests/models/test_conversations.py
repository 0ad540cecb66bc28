"""Chat binding codes and officer API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from riskprompt.models import Role
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import (
    authenticate_token,
    bind_chat,
    create_api_token,
    create_binding_code,
    person_for_chat,
    unbind_chat,
)
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from tests.builders import make_person, make_unit


def test_a_code_binds_once_and_expires(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit)
    code = create_binding_code(session, person=person, clock=clock)
    assert bind_chat(session, code=code.lower(), chat_id=1001, clock=clock) is person
    assert person_for_chat(session, chat_id=1001) is person
    with pytest.raises(InvalidInput, match="already been used"):
        bind_chat(session, code=code, chat_id=1001, clock=clock)
    with pytest.raises(InvalidInput, match="not known"):
        bind_chat(session, code="NOPE", chat_id=1001, clock=clock)
    late = create_binding_code(session, person=person, clock=clock, ttl=timedelta(days=7))
    clock.advance(timedelta(days=7, seconds=1))
    with pytest.raises(InvalidInput, match="expired"):
        bind_chat(session, code=late, chat_id=1001, clock=clock)


def test_one_chat_per_person_and_one_person_per_chat(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    a = make_person(session, unit=unit)
    b = make_person(session, unit=unit)
    bind_chat(
        session, code=create_binding_code(session, person=a, clock=clock), chat_id=1, clock=clock
    )
    with pytest.raises(PermissionDenied):
        bind_chat(
            session,
            code=create_binding_code(session, person=b, clock=clock),
            chat_id=1,
            clock=clock,
        )
    bind_chat(
        session, code=create_binding_code(session, person=a, clock=clock), chat_id=2, clock=clock
    )
    assert a.telegram_chat_id == 2
    with pytest.raises(NotFound):
        person_for_chat(session, chat_id=1)
    unbind_chat(session, chat_id=2, clock=clock)
    assert a.telegram_chat_id is None


def test_tokens_are_for_officers_and_stored_hashed(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    staff = make_person(session, unit=unit)
    token = create_api_token(session, person=officer, clock=clock, label="ci")
    session.flush()
    assert authenticate_token(session, token=token, clock=clock) is officer
    with pytest.raises(PermissionDenied):
        authenticate_token(session, token=token + "x", clock=clock)
    with pytest.raises(PermissionDenied):
        create_api_token(session, person=staff, clock=clock)
    from sqlmodel import select

    from riskprompt.models.conversations import ApiToken

    assert token not in {t.token_hash for t in session.exec(select(ApiToken)).all()}
    officer.role = Role.STAFF
    with pytest.raises(PermissionDenied):
        authenticate_token(session, token=token, clock=clock)
