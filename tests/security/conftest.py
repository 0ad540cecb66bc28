"""The security suite's organisation: the bot of ``tests/bot`` behind the real web app.

``front`` serves :func:`riskprompt.web.create_app` with the bot's application
as its Telegram handler, over an in-process ASGI transport on the test's own
event loop, so a webhook post runs the same handlers as in production and every
Bot API call goes to the stand-in.  The organisation is the bot suite's: an
officer (JJ001), a clerk (CW001) and a colleague (CW002), each with a chat and
a mobile of their own, plus a prompt and a warning addressed to the clerk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest_asyncio
from sqlalchemy import func
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from riskprompt.bot.app import SECRET_HEADER, process_update_json, webhook_secret
from riskprompt.models.audit import AuditEvent
from riskprompt.models.db import metadata
from riskprompt.models.people import Person
from riskprompt.notifications.links import AckTarget, make_ack_token
from riskprompt.web import create_app
from tests.bot.conftest import CLERK_CHAT, COLLEAGUE_CHAT, OFFICER_CHAT, World, world
from tests.builders import make_prompt_with_delivery, make_warning

__all__ = ["world"]  # the bot suite's fixture, used here too

PUBLIC_URL = "https://riskprompt.example.gov.cn"
TWILIO_TOKEN = "twilio-auth-token-for-security-tests"
SECRET_KEY = "a-secret-key-for-security-tests"
MOBILES = {"JJ001": "+8613800000100", "CW001": "+8613800000101", "CW002": "+8613800000102"}
CHATS = {"JJ001": OFFICER_CHAT, "CW001": CLERK_CHAT, "CW002": COLLEAGUE_CHAT}


@dataclass
class Front:
    """Every front end of the organisation, and what it owns."""

    world: World
    http: httpx.AsyncClient
    prompt_id: int
    warning_id: int
    ids: dict[str, int]  # person id by staff id

    # -- Telegram ------------------------------------------------------------------------------

    async def webhook(self, update: dict[str, Any], secret: str | None = "genuine") -> int:
        """Post ``update`` to the Telegram webhook; the HTTP status."""
        if secret == "genuine":
            secret = webhook_secret(self.world.settings)
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        # ASCII JSON, as Telegram sends it: any character travels as an escape.
        response = await self.http.post(
            "/telegram/webhook", content=json.dumps(update), headers=headers
        )
        return response.status_code

    # -- Twilio --------------------------------------------------------------------------------

    def sms_form(self, staff_id: str, body: str) -> dict[str, str]:
        """The form Twilio posts for an SMS from ``staff_id``'s mobile."""
        return {
            "MessageSid": "SM" + "5" * 32,
            "AccountSid": "AC" + "0" * 32,
            "From": MOBILES[staff_id],
            "To": "+15005550006",
            "Body": body,
            "NumMedia": "0",
        }

    async def twilio(
        self, path: str, form: dict[str, str], signature: str | None = "genuine"
    ) -> httpx.Response:
        """Post ``form`` to a Twilio webhook, signed as Twilio would unless told otherwise."""
        if signature == "genuine":
            signature = sign(path, form)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        return await self.http.post(path, content=urlencode(form), headers=headers)

    # -- email links -----------------------------------------------------------------------------

    def link(self, kind: str, target_id: int, staff_id: str) -> str:
        """An acknowledgement link for ``target_id``, signed for ``staff_id``."""
        target = AckTarget(kind, target_id, self.ids[staff_id])  # type: ignore[arg-type]
        return "/ack/" + make_ack_token(SECRET_KEY, target, now=self.world.clock.now())


def sign(path: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> str:
    """Twilio's signature of ``form`` posted to ``PUBLIC_URL + path``."""
    return RequestValidator(token).compute_signature(PUBLIC_URL + path, form)


def audit_count(world: World, prefix: str = "") -> int:
    """How many audit records there are (whose action starts with ``prefix``)."""
    with world.session() as session:
        query = select(func.count()).select_from(AuditEvent)
        if prefix:
            query = query.where(AuditEvent.action.startswith(prefix))  # type: ignore[attr-defined]
        return int(session.exec(query).one())


def row_counts(world: World) -> dict[str, int]:
    """Rows per table: a table dropped or emptied by an injected statement shows here."""
    with Session(world.engine) as session:
        return {
            table.name: int(session.exec(select(func.count()).select_from(table)).one())
            for table in metadata.sorted_tables
        }


@pytest_asyncio.fixture
async def front(world: World) -> AsyncIterator[Front]:
    """The web app in front of the bot; chats bound, mobiles set, a prompt and a warning."""
    world.settings = world.settings.model_copy(
        update={
            "PUBLIC_URL": PUBLIC_URL,
            "SECRET_KEY": SECRET_KEY,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM": "+15005550006",
        }
    )
    for staff_id, chat in CHATS.items():
        await world.bind(staff_id, chat)
    with world.session() as session:
        people = {p.staff_id: p for p in session.exec(select(Person)).all()}
        for staff_id, mobile in MOBILES.items():
            people[staff_id].mobile = mobile
            session.add(people[staff_id])
        prompt, _ = make_prompt_with_delivery(
            session, person=people["CW001"], at=world.clock.now(), title="节前廉洁提醒"
        )
        warning = make_warning(
            session, person=people["CW001"], officer=people["JJ001"], at=world.clock.now()
        )
        session.commit()
        ids = {staff_id: p.id or 0 for staff_id, p in people.items()}

    async def handle(data: dict[str, Any]) -> None:
        await process_update_json(world.application, data)

    app = create_app(
        settings=world.settings, engine=world.engine, clock=world.clock, telegram_handler=handle
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Front(world, http, prompt.id or 0, warning.id or 0, ids)
