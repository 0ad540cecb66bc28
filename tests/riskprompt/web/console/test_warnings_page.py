"""``/warnings``: the list by colour and countdown, a warning's page, issuing and withdrawing.

Officer A (财政局) never sees unit B's (审计局) warnings; issuing and withdrawing go
through the CLI's rules (same audit record, same notices and messages, compared on
a twin); a preview writes nothing; a refusal (CSRF, bad input) changes nothing and
names the field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Person
from riskprompt.models.warnings import (
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    deadline_on,
    issue_warning,
)
from tests.builders import make_person, make_post, make_risk_point, make_warning
from tests.riskprompt.web.console.conftest import ConsoleClients, Office
from tests.riskprompt.web.console.desk_support import counts, outcome, text_of, twin
from tests.riskprompt.web.console.test_access import UNIT_B_MARKERS

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def warn(
    engine: Engine,
    person: Person,
    officer: Person,
    clock: FixedClock,
    *,
    days_ago: int = 0,
    days: int = 7,
    colour: WarningColour = WarningColour.YELLOW,
    reason: str = "采购审批未经集体研究",
) -> int:
    """A warning issued ``days_ago`` with a deadline ``days`` after that."""
    at = clock.now() - timedelta(days=days_ago)
    with Session(engine, expire_on_commit=False) as session:
        warning = issue_warning(
            session,
            actor=officer,
            person=person,
            colour=colour,
            form=WarningForm.CORRECT,
            reason=reason,
            deadline=at + timedelta(days=days),
            clock=FixedClock(at),
        )
        session.commit()
        return warning.id or 0


def cli_now() -> datetime:
    """A moment after everything the CLI did (it runs on the real clock)."""
    return datetime.now(UTC) + timedelta(minutes=1)


def positions(page: str, *codes: str) -> list[int]:
    return [page.index(f">{code}<") for code in codes]


def test_the_list_is_the_officers_scope_overdue_first(
    console: ConsoleClients, office: Office, engine: Engine, clock: FixedClock
) -> None:
    later = warn(engine, office.staff, office.officer_a, clock, days=20)
    overdue = warn(engine, office.staff, office.officer_a, clock, days_ago=10, days=3)
    soon = warn(engine, office.staff, office.officer_a, clock, days=1, colour=WarningColour.RED)
    theirs = warn(engine, office.staff_b, office.officer_b, clock)
    page = console.as_role("officer_a").get("/warnings")
    assert page.status_code == 200
    html = page.text
    order = positions(html, f"W{overdue}", f"W{soon}", f"W{later}")
    assert order == sorted(order)
    assert f">W{theirs}<" not in html
    assert [m for m in UNIT_B_MARKERS if m in html] == []
    text = text_of(html)
    assert "逾期 7 天" in text and "剩余 1 天" in text and "剩余 20 天" in text
    assert "共 3 条预警" in text
    # by colour: the counts are of the scope's warnings only
    assert "红色 1" in text and "黄色 2" in text and "全部颜色 3" in text
    assert f">W{theirs}<" in console.as_role("officer_b").get("/warnings").text
    admin = console.as_role("admin").get("/warnings").text
    assert all(f">W{w}<" in admin for w in (later, overdue, soon, theirs))


def test_filters_narrow_the_list_and_stay_in_the_url(
    console: ConsoleClients, office: Office, engine: Engine, clock: FixedClock
) -> None:
    yellow = warn(engine, office.staff, office.officer_a, clock)
    red = warn(engine, office.staff, office.officer_a, clock, colour=WarningColour.RED)
    with Session(engine, expire_on_commit=False) as session:
        other = make_person(session, unit=office.unit_a, staff_id="KJ007", name="刘会计")
        session.commit()
    elsewhere = warn(engine, other, office.officer_a, clock)
    client = console.as_role("officer_a")

    def listed(query: str) -> set[int]:
        response = client.get(f"/warnings?{query}")
        assert response.status_code == 200, response.text[:300]
        return {w for w in (yellow, red, elsewhere) if f">W{w}<" in response.text}

    assert listed("colour=red") == {red}
    assert listed("colour=红") == {red}
    assert listed("q=刘") == {elsewhere}
    assert listed("q=cw001") == {yellow, red}
    assert listed(f"unit={office.unit_a_sub.id}") == {yellow, red}
    assert listed(f"unit={office.unit_a.id}") == {yellow, red, elsewhere}
    assert client.get(f"/warnings?unit={office.unit_b.id}").status_code == 404  # not theirs
    assert listed("status=closed") == set()
    assert listed("status=issued&colour=yellow") == {yellow, elsewhere}
    # the colour links keep the other filters
    page = client.get("/warnings?q=刘&status=all").text
    assert "colour=red" in page and "q=%E5%88%98" in page and "status=all" in page


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=nope", "状态"), ("unit=abc", "单位"), ("colour=purple", "颜色"), ("page=0", "page")],
)
@SQLITE_ONLY
def test_a_bad_filter_is_a_page_naming_the_field(
    console: ConsoleClients, query: str, field: str
) -> None:
    response = console.as_role("officer_a").get(f"/warnings?{query}")
    assert response.status_code == 422
    assert "<html" in response.text and "Traceback" not in response.text
    assert field in text_of(response.text) or field in response.text


@SQLITE_ONLY
def test_pages_of_fifty(
    console: ConsoleClients, office: Office, engine: Engine, clock: FixedClock
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        for n in range(51):
            make_warning(
                session,
                person=office.staff,
                officer=office.officer_a,
                at=clock.now(),
                reason=f"事由{n}",
            )
        session.commit()
    client = console.as_role("officer_a")
    first = text_of(client.get("/warnings").text)
    assert "共 51 条预警" in first and "第 1 页，共 2 页" in first
    second = client.get("/warnings?page=2")
    assert second.status_code == 200
    assert second.text.count('href="/warnings/W') == 1


def test_a_warnings_page_shows_its_history(
    console: ConsoleClients, office: Office, engine: Engine, clock: FixedClock
) -> None:
    mine = warn(engine, office.staff, office.officer_a, clock, reason="公务接待超标准")
    theirs = warn(engine, office.staff_b, office.officer_b, clock)
    client = console.as_role("officer_a")
    page = client.get(f"/warnings/W{mine}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "公务接待超标准" in text and "张出纳" in text and "下发预警" in text
    assert "撤回预警" in text  # open: it may be withdrawn
    assert client.get(f"/warnings/{mine}").status_code == 200  # the bare number too
    # another unit's warning, or none: not found, and nothing of it shown
    for path in (f"/warnings/W{theirs}", "/warnings/W999", "/warnings/abc"):
        refused = client.get(path)
        assert refused.status_code == 404, path
        assert [m for m in UNIT_B_MARKERS if m in refused.text] == []
    assert client.get("/warnings/W0").status_code == 422


def test_the_preview_shows_who_gets_what_and_writes_nothing(
    console: ConsoleClients, office: Office, engine: Engine
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        boss = make_person(
            session,
            unit=office.unit_a_sub,
            staff_id="CZ001",
            name="周科长",
            channels="email",
            mobile=None,
            email="boss@example.gov.cn",
        )
        staff = session.get(Person, office.staff.id)
        assert staff is not None
        staff.supervisor_id = boss.id
        staff.telegram_chat_id = 7001  # bound in chat: Telegram comes first
        session.add(staff)
        session.commit()
    client = console.as_role("officer_a")
    before = counts(engine)
    response = client.post_form(
        "/warnings/new",
        {
            "person": "张出纳",
            "colour": "red",
            "form": "admonish",
            "reason": "违规报销差旅费",
            "step": "preview",
        },
    )
    assert response.status_code == 200, response.text[:500]
    text = text_of(response.text)
    assert counts(engine) == before
    # red: the person on every channel, and their supervisor
    assert "将发送 4 条消息" in text
    assert text.count("被预警人") == 3 and "其上级" in text
    assert "Telegram" in text and "&lt;b&gt;" not in response.text  # chat markup taken out
    assert (
        "+8613800000000" in text and "someone@example.org" in text and "boss@example.gov.cn" in text
    )
    assert "违规报销差旅费" in text and "2026年12月6日" in text  # red: 5 days
    # the reader's signed links are not shown: they would let the officer act as the person
    assert "/ack/" not in text and "/a/w" not in text and "riskprompt.example.gov.cn/…" in text
    # the confirmation carries what was previewed: the staff ID and the day
    assert 'name="person" value="CW001"' in response.text
    assert 'name="deadline" value="2026-12-06"' in response.text


def test_issuing_writes_what_the_cli_writes(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    cli: CliRunner,
    web_settings: Settings,
) -> None:
    other = twin(engine, office.staff, "CW002", "钱出纳")
    with Session(engine, expire_on_commit=False) as session:
        post = make_post(session, unit=office.unit_a_sub, name="出纳岗")
        point = make_risk_point(session, post=post, description="资金支付审核不严")
        session.commit()
    response = console.as_role("officer_a").post_form(
        "/warnings/new",
        {
            "person": "CW001",
            "colour": "orange",
            "form": "correct",
            "reason": "采购审批未经集体研究",
            "risk_point": str(point.id),
            "deadline": "2099-12-31",
            "step": "issue",
        },
    )
    assert response.status_code == 303, response.text[:500]
    with Session(engine) as session:
        [issued] = session.exec(select(Warning).where(Warning.person_id == office.staff.id)).all()
    assert response.headers["location"] == f"/warnings/W{issued.id}?done=issued"
    assert issued.deadline == deadline_on(issued.deadline, web_settings)
    assert (issued.colour, issued.form, issued.risk_point_id) == (
        WarningColour.ORANGE,
        WarningForm.CORRECT,
        point.id,
    )
    shown = console.as_role("officer_a").get(response.headers["location"])
    assert f"预警 W{issued.id} 已签发" in text_of(shown.text)
    result = cli.invoke(
        cli_app,
        [
            "warn", "--as", "JJA01", "--person", "CW002", "--colour", "orange",
            "--form", "correct", "--reason", "采购审批未经集体研究",
            "--risk-point", str(point.id), "--deadline", "2099-12-31",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with Session(engine) as session:
        [by_cli] = session.exec(select(Warning).where(Warning.person_id == other.id)).all()
    now = cli_now()
    console_side = outcome(
        engine,
        action="warning.issued",
        warning_id=issued.id or 0,
        person=office.staff,
        settings=web_settings,
        now=now,
    )
    cli_side = outcome(
        engine,
        action="warning.issued",
        warning_id=by_cli.id or 0,
        person=other,
        settings=web_settings,
        now=now,
    )
    assert console_side == cli_side
    assert console_side.messages == [("email", "addressee"), ("sms", "addressee")]
    assert by_cli.deadline == issued.deadline


@pytest.mark.parametrize(
    ("fields", "status", "named"),
    [
        ({"person": ""}, 422, "人员"),
        ({"colour": ""}, 422, "颜色"),
        ({"colour": "purple"}, 422, "颜色"),
        ({"form": "shout"}, 422, "形式"),
        ({"reason": "  "}, 422, "事由"),
        ({"risk_point": "abc"}, 422, "风险点"),
        ({"deadline": "31/12/2099"}, 422, "期限"),
        ({"deadline": "2026-11-30"}, 422, "期限"),
        ({"person": "无此人"}, 404, "无此人"),
        ({"risk_point": "999"}, 404, "风险点"),
    ],
)
@SQLITE_ONLY
def test_bad_input_is_a_page_naming_the_field(
    console: ConsoleClients, engine: Engine, fields: dict[str, str], status: int, named: str
) -> None:
    client = console.as_role("officer_a")
    before = counts(engine)
    form = {"person": "CW001", "colour": "red", "form": "prompt", "reason": "事由", "step": "issue"}
    response = client.post_form("/warnings/new", {**form, **fields})
    assert response.status_code == status, text_of(response.text)[-400:]
    assert named in text_of(response.text)
    assert "Traceback" not in response.text
    assert counts(engine) == before
    # the form comes back with what was typed
    if fields.get("reason", "x").strip():
        assert 'name="reason"' in response.text


@SQLITE_ONLY
def test_nobody_outside_the_scope_can_be_named(console: ConsoleClients, engine: Engine) -> None:
    client = console.as_role("officer_a")
    before = counts(engine)
    for person in ("SJ001", "陈审计"):
        response = client.post_form(
            "/warnings/new",
            {"person": person, "colour": "red", "form": "prompt", "reason": "x", "step": "preview"},
        )
        assert response.status_code == 404
        # what the officer typed comes back; nothing else of unit B does
        assert [m for m in UNIT_B_MARKERS if m != person and m in response.text] == []
    assert counts(engine) == before


@SQLITE_ONLY
def test_namesakes_are_offered_to_choose_from(
    console: ConsoleClients, office: Office, engine: Engine
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        make_person(session, unit=office.unit_a, staff_id="CW009", name="张出纳")
        make_person(session, unit=office.unit_b, staff_id="SJ009", name="张出纳")  # not in scope
        session.commit()
    response = console.as_role("officer_a").post_form(
        "/warnings/new",
        {"person": "张出纳", "colour": "red", "form": "prompt", "reason": "x", "step": "preview"},
    )
    assert response.status_code == 422
    assert '<option value="CW001">' in response.text and '<option value="CW009">' in response.text
    assert "SJ009" not in response.text


@SQLITE_ONLY
def test_a_post_without_the_csrf_token_changes_nothing(
    console: ConsoleClients, office: Office, engine: Engine, clock: FixedClock
) -> None:
    mine = warn(engine, office.staff, office.officer_a, clock)
    client = console.as_role("officer_a")
    before = counts(engine)
    issued = client.post(
        "/warnings/new",
        data={"person": "CW001", "colour": "red", "form": "prompt", "reason": "x", "step": "issue"},
    )
    withdrawn = client.post(f"/warnings/W{mine}/withdraw", data={"reason": "误发"})
    assert (issued.status_code, withdrawn.status_code) == (403, 403)
    assert counts(engine) == before
    with Session(engine) as session:
        warning = session.get(Warning, mine)
        assert warning is not None and warning.status is WarningStatus.ISSUED


def test_withdrawing_writes_what_the_cli_writes(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    cli: CliRunner,
    web_settings: Settings,
) -> None:
    other = twin(engine, office.staff, "CW002", "钱出纳")
    mine = warn(engine, office.staff, office.officer_a, clock)
    its_twin = warn(engine, other, office.officer_a, clock)
    theirs = warn(engine, office.staff_b, office.officer_b, clock)
    client = console.as_role("officer_a")
    # a reason is required, named; nothing changes
    before = counts(engine)
    empty = client.post_form(f"/warnings/W{mine}/withdraw", {"reason": " "})
    assert empty.status_code == 422 and "原因" in text_of(empty.text)
    assert counts(engine) == before
    # another unit's warning: not found, unchanged
    assert client.post_form(f"/warnings/W{theirs}/withdraw", {"reason": "误发"}).status_code == 404
    assert counts(engine) == before
    done = client.post_form(f"/warnings/W{mine}/withdraw", {"reason": "经核实系误报"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/warnings/W{mine}?done=withdrawn"
    html = client.get(done.headers["location"]).text
    page = text_of(html)
    assert "已撤回" in page and "经核实系误报" in page and "/withdraw" not in html
    again = client.post_form(f"/warnings/W{mine}/withdraw", {"reason": "再次"})
    assert again.status_code == 409
    result = cli.invoke(
        cli_app, ["withdraw", str(its_twin), "--as", "JJA01", "--reason", "经核实系误报"]
    )
    assert result.exit_code == 0, result.output
    now = cli_now()
    console_side = outcome(
        engine,
        action="warning.withdrawn",
        warning_id=mine,
        person=office.staff,
        settings=web_settings,
        now=now,
    )
    cli_side = outcome(
        engine,
        action="warning.withdrawn",
        warning_id=its_twin,
        person=other,
        settings=web_settings,
        now=now,
    )
    assert console_side == cli_side
    assert console_side.audit[1]["reason"] == "经核实系误报"
    with Session(engine) as session:
        statuses = session.exec(
            select(Warning.status).where(col(Warning.id).in_([mine, its_twin]))
        ).all()
    assert set(statuses) == {WarningStatus.WITHDRAWN}


@SQLITE_ONLY
def test_english_by_switch(
    console: ConsoleClients, office: Office, engine: Engine, clock: FixedClock
) -> None:
    warn(engine, office.staff, office.officer_a, clock, days=3)
    page = text_of(console.as_role("officer_a").get("/warnings?lang=en").text)
    assert "Warnings" in page and "3 days left" in page and "Issue a warning" in page
