"""How updates reach the bot: getUpdates polling, and the webhook with its secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from riskprompt.bot.app import (
    InvalidUpdate,
    process_update_json,
    start_bot,
    stop_bot,
    verify_webhook_secret,
    webhook_secret,
)
from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import create_binding_code
from riskprompt.models.db import make_engine
from riskprompt.models.people import Person
from tests.builders import make_person, make_unit
from tests.standins.fixtures import standin_overrides
from tests.standins.telegram import TelegramStandin

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def _invited(database: str, clock: FixedClock) -> str:
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        person = make_person(session, unit=make_unit(session), staff_id="CW001", name="张出纳")
        code = create_binding_code(session, person=person, clock=clock)
        session.commit()
    engine.dispose()
    return code


@sqlite_only
async def test_polling_binds_a_chat_from_get_updates(
    database: str, telegram_api: TelegramStandin, clock: FixedClock, tmp_path: Path
) -> None:
    code = _invited(database, clock)
    settings = Settings(
        DATABASE_URL=database, DATA_DIR=tmp_path, **standin_overrides(telegram=telegram_api)
    )
    engine = make_engine(database)
    application = await start_bot(settings=settings, engine=engine, clock=clock, poll_timeout=1)
    assert application is not None
    try:
        assert telegram_api.webhook is None
        telegram_api.enqueue(telegram_api.message_update(77, f"/start {code}"))
        calls = await telegram_api.wait_for_calls(1)
        assert "张出纳，您好" in calls[0].params["text"]
    finally:
        await stop_bot(application)
    assert telegram_api.calls_of("getUpdates")
    assert {c.params.get("language_code") for c in telegram_api.calls_of("setMyCommands")} == {
        None,
        "zh",
        "en",
    }
    with Session(engine) as session:
        person = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
        assert person.telegram_chat_id == 77
    engine.dispose()


@sqlite_only
async def test_webhook_is_registered_with_a_secret_and_takes_updates(
    database: str, telegram_api: TelegramStandin, clock: FixedClock, tmp_path: Path
) -> None:
    code = _invited(database, clock)
    settings = Settings(
        DATABASE_URL=database,
        DATA_DIR=tmp_path,
        PUBLIC_URL="https://riskprompt.example.gov.cn/",
        SECRET_KEY="a-real-secret",
        **standin_overrides(telegram=telegram_api),
    )
    engine = make_engine(database)
    application = await start_bot(settings=settings, engine=engine, clock=clock)
    assert application is not None
    try:
        hook = telegram_api.webhook
        assert hook is not None
        assert hook["url"] == "https://riskprompt.example.gov.cn/telegram/webhook"
        assert hook["secret_token"] == webhook_secret(settings)
        # what the web route does once the header matched
        assert verify_webhook_secret(settings, hook["secret_token"])
        await process_update_json(application, telegram_api.message_update(78, f"/start {code}"))
        assert "张出纳，您好" in telegram_api.sent(78)[-1].params["text"]
        with pytest.raises(InvalidUpdate):
            await process_update_json(application, {"hello": "world"})
    finally:
        await stop_bot(application)
    engine.dispose()


def test_the_webhook_secret_is_checked() -> None:
    settings = Settings(SECRET_KEY="one")
    secret = webhook_secret(settings)
    assert verify_webhook_secret(settings, secret)
    assert not verify_webhook_secret(settings, None)
    assert not verify_webhook_secret(settings, "")
    assert not verify_webhook_secret(settings, secret[:-1] + "0")
    assert not verify_webhook_secret(Settings(SECRET_KEY="two"), secret)
    assert len(secret) <= 256 and secret.isalnum()  # Telegram's allowed characters


@sqlite_only
async def test_no_token_no_bot(database: str, clock: FixedClock) -> None:
    engine = make_engine(database)
    assert await start_bot(settings=Settings(), engine=engine, clock=clock) is None
    engine.dispose()
