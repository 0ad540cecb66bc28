"""The page behind a link: GET shows and changes nothing, POST acknowledges once,
the correction form reports with files; tampered 400, expired 410."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from riskprompt.models.acknowledging import acknowledge
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.db import metadata
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
)
from riskprompt.notifications.links import (
    ACK_LINK_TTL,
    AckTarget,
    form_key,
    make_ack_token,
    make_short_token,
)
from tests.builders import (
    make_person,
    make_post,
    make_prompt_with_delivery,
    make_risk_point,
    make_unit,
)
from tests.riskprompt.web.conftest import PUBLIC_URL, SECRET_KEY, audit_count

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%fake but well begun\n"


@pytest.fixture
def prompt(session, clock) -> Prompt:
    person = make_person(session, unit=make_unit(session), locale="en")
    prompt, _ = make_prompt_with_delivery(
        session,
        person=person,
        at=clock.now(),
        title="特别提示",  # as stored; the page reads the title in the reader's language
        body="Budget <review>: 请注意本岗位风险点。",
    )
    session.commit()
    return prompt


@pytest.fixture
def monthly(session, clock) -> Prompt:
    person = make_person(session, unit=make_unit(session, name="财务处"), locale="zh_CN")
    prompt = Prompt(
        kind=PromptKind.MONTHLY,
        person_id=person.id,
        period="2026-12",
        title="2026年12月岗位廉政风险提示",
        content={
            "period": "2026-12",
            "post": "出纳",
            "unit": "财务处",
            "focus": "年终决算",
            "risk_points": [
                {"level": "high", "description": "虚报冒领资金", "measures": ["双人复核"]},
                {"level": "low", "description": "票据保管不善", "measures": ["专柜保管"]},
            ],
        },
        created_at=clock.now(),
    )
    session.add(prompt)
    session.commit()
    return prompt


@pytest.fixture
def warning(session, clock) -> Warning:
    unit = make_unit(session, name="纪检监察室")
    officer = make_person(session, unit=unit, role=Role.OFFICER, name="王监察")
    person = make_person(session, unit=unit, locale="en")
    point = make_risk_point(
        session,
        post=make_post(session, unit=unit),
        description="Contracts without collective review",
        level=RiskLevel.HIGH,
    )
    warning = issue_warning(
        session,
        actor=officer,
        person=person,
        colour=WarningColour.ORANGE,
        form=WarningForm.CORRECT,
        reason="Contract approved <without> collective review",
        deadline=clock.now() + timedelta(days=7),
        clock=clock,
        risk_point_id=point.id,
    )
    session.commit()
    return warning


def link(kind: str, target_id: int, person_id: int, clock, *, short: bool = False) -> str:
    target = AckTarget(kind, target_id, person_id)  # type: ignore[arg-type]
    if short:
        return "/a/" + make_short_token(SECRET_KEY, target, now=clock.now())
    return "/ack/" + make_ack_token(SECRET_KEY, target, now=clock.now())


def key_of(url: str) -> str:
    return form_key(SECRET_KEY, url.rsplit("/", 1)[1])


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table: any write shows here."""
    with Session(engine) as s:
        return {
            t.name: int(s.exec(select(func.count()).select_from(t)).one())
            for t in metadata.sorted_tables
        }


def snapshot(engine: Engine) -> tuple[dict[str, int], list[tuple]]:
    with Session(engine) as s:
        prompts = [(p.id, p.status, p.acknowledged_at) for p in s.exec(select(Prompt)).all()]
        warnings = [(w.id, w.status, w.acknowledged_at) for w in s.exec(select(Warning)).all()]
    return counts(engine), prompts + warnings


# -- GET changes nothing ---------------------------------------------------------------------


@pytest.mark.parametrize("short", [False, True], ids=["email", "sms"])
def test_get_on_any_link_changes_nothing(client, engine, clock, session, prompt, warning, short):
    fresh_prompt = link("prompt", prompt.id, prompt.person_id, clock, short=short)
    fresh_warning = link("warning", warning.id, warning.person_id, clock, short=short)
    expired = link("prompt", prompt.id, prompt.person_id, clock, short=short)
    token = fresh_prompt.rsplit("/", 1)[1]
    tampered = fresh_prompt[: -len(token)] + token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    before = snapshot(engine)
    for url, status in ((fresh_prompt, 200), (fresh_warning, 200), (tampered, 400)):
        response = client.get(url)
        assert response.status_code == status, url
    assert snapshot(engine) == before

    # acknowledged ones too, and expired ones
    with Session(engine) as s:
        acknowledge(
            s,
            actor=s.get(Person, prompt.person_id),
            target=("prompt", prompt.id),
            via="cli",
            clock=clock,
        )
        s.commit()
    before = snapshot(engine)
    assert client.get(fresh_prompt).status_code == 200
    clock.advance(ACK_LINK_TTL + timedelta(hours=2))
    assert client.get(expired).status_code == 410
    assert snapshot(engine) == before


