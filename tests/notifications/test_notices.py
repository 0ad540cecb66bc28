"""Every outcome reaches the person on their own channels: notices through the real dispatcher.

The rule functions write notices; one dispatch pass (the real dispatcher, the real
channel adapters) expands them and sends them to the loopback stand-ins: a person
on chat gets a Telegram message, an SMS-only person an SMS, an email-only person an
email, each with what happened, the reason and the new deadline.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.notices import Notice, NoticeEvent, NoticeRole, Reader, tell
from riskprompt.models.people import Channel, Person, Role
from riskprompt.models.prompts import Delivery, DeliveryStatus, PromptStatus
from riskprompt.models.warnings import (
    Warning,
    issue_warning,
    review_rectification,
    submit_rectification,
    withdraw_warning,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher, DispatchStats
from riskprompt.notifications.notices import expand_notices
from riskprompt.notifications.outbox import DeliveryKey
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramFault, TelegramStandin
from tests.standins.twilio import TwilioStandin

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, outside quiet hours


@pytest.fixture
def org(session: Session) -> dict[str, Any]:
    """An officer on chat; a person on chat, one on SMS only, one on email only."""
    unit = make_unit(session, name="财政局")
    officer = make_person(
        session, unit=unit, staff_id="JJ001", name="李监察", role=Role.OFFICER, channels="telegram"
    )
    officer.telegram_chat_id = 500
    chat = make_person(session, unit=unit, staff_id="CW001", name="王出纳", channels="telegram,sms")
    chat.telegram_chat_id = 1001
    sms = make_person(
        session,
        unit=unit,
        staff_id="CW002",
        name="赵会计",
        mobile="+8613800000002",
        email=None,
        channels="sms",
    )
    email = make_person(
        session,
        unit=unit,
        staff_id="CW003",
        name="钱审计",
        mobile=None,
        email="qian@example.gov.cn",
        channels="email",
    )
    session.add_all([officer, chat])
    session.commit()
    return {"officer": officer, "chat": chat, "sms": sms, "email": email}


def warn(session: Session, org: dict[str, Any], person: Person, clock: FixedClock) -> Warning:
    warning = issue_warning(
        session,
        actor=org["officer"],
        person=person,
        colour="yellow",
        form="correct",
        reason="采购审批未经集体研究",
        deadline=clock.now() + timedelta(days=10),
        clock=clock,
    )
    session.commit()
    return warning


async def dispatch(engine: Engine, settings: Settings, clock: FixedClock) -> DispatchStats:
    async with Dispatcher(engine, settings, clock, build_adapters(settings), "test") as d:
        return await d.drain()


def notices(session: Session, event: NoticeEvent) -> list[Notice]:
    session.expire_all()
    return list(
        session.exec(select(Notice).where(col(Notice.event) == event).order_by(col(Notice.id)))
    )


def telegram_texts(api: TelegramStandin, chat_id: int) -> list[str]:
    return [str(call.params.get("text", "")) for call in api.sent(chat_id)]


def sms_to(api: TwilioStandin, number: str) -> list[str]:
    return [m.body for m in api.messages if m.to == number]


def mail_to(server: SmtpStandin, address: str) -> list[tuple[str, str]]:
    found = []
    for mail in server.to(address):
        body = mail.message.get_body(preferencelist=("plain",))
        found.append((str(mail.message["Subject"]), body.get_content() if body else ""))
    return found


async def test_every_outcome_reaches_each_person_on_their_own_channel(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    standin_settings: Settings,
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
) -> None:
    clock = FixedClock(NOW)
    officer = org["officer"]
    new_deadline = NOW + timedelta(days=20)
    warnings = {who: warn(session, org, org[who], clock) for who in ("chat", "sms", "email")}
    for who, warning in warnings.items():
        report = submit_rectification(
            session,
            warning=warning,
            actor=org[who],
            description=f"{who} 已补充集体研究会议纪要",
            evidence=[],
            clock=clock,
        )
        review_rectification(
            session,
            rectification=report,
            actor=officer,
            accept=False,
            note="证据不足，请补充会议纪要原件。",
            new_deadline=new_deadline,
            clock=clock,
        )
    session.commit()
    # the reviewer heard of each report; each person of the rejection
    assert [n.reader_id for n in notices(session, NoticeEvent.CORRECTION_SUBMITTED)] == [
        officer.id
    ] * 3
    assert [(n.reader_id, n.role) for n in notices(session, NoticeEvent.CORRECTION_REJECTED)] == [
        (org[who].id, NoticeRole.ADDRESSEE) for who in ("chat", "sms", "email")
    ]
    stats = await dispatch(engine, standin_settings, clock)
    assert (stats.expanded, stats.failed) == (9, 0)  # 3 issued, 3 reported, 3 rejected

    chat = telegram_texts(telegram_api, 1001)
    assert len(chat) == 2 and "证据不足，请补充会议纪要原件" in chat[1]
    assert "2026年12月21日" in chat[1]  # the new deadline, in the reader's time zone
    buttons = telegram_api.sent(1001)[1].params["reply_markup"]
    assert f"rc:{warnings['chat'].id}" in str(buttons)  # report the correction again
    [_issued, rejected_sms] = sms_to(twilio_api, "+8613800000002")
    assert f"W{warnings['sms'].id}" in rejected_sms and "证据不足" in rejected_sms
    assert "2026/12/21" in rejected_sms
    assert "原件。请于" in rejected_sms  # the reason's own full stop is not doubled
    [_issued_mail, (subject, text)] = mail_to(smtp_server, "qian@example.gov.cn")
    assert f"W{warnings['email'].id}" in subject and "驳回" in subject
    assert "证据不足，请补充会议纪要原件" in text and "2026年12月21日" in text
    assert "/ack/" in text  # the page where the correction is reported again
    # the officer: three reports, each with a "review it" button
    reports = telegram_api.sent(500)
    assert len(reports) == 3 and "已补充集体研究会议纪要" in str(reports[0].params["text"])
    assert "rv:s:" in str(reports[0].params["reply_markup"])

    # accepted: each person is told on their channel
    for who, warning in warnings.items():
        again = submit_rectification(
            session,
            warning=warning,
            actor=org[who],
            description="原件已补",
            evidence=[],
            clock=clock,
        )
        review_rectification(session, rectification=again, actor=officer, accept=True, clock=clock)
    session.commit()
    await dispatch(engine, standin_settings, clock)
    assert "已由李监察审核通过" in telegram_texts(telegram_api, 1001)[-1]
    assert "已由李监察审核通过" in sms_to(twilio_api, "+8613800000002")[-1]
    assert "通过" in mail_to(smtp_server, "qian@example.gov.cn")[-1][0]


async def test_a_withdrawal_is_announced_with_its_reason_and_nothing_else_goes(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    standin_settings: Settings,
    twilio_api: TwilioStandin,
) -> None:
    clock = FixedClock(NOW)
    warning = warn(session, org, org["sms"], clock)
    # withdrawn before any dispatch: the warning itself never goes out
    withdraw_warning(session, warning=warning, actor=org["officer"], clock=clock, reason="对象有误")
    session.commit()
    stats = await dispatch(engine, standin_settings, clock)
    assert (stats.expanded, stats.sent, stats.cancelled) == (2, 1, 0)
    [only] = sms_to(twilio_api, "+8613800000002")
    assert f"W{warning.id}" in only and "撤回" in only and "对象有误" in only


async def test_a_cancelled_prompt_is_announced_on_the_readers_channels(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    standin_settings: Settings,
    smtp_server: SmtpStandin,
    twilio_api: TwilioStandin,
    telegram_api: TelegramStandin,
) -> None:
    clock = FixedClock(NOW)
    for who in ("chat", "sms", "email"):
        prompt, _delivery = make_prompt_with_delivery(
            session, person=org[who], at=NOW, title="年底资金支付特别提示"
        )
        prompt.status = PromptStatus.CANCELLED
        session.add(prompt)
        # what helper H3's cancel rule writes
        tell(
            session,
            event=NoticeEvent.PROMPT_CANCELLED,
            readers=[Reader(org[who], NoticeRole.ADDRESSEE)],
            at=NOW,
            actor=org["officer"],
            prompt_id=prompt.id,
            data={"reason": "重复发送"},
        )
    session.commit()
    stats = await dispatch(engine, standin_settings, clock)
    # the prompts themselves are cancelled; the notices of it go
    assert (stats.expanded, stats.cancelled, stats.sent) == (3, 3, 3)
    [chat] = telegram_texts(telegram_api, 1001)
    [sms] = sms_to(twilio_api, "+8613800000002")
    [(subject, text)] = mail_to(smtp_server, "qian@example.gov.cn")
    for message in (chat, sms, subject + text):
        # the title from the prompt's kind, in the reader's language (not as stored)
        assert "特别提示" in message and "撤回" in message
    assert "重复发送" in chat and "重复发送" in sms and "重复发送" in text


async def test_a_failed_notice_falls_back_to_the_next_channel(
    engine: Engine,
    session: Session,
    org: dict[str, Any],
    standin_settings: Settings,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
) -> None:
    clock = FixedClock(NOW)
    warning = warn(session, org, org["chat"], clock)
    await dispatch(engine, standin_settings, clock)
    telegram_api.fail_chat(1001, TelegramFault.blocked())
    withdraw_warning(session, warning=warning, actor=org["officer"], clock=clock, reason="误发")
    session.commit()
    stats = await dispatch(engine, standin_settings, clock)
    assert (stats.failed, stats.fell_back, stats.sent) == (1, 1, 1)
    session.expire_all()
    [notice] = notices(session, NoticeEvent.WARNING_WITHDRAWN)
    failed, fallback = session.exec(
        select(Delivery).where(col(Delivery.notice_id) == notice.id).order_by(col(Delivery.id))
    ).all()
    assert (failed.channel, failed.status) == ("telegram", DeliveryStatus.FAILED)
    assert (fallback.channel, fallback.status) == ("sms", DeliveryStatus.SENT)
    assert fallback.idempotency_key == str(DeliveryKey.notice(notice.id, Channel.SMS, failed.id))
    [sms] = sms_to(twilio_api, org["chat"].mobile)
    assert "误发" in sms


def test_expanding_twice_creates_nothing_twice(
    engine: Engine, session: Session, org: dict[str, Any], standin_settings: Settings
) -> None:
    clock = FixedClock(NOW)
    warn(session, org, org["email"], clock)
    assert expand_notices(session, now=NOW, settings=standin_settings) == 1
    session.commit()
    assert expand_notices(session, now=NOW, settings=standin_settings) == 0
    session.commit()
    assert len(session.exec(select(Delivery)).all()) == 1


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_two_expanders_at_once_share_the_notices(
    engine: Engine, session: Session, org: dict[str, Any], standin_settings: Settings
) -> None:
    clock = FixedClock(NOW)
    for who in ("chat", "sms", "email"):
        warn(session, org, org[who], clock)
    with Session(engine) as first, first.begin():
        # the first holds its claim (uncommitted) while the second runs
        taken = expand_notices(first, now=NOW, settings=standin_settings, limit=2)
        found: list[int] = []
        worker = threading.Thread(
            target=lambda: found.append(_expand_in_own_session(engine, standin_settings))
        )
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive()
    assert (taken, found) == (2, [1])  # SKIP LOCKED: the second takes only the third
    with Session(engine) as check:
        keys = [d.idempotency_key for d in check.exec(select(Delivery)).all()]
        assert len(keys) == len(set(keys)) == 3  # yellow: each on their first channel
        pending = check.exec(select(Notice).where(col(Notice.expanded_at).is_(None))).all()
        assert pending == []


def _expand_in_own_session(engine: Engine, settings: Settings) -> int:
    with Session(engine) as session, session.begin():
        return expand_notices(session, now=NOW, settings=settings)
