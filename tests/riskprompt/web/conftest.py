"""The web app under test: built by ``create_app`` on the clean database and the fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.web import create_app

PUBLIC_URL = "https://riskprompt.example.gov.cn"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
SECRET_KEY = "a-secret-key-for-tests"


@pytest.fixture
def web_settings(tmp_path: Path) -> Settings:
    """Twilio, Telegram and the public URL configured (nothing is sent: no dispatcher runs)."""
    return load_settings(
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_FROM="+15005550006",
        PUBLIC_URL=PUBLIC_URL,
        SECRET_KEY=SECRET_KEY,
        TELEGRAM_TOKEN="123456:test-token",
        OUTBOX_DIR=tmp_path / "outbox",
        DATA_DIR=tmp_path / "data",
    )


@pytest.fixture
def client(web_settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    """A test client of the app on the clean database."""
    app = create_app(settings=web_settings, engine=engine, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


def audit_count(engine: Engine, action: str | None = None) -> int:
    """How many audit records there are (of one action)."""
    query = select(func.count()).select_from(AuditEvent)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    with Session(engine) as s:
        return int(s.exec(query).one())
