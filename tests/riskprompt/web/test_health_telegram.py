"""``/healthz`` and ``/telegram/webhook``."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from riskprompt.bot.app import InvalidUpdate
from riskprompt.models.db import make_engine
from riskprompt.web import create_app, webhook_secret

SQLITE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@SQLITE
def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_down(web_settings, clock, tmp_path):
    (tmp_path / "a-folder").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'a-folder'}")  # a folder is no database
    with TestClient(create_app(settings=web_settings, engine=engine, clock=clock)) as client:
        response = client.get("/healthz")
    engine.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}


@pytest.fixture
def bot_client(web_settings, engine, clock):
    received: list[dict[str, Any]] = []

    async def handler(data: dict[str, Any]) -> None:
        if data.get("update_id") == -1:
            raise InvalidUpdate("not an update")
        if data.get("update_id") == -2:
            raise RuntimeError("the bot fell over")
        received.append(data)

    app = create_app(settings=web_settings, engine=engine, clock=clock, telegram_handler=handler)
    with TestClient(app) as client:
        yield client, received


UPDATE = {
    "update_id": 1,
    "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}},
}


@SQLITE
def test_webhook_hands_genuine_updates_to_the_bot(bot_client, web_settings):
    client, received = bot_client
    secret = webhook_secret(web_settings)
    assert len(secret) <= 256 and secret.isalnum()
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    assert client.post("/telegram/webhook", json=UPDATE, headers=headers).status_code == 200
    assert received == [UPDATE]
    assert client.post("/telegram/webhook", content=b"{", headers=headers).status_code == 400
    bad = {"update_id": -1}
    assert client.post("/telegram/webhook", json=bad, headers=headers).status_code == 400
    # the bot's own failure is logged, not sent back for Telegram to retry for ever
    crash = {"update_id": -2}
    assert client.post("/telegram/webhook", json=crash, headers=headers).status_code == 200


@SQLITE
@pytest.mark.parametrize("secret", [None, "", "wrong", "x" * 300])
def test_webhook_refuses_a_wrong_secret(bot_client, secret):
    client, received = bot_client
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    assert client.post("/telegram/webhook", json=UPDATE, headers=headers).status_code == 403
    assert received == []


@SQLITE
def test_webhook_is_404_when_no_bot_is_served(client, web_settings):
    headers = {"X-Telegram-Bot-Api-Secret-Token": webhook_secret(web_settings)}
    assert client.post("/telegram/webhook", json=UPDATE, headers=headers).status_code == 404


def test_the_secret_follows_the_secret_key(web_settings):
    other = web_settings.model_copy(update={"SECRET_KEY": "another"})
    assert webhook_secret(other) != webhook_secret(web_settings)
