"""Secrets never show: not in logs, error messages, stored errors, answers or command output.

The secrets: the Telegram bot token, the Twilio auth token, the SMTP password,
the secret key (and the webhook secret derived from it), officers' API bearer
tokens.  Every provider refuses the credentials here (the stand-ins expect
others), which is when libraries put credentials into their errors: a Bot API
URL carries the token, a refused login names the user.  Everything is logged at
DEBUG; each record is checked as the product writes it (the formatter of
:mod:`riskprompt.logs`), and the records of our own loggers also as raw text.
The command-line tools run as real processes with the secrets in their
environment, and their output is checked whole.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from riskprompt.bot.app import SECRET_HEADER, webhook_secret
from riskprompt.config.settings import Settings
from riskprompt.logs import make_formatter
from riskprompt.models.audit import AuditEvent
from riskprompt.models.conversations import create_api_token
from riskprompt.models.people import Role
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.web import create_app
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.faults.conftest import NoJitter, settle
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin

TELEGRAM_TOKEN = "987654321:AAF-SECRET_bot_token_0123456789abcdef"
TWILIO_TOKEN = "twilio-SECRET-auth-token-0123456789"
SMTP_PASSWORD = "smtp-SECRET-pässwörd-0123"
SECRET_KEY = "SECRET-key-for-signing-links-0123456789"
OUR_LOGGERS = ("notifications", "bot", "riskprompt", "models", "config")
#: The stand-ins' own servers log what they receive: they are the providers, not us.
PROVIDER_LOGGERS = ("mail.log", "aiohttp.server", "aiohttp.access")


@pytest.fixture
async def providers() -> tuple[SmtpStandin, TelegramStandin, TwilioStandin]:
    """Stand-ins that expect other credentials than ours."""
    async with (
        SmtpStandin(credentials=("riskprompt", "the-right-password")) as smtp,
        TelegramStandin() as telegram,
        TwilioStandin(auth_token="the-right-auth-token") as twilio,
    ):
        yield smtp, telegram, twilio


@pytest.fixture
def settings(database: str, providers, tmp_path: Path) -> Settings:
    smtp, telegram, twilio = providers
    return Settings(
        DATABASE_URL=database,
        SECRET_KEY=SECRET_KEY,
        PUBLIC_URL="https://riskprompt.example.gov.cn",
        OUTBOX_DIR=tmp_path / "outbox",
        DATA_DIR=tmp_path / "data",
        RATE_LIMITS=False,
        SMTP_HOST=smtp.host,
        SMTP_PORT=smtp.port,
        SMTP_USERNAME="riskprompt",
        SMTP_PASSWORD=SMTP_PASSWORD,
        SMTP_TIMEOUT_SECONDS=5.0,
        TELEGRAM_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_API_URL=telegram.url,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_FROM="+15005550006",
        TWILIO_API_URL=twilio.url,
        DELIVERY_MAX_ATTEMPTS=2,
        RETRY_BASE_SECONDS=1.0,
        QUIET_HOURS="",
    )


def secrets(settings: Settings, *more: str) -> list[str]:
    """Every secret of ``settings``, plus ``more``, also as they travel base64-encoded."""
    plain = [TELEGRAM_TOKEN, TWILIO_TOKEN, SMTP_PASSWORD, SECRET_KEY, webhook_secret(settings)]
    encoded = [
        base64.b64encode(f"\0riskprompt\0{SMTP_PASSWORD}".encode()).decode(),  # AUTH PLAIN
        base64.b64encode(SMTP_PASSWORD.encode()).decode(),  # AUTH LOGIN
        base64.b64encode(f"{settings.TWILIO_ACCOUNT_SID}:{TWILIO_TOKEN}".encode()).decode(),
    ]
    return [*plain, *encoded, *more]


def leaks(texts: Iterable[str], hidden: list[str]) -> list[str]:
    """The texts that contain a secret (shortened, with the secret marked)."""
    found = []
    for text in texts:
        for secret in hidden:
            if secret in text:
                found.append(text.replace(secret, "<<SECRET>>")[:300])
    return found


def log_texts(records: list[logging.LogRecord], settings: Settings) -> list[str]:
    """Each record as the product writes it, and our own records also raw."""
    formatter = make_formatter(settings)
    texts = []
    for record in records:
        if record.name.startswith(PROVIDER_LOGGERS):
            continue
        texts.append(formatter.format(record))
        if record.name.startswith(OUR_LOGGERS):
            texts.append(record.getMessage())
            if record.exc_info:
                texts.append(formatter.formatException(record.exc_info))
    return texts


async def test_failed_sends_reveal_no_credentials(
    settings: Settings, engine, session, clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    unit = make_unit(session)
    for channels in ("telegram", "sms", "email"):
        person = make_person(session, unit=unit, channels=channels)
        person.telegram_chat_id = 4242 if channels == "telegram" else None
        make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()

    adapters = build_adapters(settings)
    async with Dispatcher(engine, settings, clock, adapters, "w", rng=NoJitter()) as dispatcher:
        stats = await settle(dispatcher, engine, clock)

    assert stats.failed == 3 and stats.sent == 0  # every provider refused our credentials
    with Session(engine) as s:
        errors = [d.last_error or "" for d in s.exec(select(Delivery)).all()]
        audit = [json.dumps(e.data, ensure_ascii=False) for e in s.exec(select(AuditEvent)).all()]
        assert {d.status for d in s.exec(select(Delivery)).all()} == {DeliveryStatus.FAILED}
    assert all(errors), "every failure says why"
    hidden = secrets(settings)
    assert leaks(errors + audit, hidden) == []
    assert leaks(log_texts(caplog.records, settings), hidden) == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_web_answers_reveal_no_secrets(
    settings: Settings, engine, session, clock, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    officer = make_person(session, unit=make_unit(session), staff_id="JJ001", role=Role.OFFICER)
    token = create_api_token(session, person=officer, clock=clock)
    session.commit()
    app = create_app(settings=settings, engine=engine, clock=clock, telegram_handler=None)
    wrong_token = token[:-4] + "AAAA"
    hidden = secrets(settings, token, wrong_token)
    answers: list[str] = []

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for headers in (
            {"Authorization": f"Bearer {token}"},
            {"Authorization": f"Bearer {wrong_token}"},
            {"Authorization": f"Basic {TWILIO_TOKEN}"},
        ):
            response = await http.get("/api/v1/prompts", headers=headers)
            answers.append(f"{response.status_code} {response.headers} {response.text}")
        response = await http.post(
            "/telegram/webhook", json={"update_id": 1}, headers={SECRET_HEADER: SECRET_KEY}
        )
        answers.append(response.text)
        for path in ("/twilio/sms", "/twilio/status"):
            response = await http.post(
                path,
                content=f"Body=1&From=%2B8613800000000&AuthToken={TWILIO_TOKEN}",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": TWILIO_TOKEN,
                },
            )
            answers.append(f"{response.status_code} {response.text}")
        response = await http.get(f"/ack/{SECRET_KEY}")
        answers.append(response.text)

    assert answers[0].startswith("200") and answers[1].startswith("401")
    assert leaks(answers, hidden) == []
    assert leaks(log_texts(caplog.records, settings), hidden) == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_command_line_output_reveals_no_secrets(
    settings: Settings, database: str, engine, session, clock, tmp_path: Path
) -> None:
    unit = make_unit(session)
    for channels in ("telegram", "sms", "email"):
        person = make_person(session, unit=unit, staff_id=f"S-{channels}", channels=channels)
        person.telegram_chat_id = 4343 if channels == "telegram" else None
        make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    adapters = build_adapters(settings)
    async with Dispatcher(engine, settings, clock, adapters, "w", rng=NoJitter()) as dispatcher:
        assert (await settle(dispatcher, engine, clock)).failed == 3  # errors to list
    env = {
        **os.environ,
        **{
            f"RISKPROMPT_{name}": str(value)
            for name, value in settings.model_dump().items()
            if value is not None and not isinstance(value, list | dict)
        },
        "COLUMNS": "200",
    }

    async def run(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from riskprompt.cli import main; main()",
            "--locale",
            "en",
            *args,
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        return f"$ {' '.join(args)} -> {process.returncode}\n{out.decode()}{err.decode()}"

    # Two processes at once: each takes a couple of seconds just to start.
    outputs = await asyncio.gather(
        run("deliveries", "list", "--failed"), run("doctor", "--send-test", "S-email")
    )

    assert "Authenticate" in outputs[0]  # the errors are listed, the credentials are not
    assert "Traceback" not in "".join(outputs), outputs
    assert leaks(outputs, secrets(settings)) == []
