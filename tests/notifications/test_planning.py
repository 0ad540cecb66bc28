"""Planning: the monthly cycle, key work, special prompts; idempotent and concurrent-safe."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from riskprompt.config.i18n import translator
from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import RiskLevel, Unit
from riskprompt.models.clock import FixedClock
from riskprompt.models.db import make_engine
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.listings import list_focus
from riskprompt.models.monthly import set_focus
from riskprompt.models.people import Channel, Person, Role
from riskprompt.models.periods import parse_period, period_bounds
from riskprompt.models.prompts import Broadcast, CycleRun, Delivery, FocusWork, Prompt, PromptKind
from riskprompt.models.scope import Supervision
from riskprompt.models.targets import parse_target, resolve_target
from riskprompt.notifications.links import AckTarget
from riskprompt.notifications.outbox import ack_links, create_delivery
from riskprompt.notifications.planning import (
    expand_due_broadcasts,
    issue_and_expand,
    missed_periods,
    plan_monthly_cycle,
    preview_monthly_cycle,
    preview_special_prompt,
)
from riskprompt.notifications.rendering import prompt_title, render_prompt
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit

PERIOD = "2026-12"


@pytest.fixture
def settings(database: str) -> Settings:
    return load_settings(DATABASE_URL=database)


def person(session: Session, unit: Unit, **changes: Any) -> Person:
    """A person reachable on SMS and email by default; ``changes`` sets any other field."""
    built = make_person(session, unit=unit)
    for name, value in changes.items():
        setattr(built, name, value)
    session.add(built)
    session.flush()
    return built


def officer(session: Session, unit: Unit) -> Person:
    return make_person(session, unit=unit, role=Role.OFFICER)


def prompts(session: Session, **where: Any) -> list[Prompt]:
    query = select(Prompt).order_by(col(Prompt.id))
    for name, value in where.items():
        query = query.where(getattr(Prompt, name) == value)
    return list(session.exec(query).all())


def deliveries(session: Session) -> list[Delivery]:
    return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


def run_cycle(engine: Engine, clock: FixedClock, settings: Settings, **kwargs: Any):
    return plan_monthly_cycle(engine, period=PERIOD, clock=clock, settings=settings, **kwargs)


# -- periods ---------------------------------------------------------------------------------


def test_periods_are_checked() -> None:
    assert parse_period(" 2026-12 ") == "2026-12"
    assert period_bounds("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_bounds("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    for bad in ("2026-13", "2026/12", "202612", "26-12", ""):
        with pytest.raises(InvalidInput):
            parse_period(bad)


# -- the monthly cycle ----------------------------------------------------------------------


def test_one_prompt_per_active_person_and_post_held_in_the_period(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    unit = make_unit(session)
    cashier, buyer = make_post(session, unit=unit), make_post(session, unit=unit)
    both = person(session, unit)
    assign(session, person=both, post=cashier)
    assign(session, person=both, post=buyer)
    twice = person(session, unit)  # left and came back: still one prompt
    assign(session, person=twice, post=cashier, end_on=date(2026, 12, 10))
    assign(session, person=twice, post=cashier, start_on=date(2026, 12, 20))
    left_in_month = person(session, unit)
    assign(session, person=left_in_month, post=buyer, end_on=date(2026, 12, 15))
    joins_in_month = person(session, unit)
    assign(session, person=joins_in_month, post=buyer, start_on=date(2026, 12, 31))
    left_before = person(session, unit)
    assign(session, person=left_before, post=buyer, end_on=date(2026, 12, 1))
    joins_later = person(session, unit)
    assign(session, person=joins_later, post=buyer, start_on=date(2027, 1, 1))
    inactive = person(session, unit, active=False)
    assign(session, person=inactive, post=buyer)
    session.commit()

    result = run_cycle(engine, clock, settings)

    held = {(p.person_id, p.post_id) for p in prompts(session)}
    assert held == {
        (both.id, cashier.id),
        (both.id, buyer.id),
        (twice.id, cashier.id),
        (left_in_month.id, buyer.id),
        (joins_in_month.id, buyer.id),
    }
    assert result.prompts_created == 5
    assert result.deliveries_created == 5
    assert result.unreachable == 0
    assert all(p.kind is PromptKind.MONTHLY and p.period == PERIOD for p in prompts(session))


def test_the_prompt_lists_risk_points_high_first_with_measures(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    unit = make_unit(session, name="滨江市财政局")
    post = make_post(session, unit=unit, name="出纳岗")
    low = make_risk_point(session, post=post, level=RiskLevel.LOW, measures=["专柜存放"])
    high = make_risk_point(session, post=post, level=RiskLevel.HIGH, measures=["双人复核"])
    medium = make_risk_point(session, post=post, level=RiskLevel.MEDIUM)
    high2 = make_risk_point(session, post=post, level=RiskLevel.HIGH)
    reader = person(session, unit)
    assign(session, person=reader, post=post)
    session.commit()

    run_cycle(engine, clock, settings)

    (prompt,) = prompts(session)
    content = prompt.content
    assert [p["id"] for p in content["risk_points"]] == [high.id, high2.id, medium.id, low.id]
    assert content["risk_points"][0] == {
        "id": high.id,
        "level": "high",
        "description": high.description,
        "measures": ["双人复核"],
    }
    assert (content["post"], content["unit"], content["period"]) == (
        "出纳岗",
        "滨江市财政局",
        PERIOD,
    )
    assert content["focus"] is None
    assert prompt.title == prompt_title(kind=PromptKind.MONTHLY, content=content, locale="zh_CN")
    assert "2026年12月" in prompt.title
    assert prompt.requires_ack


def test_unit_key_work_wins_over_the_global_one(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    city = make_unit(session)
    bureau = make_unit(session)
    section = make_unit(session, parent=bureau)
    boss = officer(session, city)
    readers = {}
    for unit in (city, bureau, section):
        post = make_post(session, unit=unit)
        readers[unit.id] = person(session, unit)
        assign(session, person=readers[unit.id], post=post)
    set_focus(session, actor=boss, period=PERIOD, text="年底集中采购和资金拨付", clock=clock)
    set_focus(
        session, actor=boss, period=PERIOD, text="专项资金清理", unit_id=bureau.id, clock=clock
    )
    set_focus(session, actor=boss, period="2027-01", text="下个月的", clock=clock)
    session.commit()

    run_cycle(engine, clock, settings)

    focus = {p.person_id: p.content["focus"] for p in prompts(session)}
    assert focus == {
        readers[city.id].id: "年底集中采购和资金拨付",
        readers[bureau.id].id: "专项资金清理",
        readers[section.id].id: "专项资金清理",  # a sub-unit follows its parent
    }


def test_setting_key_work_again_replaces_it_and_is_audited(
    session: Session, clock: FixedClock
) -> None:
    unit = make_unit(session)
    boss = officer(session, unit)
    set_focus(session, actor=boss, period=PERIOD, text="旧的", clock=clock)
    set_focus(session, actor=boss, period=PERIOD, text=" 年底集中采购 ", clock=clock)
    set_focus(session, actor=boss, period=PERIOD, text="单位的", unit_id=unit.id, clock=clock)
    session.commit()
    rows = session.exec(select(FocusWork).order_by(col(FocusWork.id))).all()
    assert [(r.unit_id, r.text) for r in rows] == [(None, "年底集中采购"), (unit.id, "单位的")]
    assert [r.focus.text for r in list_focus(session, period=PERIOD)] == ["年底集中采购", "单位的"]
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "focus.set")).all()
    assert len(audited) == 3
    assert audited[-1].actor_id == boss.id


def test_only_officers_set_key_work(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    staff = person(session, unit)
    with pytest.raises(PermissionDenied):
        set_focus(session, actor=staff, period=PERIOD, text="x", clock=clock)
    boss = officer(session, unit)
    with pytest.raises(InvalidInput):
        set_focus(session, actor=boss, period="2026-13", text="x", clock=clock)
    with pytest.raises(InvalidInput):
        set_focus(session, actor=boss, period=PERIOD, text="  ", clock=clock)
    with pytest.raises(NotFound):
        set_focus(session, actor=boss, period=PERIOD, text="x", unit_id=9999, clock=clock)


def test_delivery_goes_to_the_first_reachable_channel(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    chat = person(session, unit, telegram_chat_id=1001)
    unbound = person(session, unit)  # telegram first but not bound → SMS
    opted_out = person(session, unit, sms_opt_out=True)  # → email
    email_first = person(session, unit, channels="email,sms", telegram_chat_id=1002)
    nothing = person(session, unit, mobile=None, email=None)
    opted_out_only = person(session, unit, channels="sms", sms_opt_out=True)
    for reader in (chat, unbound, opted_out, email_first, nothing, opted_out_only):
        assign(session, person=reader, post=post)
    session.commit()

    result = run_cycle(engine, clock, settings)

    assert result.prompts_created == 6
    assert result.deliveries_created == 4
    assert result.unreachable == 2
    by_person = {d.person_id: d for d in deliveries(session)}
    assert {k: Channel(v.channel) for k, v in by_person.items()} == {
        chat.id: Channel.TELEGRAM,
        unbound.id: Channel.SMS,
        opted_out.id: Channel.EMAIL,
        email_first.id: Channel.EMAIL,
    }
    assert len(prompts(session, person_id=nothing.id)) == 1  # officers still see it
    telegram = by_person[chat.id]
    assert telegram.extra["buttons"] == [
        [translator("zh_CN").gettext("Acknowledge"), f"ack:p:{telegram.prompt_id}"]
    ]
    assert all(d.due_at == clock.now() and d.status == "pending" for d in by_person.values())


def test_bulk_deliveries_are_the_rows_create_delivery_would_write(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post, description="<b>大额资金</b>支付审核不严")
    make_risk_point(session, post=post, level=RiskLevel.LOW)
    readers = [
        person(session, unit, telegram_chat_id=2001),
        person(session, unit),
        person(session, unit, channels="email", locale="en"),
    ]
    for reader in readers:
        assign(session, person=reader, post=post)
    session.commit()
    run_cycle(engine, clock, settings)

    for delivery in deliveries(session):
        prompt = session.get(Prompt, delivery.prompt_id)
        reader = session.get(Person, delivery.person_id)
        assert prompt is not None and reader is not None
        with Session(engine) as scratch:
            expected = create_delivery(
                scratch,
                prompt=prompt,
                person=reader,
                channel=Channel(delivery.channel),
                due_at=delivery.due_at,
                settings=settings,
            )
            scratch.rollback()
        for field in ("subject", "body", "html", "extra", "idempotency_key", "channel"):
            assert getattr(delivery, field) == getattr(expected, field), field
        url = None
        if delivery.channel == Channel.EMAIL.value:
            url = ack_links(settings, prompt.created_at).for_prompt(prompt.id, reader.id)
            assert "/ack/" in delivery.body and url in (delivery.html or "")
        rendered = render_prompt(
            prompt=prompt,
            person=reader,
            channel=Channel(delivery.channel),
            settings=settings,
            ack_url=url,
        )
        # each SMS carries the reader's own short link to the page in the placeholder's place
        target = AckTarget(kind="prompt", id=prompt.id, person_id=reader.id)
        expected_text = ack_links(settings, prompt.created_at).fill_for(rendered.text, target)
        assert delivery.body == expected_text
        assert "riskprompt.invalid" not in delivery.body
        if delivery.channel == Channel.SMS.value:
            assert "/a/" in delivery.body


def test_running_the_cycle_twice_creates_nothing_new(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    unit = make_unit(session)
    for _ in range(3):
        post = make_post(session, unit=unit)
        make_risk_point(session, post=post)
        for _ in range(3):
            assign(session, person=person(session, unit), post=post)
    session.commit()

    first = run_cycle(engine, clock, settings, chunk_size=4)
    clock.advance(timedelta(hours=1))
    second = run_cycle(engine, clock, settings, chunk_size=4)

    assert (first.prompts_created, first.prompts_present, first.deliveries_created) == (9, 0, 9)
    assert (second.prompts_created, second.prompts_present, second.deliveries_created) == (0, 9, 0)
    assert len(prompts(session)) == 9
    assert len(deliveries(session)) == 9
    run = session.exec(select(CycleRun).where(CycleRun.period == PERIOD)).one()
    assert run.prompts_created == 9
    assert run.finished_at == clock.now()
    audited = session.exec(select(AuditEvent).where(AuditEvent.action == "cycle.run")).all()
    assert [a.data["prompts_created"] for a in audited] == [9, 0]


def test_a_cycle_interrupted_half_way_is_completed_by_the_next_run(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    readers = [person(session, unit) for _ in range(5)]
    for reader in readers:
        assign(session, person=reader, post=post)
    session.commit()
    run_cycle(engine, clock, settings)
    # lose two prompts (and their deliveries), as if the run had stopped before them
    lost = [p.id for p in prompts(session)][-2:]
    for delivery in deliveries(session):
        if delivery.prompt_id in lost:
            session.delete(delivery)
    session.flush()
    for prompt_id in lost:
        session.delete(session.get(Prompt, prompt_id))
    session.commit()

    again = run_cycle(engine, clock, settings)

    assert (again.prompts_created, again.prompts_present, again.deliveries_created) == (2, 3, 2)
    assert len(deliveries(session)) == 5


def _race(workers: list[Callable[[], Any]]) -> list[Any]:
    """Run the workers on threads released together; re-raise the first failure."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = workers[index]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_two_concurrent_cycles_create_each_prompt_and_delivery_once(
    database: str, session: Session, clock: FixedClock, settings: Settings
) -> None:
    units = [make_unit(session) for _ in range(3)]
    expected = 0
    for index in range(120):
        unit = units[index % 3]
        post = make_post(session, unit=unit)
        make_risk_point(session, post=post)
        reader = person(session, unit, telegram_chat_id=5000 + index if index % 2 else None)
        assign(session, person=reader, post=post)
        expected += 1
        if index % 4 == 0:  # some hold a second post
            assign(session, person=reader, post=make_post(session, unit=unit))
            expected += 1
    session.commit()
    engines = [make_engine(database), make_engine(database)]
    try:
        results = _race(
            [
                lambda engine=engine: plan_monthly_cycle(
                    engine, period=PERIOD, clock=clock, settings=settings, chunk_size=16
                )
                for engine in engines
            ]
        )
    finally:
        for engine in engines:
            engine.dispose()

    assert sum(r.prompts_created for r in results) == expected
    assert all(r.prompts_created + r.prompts_present == expected for r in results)
    assert sum(r.deliveries_created for r in results) == expected
    rows = prompts(session)
    assert len(rows) == expected
    assert len({(p.person_id, p.post_id) for p in rows}) == expected
    sent = Counter(d.prompt_id for d in deliveries(session))
    assert set(sent) == {p.id for p in rows}
    assert set(sent.values()) == {1}
    run = session.exec(select(CycleRun).where(CycleRun.period == PERIOD)).one()
    assert run.prompts_created == expected


