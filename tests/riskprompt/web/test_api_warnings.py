"""POST /api/v1/warnings: an officer issues a warning through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from riskprompt.config.settings import load_settings
from riskprompt.models.conversations import create_api_token
from riskprompt.models.notices import Notice, NoticeReach
from riskprompt.models.people import Role
from riskprompt.models.prompts import Delivery
from riskprompt.models.warnings import Warning, deadline_on
from tests.builders import make_person, make_unit


@pytest.fixture
def org(session: Session, clock: Any) -> dict[str, Any]:
    unit = make_unit(session, name="财政局")
    officer = make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER, locale="en")
    staff = make_person(session, unit=unit, staff_id="CW001", mobile="+8613800138001")
    head = make_person(session, unit=make_unit(session, name="审计局"), staff_id="SJ000")
    former = make_person(session, unit=unit, staff_id="JJ002", role=Role.OFFICER)
    tokens = {
        "officer": create_api_token(session, person=officer, clock=clock),
        "staff": create_api_token(session, person=former, clock=clock),
    }
    former.role = Role.STAFF  # no longer an officer: the token is refused with 403
    session.add(former)
    session.commit()
    return {"officer": officer, "staff": staff, "head": head, "tokens": tokens}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_officer_issues_a_warning_and_it_is_queued(client, engine, org, clock):
    response = client.post(
        "/api/v1/warnings",
        json={"person": "CW001", "colour": "red", "form": "admonish", "reason": "违规报销"},
        headers=auth(org["tokens"]["officer"]),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["colour"] == "red" and body["form"] == "admonish"
    assert body["person"]["staff_id"] == "CW001" and body["issued_by"]["staff_id"] == "JJ001"
    with Session(engine) as s:
        warning = s.get(Warning, body["id"])
        assert warning is not None
        # red's default: the end of the day 5 days on, in the office's time zone
        assert warning.deadline == deadline_on(clock.now() + timedelta(days=5), load_settings())
        told = s.exec(select(Notice).where(col(Notice.warning_id) == warning.id)).all()
        # red: the person on every channel at once (the dispatcher expands the notice)
        assert (told[0].reader_id, told[0].reach) == (warning.person_id, NoticeReach.EVERY)
    # a unit's head
    unit_warning = client.post(
        "/api/v1/warnings",
        json={"unit": org["head"].unit_id, "colour": "yellow", "form": "prompt", "reason": "提醒"},
        headers=auth(org["tokens"]["officer"]),
    )
    assert unit_warning.status_code == 201, unit_warning.text
    assert unit_warning.json()["person"]["staff_id"] == "SJ000"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("token", "body", "status"),
    [
        ("staff", {"person": "CW001", "colour": "red", "form": "prompt", "reason": "x"}, 403),
        ("officer", {"person": "NOBODY", "colour": "red", "form": "prompt", "reason": "x"}, 404),
        ("officer", {"colour": "red", "form": "prompt", "reason": "x"}, 422),
        (
            "officer",
            {"person": "CW001", "unit": 1, "colour": "red", "form": "prompt", "reason": "x"},
            422,
        ),
        ("officer", {"person": "CW001", "colour": "purple", "form": "prompt", "reason": "x"}, 422),
        ("officer", {"person": "CW001", "colour": "red", "form": "prompt", "reason": ""}, 422),
        (
            "officer",
            {"person": "CW001", "colour": "red", "form": "prompt", "reason": "x" * 4001},
            422,
        ),
        (
            "officer",
            {
                "person": "CW001",
                "colour": "red",
                "form": "prompt",
                "reason": "x",
                "deadline": "2020-01-01T00:00:00+08:00",
            },
            422,
        ),
    ],
)
def test_warning_refusals_change_nothing(client, engine, org, token, body, status):
    response = client.post("/api/v1/warnings", json=body, headers=auth(org["tokens"][token]))
    assert response.status_code == status, response.text
    with Session(engine) as s:
        assert s.exec(select(Warning)).first() is None
        assert s.exec(select(Delivery)).first() is None
