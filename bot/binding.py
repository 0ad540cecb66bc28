"""Binding a Telegram chat to a person: invitations, /start <code> and /unbind."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session
from telegram import Bot
from telegram.error import TelegramError

from riskprompt.bot.people import HELP_STAFF, NOT_BOUND, drop_flow
from riskprompt.bot.turn import Reader, Turn, step
from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.conversations import BINDING_TTL, bind_chat, create_binding_code, unbind_chat
from riskprompt.models.people import Channel, Person
from riskprompt.notifications.outbox import DeliveryKey, enqueue
from riskprompt.notifications.rendering import Rendered

log = logging.getLogger(__name__)

INVITATION_SUBJECT = N_("Receive your risk prompts in Telegram")
INVITATION_TEXT = N_(
    "Open %(link)s to receive your risk prompts in Telegram. The link works once, until %(until)s."
)


@dataclass(frozen=True)
class Invitation:
    """A binding code, its deep link, when it expires and the channel it was queued on."""

    code: str
    link: str | None
    expires_at: datetime
    queued_on: Channel | None


def deep_link(bot_username: str, code: str) -> str:
    """``https://t.me/<bot>?start=<code>``: opening it sends ``/start <code>``."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


async def bot_username(settings: Settings) -> str | None:
    """The bot's username (getMe), or None without a token or when the API cannot be reached."""
    if not settings.TELEGRAM_TOKEN:
        return None
    url = settings.TELEGRAM_API_URL
    bot = (
        Bot(settings.TELEGRAM_TOKEN, base_url=f"{url}/bot", base_file_url=f"{url}/file/bot")
        if url
        else Bot(settings.TELEGRAM_TOKEN)
    )
    try:
        async with bot:
            return bot.username
    except TelegramError as exc:
        log.warning("cannot ask Telegram for the bot's name: %s", exc)
        return None


def invite(
    session: Session,
    *,
    person: Person,
    clock: Clock,
    bot_name: str | None,
    ttl: timedelta = BINDING_TTL,
) -> Invitation:
    """Make a single-use binding code for ``person`` and queue its link by SMS or email.

    The link goes into the outbox on the person's first reachable channel among SMS
    and email (the dispatcher sends it); without a bot name there is no link to send
    and the code is only returned.  The caller commits.
    """
    code = create_binding_code(session, person=person, clock=clock, ttl=ttl)
    now = clock.now()
    expires_at = now + ttl
    link = deep_link(bot_name, code) if bot_name else None
    channel = None
    if link is not None:
        channel = next(
            (
                c
                for c in person.channel_preference
                if c is not Channel.TELEGRAM and person.address_for(c)
            ),
            None,
        )
    if channel is not None and link is not None:
        reader = Reader.of(person)
        body = reader._(INVITATION_TEXT, link=link, until=reader.when(expires_at))
        enqueue(
            session,
            person=person,
            channel=channel,
            rendered=Rendered(subject=reader._(INVITATION_SUBJECT), text=body, parts=(body,)),
            key=DeliveryKey.invite(),
            due_at=now,
        )
    return Invitation(code=code, link=link, expires_at=expires_at, queued_on=channel)


@step
async def start(turn: Turn) -> None:
    """Bind this chat with the invitation code (/start CODE), or greet."""
    if not turn.args:
        if turn.person is None:
            turn.say(turn._(NOT_BOUND))
        else:
            turn.say(
                turn._(
                    "You are %(name)s (%(staff_id)s).",
                    name=turn.person.name,
                    staff_id=turn.person.staff_id,
                )
                + "\n\n"
                + turn._(HELP_STAFF)
            )
        return
    if not turn.private:
        turn.say(turn._("Open the invitation link in a private chat with me, not in a group."))
        return
    person = bind_chat(turn.session, code=turn.args[0], chat_id=turn.chat_id, clock=turn.deps.clock)
    # The chat starts afresh: whatever someone else left half-done here is dropped.
    drop_flow(turn)
    turn.state.person_id = person.id
    turn.session.add(turn.state)
    turn.reader = Reader.of(person)
    turn.person = person
    turn.say(
        turn._(
            "Welcome, %(name)s. This chat now receives your risk prompts and warnings.",
            name=person.name,
        )
        + "\n\n"
        + turn._(HELP_STAFF)
    )


@step
async def unbind(turn: Turn) -> None:
    """Unlink this chat from the person (/unbind)."""
    person = unbind_chat(
        turn.session, chat_id=turn.actor.telegram_chat_id or turn.chat_id, clock=turn.deps.clock
    )
    drop_flow(turn)
    turn.say(
        turn._(
            "This chat is no longer linked to %(name)s. Prompts go by SMS or email; "
            "ask for a new invitation to link a chat again.",
            name=person.name,
        )
    )
