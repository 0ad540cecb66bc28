"""The one home of codes and buttons: ``P12``, ``W7``, ``R3``, callback data, warning actions.

Codes name a prompt (``P12``), a warning (``W7``) or a correction report (``R3``,
``C3`` is read as the same) in an SMS reply, a chat message or a page.  They are
read case-insensitively with full-width letters and digits normalised (NFKC), so
``p12`` and ``Ｐ１２`` are ``P12``; digits of other scripts and numbers no table id
can hold are refused with :class:`~riskprompt.models.errors.InvalidInput`.

Callback data (Telegram: at most 64 bytes) carries ids only; the prefixes, their
builders and parsers, and the regular expressions the bot routes on live here, so
the renderer that puts a button under a message and the handler that answers it
cannot drift apart.  :func:`warning_actions` says what a warning allows its
addressee in its current state.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from riskprompt.config.i18n import N_
from riskprompt.models.errors import InvalidInput
from riskprompt.models.warnings import TRANSITIONS, Warning, WarningStatus


class CodeKind(enum.StrEnum):
    """What a code names; the value is its letter."""

    PROMPT = "P"
    WARNING = "W"
    CORRECTION = "R"


#: Letters read as each kind (``C`` is an older spelling of a correction's code).
_LETTERS = {"P": CodeKind.PROMPT, "W": CodeKind.WARNING, "R": CodeKind.CORRECTION}
_ALIASES = {"C": CodeKind.CORRECTION}
#: The largest id a table holds (a signed 64-bit integer) and its digits.
MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))
#: Longer text is not a code at all (and is not normalised).
MAX_CODE_LENGTH = 40


@dataclass(frozen=True, slots=True)
class Code:
    """A parsed code: what it names and the id."""

    kind: CodeKind
    id: int

    def __str__(self) -> str:
        return format_code(self.kind, self.id)


def format_code(kind: CodeKind, id: int | None) -> str:
    """The code of ``id`` of ``kind`` (``P12``)."""
    return f"{kind.value}{int(id or 0)}"


def prompt_code(id: int | None) -> str:
    """How a prompt is named in replies and lists (``P12``)."""
    return format_code(CodeKind.PROMPT, id)


def warning_code(id: int | None) -> str:
    """How a warning is named in replies and lists (``W7``)."""
    return format_code(CodeKind.WARNING, id)


def correction_code(id: int | None) -> str:
    """How a correction report is named (``R3``)."""
    return format_code(CodeKind.CORRECTION, id)


def _compact(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def parse_code(text: str, *, kinds: frozenset[CodeKind] | None = None) -> Code | None:
    """The code in ``text`` (``P12``, ``p 12``, ``Ｐ１２``, ``W7``, ``R3``/``C3``).

    Args:
        text: what the person wrote.
        kinds: the kinds accepted here (default: all); another kind is "not a code".

    Returns:
        The code, or None when ``text`` is not a code at all (a word, another kind).

    Raises:
        InvalidInput: it reads as a code but its number is not one: digits of
            another script, zero, or more than any id can be.
    """
    if len(text) > MAX_CODE_LENGTH:
        return None
    compact = _compact(text)
    if len(compact) < 2:
        return None
    kind = _LETTERS.get(compact[0]) or _ALIASES.get(compact[0])
    number = compact[1:]
    if kind is None or (kinds is not None and kind not in kinds):
        return None
    if not all(ch.isdigit() or unicodedata.category(ch) == "Nd" for ch in number):
        return None
    if not (number.isascii() and number.isdigit()):
        raise InvalidInput(
            N_("%(code)s is not a valid code: write it with the digits 0-9, e.g. %(example)s."),
            code=text.strip()[:MAX_CODE_LENGTH],
            example=format_code(kind, 12),
        )
    if len(number.lstrip("0")) > _MAX_DIGITS or not 0 < int(number) <= MAX_ID:
        raise InvalidInput(N_("There is nothing with the code %(code)s."), code=compact)
    return Code(kind, int(number))


def parse_prompt_code(text: str) -> int | None:
    """The prompt id in ``P123`` (see :func:`parse_code`); None when it is not a prompt code.

    Raises:
        InvalidInput: a prompt code with an impossible number.
    """
    code = parse_code(text, kinds=frozenset({CodeKind.PROMPT}))
    return code.id if code is not None else None


# -- callback data ---------------------------------------------------------------------------

#: Telegram's limit on a button's callback data.
MAX_CALLBACK_BYTES = 64

ACK_PROMPT = "ack:p:"
ACK_WARNING = "ack:w:"
REPORT_CORRECTION = "rc:"
REPORT_DONE = "rc:done"
REPORT_SUBMIT = "rc:ok"
PAGE = "pg:"
LANGUAGE = "lang:"
CANCEL = "x"
REMIND_TARGET = "rm:t:"
REMIND_SEND = "rm:ok"
REVIEW_ACCEPT = "rv:a:"
REVIEW_REJECT = "rv:r:"
REVIEW_NEXT = "rv:n:"
REVIEW_ONE = "rv:s:"
WARN_COLOUR = "wn:c:"
WARN_FORM = "wn:f:"
WARN_SEND = "wn:ok"

_ACK_KINDS = {ACK_PROMPT: CodeKind.PROMPT, ACK_WARNING: CodeKind.WARNING}


def callback(prefix: str, value: int | str = "") -> str:
    """Callback data ``prefix + value``.

    Raises:
        ValueError: longer than :data:`MAX_CALLBACK_BYTES` (a programming error).
    """
    data = f"{prefix}{value}"
    if len(data.encode("utf-8")) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data[:20]}...")
    return data


def ack_data(kind: CodeKind, id: int) -> str:
    """The "Acknowledge" button's data: ``ack:p:<id>`` or ``ack:w:<id>``."""
    return callback(ACK_PROMPT if kind is CodeKind.PROMPT else ACK_WARNING, int(id))


