"""Warnings going out: who gets what, the default deadlines, rendering, dispatch, fallback.

The rule functions write notices; :func:`expand_notices` (which the dispatcher
runs at the start of every pass) turns them into deliveries.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import NotFound, PermissionDenied
from riskprompt.models.people import Channel, Person, Role
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.warnings import (
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    default_deadline,
    issue_warning,
    unit_head,
    withdraw_warning,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.links import read_ack_token
from riskprompt.notifications.notices import expand_notices
from riskprompt.notifications.rendering import SMS_UCS2_LIMIT, render_warning, sms_fits, sms_length
from tests.builders import make_person, make_post, make_risk_point, make_unit

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(LOCAL_CHANNEL="file", OUTBOX_DIR=tmp_path / "outbox")


@pytest.fixture
def org(session: Session) -> dict[str, Any]:
    """An officer; a staff member on chat, SMS and email; her supervisor on email only."""
    unit = make_unit(session, name="财政局")
    officer_unit = make_unit(session, name="纪检监察室")
    officer = make_person(session, unit=officer_unit, staff_id="JJ001", role=Role.OFFICER)
    boss = make_person(
        session, unit=unit, staff_id="CZ001", name="张局长", mobile=None, channels="email"
    )
    clerk = make_person(session, unit=unit, staff_id="CW001", name="王出纳", supervisor=boss)
    clerk.telegram_chat_id = 1001
    session.add(clerk)
    post = make_post(session, unit=unit, name="出纳岗")
    point = make_risk_point(session, post=post, description="资金支付审核不严")
    session.commit()
    return {"unit": unit, "officer": officer, "boss": boss, "clerk": clerk, "point": point}


def issue(
    session: Session,
    org: dict[str, Any],
    clock: FixedClock,
    settings: Settings,
    colour: str,
    form: str = "correct",
    **kwargs: Any,
) -> Warning:
    warning = issue_warning(
        session,
        actor=org["officer"],
        person=kwargs.pop("person", org["clerk"]),
        colour=colour,
        form=form,
        reason="采购审批未经集体研究",
        clock=clock,
        settings=settings,
        **kwargs,
    )
    session.commit()
    expand(session, clock, settings)
    return warning


def expand(session: Session, clock: FixedClock, settings: Settings) -> int:
    """What the dispatcher does first: the due notices become deliveries."""
    expanded = expand_notices(session, now=clock.now(), settings=settings)
    session.commit()
    return expanded


def deliveries(session: Session) -> list[Delivery]:
    return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


# -- who gets what (both backends) ------------------------------------------------------


def test_yellow_goes_to_the_first_reachable_channel(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, clock, settings, "yellow")
    [only] = deliveries(session)
    assert (only.channel, only.person_id) == ("telegram", org["clerk"].id)
    assert only.prompt_id is None and only.warning_id == warning.id
    assert only.idempotency_key == f"w{warning.id}-telegram"
    assert only.status is DeliveryStatus.PENDING and only.due_at == clock.now()
    assert [b[1] for b in only.extra["buttons"]] == [f"ack:w:{warning.id}", f"rc:{warning.id}"]


def test_orange_goes_to_every_channel_at_once(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, clock, settings, "orange", form="admonish")
    rows = deliveries(session)
    assert [(d.channel, d.person_id) for d in rows] == [
        ("telegram", org["clerk"].id),
        ("sms", org["clerk"].id),
        ("email", org["clerk"].id),
    ]
    assert [d.idempotency_key for d in rows] == [
        f"w{warning.id}-telegram",
        f"w{warning.id}-sms",
        f"w{warning.id}-email",
    ]
    # an admonishment asks for an acknowledgement only
    assert [b[1] for b in rows[0].extra["buttons"]] == [f"ack:w:{warning.id}"]


def test_red_also_reaches_the_supervisor_with_a_notice(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, clock, settings, "red")
    rows = deliveries(session)
    assert [(d.channel, d.person_id) for d in rows] == [
        ("telegram", org["clerk"].id),
        ("sms", org["clerk"].id),
        ("email", org["clerk"].id),
        ("email", org["boss"].id),
    ]
    notice = rows[-1]
    assert notice.idempotency_key == f"w{warning.id}-email-sup"
    assert notice.extra["buttons"] == []
    assert "/ack/" not in notice.body and "/ack/" not in (notice.html or "")
    assert "王出纳 (CW001)" in notice.subject
    assert "/ack/" in rows[2].body  # the clerk's own email has the link


# -- rules (SQLite) ---------------------------------------------------------------------


@SQLITE_ONLY
def test_default_deadlines_come_from_the_settings(
    session: Session, org: dict[str, Any], clock: FixedClock, tmp_path: Path
) -> None:
    settings = load_settings(
        WARNING_DEADLINE_DAYS_RED=2, WARNING_DEADLINE_DAYS_ORANGE=4, OUTBOX_DIR=tmp_path
    )
    now = clock.now()  # 2026-12-01 09:00 in Shanghai: deadlines are the ends of whole days
    defaults = load_settings()

    def end_of(day: int) -> datetime:
        return datetime(2026, 12, day, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai"))

    assert default_deadline(WarningColour.RED, now=now, settings=defaults) == end_of(6)
    assert default_deadline(WarningColour.ORANGE, now=now, settings=defaults) == end_of(11)
    assert default_deadline(WarningColour.YELLOW, now=now, settings=defaults) == end_of(16)
    red = issue(session, org, clock, settings, "red")
    orange = issue(session, org, clock, settings, "orange")
    yellow = issue(session, org, clock, settings, "yellow")
    assert red.deadline == end_of(3)
    assert orange.deadline == end_of(5)
    assert yellow.deadline == end_of(16)
    given = issue(session, org, clock, settings, "red", deadline=now + timedelta(days=1))
    assert given.deadline == end_of(2)


@SQLITE_ONLY
def test_the_head_of_a_unit_is_its_person_without_a_supervisor_there(
    session: Session, org: dict[str, Any]
) -> None:
    assert unit_head(session, unit=org["unit"]).id == org["boss"].id
    # supervised from another unit: still a head candidate, but the lower id wins
    other = make_unit(session, name="区政府")
    mayor = make_person(session, unit=other, staff_id="QZ001")
    lonely = make_unit(session, name="审计科")
    auditor = make_person(session, unit=lonely, staff_id="SJ001", supervisor=mayor)
    make_person(session, unit=lonely, staff_id="SJ002", supervisor=auditor)
    assert unit_head(session, unit=lonely).id == auditor.id
    auditor.active = False
    session.add(auditor)
    with pytest.raises(NotFound):
        unit_head(session, unit=lonely)
    with pytest.raises(NotFound):
        unit_head(session, unit=make_unit(session, name="空单位"))


@SQLITE_ONLY
def test_staff_may_not_issue_a_warning(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    with pytest.raises(PermissionDenied):
        issue_warning(
            session,
            actor=org["clerk"],
            person=org["boss"],
            colour="red",
            form="correct",
            reason="越权",
            clock=clock,
            settings=settings,
        )
    session.rollback()
    assert session.exec(select(Warning)).all() == []
    assert deliveries(session) == []


@SQLITE_ONLY
def test_withdrawing_cancels_what_was_not_sent(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, clock, settings, "red")
    cancelled = withdraw_warning(
        session, warning=warning, actor=org["officer"], clock=clock, reason="误发"
    )
    session.commit()
    assert cancelled == 4
    assert warning.status is WarningStatus.WITHDRAWN
    assert {d.status for d in deliveries(session)} == {DeliveryStatus.CANCELLED}
    # the clerk hears of it, with the reason, on her first channel
    assert expand(session, clock, settings) == 1
    told = deliveries(session)[-1]
    assert (told.person_id, told.channel, told.status) == (
        org["clerk"].id,
        "telegram",
        DeliveryStatus.PENDING,
    )
    assert "误发" in told.body and f"W{warning.id}" in told.body


# -- rendering ---------------------------------------------------------------------------


def _warning(form: WarningForm, colour: WarningColour, reason: str) -> Warning:
    return Warning(
        id=123456,
        person_id=1,
        issued_by_id=2,
        colour=colour,
        form=form,
        reason=reason,
        deadline=datetime(2026, 12, 16, 15, 59, 59, tzinfo=UTC),
        created_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("form", list(WarningForm))
def test_rendering_in_the_readers_language_within_each_channels_limits(
    locale: str, form: WarningForm
) -> None:
    settings = load_settings()
    reader = Person(id=1, staff_id="T1", name="王五", unit_id=1, locale=locale)
    warning = _warning(form, WarningColour.RED, "采购审批未经集体研究，违规拆分合同规避招标。" * 12)
    sms = render_warning(
        warning=warning, reader=reader, channel=Channel.SMS, settings=settings, issuer="李四"
    )
    assert sms_fits(sms.text)
    if locale == "zh_CN":
        assert sms_length(sms.text) <= SMS_UCS2_LIMIT
        assert "红色" in sms.text and "2026/12/16" in sms.text  # deadline in Shanghai time
    else:
        assert "red" in sms.text and "12/16/26" in sms.text
    telegram = render_warning(
        warning=warning, reader=reader, channel=Channel.TELEGRAM, settings=settings
    )
    colour, forms, deadline = {
        "zh_CN": (
            "红色",
            {"prompt": "预警提示", "admonish": "诫勉警示", "correct": "责令纠错"},
            "2026年12月16日",
        ),
        "en": (
            "red",
            {
                "prompt": "warning prompt",
                "admonish": "admonishment",
                "correct": "ordered correction",
            },
            "December 16, 2026",
        ),
    }[locale]
    assert colour in telegram.text and forms[form.value] in telegram.text
    assert deadline in telegram.text  # Babel, in the reader's time zone (Shanghai)
    data = [b.data for b in telegram.buttons]
    expected = ["ack:w:123456"] + (["rc:123456"] if form is WarningForm.CORRECT else [])
    assert data == expected
    assert all(len(d.encode()) <= 64 for d in data)


def _text_of(html_part: str) -> str:
    """The HTML part as the words a reader sees (tags dropped, entities read)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_part)))