def test_missed_periods_are_those_without_a_finished_cycle(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings
) -> None:
    assert missed_periods(session, clock=clock, settings=settings) == []
    unit = make_unit(session)
    assign(
        session,
        person=person(session, unit),
        post=make_post(session, unit=unit),
        start_on=date(2026, 9, 15),
    )
    session.commit()
    assert missed_periods(session, clock=clock, settings=settings) == [
        "2026-09",
        "2026-10",
        "2026-11",
    ]
    plan_monthly_cycle(engine, period="2026-10", clock=clock, settings=settings)
    assert missed_periods(session, clock=clock, settings=settings) == ["2026-09", "2026-11"]
    assert missed_periods(session, clock=clock, settings=settings, since="2026-11") == ["2026-11"]
    back = missed_periods(session, clock=clock, settings=settings, since="2020-01")
    assert back[0] == "2025-12"  # twelve months back at most
    assert len(back) == 11  # 2026-10 ran


# -- special prompts ------------------------------------------------------------------------


@pytest.fixture
def body(session: Session) -> dict[str, Any]:
    """A city with a bureau and its section, posts with risk levels, and their holders."""
    city = make_unit(session, name="滨江市")
    bureau = make_unit(session, name="财政局", parent=city)
    section = make_unit(session, name="国库科", parent=bureau)
    other = make_unit(session, name="发改委", parent=city)
    boss = officer(session, city)
    high_post = make_post(session, unit=bureau, name="资金拨付岗")
    make_risk_point(session, post=high_post, level=RiskLevel.HIGH)
    low_post = make_post(session, unit=section, name="档案岗")
    make_risk_point(session, post=low_post, level=RiskLevel.LOW)
    other_post = make_post(session, unit=other, name="审批岗")
    make_risk_point(session, post=other_post, level=RiskLevel.HIGH)
    payer = person(session, bureau, telegram_chat_id=7001)
    assign(session, person=payer, post=high_post)
    archivist = person(session, section)
    assign(session, person=archivist, post=low_post)
    approver = person(session, other, channels="email")
    assign(session, person=approver, post=other_post)
    seconded = person(session, other)  # member of 发改委, holds a post of 财政局
    assign(session, person=seconded, post=high_post)
    retired = person(session, bureau, active=False)
    assign(session, person=retired, post=high_post)
    session.commit()
    return locals()


