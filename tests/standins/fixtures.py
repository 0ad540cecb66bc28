"""pytest fixtures for the stand-ins (registered by ``tests/conftest.py``'s ``pytest_plugins``).

- ``smtp_server``, ``telegram_api``, ``twilio_api``, ``aliyun_sms_api``: a started
  stand-in each, stopped after the test.
- ``standin_settings``: :class:`Settings` whose SMTP, Twilio and Telegram point
  at those three stand-ins, rate limits off, outbox in the test's folder.
- ``tls_ca`` / ``smtp_tls``: an offline CA (trustme) and server/client TLS
  contexts for 127.0.0.1, for STARTTLS and implicit TLS tests.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from riskprompt.config.settings import Settings
from tests.standins.aliyun_sms import DEFAULT_SIGN_NAME, KIND_TEMPLATES, AliyunSmsStandin
from tests.standins.dingtalk import DingTalkStandin
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin
from tests.standins.wecom import WeComStandin


@pytest_asyncio.fixture
async def smtp_server() -> AsyncIterator[SmtpStandin]:
    """A plain SMTP stand-in (no TLS, no AUTH)."""
    async with SmtpStandin() as server:
        yield server


@pytest_asyncio.fixture
async def telegram_api() -> AsyncIterator[TelegramStandin]:
    """A Telegram Bot API stand-in accepting ``telegram_api.token``."""
    async with TelegramStandin() as api:
        yield api


@pytest_asyncio.fixture
async def wecom_api() -> AsyncIterator[WeComStandin]:
    """A WeCom server API stand-in for its ``corp_id``/``secret``/``agent_id``."""
    async with WeComStandin() as api:
        yield api


@pytest_asyncio.fixture
async def dingtalk_api() -> AsyncIterator[DingTalkStandin]:
    """A DingTalk server API stand-in for its ``app_key``/``app_secret``/``agent_id``."""
    async with DingTalkStandin() as api:
        yield api


@pytest_asyncio.fixture
async def twilio_api() -> AsyncIterator[TwilioStandin]:
    """A Twilio Messages API stand-in accepting its ``account_sid``/``auth_token``."""
    async with TwilioStandin() as api:
        yield api


@pytest_asyncio.fixture
async def aliyun_sms_api() -> AsyncIterator[AliyunSmsStandin]:
    """An Alibaba Cloud SMS stand-in with its AccessKey, sign name and four templates."""
    async with AliyunSmsStandin() as api:
        yield api


def standin_overrides(
    *,
    smtp: SmtpStandin | None = None,
    telegram: TelegramStandin | None = None,
    twilio: TwilioStandin | None = None,
    aliyun_sms: AliyunSmsStandin | None = None,
) -> dict[str, Any]:
    """Settings values that point the channels at the given stand-ins, rate limits off."""
    values: dict[str, Any] = {"RATE_LIMITS": False}
    if smtp is not None:
        values |= {
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": smtp.port,
            "SMTP_FROM": "风险提示 <riskprompt@example.gov.cn>",
            "SMTP_TIMEOUT_SECONDS": 5.0,
        }
    if telegram is not None:
        values |= {"TELEGRAM_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}
    if twilio is not None:
        values |= {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_FROM": "+15005550006",
            "TWILIO_API_URL": twilio.url,
        }
    if aliyun_sms is not None:
        values |= {
            "SMS_PROVIDER": "aliyun",
            "ALIYUN_SMS_API_URL": aliyun_sms.url,
            "ALIYUN_SMS_ACCESS_KEY_ID": aliyun_sms.access_key_id,
            "ALIYUN_SMS_ACCESS_KEY_SECRET": aliyun_sms.access_key_secret,
            "ALIYUN_SMS_SIGN_NAME": DEFAULT_SIGN_NAME,
            "ALIYUN_SMS_TEMPLATES": dict(KIND_TEMPLATES),
        }
    return values


@pytest.fixture
def standin_settings(
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    tmp_path: Path,
) -> Settings:
    """Settings whose three channels go to the stand-ins."""
    return Settings(
        OUTBOX_DIR=tmp_path / "outbox",
        **standin_overrides(smtp=smtp_server, telegram=telegram_api, twilio=twilio_api),
    )


@pytest.fixture(scope="session")
def tls_ca() -> Any:
    """An offline certificate authority (``trustme.CA``)."""
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


@pytest.fixture(scope="session")
def smtp_tls(tls_ca: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for 127.0.0.1/localhost, client context trusting it)."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    tls_ca.configure_trust(client)
    return server, client
