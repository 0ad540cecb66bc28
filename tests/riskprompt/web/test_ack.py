"""``GET /ack/<token>``: the email link acknowledges once; tampered 400, expired 410."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from riskprompt.models.people import Role
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.warnings import (
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
)
from riskprompt.notifications.links import ACK_LINK_TTL, AckTarget, make_ack_token
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.riskprompt.web.conftest import SECRET_KEY, audit_count


@pytest.fixture
def prompt(session, clock) -> Prompt:
    person = make_person(session, unit=make_unit(session), locale="en")
    prompt, _ = make_prompt_with_delivery(
        session, person=person, at=clock.now(), title="Budget <review>"
    )
    session.commit()
    return prompt


def link(kind: str, target_id: int, person_id: int, clock) -> str:
    token = make_ack_token(SECRET_KEY, AckTarget(kind, target_id, person_id), now=clock.now())
    return f"/ack/{token}"


def test_link_acknowledges_once_and_replays_change_nothing(client, engine, clock, prompt):
    url = link("prompt", prompt.id, prompt.person_id, clock)

    first = client.get(url)
    assert first.status_code == 200
    assert "Acknowledged, thank you" in first.text
    assert "Budget &lt;review&gt;" in first.text  # autoescaped
    assert first.headers["cache-control"] == "no-store"

    clock.advance(timedelta(hours=2))
    again = client.get(url)
    assert again.status_code == 200
    assert "Already acknowledged" in again.text
    assert "Dec 1, 2026" in again.text  # the original time, in the reader's zone

    with Session(engine) as s:
        row = s.get(Prompt, prompt.id)
        assert row.status is PromptStatus.ACKNOWLEDGED and row.acknowledged_via == "email"
        assert row.acknowledged_at == clock.now() - timedelta(hours=2)
    assert audit_count(engine, "prompt.acknowledged") == 1


def test_tampered_link_is_refused_with_400(client, engine, clock, prompt):
    token = link("prompt", prompt.id, prompt.person_id, clock).removeprefix("/ack/")
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (forged, "not-a-token", "x" * 600):
        response = client.get(f"/ack/{bad}")
        assert response.status_code == 400
        assert 'lang="zh-CN"' in response.text  # the default locale
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.OPEN
    assert audit_count(engine, "prompt.acknowledged") == 0


def test_expired_link_is_refused_with_410(client, engine, clock, prompt):
    url = link("prompt", prompt.id, prompt.person_id, clock)
    clock.advance(ACK_LINK_TTL + timedelta(seconds=1))
    response = client.get(url)
    assert response.status_code == 410
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.OPEN


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_link_for_someone_else_acts_for_nobody(client, engine, clock, session, prompt):
    other = make_person(session, unit=make_unit(session))
    session.commit()
    response = client.get(link("prompt", prompt.id, other.id, clock))
    assert response.status_code == 403
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.OPEN


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_link_to_nothing_is_404(client, clock, prompt):
    assert client.get(link("prompt", 999_999, prompt.person_id, clock)).status_code == 404


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_warning_link_acknowledges_the_warning_in_the_persons_language(
    client, engine, clock, session
):
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    person = make_person(session, unit=unit, locale="zh_CN")
    warning = issue_warning(
        session,
        actor=officer,
        person=person,
        colour=WarningColour.YELLOW,
        form=WarningForm.PROMPT,
        reason="合同审批未经集体研究",
        deadline=clock.now() + timedelta(days=7),
        clock=clock,
    )
    session.commit()
    response = client.get(link("warning", warning.id, person.id, clock))
    assert response.status_code == 200
    assert 'lang="zh-CN"' in response.text
    with Session(engine) as s:
        assert s.get(Warning, warning.id).status is WarningStatus.ACKNOWLEDGED
    assert audit_count(engine, "warning.acknowledged") == 1
