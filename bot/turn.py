"""One turn of a chat: the update, its transaction, the person, their state and the replies.

Every handler is an ``async def verb(turn: Turn) -> None`` wrapped by :func:`step`,
which for each update:

1. opens a session, finds the person bound to the user who acted (or None) and
   the chat's :class:`~models.conversations.ChatState`;
2. runs the handler, which parses, calls one domain function and queues replies
   (:meth:`Turn.say`, :meth:`Turn.edit`, :meth:`Turn.answer`, :meth:`Turn.notify`);
3. commits, and only then talks to Telegram: the state is written before the
   person sees the reply, so a crash in between never shows a step that was not
   recorded.

A :class:`~models.errors.DomainError` rolls the transaction back and is answered
in the reader's language (an alert on a button, a message otherwise).

The database calls are synchronous and short; they run on the event loop like
the rest of a turn (updates of one process are handled one at a time).
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MaybeInaccessibleMessage,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import Application, ContextTypes

from riskprompt.bot.state import load_state
from riskprompt.config.i18n import (
    N_,
    format_deadline,
    format_number,
    format_when,
    normalise_locale,
    translate_params,
    translator,
)
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.conversations import ChatState, person_for_chat
from riskprompt.models.errors import DomainError, InvalidInput, NotFound
from riskprompt.models.people import Person
from riskprompt.notifications.channels.telegram import retry_after_seconds

log = logging.getLogger(__name__)

#: Where :func:`riskprompt.bot.app.build_application` keeps the dependencies in ``bot_data``.
DEPS_KEY = "riskprompt"
#: Telegram's longest message text.
MAX_MESSAGE_CHARS = 4096

#: Inline keyboard rows of (label, callback data) pairs.
Buttons = list[list[tuple[str, str]]]


@dataclass(frozen=True)
class BotDeps:
    """What every handler needs: the settings, the database and the clock."""

    settings: Settings
    engine: Engine
    clock: Clock

    @property
    def data_dir(self) -> Path:
        """The data folder (evidence is stored under it)."""
        return Path(self.settings.DATA_DIR)


def deps_of(application: Application[Any, Any, Any, Any, Any, Any]) -> BotDeps:
    """The dependencies stored in ``application.bot_data``."""
    return application.bot_data[DEPS_KEY]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Reader:
    """Someone reading a message: their language and time zone."""

    locale: str
    timezone: str

    @classmethod
    def of(cls, person: Person) -> Reader:
        """The person's language and time zone."""
        return cls(locale=normalise_locale(person.locale) or "zh_CN", timezone=person.timezone)

    def _(self, message: str, **params: object) -> str:
        """``message`` (a msgid) in the reader's language, with ``%(name)s`` filled in."""
        gettext = translator(self.locale).gettext
        text = gettext(message)
        return text % translate_params(params, gettext) if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: object) -> str:
        """A plural form in the reader's language; ``n`` is also a parameter."""
        text = translator(self.locale).ngettext(singular, plural, n)
        return text % {"n": format_number(n, self.locale), **params}

    def when(self, moment: datetime) -> str:
        """A moment in the reader's time zone and locale."""
        return format_when(moment, self.timezone, self.locale)

    def deadline(self, moment: datetime) -> str:
        """A deadline for the reader: its day when it is a whole day."""
        return format_deadline(moment, self.timezone, self.locale)

    def number(self, value: float) -> str:
        """A number with the reader's grouping."""
        return format_number(value, self.locale)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def markup(buttons: Buttons | None) -> InlineKeyboardMarkup | None:
    """An inline keyboard, or None without buttons."""
    rows = [row for row in buttons or [] if row]
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def buttons_without(message: MaybeInaccessibleMessage | None, data: str) -> Buttons:
    """The message's inline buttons except the one carrying ``data`` (the one tapped)."""
    if not isinstance(message, Message) or message.reply_markup is None:
        return []
    rows: Buttons = []
    for row in message.reply_markup.inline_keyboard:
        kept = [
            (b.text, str(b.callback_data))
            for b in row
            if b.callback_data is not None and b.callback_data != data
        ]
        if kept:
            rows.append(kept)
    return rows