#: What the formal notice says, per locale: each part must be in the email.
NOTICE_PARTS = {
    "zh_CN": {
        "heading": "预警通知",
        "salutation": "王五同志：",
        "opening": "纪检监察室于2026年12月1日对你发出{colour}预警。",
        "reason": "事由：采购审批未经集体研究",
        "form": "预警形式：{form}",
        "deadline": "整改期限：2026年12月16日",
        "todo": "请于2026年12月16日（含当日）前：",
        "acknowledge": "一、确认已阅本预警；",
        "report": "二、落实整改，并通过下方链接所示页面反馈整改情况",
        "contact": "联系人：李四（纪检监察室），邮箱：lisi@jw.example.gov.cn，手机：+8613900000001",
        "signature": "纪检监察室\n李四\n2026年12月1日",
    },
    "en": {
        "heading": "Warning notice",
        "salutation": "Dear 王五,",
        "opening": "On December 1, 2026, 纪检监察室 issued you a {colour} warning.",
        "reason": "Reason: 采购审批未经集体研究",
        "form": "Form: {form}",
        "deadline": "Deadline: December 16, 2026",
        "todo": "By the end of December 16, 2026, please:",
        "acknowledge": "1. acknowledge that you have read this warning;",
        "report": "2. take the correction and report it, with evidence, on the page of the link",
        "contact": (
            "Contact: 李四 (纪检监察室), email lisi@jw.example.gov.cn, mobile +8613900000001"
        ),
        "signature": "纪检监察室\n李四\nDecember 1, 2026",
    },
}
NEXT_STEP = {
    "zh_CN": {
        "yellow": "预警将升级为橙色",
        "orange": "预警将升级为红色",
        "red": "该红色预警将被标记、移交纪律审查跟进",
    },
    "en": {
        "yellow": "the warning rises to orange",
        "orange": "the warning rises to red",
        "red": "this red warning is flagged for disciplinary follow-up",
    },
}
FORMS = {
    "zh_CN": {"prompt": "预警提示", "admonish": "诫勉警示", "correct": "责令纠错"},
    "en": {"prompt": "warning prompt", "admonish": "admonishment", "correct": "ordered correction"},
}
COLOURS = {
    "zh_CN": {"yellow": "黄色", "orange": "橙色", "red": "红色"},
    "en": {"yellow": "yellow", "orange": "orange", "red": "red"},
}


