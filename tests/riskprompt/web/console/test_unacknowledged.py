"""Not acknowledged (未阅): the list, its filters and pages, and reminding from it.

A reminder from the console is the follow-up's reminder: the same delivery (the
next channel, ``p<id>-<channel>-rem<n>``, the same text) and the same
``prompt.reminded`` audit record, with the officer as its actor.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import PermissionDenied
from riskprompt.models.listings import unacknowledged_people
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptKind, PromptStatus
from riskprompt.notifications.escalation import run_follow_ups
from riskprompt.notifications.planning import issue_and_expand
from riskprompt.notifications.reminding import resend_reminders
from tests.builders import make_person
from tests.riskprompt.web.console.conftest import ConsoleClients, Office

DECEMBER = "2026-12"


def special_to(
    engine: Engine, officer: Person, staff_ids: list[str], clock: FixedClock, settings: Settings
) -> None:
    """A special prompt to these people, sent now (its prompts and first deliveries)."""
    with Session(engine, expire_on_commit=False) as session:
        for staff_id in staff_ids:
            issue_and_expand(
                session,
                actor=officer,
                target=f"person:{staff_id}",
                text="年底资金支付请严格执行双人审核。",
                clock=clock,
                settings=settings,
            )
        session.commit()


@pytest.fixture
def prompted(engine: Engine, office: Office, clock: FixedClock, web_settings: Settings) -> Office:
    """CW001 (国库科) and SJ001 (审计局) each have a special prompt of December, open."""
    special_to(engine, office.admin, ["CW001", "SJ001"], clock, web_settings)
    return office


def prompts_of(engine: Engine, staff_id: str) -> list[Prompt]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Prompt)
                .join(Person, col(Person.id) == Prompt.person_id)
                .where(Person.staff_id == staff_id)
                .order_by(col(Prompt.id))
            ).all()
        )


def deliveries_of(engine: Engine, prompt_id: int) -> list[Delivery]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(Delivery).where(Delivery.prompt_id == prompt_id).order_by(col(Delivery.id))
            ).all()
        )


def reminded_events(engine: Engine) -> list[AuditEvent]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.action == "prompt.reminded")
                .order_by(col(AuditEvent.id))
            ).all()
        )


def count(engine: Engine, table: Any) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


# -- the list ----------------------------------------------------------------------------


def test_the_list_shows_the_people_of_the_scope_only(
    console: ConsoleClients, prompted: Office
) -> None:
    page = console.as_role("officer_a").get("/unacknowledged")
    assert page.status_code == 200
    html = page.text
    assert "未阅" in html and "张出纳" in html and "CW001" in html and "国库科" in html
    assert "特别提示" in html  # the post column of a special prompt
    for marker in ("审计局", "陈审计", "SJ001", "李纪检"):
        assert marker not in html
    assert 'name="staff" value="CW001"' in html and 'name="csrf_token"' in html
    other = console.as_role("officer_b").get("/unacknowledged").text
    assert "陈审计" in other and "张出纳" not in other


def test_a_row_says_how_it_was_sent_and_how_long_it_waits(
    engine: Engine, console: ConsoleClients, prompted: Office, clock: FixedClock
) -> None:
    clock.current = clock.current + timedelta(days=3)
    html = console.as_role("officer_a").get("/unacknowledged").text
    # the first delivery is queued (no dispatcher ran): its channel and state
    assert "短信" in html or "电子邮件" in html or "Telegram" in html
    assert "待发送" in html
    assert "3天" in html


def test_filters_by_unit_with_its_sub_units_and_by_name_or_staff_id(
    engine: Engine,
    console: ConsoleClients,
    prompted: Office,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    office = prompted
    with Session(engine, expire_on_commit=False) as session:
        make_person(session, unit=office.unit_a, staff_id="CZ002", name="刘会计")
        session.commit()
    special_to(engine, office.admin, ["CZ002"], clock, web_settings)
    client = console.as_role("officer_a")
    every = client.get("/unacknowledged").text
    assert "刘会计" in every and "张出纳" in every
    in_a = client.get(f"/unacknowledged?unit={office.unit_a.id}").text
    assert "刘会计" in in_a and "张出纳" in in_a  # 财政局 with 国库科
    in_sub = client.get(f"/unacknowledged?unit={office.unit_a_sub.id}").text
    assert "张出纳" in in_sub and "刘会计" not in in_sub
    assert "刘会计" in client.get("/unacknowledged?q=cz002").text
    by_name = client.get("/unacknowledged?q=出纳").text
    assert "张出纳" in by_name and "刘会计" not in by_name
    nobody = client.get("/unacknowledged?q=nobody").text
    assert "张出纳" not in nobody and "刘会计" not in nobody


def test_a_unit_outside_the_scope_is_not_found_and_names_nothing(
    console: ConsoleClients, prompted: Office
) -> None:
    page = console.as_role("officer_a").get(f"/unacknowledged?unit={prompted.unit_b.id}")
    assert page.status_code == 404
    assert "审计局" not in page.text and "陈审计" not in page.text


def test_pages_of_fifty(
    engine: Engine, console: ConsoleClients, office: Office, clock: FixedClock
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        people = [
            make_person(session, unit=office.unit_a, staff_id=f"P{n:03d}", name=f"人员{n:03d}")
            for n in range(55)
        ]
        for n, person in enumerate(people):  # the first made waits the longest
            session.add(
                Prompt(
                    kind=PromptKind.MONTHLY,
                    person_id=person.id or 0,
                    period=DECEMBER,
                    title="提示",
                    created_at=clock.now() - timedelta(minutes=100 - n),
                )
            )
        session.commit()
    client = console.as_role("officer_a")
    first = client.get("/unacknowledged").text
    assert first.count('name="staff"') == 50
    assert "人员000" in first and "人员049" in first and "人员050" not in first
    assert 'href="/unacknowledged?period=2026-12&amp;page=2"' in first
    second = client.get("/unacknowledged?page=2").text
    assert second.count('name="staff"') == 5 and "人员054" in second
    assert "人员054" in client.get("/unacknowledged?page=9").text  # past the end: the last page
    with Session(engine) as session:
        listed = unacknowledged_people(
            session,
            officer=office.officer_a,
            now=clock.now(),
            zone=clock.now().tzinfo,  # type: ignore[arg-type]
            period=DECEMBER,
            limit=50,
            offset=50,
        )
    assert listed.total == 55 and listed.rows[0].person.staff_id == "P050"


def test_the_period_chosen_lists_its_prompts(
    engine: Engine, console: ConsoleClients, prompted: Office
) -> None:
    client = console.as_role("officer_a")
    assert "张出纳" not in client.get("/unacknowledged?period=2026-11").text
    assert '<option value="2026-11" selected>' in client.get("/unacknowledged?period=2026-11").text


@pytest.mark.parametrize(
    "query",
    ["period=2026-13", "period=x", "unit=abc", "unit=0", "page=0", "page=x", "q=" + "长" * 101],
)
def test_bad_query_parameters_answer_a_page_not_a_500(
    console: ConsoleClients, prompted: Office, query: str
) -> None:
    page = console.as_role("officer_a").get(f"/unacknowledged?{query}")
    assert 400 <= page.status_code < 500, page.text[:300]
    assert "<html" in page.text and "Traceback" not in page.text


# -- reminding ---------------------------------------------------------------------------


def test_a_reminder_from_the_console_is_the_follow_ups_reminder(
    engine: Engine,
    console: ConsoleClients,
    prompted: Office,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    office = prompted
    with Session(engine, expire_on_commit=False) as session:
        make_person(session, unit=office.unit_a, staff_id="CZ002", name="刘会计")
        session.commit()
    special_to(engine, office.admin, ["CZ002"], clock, web_settings)
    [by_hand] = prompts_of(engine, "CW001")
    [automatic] = prompts_of(engine, "CZ002")

    # the console reminds CW001 an hour later ...
    clock.current = clock.current + timedelta(hours=1)
    client = console.as_role("officer_a")
    answer = client.post_form(
        "/unacknowledged/remind",
        {"staff": ["CW001"], "action": "remind", "period": DECEMBER, "back": "/unacknowledged"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/unacknowledged?reminded=1")
    assert "已为 1 人安排提醒" in client.get(answer.headers["location"]).text  # a banner
    # ... the follow-up reminds CZ002 when its time comes (CW001's next is an hour later)
    hours = web_settings.PROMPT_REMIND_AFTER_HOURS
    clock.current = clock.current + timedelta(hours=hours - 1)
    run_follow_ups(engine, clock=clock, settings=web_settings)

    [_, mine] = deliveries_of(engine, by_hand.id or 0)
    [first, theirs] = deliveries_of(engine, automatic.id or 0)
    assert mine.idempotency_key.endswith("-rem1") and theirs.idempotency_key.endswith("-rem1")
    assert mine.channel == theirs.channel != first.channel  # the next channel
    assert mine.extra == theirs.extra and mine.extra["reminder"] == 1
    assert mine.subject == theirs.subject
    assert mine.status is DeliveryStatus.PENDING
    events = {e.subject_id: e for e in reminded_events(engine)}  # SJ001 is reminded too
    manual, auto = events[by_hand.id], events[automatic.id]
    assert manual.data == auto.data == {"reminder": 1, "channel": mine.channel}
    assert manual.actor_id == office.officer_a.id and auto.actor_id is None
    # the console's reminder counts as a step: the follow-up's next one is a full interval on
    [after] = prompts_of(engine, "CW001")
    assert after.reminders == 1 and after.remind_at == clock.now() + timedelta(hours=1)


def test_the_follow_up_after_a_console_reminder_takes_the_next_step(
    engine: Engine,
    console: ConsoleClients,
    prompted: Office,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    console.as_role("officer_a").post_form(
        "/unacknowledged/remind", {"staff": "CW001", "action": "remind", "period": DECEMBER}
    )
    clock.current = clock.current + timedelta(hours=web_settings.PROMPT_REMIND_AFTER_HOURS + 1)
    run_follow_ups(engine, clock=clock, settings=web_settings)
    [prompt] = prompts_of(engine, "CW001")
    keys = [d.idempotency_key for d in deliveries_of(engine, prompt.id or 0)]
    assert [k.rsplit("-", 1)[-1] for k in keys[1:]] == ["rem1", "rem2"]


def test_reminding_without_the_token_is_refused_and_changes_nothing(
    engine: Engine, console: ConsoleClients, prompted: Office
) -> None:
    before = count(engine, Delivery)
    answer = console.as_role("officer_a").post(
        "/unacknowledged/remind", data={"staff": "CW001", "action": "remind", "period": DECEMBER}
    )
    assert answer.status_code == 403 and "<html" in answer.text
    assert count(engine, Delivery) == before and reminded_events(engine) == []
    assert prompts_of(engine, "CW001")[0].reminders == 0


def test_reminding_someone_outside_the_scope_is_refused_whole(
    engine: Engine, console: ConsoleClients, prompted: Office
) -> None:
    before = count(engine, Delivery)
    answer = console.as_role("officer_a").post_form(
        "/unacknowledged/remind",
        {"staff": ["CW001", "SJ001"], "action": "remind", "period": DECEMBER},
    )
    assert answer.status_code == 403
    assert count(engine, Delivery) == before and reminded_events(engine) == []
    assert prompts_of(engine, "CW001")[0].reminders == 0


def test_the_rule_refuses_staff_and_skips_who_has_acknowledged(
    engine: Engine, prompted: Office, clock: FixedClock, web_settings: Settings
) -> None:
    with Session(engine) as session:
        with pytest.raises(PermissionDenied):
            resend_reminders(
                session,
                officer=prompted.staff,
                staff_ids=["CW001"],
                period=DECEMBER,
                clock=clock,
                settings=web_settings,
            )
    [prompt] = prompts_of(engine, "SJ001")
    with Session(engine) as session:
        stored = session.get(Prompt, prompt.id)
        assert stored is not None
        stored.status = PromptStatus.ACKNOWLEDGED
        session.add(stored)
        session.commit()
    with Session(engine, expire_on_commit=False) as session:
        done = resend_reminders(
            session,
            officer=prompted.officer_b,
            staff_ids=["SJ001"],
            period=DECEMBER,
            clock=clock,
            settings=web_settings,
        )
        session.commit()
    assert [p.staff_id for p in done.request.nothing_waiting] == ["SJ001"]
    assert done.queued == 0 and reminded_events(engine) == []


def test_someone_no_channel_reaches_is_counted_not_queued(
    engine: Engine, console: ConsoleClients, prompted: Office
) -> None:
    with Session(engine) as session:
        staff = session.get(Person, prompted.staff.id)
        assert staff is not None
        staff.mobile = staff.email = None
        staff.telegram_chat_id = None
        session.add(staff)
        session.commit()
    before = count(engine, Delivery)
    answer = console.as_role("officer_a").post_form(
        "/unacknowledged/remind", {"staff": "CW001", "action": "remind", "period": DECEMBER}
    )
    assert "unreachable=1" in answer.headers["location"]
    assert count(engine, Delivery) == before
    assert reminded_events(engine)[0].data == {"reminder": 1, "channel": None}


def test_a_special_prompt_for_the_people_selected(
    console: ConsoleClients, prompted: Office
) -> None:
    answer = console.as_role("officer_a").post_form(
        "/unacknowledged/remind", {"staff": ["CW001", "CZ002"], "action": "special"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/special?to=person:CW001,person:CZ002"


@pytest.mark.parametrize(
    "form",
    [
        {"action": "remind", "period": DECEMBER},
        {"staff": "CW001", "action": "delete"},
        {"staff": "CW001"},
        {"staff": "CW001", "action": "remind", "period": "2026-13"},
        {"staff": "NOBODY", "action": "remind", "period": DECEMBER},
    ],
)
def test_a_bad_form_answers_a_page_and_changes_nothing(
    engine: Engine, console: ConsoleClients, prompted: Office, form: dict[str, Any]
) -> None:
    before = count(engine, Delivery)
    answer = console.as_role("officer_a").post_form("/unacknowledged/remind", form)
    assert 400 <= answer.status_code < 500 and "<html" in answer.text
    assert count(engine, Delivery) == before