@dataclass
class _Reply:
    chat_id: int
    text: str
    buttons: Buttons | None = None


@dataclass
class _Edit:
    text: str
    buttons: Buttons | None
    html: bool


@dataclass
class Turn:
    """One update being handled: who, where, their conversation state and what to answer."""

    update: Update
    context: ContextTypes.DEFAULT_TYPE
    deps: BotDeps
    session: Session
    person: Person | None
    state: ChatState
    reader: Reader
    _replies: list[_Reply] = field(default_factory=list)
    _edit: _Edit | None = None
    _answer: tuple[str | None, bool] = (None, False)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    # -- who and where -------------------------------------------------------------------

    @property
    def chat_id(self) -> int:
        """The chat the update came from."""
        chat = self.update.effective_chat
        if chat is None:  # pragma: no cover - the handlers only take chat updates
            raise NotFound("no chat")
        return chat.id

    @property
    def private(self) -> bool:
        """Whether the update came from a private chat with the bot."""
        chat = self.update.effective_chat
        return chat is not None and chat.type == ChatType.PRIVATE

    def require_private(self) -> None:
        """Refuse to start a guided conversation outside a private chat.

        The conversation state is per chat: in a group, everyone's messages would
        answer one person's steps.

        Raises:
            InvalidInput: the update came from a group.
        """
        if not self.private:
            raise InvalidInput(N_("Please do this in a private chat with me."))

    @property
    def actor(self) -> Person:
        """The person bound to the user who acted.

        Raises:
            NotFound: the user has not bound a chat yet.
        """
        if self.person is None:
            return person_for_chat(self.session, chat_id=self._user_id)
        return self.person

    @property
    def _user_id(self) -> int:
        user = self.update.effective_user
        return user.id if user is not None else self.chat_id

    @property
    def now(self) -> datetime:
        """The current moment (the injected clock)."""
        return self.deps.clock.now()

    @property
    def query(self) -> CallbackQuery | None:
        """The button press of the update, if it is one."""
        return self.update.callback_query

    @property
    def text(self) -> str:
        """The text of the message (empty for other updates)."""
        message = self.update.effective_message
        return (message.text or "") if message is not None and self.query is None else ""

    @property
    def args(self) -> list[str]:
        """The words after a /command."""
        return list(self.context.args or [])

    @property
    def data(self) -> str:
        """The callback data of the button pressed (empty for other updates)."""
        return str(self.query.data or "") if self.query is not None else ""

    def _(self, message: str, **params: object) -> str:
        """``message`` in the reader's language."""
        return self.reader._(message, **params)

    def when(self, moment: datetime) -> str:
        """A moment for the reader."""
        return self.reader.when(moment)

    def deadline(self, moment: datetime) -> str:
        """A deadline for the reader: its day when it is a whole day."""
        return self.reader.deadline(moment)

    # -- what to answer (sent after the commit) --------------------------------------------

    def say(self, text: str, buttons: Buttons | None = None) -> None:
        """Send ``text`` (plain) to this chat once the turn is committed."""
        self._replies.append(_Reply(self.chat_id, clip(text, MAX_MESSAGE_CHARS), buttons))

    def edit(self, text: str, buttons: Buttons | None = None, *, as_html: bool = False) -> None:
        """Replace the text and buttons of the message whose button was pressed."""
        self._edit = _Edit(clip(text, MAX_MESSAGE_CHARS), buttons, as_html)

    def answer(self, text: str | None = None, *, alert: bool = False) -> None:
        """What the button press is answered with (a toast, or an alert)."""
        self._answer = (text, alert)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the turn is committed (e.g. remove files no longer needed)."""
        self._after_commit.append(action)

    def end_read(self) -> None:
        """End the read transaction before slow I/O (a download); nothing may be pending."""
        self.session.commit()

    async def _deliver(self) -> None:
        """Answer the button, edit its message and send the replies (best effort)."""
        bot = self.context.bot
        query = self.query
        if query is not None:
            text, alert = self._answer
            await _best_effort(
                functools.partial(query.answer, text, show_alert=alert), "answerCallbackQuery"
            )
            edit = self._edit
            if edit is not None and query.message is not None:
                await _best_effort(
                    functools.partial(
                        query.edit_message_text,
                        edit.text,
                        parse_mode=ParseMode.HTML if edit.html else None,
                        reply_markup=markup(edit.buttons),
                    ),
                    "editMessageText",
                )
        for reply in self._replies:
            await _best_effort(
                functools.partial(
                    bot.send_message,
                    reply.chat_id,
                    reply.text,
                    reply_markup=markup(reply.buttons),
                ),
                "sendMessage",
            )


#: Longest flood-control wait honoured in a turn before a reply is given up.
MAX_RETRY_AFTER = 5.0


async def _best_effort(call: Callable[[], Awaitable[Any]], what: str) -> None:
    """Make a Bot API call; flood control is waited out once if short, other refusals
    (blocked, message gone) are logged, not raised: the turn is committed already."""
    try:
        await call()
    except RetryAfter as exc:
        wait = retry_after_seconds(exc)
        if wait > MAX_RETRY_AFTER:
            log.warning("%s dropped: flood control asks for %.0f s", what, wait)
            return
        await asyncio.sleep(wait)
        try:
            await call()
        except TelegramError as again:
            log.warning("%s failed after waiting: %s", what, again)
    except TelegramError as exc:
        log.warning("%s failed: %s", what, exc)


def _reader_for_user(update: Update, settings: Settings) -> Reader:
    """The language of someone not bound yet: their Telegram app's, or the default."""
    user = update.effective_user
    locale = normalise_locale(user.language_code if user else None) or settings.LOCALE
    return Reader(locale=locale, timezone=settings.TIMEZONE)


