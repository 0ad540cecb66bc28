"""``/special``: the special prompt composer, its dry run and its confirmation.

The dry run writes nothing; confirming writes what ``riskprompt remind`` writes
(broadcast, prompts, outbox, audit); the officer's scope bounds the targets and
what the page shows; every POST needs the CSRF token; bad input is a 4xx page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.people import Assignment, Person
from riskprompt.models.prompts import Broadcast, BroadcastStatus, Delivery, Prompt
from tests.builders import assign, make_person, make_post, make_risk_point
from tests.riskprompt.web.conftest import PUBLIC_URL, SECRET_KEY, TWILIO_TOKEN
from tests.riskprompt.web.console.conftest import ConsoleClients, Office

TEXT = "节前廉洁提醒：严禁违规收受礼品礼金。"


@pytest.fixture
def posts(engine: Engine, office: Office) -> dict[str, int]:
    """A cashier post in A's sub-unit (high risk, held by CW001) and an audit post in B."""
    with Session(engine, expire_on_commit=False) as session:
        cashier = make_post(session, unit=office.unit_a_sub, name="出纳岗")
        make_risk_point(session, post=cashier, level=RiskLevel.HIGH, description="资金支付审核不严")
        auditor = make_post(session, unit=office.unit_b, name="审计岗")
        make_risk_point(session, post=auditor, level=RiskLevel.HIGH, description="审计报告失实")
        staff = session.get(Person, office.staff.id)
        staff_b = session.get(Person, office.staff_b.id)
        assert staff is not None and staff_b is not None
        assign(session, person=staff, post=cashier)
        assign(session, person=staff_b, post=auditor)
        session.commit()
        return {"cashier": cashier.id or 0, "auditor": auditor.id or 0}


def counts(engine: Engine) -> dict[str, int]:
    """How many broadcasts, prompts, deliveries and audit records there are."""
    with Session(engine) as session:
        return {
            model.__name__: int(session.exec(select(func.count()).select_from(model)).one())
            for model in (Broadcast, Prompt, Delivery, AuditEvent, Assignment)
        }


def preview_url(**params: str) -> str:
    values = {"kind": "all", "text": TEXT, "when": "now", "ack": "yes", **params}
    return "/special/preview?" + urlencode(values)


def test_the_composer_speaks_chinese_and_offers_only_the_officers_units(
    console: ConsoleClients,
) -> None:
    page = console.as_role("officer_a").get("/special")
    assert page.status_code == 200
    html = page.text
    for words in ("特别提示", "发送对象", "财政局", "国库科", "试运行"):
        assert words in html, words
    assert "审计局" not in html
    assert 'name="csrf_token"' not in html.split("<main", 1)[1].split("</form>", 1)[0]  # a GET form


def test_the_not_acknowledged_selection_fills_in_the_people(console: ConsoleClients) -> None:
    page = console.as_role("officer_a").get("/special?to=person:CW001,person:JJA01")
    assert page.status_code == 200
    assert 'value="CW001, JJA01"' in page.text
    unit = console.as_role("officer_a").get(f"/special?to=unit:{console.office.unit_a.id}%2B")
    assert f'value="{console.office.unit_a.id}" selected' in unit.text


def test_the_dry_run_lists_recipients_and_channels_and_writes_nothing(
    console: ConsoleClients, engine: Engine, posts: dict[str, int]
) -> None:
    client = console.as_role("officer_a")
    before = counts(engine)
    page = client.get(preview_url(kind="unit", unit=str(console.office.unit_a.id), sub="1"))
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert "CW001" in html and "张出纳" in html and "JJA01" in html
    assert "<td>短信</td>" in html  # the channel the prompt would go out on (no chat bound)
    assert "财政局及下级单位" in html
    assert "审计局" not in html and "SJ001" not in html
    assert 'action="/special"' in html and 'name="csrf_token"' in html
    assert counts(engine) == before
    level = client.get(preview_url(kind="level", level="high"))
    assert "CW001" in level.text and "SJ001" not in level.text  # narrowed to the scope
    assert counts(engine) == before


def test_everyone_means_everyone_in_the_officers_scope(
    console: ConsoleClients, posts: dict[str, int]
) -> None:
    a = console.as_role("officer_a").get(preview_url()).text
    assert "CW001" in a and "SJ001" not in a and "陈审计" not in a
    admin = console.as_role("admin").get(preview_url()).text
    assert "CW001" in admin and "SJ001" in admin


