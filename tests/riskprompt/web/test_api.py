"""The officer API: tokens, each endpoint's happy path, filters, paging and refusals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from riskprompt.config.settings import load_settings
from riskprompt.models.conversations import ApiToken, create_api_token
from riskprompt.models.people import Role
from riskprompt.models.prompts import Broadcast, Prompt, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    acknowledge_warning,
    deadline_on,
    issue_warning,
    submit_rectification,
)
from tests.builders import assign, make_person, make_post, make_prompt_with_delivery, make_unit


@pytest.fixture
def org(session: Session, clock) -> dict[str, Any]:
    """Two officers with tokens, three staff, prompts, warnings and two corrections."""
    unit = make_unit(session, name="财政局")
    other_unit = make_unit(session, name="审计局")
    post = make_post(session, unit=unit, name="出纳岗")
    boss = make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER, locale="en")
    deputy = make_person(session, unit=unit, staff_id="JJ002", role=Role.OFFICER)
    clerk = make_person(session, unit=unit, staff_id="CW001", mobile="+8613800138001")
    auditor = make_person(session, unit=other_unit, staff_id="SJ001", mobile="+8613800138002")
    officer_staff = make_person(session, unit=unit, staff_id="CW002", mobile="+8613800138003")
    assign(session, person=clerk, post=post)
    prompts = [
        make_prompt_with_delivery(
            session, person=p, at=clock.now() - timedelta(minutes=i), title=f"T{i}"
        )[0]
        for i, p in enumerate([clerk, clerk, clerk, auditor])
    ]
    warnings = []
    for colour, person in [
        (WarningColour.YELLOW, clerk),
        (WarningColour.RED, auditor),
        (WarningColour.YELLOW, auditor),
    ]:
        warnings.append(
            issue_warning(
                session,
                actor=boss,
                person=person,
                colour=colour,
                form=WarningForm.CORRECT,
                reason="请整改",
                deadline=clock.now() + timedelta(days=7),
                clock=clock,
            )
        )
    acknowledge_warning(session, warning=warnings[1], actor=auditor, clock=clock, via="sms")
    corrections = [
        submit_rectification(
            session,
            warning=warnings[0],
            actor=clerk,
            description="已整改",
            evidence=[{"name": "scan.pdf", "path": "x", "mime": "application/pdf", "size": 9}],
            clock=clock,
        ),
        submit_rectification(
            session,
            warning=warnings[1],
            actor=auditor,
            description="已纠正",
            evidence=[],
            clock=clock,
        ),
    ]
    tokens = {
        "boss": create_api_token(session, person=boss, clock=clock, label="test"),
        "deputy": create_api_token(session, person=deputy, clock=clock),
    }
    session.commit()
    return {
        "unit": unit,
        "boss": boss,
        "deputy": deputy,
        "clerk": clerk,
        "auditor": auditor,
        "staff": officer_staff,
        "prompts": prompts,
        "warnings": warnings,
        "corrections": corrections,
        "tokens": tokens,
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ENDPOINTS = [
    ("GET", "/api/v1/prompts", None),
    ("GET", "/api/v1/warnings", None),
    ("GET", "/api/v1/corrections", None),
    ("POST", "/api/v1/special-prompts", {"target": "all", "text": "注意"}),
    ("POST", "/api/v1/corrections/1/review", {"accept": True}),
]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer rp_unknown",
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 300,
        "Bearer 令牌".encode(),
    ],
    ids=["none", "empty", "unknown", "basic", "long", "utf8"],
)
def test_no_or_unknown_token_is_401(client, org, method, path, body, header):
    headers = {"Authorization": header} if header else {}
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_no_token_is_401(client, org):
    response = client.get("/api/v1/warnings")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_revoked_token_is_401_and_a_demoted_officer_is_403(client, engine, org, clock):
    with Session(engine) as s:
        row = s.exec(select(ApiToken).where(ApiToken.person_id == org["deputy"].id)).one()
        row.revoked_at = clock.now()
        boss = s.get(type(org["boss"]), org["boss"].id)
        boss.role = Role.STAFF
        s.add_all([row, boss])
        s.commit()
    assert client.get("/api/v1/prompts", headers=auth(org["tokens"]["deputy"])).status_code == 401
    headers = {**auth(org["tokens"]["boss"]), "Accept-Language": "en-GB,en;q=0.8"}
    response = client.get("/api/v1/prompts", headers=headers)
    assert response.status_code == 403
    assert "is not an officer" in response.json()["detail"]


def test_list_prompts_filters_and_pages(client, org):
    headers = auth(org["tokens"]["boss"])
    everything = client.get("/api/v1/prompts", headers=headers).json()
    assert everything["total"] == 4
    assert [p["title"] for p in everything["items"]] == ["T0", "T1", "T2", "T3"]  # newest first

    page = client.get("/api/v1/prompts?limit=2&offset=1", headers=headers).json()
    assert page["total"] == 4 and [p["title"] for p in page["items"]] == ["T1", "T2"]
    assert page["limit"] == 2 and page["offset"] == 1

    mine = client.get("/api/v1/prompts?person=SJ001", headers=headers).json()
    assert mine["total"] == 1 and mine["items"][0]["person"] == {
        "staff_id": "SJ001",
        "name": org["auditor"].name,
    }
    unit = client.get(f"/api/v1/prompts?unit_id={org['unit'].id}&status=open", headers=headers)
    assert unit.json()["total"] == 3
    none = client.get("/api/v1/prompts?status=acknowledged", headers=headers).json()
    assert none == {"total": 0, "limit": 50, "offset": 0, "items": []}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "offset=-1", "period=2026-13", "status=done", "unit_id=x"]
)
def test_bad_filters_are_422(client, org, query):
    response = client.get(f"/api/v1/prompts?{query}", headers=auth(org["tokens"]["boss"]))
    assert response.status_code == 422


def test_list_warnings_and_corrections(client, org):
    headers = auth(org["tokens"]["boss"])
    yellow = client.get("/api/v1/warnings?colour=yellow", headers=headers).json()
    assert yellow["total"] == 2
    assert {w["person"]["staff_id"] for w in yellow["items"]} == {"CW001", "SJ001"}
    submitted = client.get("/api/v1/warnings?status=submitted&person=SJ001", headers=headers)
    assert [w["colour"] for w in submitted.json()["items"]] == ["red"]

    pending = client.get("/api/v1/corrections?status=submitted", headers=headers).json()
    assert pending["total"] == 2
    first = pending["items"][0]
    assert first["id"] == org["corrections"][0].id  # the oldest waits longest: first
    assert first["evidence"] == [{"name": "scan.pdf", "mime": "application/pdf", "size": 9}]
    assert first["warning_status"] == "submitted"


def test_review_accepts_and_rejects(client, engine, org, clock):
    headers = auth(org["tokens"]["boss"])
    accepted = client.post(
        f"/api/v1/corrections/{org['corrections'][0].id}/review",
        json={"accept": True},
        headers=headers,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["warning_status"] == "closed"
    assert accepted.json()["reviewed_by"]["staff_id"] == "JJ001"

    deadline = (clock.now() + timedelta(days=3)).isoformat()
    rejected = client.post(
        f"/api/v1/corrections/{org['corrections'][1].id}/review",
        json={"accept": False, "note": "证据不足", "new_deadline": deadline},
        headers=headers,
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["review_note"] == "证据不足"
    with Session(engine) as s:
        warning = s.get(Warning, org["warnings"][1].id)
        assert warning.status is WarningStatus.RETURNED  # 已退回: a new correction is due
        # a whole day: the end of the day given, in the office's time zone
        assert warning.deadline == deadline_on(clock.now() + timedelta(days=3), load_settings())

    again = client.post(
        f"/api/v1/corrections/{org['corrections'][0].id}/review",
        json={"accept": True},
        headers=headers,
    )
    assert again.status_code == 409
    assert again.json()["detail"] == "this correction has already been reviewed"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_review_refusals(client, engine, org):
    headers = auth(org["tokens"]["boss"])
    correction = org["corrections"][1].id
    no_reason = client.post(
        f"/api/v1/corrections/{correction}/review", json={"accept": False}, headers=headers
    )
    assert no_reason.status_code == 422
    missing = client.post(
        "/api/v1/corrections/999999/review", json={"accept": True}, headers=headers
    )
    assert missing.status_code == 404
    naive = client.post(
        f"/api/v1/corrections/{correction}/review",
        json={"accept": False, "note": "x", "new_deadline": "2027-01-01T00:00:00"},
        headers=headers,
    )
    assert naive.status_code == 422
    with Session(engine) as s:
        assert s.get(Rectification, correction).status is RectificationStatus.SUBMITTED


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_nobody_reviews_their_own_correction(client, session, clock, org):
    officer = org["deputy"]
    warning = issue_warning(
        session,
        actor=org["boss"],
        person=officer,
        colour=WarningColour.ORANGE,
        form=WarningForm.ADMONISH,
        reason="x",
        deadline=clock.now() + timedelta(days=1),
        clock=clock,
    )
    own = submit_rectification(
        session, warning=warning, actor=officer, description="done", evidence=[], clock=clock
    )
    session.commit()
    response = client.post(
        f"/api/v1/corrections/{own.id}/review",
        json={"accept": True},
        headers={**auth(org["tokens"]["deputy"]), "Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "nobody may review their own correction"


def test_issue_special_prompt_now_and_later(client, engine, org, clock):
    headers = auth(org["tokens"]["boss"])
    now = client.post(
        "/api/v1/special-prompts",
        json={"target": f"unit:{org['unit'].id}", "text": "节前廉政提醒"},
        headers=headers,
    )
    assert now.status_code == 201, now.text
    body = now.json()
    assert body["status"] == "expanded" and body["prompt_count"] == 4  # boss, deputy, 2 staff
    later = client.post(
        "/api/v1/special-prompts",
        json={
            "target": "person:CW001",
            "text": "请按时报送",
            "at": (clock.now() + timedelta(days=2)).isoformat(),
            "requires_ack": False,
        },
        headers=headers,
    )
    assert later.status_code == 201, later.text
    assert later.json()["status"] == "scheduled" and later.json()["prompt_count"] == 0
    with Session(engine) as s:
        assert len(s.exec(select(Broadcast)).all()) == 2
        assert len(s.exec(select(Prompt).where(Prompt.broadcast_id == body["id"])).all()) == 4


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"target": "nowhere", "text": "x"}, 422),
        ({"target": "person:NOBODY", "text": "x"}, 404),
        ({"target": "unit:99999999999999999999", "text": "x"}, 422),
        ({"target": "post:²", "text": "x"}, 422),
        ({"target": "all", "text": ""}, 422),
        ({"target": "all", "text": "x" * 4001}, 422),
        ({"target": "all", "text": "a\x00b"}, 422),
        ({"target": "all", "text": "x", "requires_ack": "yes"}, 422),
        ({"target": "all", "text": "x", "extra": 1}, 422),
        ({"target": "all", "text": "x", "at": "0001-01-01T00:00:00+14:00"}, 422),
    ],
)
def test_special_prompt_refusals(client, engine, org, body, status):
    response = client.post(
        "/api/v1/special-prompts", json=body, headers=auth(org["tokens"]["boss"])
    )
    assert response.status_code == status, response.text
    with Session(engine) as s:
        assert s.exec(select(Broadcast)).first() is None


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_errors_follow_accept_language(client, org):
    headers = {**auth(org["tokens"]["boss"]), "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    response = client.post(
        "/api/v1/corrections/999999/review", json={"accept": True}, headers=headers
    )
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_openapi_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/api/v1/special-prompts",
        "/api/v1/prompts",
        "/api/v1/warnings",
        "/api/v1/corrections",
        "/api/v1/corrections/{correction_id}/review",
    }
    assert "OfficerToken" in schema["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_prompt_status_values(org):
    assert {s.value for s in PromptStatus} == {"open", "acknowledged", "cancelled"}