def parse_ack_data(data: str) -> Code | None:
    """What an "Acknowledge" button names; None for other or malformed data."""
    for prefix, kind in _ACK_KINDS.items():
        rest = data.removeprefix(prefix)
        if rest != data and rest.isascii() and rest.isdigit() and len(rest) <= _MAX_DIGITS:
            return Code(kind, int(rest)) if 0 < int(rest) <= MAX_ID else None
    return None


def id_after(prefix: str, data: str) -> int:
    """The id in ``prefix<id>`` data (the bot's patterns let only digits through).

    Raises:
        InvalidInput: no id after the prefix, or one no table holds.
    """
    rest = data.removeprefix(prefix)
    if not (rest.isascii() and rest.isdigit() and len(rest) <= _MAX_DIGITS and int(rest) > 0):
        raise InvalidInput(N_("This button is no longer valid."))
    return int(rest)


def pattern(prefix: str, tail: str = r"\d{1,19}") -> str:
    """The regular expression matching ``prefix`` + ``tail`` exactly (the bot routes on it)."""
    return f"^{re.escape(prefix)}{tail}$"


# -- what a warning allows ---------------------------------------------------------------------


class WarningAction(enum.StrEnum):
    """What the addressee of a warning may do with it."""

    ACKNOWLEDGE = "acknowledge"
    REPORT_CORRECTION = "report_correction"


#: The button label of each action (``%(code)s`` is the warning's code).
ACTION_BUTTON_LABELS = {
    WarningAction.ACKNOWLEDGE: N_("Acknowledge %(code)s"),
    WarningAction.REPORT_CORRECTION: N_("Report a correction on %(code)s"),
}


def warning_actions(warning: Warning) -> list[WarningAction]:
    """What ``warning`` allows its addressee now, in the order buttons show them.

    Acknowledge while it is issued and not yet acknowledged; report a correction
    while the state machine lets one be submitted (issued or acknowledged).
    """
    actions = []
    if warning.acknowledged_at is None and warning.status is WarningStatus.ISSUED:
        actions.append(WarningAction.ACKNOWLEDGE)
    if warning.status in TRANSITIONS["submit"]:
        actions.append(WarningAction.REPORT_CORRECTION)
    return actions


def action_data(action: WarningAction, warning_id: int) -> str:
    """The callback data of ``action``'s button on warning ``warning_id``."""
    if action is WarningAction.ACKNOWLEDGE:
        return ack_data(CodeKind.WARNING, warning_id)
    return callback(REPORT_CORRECTION, int(warning_id))