def _formal_email(
    locale: str, colour: WarningColour, form: WarningForm, **kwargs: Any
) -> tuple[str, str]:
    reader = Person(id=1, staff_id="T1", name="王五", unit_id=1, locale=locale)
    email = render_warning(
        warning=_warning(form, colour, "采购审批未经集体研究"),
        reader=reader,
        channel=Channel.EMAIL,
        settings=load_settings(),
        issuer="李四",
        issuer_unit="纪检监察室",
        issuer_email="lisi@jw.example.gov.cn",
        issuer_mobile="+8613900000001",
        ack_url="https://riskprompt.example.gov.cn/ack/token",
        **kwargs,
    )
    return email.text, _text_of(email.html or "")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("colour", list(WarningColour))
@pytest.mark.parametrize("form", list(WarningForm))
def test_the_warning_email_reads_as_a_formal_notice(
    locale: str, colour: WarningColour, form: WarningForm
) -> None:
    text, html_words = _formal_email(locale, colour, form)
    shown = {"colour": COLOURS[locale][colour.value], "form": FORMS[locale][form.value]}
    for part, expected in NOTICE_PARTS[locale].items():
        wanted = expected.format(**shown)
        assert wanted in text, f"{part}: {wanted!r} not in\n{text}"
        assert " ".join(wanted.split("\n")) in html_words, f"{part} not in the HTML part"
    assert NEXT_STEP[locale][colour.value] in text and NEXT_STEP[locale][colour.value] in html_words
    assert "https://riskprompt.example.gov.cn/ack/token" in text
    # the parts come in the order of a notice: salutation, facts, what to do, contact, signature
    order = [NOTICE_PARTS[locale][k].format(**shown) for k in ("salutation", "reason", "todo")]
    order += [NOTICE_PARTS[locale]["contact"], NOTICE_PARTS[locale]["signature"]]
    assert [text.index(part) for part in order] == sorted(text.index(part) for part in order)
    # a whole-day deadline is a date, not 23:59:59
    assert "23:59" not in text and "11:59" not in text