def _rows(engine: Engine, broadcast_ids: list[int]) -> dict[str, Any]:
    """What the special prompts wrote, without ids, times and links."""
    with Session(engine) as session:
        broadcasts = session.exec(
            select(Broadcast).where(col(Broadcast.id).in_(broadcast_ids)).order_by(Broadcast.id)
        ).all()
        prompts = session.exec(
            select(Prompt, Person.staff_id)
            .join(Person, col(Person.id) == Prompt.person_id)
            .where(col(Prompt.broadcast_id).in_(broadcast_ids))
        ).all()
        prompt_ids = [p.id for p, _ in prompts]
        deliveries = session.exec(
            select(Delivery, Person.staff_id)
            .join(Person, col(Person.id) == Delivery.person_id)
            .where(col(Delivery.prompt_id).in_(prompt_ids))
        ).all()
        audit = session.exec(
            select(AuditEvent)
            .where(
                AuditEvent.subject_type == "broadcast",
                col(AuditEvent.subject_id).in_(broadcast_ids),
            )
            .order_by(AuditEvent.id)
        ).all()
        return {
            "broadcasts": [
                (b.target, b.text, b.requires_ack, b.status, b.prompt_count, b.issued_by_id)
                for b in broadcasts
            ],
            "prompts": sorted(
                (staff_id, p.kind, p.title, p.requires_ack, p.status, p.content["text"])
                for p, staff_id in prompts
            ),
            "deliveries": sorted(
                (staff_id, d.channel, d.status, d.address or "") for d, staff_id in deliveries
            ),
            "audit": [
                (
                    e.action,
                    e.actor_id,
                    {k: v for k, v in e.data.items() if k not in ("due_at",)},
                )
                for e in audit
            ],
        }


def test_confirming_writes_what_riskprompt_remind_writes(
    console: ConsoleClients,
    engine: Engine,
    database: str,
    posts: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unit = str(console.office.unit_a.id)
    form = {"kind": "unit", "unit": unit, "sub": "1", "text": TEXT, "when": "now", "ack": "yes"}
    before = counts(engine)
    answer = console.as_role("officer_a").post_form("/special", form)
    assert answer.status_code == 303, answer.text[:500]
    sent = re.search(r"sent=(\d+)", answer.headers["location"])
    assert sent is not None
    web_id = int(sent.group(1))
    after = counts(engine)
    assert after["Broadcast"] == before["Broadcast"] + 1
    assert after["Prompt"] > before["Prompt"] and after["Delivery"] > before["Delivery"]

    # The same special prompt through the CLI, with the web app's settings.
    for name, value in {
        "DATABASE_URL": database,
        "PUBLIC_URL": PUBLIC_URL,
        "SECRET_KEY": SECRET_KEY,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TWILIO_FROM": "+15005550006",
        "TELEGRAM_TOKEN": "123456:test-token",
    }.items():
        monkeypatch.setenv(f"RISKPROMPT_{name}", value)
    cli = CliRunner().invoke(
        cli_app, ["remind", "--as", "JJA01", "--to", f"unit:{unit}+", "--text", TEXT]
    )
    assert cli.exit_code == 0, cli.output
    with Session(engine) as session:
        cli_id = session.exec(select(func.max(Broadcast.id))).one()
    assert cli_id == web_id + 1
    web, by_cli = _rows(engine, [web_id]), _rows(engine, [cli_id])
    assert web == by_cli
    assert web["broadcasts"][0][3] == BroadcastStatus.EXPANDED
    assert [a for a, _, _ in web["audit"]] == ["special.issued", "special.expanded"]
    assert {d[0] for d in web["deliveries"]} >= {"CW001"}

    page = console.as_role("officer_a").get(answer.headers["location"])
    assert page.status_code == 200
    assert "已发送" in page.text and "财政局及下级单位" in page.text


def test_several_people_each_get_one_special_prompt(
    console: ConsoleClients, engine: Engine, office: Office
) -> None:
    form = {"kind": "person", "people": "CW001, JJA01, CW001", "text": TEXT, "ack": "no"}
    preview = console.as_role("officer_a").get("/special/preview?" + urlencode(form))
    assert preview.status_code == 200
    assert "CW001" in preview.text and "JJA01" in preview.text
    answer = console.as_role("officer_a").post_form("/special", form)
    assert answer.status_code == 303
    with Session(engine) as session:
        broadcasts = session.exec(select(Broadcast).order_by(Broadcast.id)).all()
        assert [(b.target, b.requires_ack, b.prompt_count) for b in broadcasts] == [
            ("person:CW001", False, 1),
            ("person:JJA01", False, 1),
        ]


def test_a_later_time_schedules_it(console: ConsoleClients, engine: Engine) -> None:
    form = {"kind": "all", "text": TEXT, "when": "later", "at": "2026-12-24T09:00", "ack": "yes"}
    preview = console.as_role("officer_a").get("/special/preview?" + urlencode(form))
    assert preview.status_code == 200
    assert "2026年12月24日" in preview.text and "确认并定时发送" in preview.text
    answer = console.as_role("officer_a").post_form("/special", form)
    assert answer.status_code == 303
    with Session(engine) as session:
        broadcast = session.exec(select(Broadcast)).one()
        assert broadcast.status == BroadcastStatus.SCHEDULED
        assert broadcast.due_at.isoformat().startswith("2026-12-24T01:00")  # 09:00 Shanghai
        assert session.exec(select(func.count()).select_from(Prompt)).one() == 0
    page = console.as_role("officer_a").get(answer.headers["location"])
    assert "定时" in page.text


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"kind": "unit", "unit": "B"}, "不在您的监督范围内"),
        ({"kind": "person", "people": "SJ001"}, "不在您的监督范围内"),
        ({"kind": "post", "post": "AUDITOR"}, "不在您的监督范围内"),
    ],
    ids=["unit B", "a person of B", "a post of B"],
)
def test_officer_a_cannot_target_unit_b(
    console: ConsoleClients,
    engine: Engine,
    posts: dict[str, int],
    params: dict[str, str],
    words: str,
) -> None:
    office = console.office
    values = {
        k: v.replace("AUDITOR", str(posts["auditor"])).replace("B", str(office.unit_b.id))
        if k in ("unit", "post")
        else v
        for k, v in params.items()
    }
    client = console.as_role("officer_a")
    before = counts(engine)
    preview = client.get(preview_url(**values))
    assert preview.status_code == 403
    assert words in preview.text
    confirm = client.post_form("/special", {"text": TEXT, "when": "now", **values})
    assert confirm.status_code == 403
    assert words in confirm.text
    for page in (preview.text, confirm.text):
        assert "审计局" not in page and "陈审计" not in page and "审计岗" not in page
    assert counts(engine) == before
    # officer B may
    assert console.as_role("officer_b").get(preview_url(**values)).status_code == 200


