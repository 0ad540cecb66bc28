"""The bot in a terminal: the same application, with the Bot API answered in-process.

:class:`BotApiEmulator` is a python-telegram-bot ``BaseRequest`` (the one seam all
of PTB's HTTP goes through, the one its own tests replace) that answers the Bot API
methods the bot calls (sendMessage, editMessageText, answerCallbackQuery, getFile,
file downloads...) from memory.  The application and its handlers are exactly
those of the real bot; only the transport differs.  Nothing goes over the network.

:class:`ConsoleBot` runs one application with the emulator; :meth:`ConsoleBot.chat_as`
binds an emulated private chat to a person with a binding code (the same
``/start <code>`` a Telegram user sends) and returns a :class:`ConsoleChat`, whose
``send``/``tap``/``upload`` return the bot's replies as text.
:func:`scripted_conversation` plays the demo's conversation.

The console works on the database it is given: what is done in it (an
acknowledgement, a report, a review) is recorded like in Telegram.
"""

from __future__ import annotations

import html.parser
import itertools
import json
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine
from telegram import Bot
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from riskprompt.bot.app import BotApplication, build_application, process_update_json
from riskprompt.config.i18n import N_, translate_params, translator
from riskprompt.config.settings import Settings
from riskprompt.models import codes
from riskprompt.models.clock import Clock
from riskprompt.models.conversations import create_binding_code, person_for_chat, unbind_chat
from riskprompt.models.db import session_scope
from riskprompt.models.errors import NotFound
from riskprompt.models.listings import correctable_warning
from riskprompt.models.people import Channel
from riskprompt.models.queries import get_person
from riskprompt.models.warnings import WarningColour, WarningForm, issue_warning
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.channels.telegram import TelegramChannel
from riskprompt.notifications.dispatcher import Dispatcher

CONSOLE_TOKEN = "1000:CONSOLE-emulated-bot"
CONSOLE_API = "http://console.invalid"
#: Emulated private chats of people not bound to Telegram get ``CONSOLE_CHAT_BASE + person id``.
CONSOLE_CHAT_BASE = 9_000_000_000_000

Buttons = list[list[tuple[str, str]]]


class ConsoleError(ValueError):
    """A console action that cannot be done (no such button, no such file).

    ``msgid`` and ``params`` let the terminal show it in the reader's language;
    ``str()`` gives the English text.
    """

    def __init__(self, msgid: str, **params: object) -> None:
        self.msgid = msgid
        self.params = params
        super().__init__(msgid % params if params else msgid)

    def translated(self, gettext: Callable[[str], str]) -> str:
        """The message through ``gettext``."""
        text = gettext(self.msgid)
        return text % translate_params(self.params, gettext) if self.params else text


class _ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


class _Plain(html.parser.HTMLParser):
    """Text of Telegram's HTML parse mode without its tags (what a client shows)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def plain(text: str) -> str:
    """``text`` in Telegram's HTML parse mode, as read."""
    parser = _Plain()
    parser.feed(text)
    parser.close()
    return "".join(parser.chunks)


def _buttons(markup: dict[str, Any] | None) -> Buttons:
    rows: Buttons = []
    for row in (markup or {}).get("inline_keyboard", []):
        rows.append([(str(b.get("text", "")), str(b.get("callback_data", ""))) for b in row])
    return rows


@dataclass(frozen=True)
class BotEvent:
    """Something the bot did in a chat: a message, an edit, or an answer to a button."""

    kind: str  # "message" | "edit" | "answer"
    chat_id: int
    text: str
    message_id: int | None = None
    buttons: Buttons = field(default_factory=list)
    alert: bool = False

    def render(self) -> str:
        """The event as the console prints it, buttons numbered from 1."""
        if self.kind == "answer":
            return ("⚠ " if self.alert else "· ") + self.text
        head = "✎ " if self.kind == "edit" else "🤖 "
        lines = [head + self.text.replace("\n", "\n   ")]
        numbered = itertools.count(1)
        for row in self.buttons:
            lines.append("   " + "  ".join(f"[{next(numbered)}] {label}" for label, _ in row))
        return "\n".join(lines)