def test_the_page_shows_the_whole_prompt_and_acknowledges_on_post(client, engine, clock, prompt):
    url = link("prompt", prompt.id, prompt.person_id, clock)

    page = client.get(url)
    assert page.status_code == 200
    assert "Budget &lt;review&gt;" in page.text  # autoescaped
    assert "Special risk prompt" in page.text and "特别提示" not in page.text
    assert "请注意本岗位风险点。" in page.text
    assert 'method="post"' in page.text and f'value="{key_of(url)}"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "form-action 'self'" in csp and "script" not in page.text.lower()
    assert audit_count(engine, "prompt.acknowledged") == 0

    first = client.post(url, data={"k": key_of(url)})
    assert first.status_code == 200
    assert "Acknowledged, thank you" in first.text
    assert "Acknowledge</button>" not in first.text

    clock.advance(timedelta(hours=2))
    again = client.post(url, data={"k": key_of(url)})
    assert again.status_code == 200
    assert "Already acknowledged" in again.text
    assert "Dec 1, 2026" in again.text  # the original time, in the reader's zone

    with Session(engine) as s:
        row = s.get(Prompt, prompt.id)
        assert row.status is PromptStatus.ACKNOWLEDGED and row.acknowledged_via == "email"
        assert row.acknowledged_at == clock.now() - timedelta(hours=2)
    assert audit_count(engine, "prompt.acknowledged") == 1


def test_monthly_prompt_page_in_the_readers_language_high_first(client, clock, monthly):
    page = client.get(link("prompt", monthly.id, monthly.person_id, clock, short=True))
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.text
    text = page.text
    assert "财务处" in text and "出纳" in text and "年终决算" in text
    assert text.index("虚报冒领资金") < text.index("票据保管不善")
    assert "双人复核" in text and "已阅" in text


def test_a_post_without_the_form_key_or_from_another_site_is_refused(client, engine, clock, prompt):
    url = link("prompt", prompt.id, prompt.person_id, clock)
    assert client.post(url).status_code == 403
    assert client.post(url, data={"k": "0" * 32}).status_code == 403
    other = client.post(url, data={"k": key_of(url)}, headers={"Origin": "https://evil.example"})
    assert other.status_code == 403
    referer = client.post(
        url, data={"k": key_of(url)}, headers={"Referer": "https://evil.example/x"}
    )
    assert referer.status_code == 403
    assert audit_count(engine, "prompt.acknowledged") == 0
    # the page's own origin, and "null" (no-referrer pages), are fine
    ours = client.post(url, data={"k": key_of(url)}, headers={"Origin": PUBLIC_URL})
    assert ours.status_code == 200
    assert audit_count(engine, "prompt.acknowledged") == 1
    assert client.post(url, data={"k": key_of(url)}, headers={"Origin": "null"}).status_code == 200


def test_tampered_link_is_refused_with_400(client, engine, clock, prompt):
    token = link("prompt", prompt.id, prompt.person_id, clock).removeprefix("/ack/")
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    for bad in (forged, "not-a-token", "x" * 600):
        response = client.get(f"/ack/{bad}")
        assert response.status_code == 400
        assert 'lang="zh-CN"' in response.text  # the default locale
        assert client.post(f"/ack/{bad}", data={"k": key_of(f"/ack/{bad}")}).status_code == 400
    for bad in ("p1.1.1AAAAAAAAAAA", "nonsense", "p" * 100):
        assert client.get(f"/a/{bad}").status_code == 400
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.OPEN
    assert audit_count(engine, "prompt.acknowledged") == 0


@pytest.mark.parametrize("short", [False, True], ids=["email", "sms"])
def test_expired_link_is_refused_with_410(client, engine, clock, prompt, short):
    url = link("prompt", prompt.id, prompt.person_id, clock, short=short)
    clock.advance(ACK_LINK_TTL + timedelta(seconds=1))
    assert client.get(url).status_code == 410
    assert client.post(url, data={"k": key_of(url)}).status_code == 410
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.OPEN


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_link_for_someone_else_shows_nothing_and_acts_for_nobody(
    client, engine, clock, session, prompt
):
    other = make_person(session, unit=make_unit(session))
    session.commit()
    url = link("prompt", prompt.id, other.id, clock)
    assert client.get(url).status_code == 404
    assert "Budget" not in client.get(url).text
    assert client.post(url, data={"k": key_of(url)}).status_code == 404
    with Session(engine) as s:
        assert s.get(Prompt, prompt.id).status is PromptStatus.OPEN


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_link_to_nothing_is_404(client, clock, prompt):
    assert client.get(link("prompt", 999_999, prompt.person_id, clock)).status_code == 404


# -- warnings and the correction form -------------------------------------------------------


