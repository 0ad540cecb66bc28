"""A monthly cycle with some people on WeCom, each acknowledging from the card.

``riskprompt cycle run`` and ``riskprompt dispatch --until-idle`` (the real CLI,
in a worker thread with its own event loop) send the demo catalogue's prompts;
the sample people who prefer WeCom get theirs through the WeCom stand-in as
markdown and a card, everyone else through the outbox folder.  Each WeCom reader
then presses "已阅" on the card: the stand-in posts the encrypted callback to the
web app, the prompt is acknowledged, and the card turns to "已确认".
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.config.settings import load_settings
from riskprompt.demo import SAMPLE_DIR
from riskprompt.models import Delivery, DeliveryStatus, Person, Prompt, PromptStatus
from riskprompt.models.clock import SystemClock
from riskprompt.models.tokens import ProviderToken
from riskprompt.web import create_app
from tests.standins.wecom import WeComStandin, settings_values

#: Runs the whole cycle: once, on SQLite.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def _cli(*args: str) -> str:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["--locale", "zh_CN", *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_monthly_cycle_acknowledged_from_wecom_cards(
    database: str,
    engine: Engine,
    wecom_api: WeComStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = {
        "DATABASE_URL": database,
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "PUBLIC_URL": "https://riskprompt.example.gov.cn",
        "SECRET_KEY": "a-secret-key-for-the-end-to-end-test",
        **settings_values(wecom_api),
    }
    for name, value in values.items():
        monkeypatch.setenv(f"RISKPROMPT_{name}", str(value))
    await _cli("import", "catalog", str(SAMPLE_DIR / "catalog.csv"))
    await _cli("import", "people", str(SAMPLE_DIR / "people.csv"))
    await _cli("cycle", "run", "--period", "2026-12")
    await _cli("dispatch", "--until-idle")

    with Session(engine) as session:
        on_wecom = {
            p.wecom_userid: p
            for p in session.exec(select(Person).order_by(col(Person.id))).all()
            if p.wecom_userid and p.channels.startswith("wecom")
        }
        deliveries = session.exec(select(Delivery).where(Delivery.channel == "wecom")).all()
        prompts = {p.id: p for p in session.exec(select(Prompt)).all()}
        [token] = session.exec(select(ProviderToken)).all()
    assert len(deliveries) >= 3 and all(d.status is DeliveryStatus.SENT for d in deliveries)
    assert wecom_api.token_fetches == 1 and token.fetches == 1  # one token for the whole run
    for delivery in deliveries:
        person = next(p for p in on_wecom.values() if p.id == delivery.person_id)
        markdown, *more, card = wecom_api.sent_to(person.wecom_userid or "")
        assert markdown.msgtype == "markdown" and "风险" in markdown.content
        assert card.button_keys == [f"ack:p:{delivery.prompt_id}"]
        assert card.card["main_title"]["title"] == prompts[delivery.prompt_id].title
        assert delivery.provider_message_id == ",".join(m.msgid for m in [markdown, *more, card])
    # everyone else's prompts went to the outbox folder
    assert any((tmp_path / "outbox").glob("*-email.eml"))

    settings = load_settings()
    web = create_app(settings=settings, engine=engine, clock=SystemClock())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://testserver"
    ) as client:
        for card in wecom_api.cards():
            answer = await wecom_api.post_callback(
                client, wecom_api.card_event(card, card.button_keys[0])
            )
            assert answer.status_code == 200

    with Session(engine) as session:
        for delivery in deliveries:
            prompt = session.get(Prompt, delivery.prompt_id)
            assert prompt is not None and prompt.status is PromptStatus.ACKNOWLEDGED
        others = session.exec(
            select(Prompt).where(col(Prompt.id).not_in([d.prompt_id for d in deliveries]))
        ).all()
    assert others and all(p.status is PromptStatus.OPEN for p in others)
    assert {c.updated_to for c in wecom_api.cards()} == {"已确认"}
