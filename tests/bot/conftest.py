"""The bot against the Telegram stand-in: an organisation, updates in, recorded calls out.

Updates are handed to the application the way the web app's webhook route does
(:func:`riskprompt.bot.app.process_update_json`); everything the bot sends or fetches
(messages, edits, answers, getFile and the file download) goes over HTTP to the
stand-in.  ``test_polling`` covers the getUpdates path.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, select

from riskprompt.bot.app import BotApplication, build_application, process_update_json
from riskprompt.config.settings import Settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import ChatState, create_binding_code
from riskprompt.models.db import make_engine
from riskprompt.models.people import Channel, Person, Role
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from tests.builders import make_person, make_unit
from tests.standins.fixtures import standin_overrides
from tests.standins.telegram import TelegramCall, TelegramStandin

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

CLERK_CHAT = 501
OFFICER_CHAT = 502
COLLEAGUE_CHAT = 503
STRANGER_CHAT = 599


@dataclass
class World:
    """The stand-in, the settings, the database and the bot's application."""

    api: TelegramStandin
    settings: Settings
    database: str
    engine: Engine
    clock: FixedClock
    application: BotApplication

    # -- the outbox --------------------------------------------------------------------------

    async def dispatch(self) -> None:
        """One dispatcher pass on chat: the notices of what was decided go out."""
        adapters = {Channel.TELEGRAM: build_adapters(self.settings)[Channel.TELEGRAM]}
        async with Dispatcher(self.engine, self.settings, self.clock, adapters, "bot") as d:
            await d.drain()

    # -- updates in ------------------------------------------------------------------------

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand an update over as the webhook route does."""
        await process_update_json(self.application, update)

    async def send(self, chat_id: int, text: str) -> None:
        """The user of ``chat_id`` sends ``text``."""
        await self.deliver(self.api.message_update(chat_id, text))

    async def tap(self, chat_id: int, data: str, *, message_id: int | None = None) -> None:
        """The user of ``chat_id`` taps the button with ``data`` (on the message that has it)."""
        if message_id is None:
            message_id = self.message_with(chat_id, data)
        await self.deliver(self.api.callback_update(chat_id, data, message_id=message_id))

    async def photo(self, chat_id: int, content: bytes = JPEG) -> None:
        """The user sends a photo (Telegram re-encodes photos as JPEG)."""
        file_id = self.api.add_file(content, f"photos/{uuid.uuid4().hex}.jpg")
        update = self.api.message_update(chat_id, "-")
        message = update["message"]
        del message["text"]
        message["photo"] = [
            {"file_id": file_id, "file_unique_id": f"U{file_id}", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "width": 800,
                "height": 600,
                "file_size": len(content),
            },
        ]
        await self.deliver(update)

    async def document(
        self,
        chat_id: int,
        content: bytes = PDF,
        *,
        name: str = "整改报告.pdf",
        mime: str = "application/pdf",
        size: int | None = None,
    ) -> None:
        """The user sends a document."""
        file_id = self.api.add_file(content, f"documents/{uuid.uuid4().hex}")
        update = self.api.message_update(chat_id, "-")
        message = update["message"]
        del message["text"]
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_name": name,
            "mime_type": mime,
            "file_size": len(content) if size is None else size,
        }
        await self.deliver(update)

    # -- calls out -------------------------------------------------------------------------

    def message_with(self, chat_id: int, data: str) -> int:
        """The id of the newest message to ``chat_id`` with a button carrying ``data``."""
        for call in reversed(self.api.sent(chat_id)):
            if any(d == data for _label, d in buttons(call)):
                return int(call.result["message_id"])
        raise AssertionError(f"no message to {chat_id} has a button {data!r}")

    def texts(self, chat_id: int) -> list[str]:
        """The texts sent to ``chat_id``, in order."""
        return [str(c.params["text"]) for c in self.api.sent(chat_id)]

    def last_text(self, chat_id: int) -> str:
        """The last text sent to ``chat_id``."""
        texts = self.texts(chat_id)
        assert texts, f"nothing was sent to {chat_id}"
        return texts[-1]

    def answers(self) -> list[TelegramCall]:
        """The answerCallbackQuery calls."""
        return self.api.calls_of("answerCallbackQuery")

    def edits(self) -> list[TelegramCall]:
        """The editMessageText calls."""
        return self.api.calls_of("editMessageText")

    # -- the database ----------------------------------------------------------------------

    def session(self) -> Session:
        """A new session on the world's database."""
        return Session(self.engine, expire_on_commit=False)

    def person(self, staff_id: str) -> Person:
        """A person, read afresh."""
        with self.session() as session:
            found = session.exec(select(Person).where(Person.staff_id == staff_id)).one()
            return found

    def state(self, chat_id: int) -> ChatState | None:
        """The chat's conversation state, read afresh."""
        with self.session() as session:
            return session.get(ChatState, chat_id)

    def actions(self) -> list[str]:
        """The audit record's actions, in order."""
        with self.session() as session:
            return list(session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all())

    async def bind(self, staff_id: str, chat_id: int) -> None:
        """Bind ``chat_id`` to the person with a fresh code and ``/start <code>``."""
        with self.session() as session:
            person = session.exec(select(Person).where(Person.staff_id == staff_id)).one()
            code = create_binding_code(session, person=person, clock=self.clock)
            session.commit()
        await self.send(chat_id, f"/start {code}")

    async def restart(self) -> None:
        """Stop the application and start a new one on a new engine (a restarted process)."""
        await self.application.shutdown()
        self.engine.dispose()
        self.engine = make_engine(self.database)
        self.application = build_application(
            settings=self.settings, engine=self.engine, clock=self.clock
        )
        await self.application.initialize()


def buttons(call: TelegramCall) -> list[tuple[str, str]]:
    """(label, callback data) of the inline buttons of a recorded call."""
    markup = call.params.get("reply_markup") or {}
    return [
        (str(b["text"]), str(b.get("callback_data", "")))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


@pytest_asyncio.fixture
async def world(
    database: str, telegram_api: TelegramStandin, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[World]:
    """An organisation (an officer, a clerk, a colleague; English readers) and the bot."""
    settings = Settings(
        DATABASE_URL=database,
        DATA_DIR=tmp_path / "data",
        **standin_overrides(telegram=telegram_api),
    )
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        unit = make_unit(session, name="财政局")
        make_person(
            session, unit=unit, staff_id="JJ001", name="王纪检", role=Role.OFFICER, locale="en"
        )
        make_person(session, unit=unit, staff_id="CW001", name="张出纳", locale="en")
        make_person(session, unit=unit, staff_id="CW002", name="李会计", locale="en")
        session.commit()
    application = build_application(settings=settings, engine=engine, clock=clock)
    await application.initialize()
    world = World(telegram_api, settings, database, engine, clock, application)
    yield world
    await world.application.shutdown()
    world.engine.dispose()