TARGETS = [
    ("person:{payer.staff_id}", ["payer"]),
    ("post:{high_post.id}", ["payer", "seconded"]),
    ("unit:{bureau.id}", ["payer", "seconded"]),
    ("unit:{bureau.id}+", ["payer", "archivist", "seconded"]),
    ("unit:国库科", ["archivist"]),
    ("level:high", ["payer", "approver", "seconded"]),
    ("level:低", ["archivist"]),
    ("all", ["boss", "payer", "archivist", "approver", "seconded"]),
]


def test_special_prompts_reach_every_kind_of_target(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    # one test, not one per target: each PostgreSQL test pays for a clean database
    for target, expected in TARGETS:
        broadcast = issue_and_expand(
            session,
            actor=body["boss"],
            target=target.format(**body),
            text="元旦春节期间严禁违规收送礼品礼金",
            clock=clock,
            settings=settings,
        )
        session.commit()
        wanted = {body[name].id for name in expected}
        reached = prompts(session, broadcast_id=broadcast.id)
        assert {p.person_id for p in reached} == wanted, target
        assert broadcast.status == "expanded"
        assert broadcast.prompt_count == len(wanted)
        assert all(
            p.kind is PromptKind.SPECIAL
            and p.issued_by_id == body["boss"].id
            and p.body == "元旦春节期间严禁违规收送礼品礼金"
            and p.content["issuer_unit"] == "滨江市"
            and p.period == PERIOD
            for p in reached
        )
        ids = {p.id for p in reached}
        sent = {d.prompt_id for d in deliveries(session) if d.prompt_id in ids}
        assert sent == ids  # everyone here has a channel
        issued = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "special.issued", AuditEvent.subject_id == broadcast.id
            )
        ).one()
        assert issued.actor_id == body["boss"].id
        assert issued.data["target"] == broadcast.target