class BotApiEmulator(BaseRequest):
    """Answers the Bot API methods the bot uses, in memory, for python-telegram-bot.

    It keeps each chat's messages (with their current buttons), the files users
    "uploaded", and a list of :class:`BotEvent` in order.
    """

    def __init__(
        self, *, token: str = CONSOLE_TOKEN, username: str = "riskprompt_console_bot"
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "风险提示",
            "username": username,
        }
        self.events: list[BotEvent] = []
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self._callbacks: dict[str, int] = {}
        self._message_ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._user_message_ids = itertools.count(1_000_000)
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": lambda _params: self.bot_user,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "getfile": self._get_file,
            "setmycommands": lambda _params: True,
            "deletemycommands": lambda _params: True,
            "sendchataction": lambda _params: True,
            "deletemessage": lambda _params: True,
            "setwebhook": lambda _params: True,
            "deletewebhook": lambda _params: True,
        }

    # -- BaseRequest -------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        """No network, no timeout."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Answer one Bot API call (POST) or file download (GET)."""
        if method == "GET":
            return self._download(url)
        name = url.rsplit("/", 1)[-1].lower()
        params = dict(request_data.parameters) if request_data is not None else {}
        handler = self._methods.get(name)
        try:
            if handler is None:
                raise _ApiError(400, f"Bad Request: the console does not answer {name}")
            result = handler(params)
        except _ApiError as exc:
            body = {"ok": False, "error_code": exc.status, "description": exc.description}
            return exc.status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()

    # -- the methods ---------------------------------------------------------------------

    def _chat(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "private", "first_name": "console"}

    def _text(self, params: dict[str, Any]) -> str:
        text = str(params.get("text") or "")
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        return plain(text) if str(params.get("parse_mode", "")).upper() == "HTML" else text

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": self._text(params),
        }
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.messages.setdefault(chat_id, {})[message["message_id"]] = message
        self.events.append(
            BotEvent(
                "message",
                chat_id,
                message["text"],
                message["message_id"],
                _buttons(message.get("reply_markup")),
            )
        )
        return message

    def _find(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(int(params.get("chat_id") or 0), {}).get(
            int(params.get("message_id") or 0)
        )
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return message

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find(params)
        text = self._text(params)
        markup = params.get("reply_markup")
        if text == message["text"] and markup == message.get("reply_markup"):
            raise _ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        self.events.append(
            BotEvent("edit", message["chat"]["id"], text, message["message_id"], _buttons(markup))
        )
        return message

    def _edit_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find(params)
        markup = params.get("reply_markup")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        chat_id = self._callbacks.pop(str(params.get("callback_query_id")), 0)
        text = str(params.get("text") or "")
        if text:
            self.events.append(
                BotEvent("answer", chat_id, text, alert=bool(params.get("show_alert")))
            )
        return True

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(content),
            "file_path": path,
        }

    def _download(self, url: str) -> tuple[int, bytes]:
        for path, content in self.files.values():
            if url.endswith("/" + path):
                return 200, content
        return 404, b'{"ok": false, "error_code": 404, "description": "Not Found"}'

    # -- what users do -------------------------------------------------------------------

    def _user(self, chat_id: int, first_name: str) -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": first_name}

    def _user_message(self, chat_id: int, first_name: str, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._user_message_ids),
                "from": self._user(chat_id, first_name),
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                **content,
            },
        }

    def text_update(self, chat_id: int, first_name: str, text: str) -> dict[str, Any]:
        """An update with a text message (a /command gets its entity)."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._user_message(chat_id, first_name, **content)

    def file_update(
        self, chat_id: int, first_name: str, path: Path, *, as_photo: bool = False
    ) -> dict[str, Any]:
        """An update with ``path`` sent as a document (or a photo), served by getFile."""
        content = path.read_bytes()
        file_id = f"CONSOLE{len(self.files) + 1:05d}"
        folder = "photos" if as_photo else "documents"
        self.files[file_id] = (f"{folder}/{file_id}{path.suffix.lower()}", content)
        if as_photo:
            size = {"file_id": file_id, "file_unique_id": f"U{file_id}", "width": 1280}
            size |= {"height": 960, "file_size": len(content)}
            return self._user_message(chat_id, first_name, photo=[size])
        document = {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_name": path.name,
            "mime_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "file_size": len(content),
        }
        return self._user_message(chat_id, first_name, document=document)

    def tap_update(
        self, chat_id: int, first_name: str, message_id: int, data: str
    ) -> dict[str, Any]:
        """An update with a press of the button carrying ``data`` under ``message_id``."""
        callback_id = str(next(self._update_ids))
        self._callbacks[callback_id] = chat_id
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": callback_id,
                "from": self._user(chat_id, first_name),
                "message": self.messages[chat_id][message_id],
                "chat_instance": f"console{chat_id}",
                "data": data,
            },
        }


class _EmulatedTelegram(TelegramChannel):
    """The Telegram adapter on the console's own bot (the emulator), which it never closes."""

    def __init__(self, bot: Bot) -> None:
        super().__init__(token=bot.token)
        self._console_bot = bot

    def _make_bot(self) -> Bot:
        return self._console_bot

    async def close(self) -> None:
        """Leave the console's bot open: the console shuts it down."""
        self._bot = None
        self._ready = False


