"""The conversations issue's done-means, scripted through the stand-ins.

The demo catalogue, a monthly cycle delivered over SMTP, Telegram, Twilio and
WeCom; every person acknowledges on the channel that reached them (the Telegram
button through the webhook, an SMS reply through the signed Twilio webhook, the
WeCom card's button through its encrypted callback, the signed link in the
email); one warning is answered with a correction in chat and an
officer accepts it; the audit log holds every step.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator

from riskprompt.bot.app import SECRET_HEADER, build_application, process_update_json, webhook_secret
from riskprompt.config.settings import load_settings
from riskprompt.demo import SAMPLE_DIR
from riskprompt.models import (
    AuditEvent,
    Delivery,
    DeliveryStatus,
    Person,
    Prompt,
    PromptStatus,
    Role,
)
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import bind_chat, create_binding_code
from riskprompt.models.db import session_scope
from riskprompt.models.importing import import_catalog, import_people
from riskprompt.models.warnings import (
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.planning import plan_monthly_cycle
from riskprompt.web import create_app
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin
from tests.standins.wecom import WeComStandin, settings_values

PUBLIC_URL = "https://riskprompt.example.gov.cn"
CHAT_BASE = 810_000
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
ACK_LINK = re.compile(r"/ack/([A-Za-z0-9._-]+)")
FORM_KEY = re.compile(r'name="k" value="([0-9a-f]+)"')


async def test_everyone_acknowledges_on_their_channel_and_a_correction_is_accepted(
    database: str,
    engine: Engine,
    clock: FixedClock,
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    wecom_api: WeComStandin,
    tmp_path: Path,
) -> None:
    settings = load_settings(
        **standin_overrides(smtp=smtp_server, telegram=telegram_api, twilio=twilio_api),
        **settings_values(wecom_api),
        DATABASE_URL=database,
        PUBLIC_URL=PUBLIC_URL,
        SECRET_KEY="end-to-end-secret",
        OUTBOX_DIR=tmp_path / "outbox",
        DATA_DIR=tmp_path / "data",
    )
    with session_scope(engine) as session:
        assert import_catalog(session, path=SAMPLE_DIR / "catalog.csv", clock=clock).ok
    with session_scope(engine) as session:
        assert import_people(
            session, path=SAMPLE_DIR / "people.csv", clock=clock, zone=settings.zone
        ).ok
    chats: dict[int, int] = {}  # person id → chat id
    with session_scope(engine) as session:
        people = session.exec(select(Person).order_by(col(Person.id))).all()
        officer = next(p for p in people if p.role is Role.OFFICER)
        for n, person in enumerate(people, start=1):
            if person.channels.startswith("telegram") or person.id == officer.id:
                code = create_binding_code(session, person=person, clock=clock)
                bind_chat(session, code=code, chat_id=CHAT_BASE + n, clock=clock)
                chats[person.id or 0] = CHAT_BASE + n

    plan_monthly_cycle(engine, period="2026-12", clock=clock, settings=settings)
    async with Dispatcher(engine, settings, clock, build_adapters(settings), "e2e") as worker:
        stats = await worker.drain()
    assert stats.failed == 0 and stats.sent > 0

    bot = build_application(settings=settings, engine=engine, clock=clock)
    await bot.initialize()

    async def telegram_handler(data: dict[str, Any]) -> None:
        await process_update_json(bot, data)

    web = create_app(
        settings=settings, engine=engine, clock=clock, telegram_handler=telegram_handler
    )
    validator = RequestValidator(settings.TWILIO_AUTH_TOKEN or "")
    mails = {str(m.message["Message-ID"]): m.message for m in smtp_server.messages}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url=PUBLIC_URL
        ) as http:

            async def chat(update: dict[str, Any]) -> None:
                headers = {SECRET_HEADER: webhook_secret(settings)}
                response = await http.post("/telegram/webhook", json=update, headers=headers)
                assert response.status_code == 200, response.text

            with Session(engine) as session:
                sent = session.exec(
                    select(Delivery, Person)
                    .join(Person, col(Person.id) == col(Delivery.person_id))
                    .where(Delivery.status == DeliveryStatus.SENT)
                ).all()
            for delivery, person in sent:
                if delivery.channel == "telegram":
                    last_message = int((delivery.provider_message_id or "0").split(",")[-1])
                    await chat(
                        telegram_api.callback_update(
                            int(delivery.address or 0),
                            f"ack:p:{delivery.prompt_id}",
                            message_id=last_message,
                        )
                    )
                elif delivery.channel == "sms":
                    form = {"From": person.mobile or "", "Body": f"P{delivery.prompt_id}"}
                    url = f"{PUBLIC_URL}/twilio/sms"
                    signature = validator.compute_signature(url, form)
                    response = await http.post(
                        "/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
                    )
                    assert response.status_code == 200 and "<Response>" in response.text
                elif delivery.channel == "wecom":
                    [card] = wecom_api.cards(delivery.address or "")
                    event = wecom_api.card_event(card, f"ack:p:{delivery.prompt_id}")
                    response = await wecom_api.post_callback(http, event)
                    assert response.status_code == 200 and card.updated_to == "已确认"
                else:
                    mail = mails[delivery.provider_message_id or ""]
                    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
                    token = ACK_LINK.search(text)
                    assert token is not None
                    page = await http.get(f"/ack/{token.group(1)}")  # shows, changes nothing
                    assert page.status_code == 200
                    key = FORM_KEY.search(page.text)
                    assert key is not None
                    # the page's 已阅 button
                    response = await http.post(f"/ack/{token.group(1)}", data={"k": key.group(1)})
                    assert response.status_code == 200

            # an ordered correction, reported in chat with a file, accepted by the officer
            with session_scope(engine) as session:
                staff = next(
                    p
                    for p in session.exec(select(Person)).all()
                    if p.role is Role.STAFF and p.id in chats
                )
                issuer = session.get(Person, officer.id)
                assert issuer is not None
                warning = issue_warning(
                    session,
                    actor=issuer,
                    person=staff,
                    colour=WarningColour.YELLOW,
                    form=WarningForm.CORRECT,
                    reason="专项资金拨付未经集体研究",
                    deadline=clock.now().replace(year=2027),
                    clock=clock,
                )
                warning_id, staff_chat = warning.id, chats[staff.id or 0]
            officer_chat = chats[officer.id or 0]
            await chat(telegram_api.message_update(staff_chat, "/warnings"))
            await chat(telegram_api.callback_update(staff_chat, f"rc:{warning_id}", message_id=1))
            await chat(telegram_api.message_update(staff_chat, "已组织集体研究，补齐会议纪要。"))
            document = telegram_api.message_update(staff_chat, "-")
            del document["message"]["text"]
            document["message"]["document"] = {
                "file_id": telegram_api.add_file(PDF, "documents/minutes.pdf"),
                "file_unique_id": "minutes",
                "file_name": "会议纪要.pdf",
                "mime_type": "application/pdf",
                "file_size": len(PDF),
            }
            await chat(document)
            await chat(telegram_api.callback_update(staff_chat, "rc:done", message_id=1))
            await chat(telegram_api.callback_update(staff_chat, "rc:ok", message_id=1))
            await chat(telegram_api.message_update(officer_chat, "/review"))
            review = telegram_api.sent(officer_chat)[-1].params
            report = re.search(r"rv:a:(\d+)", str(review.get("reply_markup")))
            assert report is not None, review
            await chat(telegram_api.callback_update(officer_chat, report.group(0), message_id=1))
    finally:
        await bot.shutdown()

    with Session(engine) as session:
        prompts = session.exec(select(Prompt)).all()
        delivered = {d.prompt_id: d.channel for d, _ in sent}
        for prompt in prompts:
            if prompt.id in delivered:
                assert prompt.status is PromptStatus.ACKNOWLEDGED, prompt
                assert prompt.acknowledged_via == delivered[prompt.id]
        closed = session.get(Warning, warning_id)
        assert closed is not None and closed.status is WarningStatus.CLOSED
        actions = Counter(session.exec(select(AuditEvent.action)).all())
    assert actions["prompt.acknowledged"] == len(delivered)
    assert actions["delivery.sent"] == len(sent)
    assert Counter(delivered.values()).keys() == {"telegram", "sms", "email", "wecom"}
    for step in ("cycle.run", "warning.issued", "warning.submitted", "warning.accepted"):
        assert actions[step] >= 1, step