def test_resolving_a_target_uses_the_day(
    session: Session, body: dict[str, Any], settings: Settings
) -> None:
    target = parse_target(f"post:{body['high_post'].id}")
    holders = sorted([body["payer"].id, body["seconded"].id])
    assert resolve_target(session, target, date(2026, 12, 1)) == holders
    assert resolve_target(session, target, date(2025, 1, 1)) == []  # before they held it


def test_staff_may_not_issue_special_prompts(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    with pytest.raises(PermissionDenied) as caught:
        issue_and_expand(
            session, actor=body["payer"], target="all", text="x", clock=clock, settings=settings
        )
    assert body["payer"].staff_id in str(caught.value)
    assert session.exec(select(func.count()).select_from(Broadcast)).one() == 0


def test_unknown_targets_are_refused_by_name(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    refused: list[tuple[str, type[Exception], str]] = [
        ("person:NOBODY", NotFound, "NOBODY"),
        ("post:99999", NotFound, "99999"),
        ("unit:99999+", NotFound, "99999"),
        ("unit:不存在的单位", NotFound, "不存在的单位"),
        ("team:1", InvalidInput, "team:1"),
        ("level:severe", InvalidInput, "severe"),
    ]
    for target, error, named in refused:
        with pytest.raises(error) as caught:
            issue_and_expand(
                session, actor=body["boss"], target=target, text="x", clock=clock, settings=settings
            )
        assert named in str(caught.value)
    assert session.exec(select(func.count()).select_from(Broadcast)).one() == 0


def test_a_person_who_left_or_an_empty_text_is_refused(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput):
        issue_and_expand(
            session,
            actor=body["boss"],
            target=f"person:{body['retired'].staff_id}",
            text="x",
            clock=clock,
            settings=settings,
        )
    with pytest.raises(InvalidInput):
        issue_and_expand(
            session, actor=body["boss"], target="all", text=" \n", clock=clock, settings=settings
        )


def test_a_scheduled_special_prompt_waits_until_due_and_expands_once(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    due = clock.now() + timedelta(days=2)
    broadcast = issue_and_expand(
        session,
        actor=body["boss"],
        target="level:high",
        text="节前廉政提醒",
        at=due,
        clock=clock,
        settings=settings,
    )
    session.commit()
    assert (broadcast.status, broadcast.due_at) == ("scheduled", due)
    assert prompts(session, broadcast_id=broadcast.id) == []

    clock.advance(timedelta(days=1))
    assert expand_due_broadcasts(session, clock=clock, settings=settings) == 0
    session.commit()
    assert prompts(session, broadcast_id=broadcast.id) == []

    clock.advance(timedelta(days=1, seconds=1))
    assert expand_due_broadcasts(session, clock=clock, settings=settings) == 1
    session.commit()
    assert expand_due_broadcasts(session, clock=clock, settings=settings) == 0
    session.commit()
    reached = prompts(session, broadcast_id=broadcast.id)
    assert len(reached) == 3
    assert len(deliveries(session)) == 3
    assert all(d.due_at == clock.now() for d in deliveries(session))
    session.refresh(broadcast)
    assert (broadcast.status, broadcast.prompt_count) == ("expanded", 3)
    assert broadcast.expanded_at == clock.now()


def test_a_past_time_is_refused_unless_forced_then_means_now(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    target = "post:{}".format(body["low_post"].id)
    yesterday = clock.now() - timedelta(days=1)
    with pytest.raises(InvalidInput) as caught:
        issue_and_expand(
            session,
            actor=body["boss"],
            target=target,
            text="x",
            at=yesterday,
            clock=clock,
            settings=settings,
        )
    assert "in the past" in str(caught.value)
    assert session.exec(select(func.count()).select_from(Broadcast)).one() == 0
    # typed to the minute: the current minute is not "the past"
    this_minute = issue_and_expand(
        session,
        actor=body["boss"],
        target=target,
        text="x",
        at=clock.now() - timedelta(seconds=30),
        clock=clock,
        settings=settings,
    )
    assert this_minute.status == "expanded"
    broadcast = issue_and_expand(
        session,
        actor=body["boss"],
        target=target,
        text="x",
        at=yesterday,
        force=True,
        clock=clock,
        settings=settings,
    )
    session.commit()
    assert broadcast.status == "expanded"
    assert broadcast.due_at == clock.now()
    issued = session.exec(
        select(AuditEvent).where(
            AuditEvent.action == "special.issued", AuditEvent.subject_id == broadcast.id
        )
    ).one()
    assert "forced_from" in issued.data


def test_two_processes_expand_a_due_special_prompt_once(
    database: str, session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    issue_and_expand(
        session,
        actor=body["boss"],
        target="all",
        text="x",
        at=clock.now() + timedelta(hours=1),
        clock=clock,
        settings=settings,
    )
    session.commit()
    clock.advance(timedelta(hours=2))
    engines = [make_engine(database), make_engine(database)]

    def expand(engine: Engine) -> int:
        with Session(engine) as own:
            count = expand_due_broadcasts(own, clock=clock, settings=settings)
            own.commit()
            return count

    try:
        results = _race([lambda engine=engine: expand(engine) for engine in engines])
    finally:
        for engine in engines:
            engine.dispose()
    assert sorted(results) == [0, 1]
    assert len(prompts(session, kind=PromptKind.SPECIAL)) == 5
    assert len(deliveries(session)) == 5


def test_no_acknowledgement_means_no_button_and_no_reply_instruction(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    issue_and_expand(
        session,
        actor=body["boss"],
        target=f"unit:{body['bureau'].id}",
        text="仅供知悉",
        requires_ack=False,
        clock=clock,
        settings=settings,
    )
    session.commit()
    assert all(not p.requires_ack for p in prompts(session))
    by_channel = {d.channel: d for d in deliveries(session)}
    assert by_channel["telegram"].extra["buttons"] == []
    assert translator("zh_CN").gettext("Reply 1 to acknowledge") not in by_channel["sms"].body


def test_a_scheduled_target_that_went_away_expands_to_nobody(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    payer = body["payer"]
    broadcast = issue_and_expand(
        session,
        actor=body["boss"],
        target=f"person:{payer.staff_id}",
        text="x",
        at=clock.now() + timedelta(hours=1),
        clock=clock,
        settings=settings,
    )
    payer.staff_id = "RENAMED"
    session.add(payer)
    session.commit()
    clock.advance(timedelta(hours=2))
    assert expand_due_broadcasts(session, clock=clock, settings=settings) == 1
    session.commit()
    session.refresh(broadcast)
    assert (broadcast.status, broadcast.prompt_count) == ("expanded", 0)
    assert expand_due_broadcasts(session, clock=clock, settings=settings) == 0


# -- officers' safety: far periods, dry runs, scope ---------------------------------------


def table_counts(session: Session) -> dict[str, int]:
    """Rows per table that a run could write (prompts, deliveries, broadcasts, audit)."""
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in (Prompt, Delivery, Broadcast, CycleRun, AuditEvent)
    }


def test_a_cycle_more_than_a_month_ahead_is_refused_unless_forced(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    assert run_cycle(engine, clock, settings).prompts_created == 4  # the current period
    nxt = plan_monthly_cycle(engine, period="2027-01", clock=clock, settings=settings)
    assert nxt.prompts_created == 4  # next month: fine
    before = table_counts(session)
    with pytest.raises(InvalidInput) as caught:
        plan_monthly_cycle(engine, period="2027-12", clock=clock, settings=settings)
    assert "2027-12" in str(caught.value) and "2026-12" in str(caught.value)
    with pytest.raises(InvalidInput):
        preview_monthly_cycle(session, period="2027-02", clock=clock, settings=settings)
    assert table_counts(session) == before
    forced = plan_monthly_cycle(
        engine, period="2027-12", clock=clock, settings=settings, force=True
    )
    assert forced.prompts_created == 4
    # catching up on a past period needs no force
    assert plan_monthly_cycle(engine, period="2026-06", clock=clock, settings=settings)


def test_a_cycle_dry_run_counts_recipients_by_channel_and_writes_nothing(
    session: Session, engine: Engine, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    unreachable = person(session, body["bureau"], mobile=None, email=None)
    assign(session, person=unreachable, post=body["low_post"])
    session.commit()
    before = table_counts(session)
    reach = preview_monthly_cycle(session, period=PERIOD, clock=clock, settings=settings)
    assert table_counts(session) == before
    assert reach.people == 5 and reach.prompts == 5 and reach.unreachable == 1
    # payer has Telegram, approver email only, the others SMS first
    expected = {Channel.TELEGRAM: 1, Channel.SMS: 2, Channel.EMAIL: 1}
    assert reach.by_channel == dict.fromkeys(Channel, 0) | expected
    by_staff = {row.staff_id: row for row in reach.rows}
    assert by_staff[body["payer"].staff_id].channel is Channel.TELEGRAM
    assert by_staff[unreachable.staff_id].channel is None
    assert body["retired"].staff_id not in by_staff

    done = run_cycle(engine, clock, settings)
    assert done.prompts_created == reach.prompts
    assert done.deliveries_created == sum(reach.by_channel.values())
    again = preview_monthly_cycle(session, period=PERIOD, clock=clock, settings=settings)
    assert (again.people, again.present) == (0, 5)


def test_a_special_prompt_dry_run_checks_like_the_rule_and_writes_nothing(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    before = table_counts(session)
    reach = preview_special_prompt(
        session,
        actor=body["boss"],
        target="level:high",
        text="节前提醒",
        clock=clock,
        settings=settings,
    )
    assert reach.people == 3 and reach.due_at == clock.now()
    expected = {Channel.TELEGRAM: 1, Channel.SMS: 1, Channel.EMAIL: 1}
    assert reach.by_channel == dict.fromkeys(Channel, 0) | expected
    with pytest.raises(PermissionDenied):
        preview_special_prompt(
            session, actor=body["payer"], target="all", text="x", clock=clock, settings=settings
        )
    with pytest.raises(InvalidInput):
        preview_special_prompt(
            session,
            actor=body["boss"],
            target="all",
            text="x",
            at=clock.now() - timedelta(hours=1),
            clock=clock,
            settings=settings,
        )
    assert table_counts(session) == before


def test_a_scoped_officer_reaches_only_the_people_of_their_scope(
    session: Session, clock: FixedClock, settings: Settings, body: dict[str, Any]
) -> None:
    inspector = officer(session, body["city"])
    session.add(Supervision(officer_id=inspector.id or 0, unit_id=body["bureau"].id or 0))
    session.commit()
    in_scope = {body["payer"].id, body["archivist"].id}  # 财政局 and 国库科, by membership

    everyone = issue_and_expand(
        session, actor=inspector, target="all", text="x", clock=clock, settings=settings
    )
    assert {p.person_id for p in prompts(session, broadcast_id=everyone.id)} == in_scope
    high = issue_and_expand(
        session, actor=inspector, target="level:high", text="x", clock=clock, settings=settings
    )
    # seconded (of 发改委) holds a 财政局 post, but is not in the scope
    assert {p.person_id for p in prompts(session, broadcast_id=high.id)} == {body["payer"].id}
    later = issue_and_expand(
        session,
        actor=inspector,
        target="all",
        text="x",
        at=clock.now() + timedelta(hours=1),
        clock=clock,
        settings=settings,
    )
    session.commit()
    clock.advance(timedelta(hours=1))
    expand_due_broadcasts(session, clock=clock, settings=settings)
    session.commit()
    assert {p.person_id for p in prompts(session, broadcast_id=later.id)} == in_scope

    before = table_counts(session)
    for target, named in (
        (f"unit:{body['other'].id}", "发改委"),
        (f"unit:{body['city'].id}+", "滨江市"),
        (f"post:{body['other_post'].id}", "审批岗"),
        (f"person:{body['approver'].staff_id}", body["approver"].staff_id),
    ):
        with pytest.raises(PermissionDenied) as caught:
            issue_and_expand(
                session, actor=inspector, target=target, text="x", clock=clock, settings=settings
            )
        assert named in str(caught.value), target
    assert table_counts(session) == before
    inside = issue_and_expand(
        session,
        actor=inspector,
        target=f"unit:{body['section'].id}",
        text="x",
        clock=clock,
        settings=settings,
    )
    assert inside.prompt_count == 1