Handler = Callable[[Turn], Awaitable[None]]
Callback = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def step(handler: Handler) -> Callback:
    """Make a PTB callback of a turn handler: transaction, person, state, errors, replies."""

    @functools.wraps(handler)
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat is None:
            return
        deps = deps_of(context.application)
        user = update.effective_user
        with Session(deps.engine, expire_on_commit=False) as session:
            try:
                person = person_for_chat(session, chat_id=user.id if user else 0)
            except NotFound:
                person = None
            turn = Turn(
                update=update,
                context=context,
                deps=deps,
                session=session,
                person=person,
                state=load_state(session, chat_id=update.effective_chat.id, now=deps.clock.now()),
                reader=Reader.of(person) if person else _reader_for_user(update, deps.settings),
            )
            try:
                await handler(turn)
                session.commit()
            except DomainError as exc:
                session.rollback()
                turn = _refusal(turn, exc)
            except BaseException:
                session.rollback()
                raise
        for action in turn._after_commit:
            try:
                action()
            except OSError:
                log.exception("after-commit action failed")
        await turn._deliver()

    return callback


def _refusal(turn: Turn, exc: DomainError) -> Turn:
    """A turn that only says why the action was refused (its other replies are dropped)."""
    message = exc.translate(translator(turn.reader.locale).gettext)
    turn._replies.clear()
    turn._edit = None
    turn._after_commit.clear()
    if turn.query is not None:
        turn.answer(message, alert=True)
    else:
        turn.say(message)
    return turn


def with_line_html(message: MaybeInaccessibleMessage | None, line: str) -> str:
    """The message's text as HTML (its formatting kept) with ``line`` added below."""
    original = message.text_html if isinstance(message, Message) and message.text else ""
    escaped = html.escape(line, quote=False)
    return f"{original}\n\n{escaped}" if original else escaped