def test_warning_page_shows_it_all_and_post_acknowledges(client, engine, clock, warning):
    url = link("warning", warning.id, warning.person_id, clock, short=True)
    page = client.get(url)
    assert page.status_code == 200
    assert 'lang="en"' in page.text
    text = page.text
    assert "Contract approved &lt;without&gt; collective review" in text
    assert "orange" in text and "ordered correction" in text and "Deadline" in text
    assert "纪检监察室" in text and "王监察" in text
    assert 'enctype="multipart/form-data"' in text and f"{url}/correction" in text

    done = client.post(url, data={"k": key_of(url)})
    assert done.status_code == 200 and "Acknowledged, thank you" in done.text
    assert f"{url}/correction" in done.text  # the correction may still be reported
    with Session(engine) as s:
        row = s.get(Warning, warning.id)
        assert row.status is WarningStatus.ACKNOWLEDGED
    assert audit_count(engine, "warning.acknowledged") == 1


def test_the_correction_form_stores_the_evidence_and_submits(
    client, engine, clock, warning, web_settings
):
    url = link("warning", warning.id, warning.person_id, clock)
    response = client.post(
        f"{url}/correction",
        data={"k": key_of(url), "description": "Re-approved by the collective meeting"},
        files=[
            ("files", ("minutes.pdf", PDF, "application/pdf")),
            ("files", ("photo.png", PNG, "application/octet-stream")),  # judged by its name
        ],
    )
    assert response.status_code == 200, response.text
    assert "Correction submitted" in response.text
    with Session(engine) as s:
        assert s.get(Warning, warning.id).status is WarningStatus.SUBMITTED
        report = s.exec(select(Rectification)).one()
        assert report.description == "Re-approved by the collective meeting"
        assert [e["mime"] for e in report.evidence] == ["application/pdf", "image/png"]
        for item in report.evidence:
            stored = Path(web_settings.DATA_DIR) / item["path"]
            assert stored.read_bytes() in (PDF, PNG)
    assert audit_count(engine, "warning.submitted") == 1
    # submitted: the form is gone, and a second post is refused by the rule
    again = client.get(url)
    assert "multipart/form-data" not in again.text and "submitted on" in again.text
    second = client.post(
        f"{url}/correction", data={"k": key_of(url), "description": "again"}, files=[]
    )
    assert second.status_code == 409
    assert audit_count(engine, "warning.submitted") == 1


@pytest.mark.parametrize(
    ("name", "content", "mime", "status", "reason"),
    [
        ("virus.exe", b"MZ\x90\x00", "application/x-msdownload", 415, "not accepted"),
        ("fake.pdf", b"MZ\x90\x00 not a pdf", "application/pdf", 422, "does not match"),
        ("photo.png", PDF, "image/png", 422, "does not match"),
        ("empty.pdf", b"", "application/pdf", 422, "empty"),
    ],
)
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_bad_file_is_refused_with_the_reason_and_nothing_is_stored(
    client, engine, clock, warning, web_settings, name, content, mime, status, reason
):
    url = link("warning", warning.id, warning.person_id, clock)
    before = counts(engine)
    response = client.post(
        f"{url}/correction",
        data={"k": key_of(url), "description": "Done"},
        files=[("files", ("ok.pdf", PDF, "application/pdf")), ("files", (name, content, mime))],
    )
    assert response.status_code == status
    assert reason in response.text
    assert "Done</textarea>" in response.text  # what was written is kept
    assert counts(engine) == before
    evidence_dir = Path(web_settings.DATA_DIR) / "evidence"
    assert not evidence_dir.exists() or not any(p.is_file() for p in evidence_dir.rglob("*"))
    with Session(engine) as s:
        assert s.get(Warning, warning.id).status is WarningStatus.ISSUED


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_body_over_the_limit_is_refused_before_it_is_read(client, engine, clock, warning):
    url = link("warning", warning.id, warning.person_id, clock)
    response = client.post(
        f"{url}/correction",
        content=b"x" * 16,
        headers={
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(200 * 1024 * 1024),
        },
    )
    assert response.status_code == 413
    assert audit_count(engine, "warning.submitted") == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_the_correction_form_needs_the_form_key(client, engine, clock, warning):
    url = link("warning", warning.id, warning.person_id, clock)
    response = client.post(
        f"{url}/correction",
        data={"description": "Done"},
        files=[("files", ("ok.pdf", PDF, "application/pdf"))],
    )
    assert response.status_code == 403
    assert audit_count(engine, "warning.submitted") == 0


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_warning_link_in_the_persons_language(client, engine, clock, session):
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
    url = link("warning", warning.id, person.id, clock)
    response = client.get(url)
    assert response.status_code == 200
    assert 'lang="zh-CN"' in response.text and "合同审批未经集体研究" in response.text
    assert re.search(r"已阅", response.text)
    assert client.post(url, data={"k": key_of(url)}).status_code == 200
    with Session(engine) as s:
        assert s.get(Warning, warning.id).status is WarningStatus.ACKNOWLEDGED
    assert audit_count(engine, "warning.acknowledged") == 1