@pytest.mark.parametrize(
    ("locale", "deadline", "todo"),
    [
        ("zh_CN", "整改期限：2026年12月16日 17:30", "请于2026年12月16日 17:30前："),
        ("en", "Deadline: December 16, 2026 5:30\u202fPM", "By 5:30\u202fPM on December 16, 2026"),
    ],
)
def test_a_deadline_within_the_day_keeps_its_time(locale: str, deadline: str, todo: str) -> None:
    reader = Person(id=1, staff_id="T1", name="王五", unit_id=1, locale=locale)
    warning = _warning(WarningForm.CORRECT, WarningColour.ORANGE, "采购审批未经集体研究")
    warning.deadline = datetime(2026, 12, 16, 9, 30, tzinfo=UTC)  # 17:30 in Shanghai
    email = render_warning(
        warning=warning, reader=reader, channel=Channel.EMAIL, settings=load_settings()
    )
    assert deadline in email.text and todo in email.text


def test_a_contact_names_only_the_details_on_record() -> None:
    reader = Person(id=1, staff_id="T1", name="王五", unit_id=1, locale="zh_CN")
    email = render_warning(
        warning=_warning(WarningForm.PROMPT, WarningColour.YELLOW, "采购审批未经集体研究"),
        reader=reader,
        channel=Channel.EMAIL,
        settings=load_settings(),
        issuer="李四",
        issuer_unit="纪检监察室",
        issuer_email="lisi@jw.example.gov.cn",
    )
    assert "联系人：李四（纪检监察室），邮箱：lisi@jw.example.gov.cn\n" in email.text
    assert "手机" not in email.text
    # no link to hand: the correction goes through chat
    assert "二、落实整改，并在聊天中（/warnings）反馈整改情况" in email.text


