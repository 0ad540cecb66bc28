"""The delivery issue's done-means: the demo catalogue through the three stand-ins.

``riskprompt cycle run`` then ``riskprompt dispatch --until-idle``, with the
settings pointing at loopback SMTP, Telegram Bot API and Twilio stand-ins, sends
every prompt through the real client libraries, Chinese text intact.  The CLI
runs in a worker thread (it runs its own event loop) while the stand-ins answer
in the test's loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.demo import SAMPLE_DIR
from riskprompt.models import Delivery, DeliveryStatus, Person, Prompt
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import bind_chat, create_binding_code
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin

BOUND = 10


async def _cli(*args: str, locale: str = "en") -> str:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["--locale", locale, *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_cycle_and_dispatch_deliver_the_demo_catalogue_through_the_stand_ins(
    database: str,
    engine: Engine,
    clock: FixedClock,
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", database)
    monkeypatch.setenv("RISKPROMPT_OUTBOX_DIR", str(tmp_path / "outbox"))
    overrides = standin_overrides(smtp=smtp_server, telegram=telegram_api, twilio=twilio_api)
    for name, value in overrides.items():
        monkeypatch.setenv(f"RISKPROMPT_{name}", str(value))

    await _cli("import", "catalog", str(SAMPLE_DIR / "catalog.csv"))
    # the sample people have no language of their own: they take the configured one
    await _cli("import", "people", str(SAMPLE_DIR / "people.csv"), locale="zh_CN")
    with Session(engine) as session:
        people = session.exec(select(Person).order_by(col(Person.id))).all()
        chatty = [p for p in people if p.channels.startswith("telegram")][:BOUND]
        for n, person in enumerate(chatty, start=1):
            code = create_binding_code(session, person=person, clock=clock)
            bind_chat(session, code=code, chat_id=700_000 + n, clock=clock)
        session.commit()

    planned = await _cli("cycle", "run", "--period", "2026-12")
    assert "2026-12" in planned
    dispatched = await _cli("dispatch", "--until-idle")
    assert "sent" in dispatched.lower()

    with Session(engine) as session:
        prompts = session.exec(select(Prompt)).all()
        deliveries = session.exec(select(Delivery)).all()
    assert len(prompts) >= 30
    sent = [d for d in deliveries if d.status is DeliveryStatus.SENT]
    assert {d.prompt_id for d in sent} == {
        p.id for p in prompts if any(d.prompt_id == p.id for d in deliveries)
    }
    assert all(d.status is DeliveryStatus.SENT for d in deliveries), Counter(
        (d.channel, d.status, d.last_error) for d in deliveries
    )
    by_channel = Counter(d.channel for d in sent)
    assert by_channel["telegram"] >= 1 and by_channel["sms"] >= 1 and by_channel["email"] >= 1

    # what the providers received is what was sent, once each, Chinese intact
    assert len(smtp_server.messages) == by_channel["email"]
    assert len(twilio_api.messages) == by_channel["sms"]
    telegram_chats = {int(c.chat_id) for c in telegram_api.sent()}
    assert telegram_chats == {int(d.address or 0) for d in sent if d.channel == "telegram"}
    assert len(telegram_api.sent()) >= by_channel["telegram"]  # long prompts come in parts
    mail = smtp_server.messages[0].message
    assert "岗位廉政风险提示" in str(mail["Subject"])
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "风险点" in body.get_content()
    assert "/ack/" in body.get_content()
    assert all("回复1确认已阅" in m.body for m in twilio_api.messages)
    assert all(len(m.body) <= 134 for m in twilio_api.messages)
    telegram_text = telegram_api.sent()[0].params["text"]
    assert "风险点" in telegram_text
    assert "已阅" in str(telegram_api.sent()[-1].params.get("reply_markup"))
    provider_ids = {d.provider_message_id for d in sent}
    assert {m.sid for m in twilio_api.messages} <= provider_ids
