"""Text commands that SMS replies and chat messages share.

``1``/``Y``/``OK``/``收到``/``已阅`` acknowledge the latest open prompt, ``P123``
a given one; ``STOP``/``退订`` opt out of SMS, ``START`` opts back in; anything
else gets a short help.  Parsing is pure; :func:`handle_reply` calls the one
domain function for the intent and answers in the person's language.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from sqlmodel import Session

from riskprompt.config.i18n import N_, translator
from riskprompt.models.clock import Clock
from riskprompt.models.conversations import first_time_seen
from riskprompt.models.errors import DomainError
from riskprompt.models.people import Person, set_sms_opt_out
from riskprompt.models.prompts import (
    Prompt,
    acknowledge_prompt,
    latest_open_prompt,
    parse_prompt_code,
)


class Intent(enum.StrEnum):
    """What a short reply asks for."""

    ACK_LATEST = "ack_latest"
    ACK_CODE = "ack_code"
    STOP = "stop"
    START = "start"
    HELP = "help"


_ACK_WORDS = {"1", "Y", "YES", "OK", "OKAY", "收到", "已阅", "已读", "确认", "好", "好的"}
_STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD"}
_START_WORDS = {"START", "UNSTOP", "订阅", "恢复"}
MAX_REPLY_LENGTH = 1600  # Twilio's longest message; longer input is not a command


@dataclass(frozen=True, slots=True)
class TextCommand:
    """A parsed reply: the intent, and the prompt id for ``ACK_CODE``."""

    intent: Intent
    prompt_id: int | None = None


def parse_reply(text: str) -> TextCommand:
    """Read a short reply; full-width characters and case do not matter."""
    if len(text) > MAX_REPLY_LENGTH:
        return TextCommand(Intent.HELP)
    word = unicodedata.normalize("NFKC", text).strip().strip("。.!！").upper()
    if word in _ACK_WORDS:
        return TextCommand(Intent.ACK_LATEST)
    if word in _STOP_WORDS:
        return TextCommand(Intent.STOP)
    if word in _START_WORDS:
        return TextCommand(Intent.START)
    prompt_id = parse_prompt_code(word)
    if prompt_id is not None:
        return TextCommand(Intent.ACK_CODE, prompt_id)
    return TextCommand(Intent.HELP)


HELP_TEXT = N_(
    "Reply 1 to acknowledge your latest prompt, or its code (e.g. P12); STOP to stop SMS."
)


class _NotLoaded(enum.Enum):
    NOT_LOADED = enum.auto()


#: ``latest_open`` of :func:`handle_reply` when the caller has not looked it up.
NOT_LOADED = _NotLoaded.NOT_LOADED


def handle_reply(
    session: Session,
    *,
    person: Person,
    text: str,
    clock: Clock,
    via: str,
    latest_open: Prompt | _NotLoaded | None = NOT_LOADED,
    message_sid: str | None = None,
) -> str:
    """Carry out a reply from ``person`` and return the answer in their language.

    The caller commits.  A refusal (someone else's prompt, nothing open) is
    answered, not raised.  ``latest_open`` is the person's latest open prompt
    when the caller has already loaded it with the person (the SMS webhook finds
    both in one query); by default it is looked up when the reply needs it.
    ``message_sid`` is the provider's id of the message: a STOP or START seen
    before (a replayed request) is answered and changes nothing.
    """
    t = translator(person.locale)
    command = parse_reply(text)
    try:
        if command.intent in (Intent.STOP, Intent.START):
            opted_out = command.intent is Intent.STOP
            if message_sid is None or first_time_seen(
                session, message_sid=message_sid, person=person, clock=clock
            ):
                set_sms_opt_out(session, person=person, opted_out=opted_out, clock=clock, via=via)
            if opted_out:
                return t.gettext(N_("You will get no more SMS. Reply START to receive them again."))
            return t.gettext(N_("SMS are on again."))
        if command.intent is Intent.HELP:
            return t.gettext(HELP_TEXT)
        if command.intent is Intent.ACK_LATEST:
            prompt = (
                latest_open_prompt(session, person=person)
                if latest_open is NOT_LOADED
                else latest_open
            )
            if prompt is None:
                return t.gettext(N_("You have no prompt waiting for an acknowledgement."))
        else:
            prompt = session.get(Prompt, command.prompt_id)
            if prompt is None or prompt.person_id != person.id:
                return t.gettext(N_("No prompt of yours has that code."))
        done = acknowledge_prompt(session, prompt=prompt, actor=person, clock=clock, via=via)
        if not done:
            return t.gettext(N_("Already acknowledged: %(title)s")) % {"title": prompt.title}
        return t.gettext(N_("Acknowledged: %(title)s. Thank you.")) % {"title": prompt.title}
    except DomainError as exc:
        return exc.translate(t.gettext)