def test_the_supervisors_and_the_issuers_copies_are_notices_too() -> None:
    boss = Person(id=3, staff_id="CZ001", name="张局长", unit_id=1, locale="zh_CN")
    clerk = Person(id=1, staff_id="CW001", name="王出纳", unit_id=1, locale="zh_CN")
    common: dict[str, Any] = {
        "warning": _warning(WarningForm.CORRECT, WarningColour.RED, "采购审批未经集体研究"),
        "channel": Channel.EMAIL,
        "settings": load_settings(),
        "issuer": "李四",
        "issuer_unit": "纪检监察室",
        "issuer_email": "lisi@jw.example.gov.cn",
        "subject": clerk,
    }
    copy = render_warning(reader=boss, **common)
    assert "张局长同志：" in copy.text
    assert "纪检监察室于2026年12月1日对王出纳 (CW001)发出红色预警。" in copy.text
    assert "您作为 王出纳 (CW001) 的上级收到此通知。" in copy.text
    assert "联系人：李四（纪检监察室），邮箱：lisi@jw.example.gov.cn" in copy.text
    assert "一、确认已阅本预警" not in copy.text  # asks the supervisor for nothing
    officer = Person(id=2, staff_id="JJ001", name="李四", unit_id=2, locale="zh_CN")
    own = render_warning(reader=officer, notice_role="officer", **common)
    assert "李四同志：" in own.text and "联系人" not in own.text


