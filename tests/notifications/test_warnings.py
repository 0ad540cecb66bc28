"""Warnings going out: who gets what, the default deadlines, rendering, dispatch, fallback.

The rule functions write notices; :func:`expand_notices` (which the dispatcher
runs at the start of every pass) turns them into deliveries.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

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
    now = clock.now()
    defaults = load_settings()
    assert default_deadline(WarningColour.RED, now=now, settings=defaults) == now + timedelta(5)
    assert default_deadline(WarningColour.ORANGE, now=now, settings=defaults) == now + timedelta(10)
    assert default_deadline(WarningColour.YELLOW, now=now, settings=defaults) == now + timedelta(15)
    red = issue(session, org, clock, settings, "red")
    orange = issue(session, org, clock, settings, "orange")
    yellow = issue(session, org, clock, settings, "yellow")
    assert red.deadline == now + timedelta(days=2)
    assert orange.deadline == now + timedelta(days=4)
    assert yellow.deadline == now + timedelta(days=15)
    given = issue(session, org, clock, settings, "red", deadline=now + timedelta(days=1))
    assert given.deadline == now + timedelta(days=1)


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
            "2026年12月16日 23:59:59",
        ),
        "en": (
            "red",
            {
                "prompt": "warning prompt",
                "admonish": "admonishment",
                "correct": "ordered correction",
            },
            "Dec 16, 2026, 11:59:59\u202fPM",
        ),
    }[locale]
    assert colour in telegram.text and forms[form.value] in telegram.text
    assert deadline in telegram.text  # Babel, in the reader's time zone (Shanghai)
    data = [b.data for b in telegram.buttons]
    expected = ["ack:w:123456"] + (["rc:123456"] if form is WarningForm.CORRECT else [])
    assert data == expected
    assert all(len(d.encode()) <= 64 for d in data)


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