class ConsoleBot:
    """The bot's application running on a :class:`BotApiEmulator`."""

    def __init__(self, *, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.emulator = BotApiEmulator()
        bot = ExtBot(
            self.emulator.token,
            base_url=f"{CONSOLE_API}/bot",
            base_file_url=f"{CONSOLE_API}/file/bot",
            request=self.emulator,
            get_updates_request=self.emulator,
        )
        self.application: BotApplication = build_application(
            settings=settings, engine=engine, clock=clock, bot=bot
        )
        self.chats: list[ConsoleChat] = []

    async def __aenter__(self) -> Self:
        await self.application.initialize()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for chat in self.chats:
            chat.release()
        await self.application.shutdown()

    async def dispatch(self) -> int:
        """Send what is due in the outbox: chat messages reach the console chats.

        The same dispatcher as ``riskprompt dispatch`` (notices expanded, sends
        recorded, the audit written); only its Telegram adapter talks to the
        emulator.  SMS and email go where the settings send them.

        Returns:
            How many messages were sent.
        """
        adapters = build_adapters(self.settings)
        adapters[Channel.TELEGRAM] = _EmulatedTelegram(self.application.bot)
        dispatcher = Dispatcher(self.engine, self.settings, self.clock, adapters, "console")
        async with dispatcher as worker:
            return (await worker.drain()).sent

    async def deliver(self, update: dict[str, Any]) -> None:
        """Hand an update to the application, as the webhook does."""
        await process_update_json(self.application, update)

    async def chat_as(self, staff_id: str) -> ConsoleChat:
        """A private chat of the person ``staff_id``, bound with a binding code if needed.

        A person already bound to Telegram keeps their binding: the console takes their
        chat id (nothing it sends reaches Telegram).  Anyone else is bound to an
        emulated chat with a fresh code and ``/start <code>``, and unbound again when
        the console closes.

        Raises:
            NotFound: no person with that staff id.
        """
        with session_scope(self.engine) as session:
            person = get_person(session, staff_id=staff_id)
            code = None
            if person.telegram_chat_id is None:
                code = create_binding_code(
                    session, person=person, clock=self.clock, ttl=timedelta(minutes=5)
                )
            chat_id = person.telegram_chat_id or CONSOLE_CHAT_BASE + (person.id or 0)
            name = person.name
        chat = ConsoleChat(self, chat_id=chat_id, name=name, bound_here=code is not None)
        self.chats.append(chat)
        chat.greeting = await chat.send(f"/start {code}") if code else await chat.send("/start")
        return chat


class ConsoleChat:
    """One person's private chat with the console bot.

    Every action returns what the bot said in this chat since the last one (its
    replies, and notices other people's actions caused), as text.
    """

    def __init__(self, console: ConsoleBot, *, chat_id: int, name: str, bound_here: bool) -> None:
        self.console = console
        self.chat_id = chat_id
        self.name = name
        self.bound_here = bound_here
        self.greeting = ""
        self.last: list[BotEvent] = []
        self._cursor = 0

    @property
    def _emulator(self) -> BotApiEmulator:
        return self.console.emulator

    def unread(self) -> list[BotEvent]:
        """The bot's events in this chat not read yet (and marks them read)."""
        events = self._emulator.events
        new = [e for e in events[self._cursor :] if e.chat_id == self.chat_id]
        self._cursor = len(events)
        self.last = new
        return new

    def read(self) -> str:
        """What the bot said in this chat since the last action, as text."""
        return "\n".join(event.render() for event in self.unread())

    async def _act(self, update: dict[str, Any]) -> str:
        await self.console.deliver(update)
        return self.read()

    async def send(self, text: str) -> str:
        """Send a text message (or a /command); returns the bot's replies."""
        return await self._act(self._emulator.text_update(self.chat_id, self.name, text))

    async def upload(self, path: Path | str, *, as_photo: bool = False) -> str:
        """Send a file as a document (or a photo); returns the bot's replies.

        Raises:
            ConsoleError: no such file.
        """
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConsoleError(N_("no such file: %(file)s"), file=str(file))
        update = self._emulator.file_update(self.chat_id, self.name, file, as_photo=as_photo)
        return await self._act(update)

    def buttons(self) -> list[tuple[int, str, str]]:
        """(message id, label, data) of every button in the chat, newest message first."""
        found: list[tuple[int, str, str]] = []
        messages = self._emulator.messages.get(self.chat_id, {})
        for message_id in sorted(messages, reverse=True):
            for row in _buttons(messages[message_id].get("reply_markup")):
                found.extend((message_id, label, data) for label, data in row)
        return found

    def button(self, which: int | str) -> tuple[int, str, str]:
        """(message id, label, data) of the button :meth:`tap` would tap.

        Raises:
            ConsoleError: no such button.
        """
        everything = self.buttons()
        if isinstance(which, int):
            if not everything:
                raise ConsoleError(N_("no button to tap"))
            newest = everything[0][0]
            last = [b for b in everything if b[0] == newest]
            if not 1 <= which <= len(last):
                raise ConsoleError(N_("the last message has %(n)s button(s)"), n=len(last))
            return last[which - 1]
        for found in everything:
            if found[2] == which:
                return found
        for found in everything:
            if found[2].startswith(which):
                return found
        raise ConsoleError(N_("no button %(which)r"), which=which)

    async def tap(self, which: int | str) -> str:
        """Tap a button: the Nth (from 1) of the last message with buttons, or by its data.

        A string taps the newest button whose callback data is it, or starts with it.

        Raises:
            ConsoleError: no such button.
        """
        message_id, _label, data = self.button(which)
        return await self._act(self._emulator.tap_update(self.chat_id, self.name, message_id, data))

    def release(self) -> None:
        """Unbind the emulated chat if the console bound it."""
        if not self.bound_here:
            return
        with session_scope(self.console.engine) as session:
            try:
                person_for_chat(session, chat_id=self.chat_id)
            except NotFound:
                return
            unbind_chat(session, chat_id=self.chat_id, clock=self.console.clock)
        self.bound_here = False


# -- the demo's conversation ----------------------------------------------------------------

#: What the demo's people write (msgids: the demo reads in the configured language).
DEMO_DESCRIPTION = N_(
    "Held a collective review, completed the meeting minutes; procurement approvals "
    "now need two reviewers."
)
DEMO_WARNING_REASON = N_(
    "A procurement was approved without a collective review: correct it within 7 days "
    "and report back."
)
#: What the transcript shows when someone opens the chat and reads what came.
OPENS_THE_CHAT = N_("(opens the chat)")
#: A one-page PDF, enough to pass the evidence checks.
SAMPLE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass(frozen=True)
class Exchange:
    """One step of a conversation: who did what, and what the bot said to them."""

    who: str
    action: str
    replies: str


def write_sample_evidence(path: Path) -> Path:
    """Write a small PDF to use as evidence; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SAMPLE_PDF)
    return path


def _ensure_open_warning(
    engine: Engine,
    clock: Clock,
    settings: Settings,
    *,
    staff_id: str,
    officer_id: str,
    reason: str,
) -> int:
    """The staff member's first warning from the officer open to a correction (issued if none).

    The officer's own warning: its correction reaches them for review whatever their unit.
    """
    with session_scope(engine) as session:
        person = get_person(session, staff_id=staff_id)
        officer = get_person(session, staff_id=officer_id)
        found = correctable_warning(session, person_id=person.id or 0, issuer_id=officer.id or 0)
        if found is not None:
            return found
        warning = issue_warning(
            session,
            actor=officer,
            person=person,
            colour=WarningColour.YELLOW,
            form=WarningForm.CORRECT,
            reason=reason,
            deadline=clock.now() + timedelta(days=7),
            clock=clock,
            settings=settings,
        )
        return warning.id or 0


async def scripted_conversation(
    *,
    settings: Settings,
    engine: Engine,
    clock: Clock,
    staff_id: str,
    officer_id: str,
    evidence: Path,
    echo: Callable[[Exchange], None] | None = None,
    description: str | None = None,
    warning_reason: str | None = None,
) -> list[Exchange]:
    """Play the demo's conversation in the console and return it.

    The staff member acknowledges their newest open prompt (if any), reports a
    correction with ``evidence`` on an open warning (the officer issues one first
    when there is none), and the officer reviews and accepts it.

    Args:
        settings: the settings (``DATA_DIR`` receives the evidence).
        engine: the database, with both people in it.
        clock: the clock.
        staff_id: who reports.
        officer_id: who reviews (an officer).
        evidence: a file to attach (see :func:`write_sample_evidence`).
        echo: called with each exchange as it happens (e.g. to print it).
        description: what the staff member says was done (default: the demo's,
            in the configured language).
        warning_reason: the reason of the warning issued when none is open (default:
            the demo's).

    Each tap is shown by the label of the button tapped, as its reader saw it.

    Raises:
        NotFound: an unknown staff id.
        ConsoleError: the conversation did not go as scripted (a button missing).
    """
    transcript: list[Exchange] = []
    gettext = translator(settings.LOCALE).gettext
    description = description or gettext(DEMO_DESCRIPTION)
    warning_reason = warning_reason or gettext(DEMO_WARNING_REASON)

    def note(who: ConsoleChat, action: str, replies: str) -> None:
        exchange = Exchange(who.name, action, replies)
        transcript.append(exchange)
        if echo is not None:
            echo(exchange)

    async def tap(who: ConsoleChat, which: int | str) -> None:
        _message_id, label, _data = who.button(which)
        note(who, f"[{label}]", await who.tap(which))

    def opens(who: ConsoleChat) -> None:
        note(who, gettext(OPENS_THE_CHAT), who.read())

    async with ConsoleBot(settings=settings, engine=engine, clock=clock) as console:
        staff = await console.chat_as(staff_id)
        officer = await console.chat_as(officer_id)
        note(staff, "/start", staff.greeting)
        note(staff, "/prompts", await staff.send("/prompts"))
        if any(data.startswith(codes.ACK_PROMPT) for _m, _l, data in staff.buttons()):
            await tap(staff, codes.ACK_PROMPT)
        warning_id = _ensure_open_warning(
            engine, clock, settings, staff_id=staff_id, officer_id=officer_id, reason=warning_reason
        )
        note(staff, "/warnings", await staff.send("/warnings"))
        report = codes.callback(codes.REPORT_CORRECTION, warning_id)
        await tap(staff, report)
        note(staff, description, await staff.send(description))
        note(staff, f"📎 {evidence.name}", await staff.upload(evidence))
        await tap(staff, codes.REPORT_DONE)
        await tap(staff, codes.REPORT_SUBMIT)
        await console.dispatch()  # the outbox tells the reviewing officer
        opens(officer)
        note(officer, "/review", await officer.send("/review"))
        await tap(officer, codes.REVIEW_ACCEPT)
        await console.dispatch()  # and the person, that it was accepted
        opens(staff)
    return transcript