@SQLITE_ONLY
def test_the_issued_email_names_the_officer_and_their_contacts_from_the_record(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    officer = org["officer"]
    officer.name, officer.email, officer.mobile = (
        "赵纪检",
        "zhao@jw.example.gov.cn",
        "+8613911112222",
    )
    session.add(officer)
    session.commit()
    issue(session, org, clock, settings, "orange", risk_point_id=org["point"].id)
    email = next(d for d in deliveries(session) if d.channel == "email")
    assert email.body.startswith("预警通知\n")
    assert "王出纳同志：" in email.body
    assert "纪检监察室于" in email.body and "对你发出橙色预警。" in email.body
    assert "预警形式：责令纠错" in email.body
    assert "事由：采购审批未经集体研究" in email.body and "资金支付审核不严" in email.body
    assert (
        "联系人：赵纪检（纪检监察室），邮箱：zhao@jw.example.gov.cn，手机：+8613911112222"
        in email.body
    )
    assert "纪检监察室\n赵纪检\n" in email.body
    assert "联系人：赵纪检" in _text_of(email.html or "")


@SQLITE_ONLY
def test_email_carries_an_ack_link_the_web_route_accepts(
    session: Session, org: dict[str, Any], clock: FixedClock, settings: Settings
) -> None:
    warning = issue(session, org, clock, settings, "orange", risk_point_id=org["point"].id)
    email = next(d for d in deliveries(session) if d.channel == "email")
    link = next(word for word in email.body.split() if "/ack/" in word)
    assert link in (email.html or "")
    target = read_ack_token(settings.SECRET_KEY, link.rsplit("/", 1)[1], now=clock.now())
    assert (target.kind, target.id, target.person_id) == ("warning", warning.id, org["clerk"].id)
    assert "资金支付审核不严" in email.body
    assert "橙色" in email.subject and "责令纠错" in email.subject


# -- dispatch ------------------------------------------------------------------------------


class Refusing(ChannelAdapter):
    """A chat channel whose every send fails for good (a bot the person blocked)."""

    name: ClassVar[str] = "refusing"

    def __init__(self) -> None:
        self.seen: list[Message] = []

    async def send(self, message: Message) -> SendResult:
        self.seen.append(message)
        return SendResult.failed("Forbidden: bot was blocked by the user")


@SQLITE_ONLY
async def test_the_dispatcher_sends_warnings_through_the_file_channel(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    clock: FixedClock,
    settings: Settings,
) -> None:
    warning = issue(session, org, clock, settings, "red")
    async with Dispatcher(engine, settings, clock, build_adapters(settings), "w") as dispatcher:
        stats = await dispatcher.drain()
    assert stats.sent == 4 and stats.failed == 0
    session.expire_all()
    assert {d.status for d in deliveries(session)} == {DeliveryStatus.SENT}
    files = sorted(settings.OUTBOX_DIR.iterdir())
    chat = [json.loads(f.read_text("utf-8")) for f in files if f.name.endswith("telegram.json")]
    assert chat[0]["buttons"][0]["data"] == f"ack:w:{warning.id}"
    assert len([f for f in files if f.suffix == ".eml"]) == 2


@SQLITE_ONLY
async def test_a_failed_yellow_warning_falls_back_to_the_next_channel(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    clock: FixedClock,
    settings: Settings,
) -> None:
    warning = issue(session, org, clock, settings, "yellow")
    adapters = build_adapters(settings)
    adapters[Channel.TELEGRAM] = Refusing()
    async with Dispatcher(engine, settings, clock, adapters, "w") as dispatcher:
        stats = await dispatcher.drain()
    assert (stats.failed, stats.fell_back, stats.sent) == (1, 1, 1)
    session.expire_all()
    telegram, sms = deliveries(session)
    assert telegram.status is DeliveryStatus.FAILED
    assert (sms.channel, sms.status, sms.replaces_id) == ("sms", DeliveryStatus.SENT, telegram.id)
    assert sms.warning_id == warning.id and sms.prompt_id is None
    assert sms.idempotency_key == f"w{warning.id}-sms-r{telegram.id}"


@SQLITE_ONLY
async def test_a_failed_orange_warning_needs_no_fallback(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    clock: FixedClock,
    settings: Settings,
) -> None:
    issue(session, org, clock, settings, "orange")
    adapters = build_adapters(settings)
    adapters[Channel.TELEGRAM] = Refusing()
    async with Dispatcher(engine, settings, clock, adapters, "w") as dispatcher:
        stats = await dispatcher.drain()
    assert (stats.failed, stats.fell_back, stats.sent) == (1, 0, 2)
    session.expire_all()
    assert len(deliveries(session)) == 3


@SQLITE_ONLY
async def test_a_withdrawn_warning_is_not_sent_even_if_its_delivery_was_left_pending(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    clock: FixedClock,
    settings: Settings,
) -> None:
    warning = issue(session, org, clock, settings, "orange")
    withdraw_warning(session, warning=warning, actor=org["officer"], clock=clock, reason="误发")
    # as if a retry had put the warning's deliveries back after the withdrawal
    for delivery in deliveries(session):
        delivery.status = DeliveryStatus.PENDING
        session.add(delivery)
    session.commit()
    async with Dispatcher(engine, settings, clock, build_adapters(settings), "w") as dispatcher:
        stats = await dispatcher.drain()
    # the warning is not sent; the news of its withdrawal is
    assert (stats.expanded, stats.cancelled, stats.sent) == (1, 3, 1)
    [told] = [json.loads(f.read_text("utf-8")) for f in settings.OUTBOX_DIR.iterdir()]
    assert "误发" in told["text"]
