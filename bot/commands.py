"""Text commands that SMS replies and chat messages share.

``1``/``Y``/``OK``/``收到``/``已阅`` acknowledge the latest open prompt, ``P123``
a given one and ``W7`` a warning (codes: :mod:`riskprompt.models.codes`);
``STOP``/``退订`` opt out of SMS, ``START`` opts back in; anything else gets a
short help.  Parsing is pure; :func:`handle_reply` calls the one
domain function for the intent and answers in the person's language.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass

from sqlmodel import Session

from riskprompt.config.i18n import N_, translator
from riskprompt.models.acknowledging import acknowledge
from riskprompt.models.clock import Clock
from riskprompt.models.codes import Code, CodeKind, parse_code
from riskprompt.models.conversations import first_time_seen
from riskprompt.models.errors import DomainError
from riskprompt.models.people import Person, set_sms_opt_out
from riskprompt.models.prompts import Prompt, latest_open_prompt


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
#: The codes a reply may acknowledge.
ACK_KINDS = frozenset({CodeKind.PROMPT, CodeKind.WARNING})


@dataclass(frozen=True, slots=True)
class TextCommand:
    """A parsed reply: the intent, and the code (``P12``, ``W7``) for ``ACK_CODE``."""

    intent: Intent
    code: Code | None = None

    @property
    def prompt_id(self) -> int | None:
        """The prompt id of a ``P`` code."""
        return self.code.id if self.code and self.code.kind is CodeKind.PROMPT else None


def parse_reply(text: str) -> TextCommand:
    """Read a short reply; full-width characters and case do not matter.

    Raises:
        InvalidInput: a code whose number is not one (other digits, too large).
    """
    if len(text) > MAX_REPLY_LENGTH:
        return TextCommand(Intent.HELP)
    word = unicodedata.normalize("NFKC", text).strip().strip("。.!！").upper()
    if word in _ACK_WORDS:
        return TextCommand(Intent.ACK_LATEST)
    if word in _STOP_WORDS:
        return TextCommand(Intent.STOP)
    if word in _START_WORDS:
        return TextCommand(Intent.START)
    code = parse_code(word, kinds=ACK_KINDS)
    if code is not None:
        return TextCommand(Intent.ACK_CODE, code)
    return TextCommand(Intent.HELP)


HELP_TEXT = N_(
    "Reply 1 to acknowledge your latest prompt, or its code (e.g. P12); STOP to stop SMS."
)
#: Answers to an acknowledgement, by whether it was new and what it named.
_ACKNOWLEDGED = N_("Acknowledged: %(title)s. Thank you.")
_ALREADY = N_("Already acknowledged: %(title)s")


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
    try:
        command = parse_reply(text)
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
            target: Code = Code(CodeKind.PROMPT, prompt.id or 0)
        else:
            assert command.code is not None
            target = command.code
        done = acknowledge(session, actor=person, target=target, via=via, clock=clock)
        # a prompt by its code and title (every special prompt has the same title)
        title = done.title_in(person.locale)
        if done.prompt is not None:
            title = f"{done.code} {title}"
        return t.gettext(_ACKNOWLEDGED if done.newly else _ALREADY) % {"title": title}
    except DomainError as exc:
        return exc.translate(t.gettext)