def test_a_post_without_the_csrf_token_is_refused_and_sends_nothing(
    console: ConsoleClients, engine: Engine
) -> None:
    client = console.as_role("officer_a")
    before = counts(engine)
    refused = client.post("/special", data={"kind": "all", "text": TEXT, "when": "now"})
    assert refused.status_code == 403
    assert "<html" in refused.text
    wrong = client.post(
        "/special", data={"kind": "all", "text": TEXT, "csrf_token": "not-the-token"}
    )
    assert wrong.status_code == 403
    assert counts(engine) == before


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"kind": "team"}, 422, "team"),
        ({"kind": "person", "people": ""}, 422, "工号"),
        ({"kind": "person", "people": "NOBODY"}, 404, "NOBODY"),
        ({"kind": "level", "level": "extreme"}, 422, "extreme"),
        ({"text": "   "}, 422, "特别提示内容为空"),
        ({"when": "later", "at": "soon"}, 422, "soon"),
        ({"when": "later", "at": ""}, 422, "发送时间"),
        ({"when": "later", "at": "2020-01-01T09:00"}, 422, "立即发送"),
        ({"page": "0"}, 422, "page"),
    ],
    ids=[
        "kind",
        "no people",
        "unknown person",
        "level",
        "empty text",
        "time",
        "no time",
        "past time",
        "page",
    ],
)
def test_bad_input_is_a_4xx_page_naming_it(
    console: ConsoleClients, engine: Engine, params: dict[str, str], status: int, words: str
) -> None:
    client = console.as_role("officer_a")
    before = counts(engine)
    page = client.get(preview_url(**params))
    assert page.status_code == status, page.text[:800]
    assert words in page.text
    assert "Traceback" not in page.text and "--force" not in page.text
    assert counts(engine) == before


def test_the_page_is_english_on_the_switch(console: ConsoleClients) -> None:
    page = console.as_role("officer_a").get(preview_url() + "&lang=en")
    assert page.status_code == 200
    assert "Dry run of the special prompt" in page.text
    assert "Confirm and send" in page.text


def test_only_officers_compose(console: ConsoleClients, engine: Engine) -> None:
    assert console.as_role("staff").get("/special").status_code == 403
    anonymous = console.anonymous().get("/special/preview?kind=all&text=x")
    assert anonymous.status_code == 302
    staff = console.signed_in(console.office.staff)
    before = counts(engine)
    assert staff.post_form("/special", {"kind": "all", "text": TEXT}).status_code == 403
    assert counts(engine) == before


def test_recent_special_prompts_are_the_officers_own(
    console: ConsoleClients, engine: Engine
) -> None:
    console.as_role("officer_b").post_form("/special", {"kind": "all", "text": "审计局内部提醒"})
    mine = console.as_role("officer_a").post_form("/special", {"kind": "all", "text": TEXT})
    assert mine.status_code == 303
    page = console.as_role("officer_a").get("/special").text
    assert TEXT[:10] in page and "审计局内部提醒" not in page


def test_a_sent_id_of_another_officer_tells_nothing(console: ConsoleClients) -> None:
    answer = console.as_role("officer_b").post_form("/special", {"kind": "all", "text": "x"})
    location = answer.headers["location"]
    page = console.as_role("officer_a").get(location)
    assert page.status_code == 200
    assert "已发送" not in page.text and "审计局" not in page.text


def test_an_inactive_person_is_refused(console: ConsoleClients, engine: Engine) -> None:
    with Session(engine) as session:
        gone = make_person(session, unit=console.office.unit_a, staff_id="CW009", name="离职人员")
        gone.active = False
        session.add(gone)
        session.commit()
    page = console.as_role("officer_a").get(preview_url(kind="person", people="CW009"))
    assert page.status_code == 422
    assert "CW009" in page.text
