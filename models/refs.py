"""What people type to name a thing, read in one place.

Every front end that takes a number, a person, a unit, a state, a level, a period
or a day from what a person wrote reads it here: the command line's options
(through ``riskprompt/cli/params.py``) and the chat's commands.

- **Numbers**: ``3`` or the code printed beside it, ``P3`` (a prompt), ``W2`` (a
  warning), ``R1``/``C1`` (a correction report), read as
  :mod:`riskprompt.models.codes` reads them (``p 3``, ``Ｐ３``); the code of
  another kind is refused (``W2`` is not a prompt).
- **People**: by staff ID (工号, any case), or by name when only one person has it;
  a name several people share is refused with each of them and their staff ID.
- **Units**: by id, by full name, or by a short form that only one unit's name
  fits: its end (``财政局`` for 滨江市财政局), a part of it, or its abbreviation
  (``住建局`` for 滨江市住房和城乡建设局, ``发改委`` for 滨江市发展和改革委员会).
- **States**: in either language, as the value (``open``), its name in English
  or in Chinese (``待阅``), or a word people use for it (``pending``); names come
  from the label maps through the translator, so what the lists print is what
  is read back.  Levels, colours, forms and roles: their own bilingual parsers.
- **Periods**: ``2026-12``, ``2026/12``, ``2026年12月``; **days**: ``2026-12-24``,
  ``2026/12/24``, ``2026年12月24日``; **moments**: a day and ``09:00``.

Parsing raises :class:`~riskprompt.models.errors.InvalidInput`; a lookup that
finds nothing raises :class:`~riskprompt.models.errors.NotFound`.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from functools import cache
from typing import Generic, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_, SUPPORTED_LOCALES, translator
from riskprompt.config.settings import Settings
from riskprompt.models.cancel import parse_special_ref
from riskprompt.models.catalog import RiskLevel, Unit
from riskprompt.models.codes import Code, CodeKind, format_code, parse_code
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.people import Channel, Person, Role
from riskprompt.models.periods import parse_period as _checked_period
from riskprompt.models.prompts import (
    DELIVERY_STATUS_LABELS,
    PROMPT_STATUS_LABELS,
    DeliveryStatus,
    PromptStatus,
)
from riskprompt.models.targets import TargetKind, parse_target
from riskprompt.models.warnings import (
    STATUS_LABELS,
    RectificationStatus,
    WarningColour,
    WarningForm,
    WarningStatus,
    parse_colour,
    parse_form,
)

E = TypeVar("E", bound=enum.Enum)

#: The largest id a table holds (PostgreSQL INTEGER).
MAX_ROW_ID = 2**31 - 1
#: How many candidates an ambiguous name lists.
MAX_CANDIDATES = 8


def _key(text: str) -> str:
    """``text`` as compared: full-width folded (NFKC), no spaces, case-insensitive."""
    return "".join(unicodedata.normalize("NFKC", text).split()).casefold()


# -- numbers -------------------------------------------------------------------------------

_NUMBER_MESSAGES = {
    CodeKind.PROMPT: N_("not a prompt number %(value)r: write 12 or P12"),
    CodeKind.WARNING: N_("not a warning number %(value)r: write 7 or W7"),
    CodeKind.CORRECTION: N_("not a correction number %(value)r: write 3 or R3"),
}


def parse_number(text: str, kind: CodeKind) -> int:
    """The id in ``text``: ``12``, or the code of ``kind`` (``P12``, ``p 12``, ``Ｐ１２``).

    Raises:
        InvalidInput: anything else (another kind's code, a word, zero, too large).
    """
    compact = "".join(unicodedata.normalize("NFKC", text).split())
    if compact.isascii() and compact.isdigit():
        if 0 < int(compact) <= MAX_ROW_ID:
            return int(compact)
        raise InvalidInput(_NUMBER_MESSAGES[kind], value=text)
    code = parse_code(text, kinds=frozenset({kind}))
    if code is None or code.id > MAX_ROW_ID:
        raise InvalidInput(_NUMBER_MESSAGES[kind], value=text)
    return code.id


def prompt_number(text: str) -> int:
    """A prompt's id from ``12`` or ``P12`` (see :func:`parse_number`)."""
    return parse_number(text, CodeKind.PROMPT)


def warning_number(text: str) -> int:
    """A warning's id from ``7`` or ``W7`` (see :func:`parse_number`)."""
    return parse_number(text, CodeKind.WARNING)


def special_number(text: str) -> int:
    """A special prompt's id from ``12`` or ``B12`` (see
    :func:`riskprompt.models.cancel.parse_special_ref`)."""
    return parse_special_ref(text)


def correction_number(text: str) -> int:
    """A correction report's id from ``3``, ``R3`` or ``C3`` (see :func:`parse_number`)."""
    return parse_number(text, CodeKind.CORRECTION)


# -- states --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary(Generic[E]):
    """The words an enum's members are read from, in every supported language."""

    words: Mapping[str, E]
    message: str

    def parse(self, text: str) -> E:
        """The member ``text`` names.

        Raises:
            InvalidInput: no member has that name.
        """
        found = self.words.get(_key(text))
        if found is None:
            raise InvalidInput(self.message, value=text)
        return found


def vocabulary(
    members: Iterable[E],
    labels: Mapping[E, str],
    message: str,
    *,
    aliases: Mapping[str, E] | None = None,
) -> Vocabulary[E]:
    """The words for ``members``: each value, its label translated into every supported
    locale, and ``aliases``; ``message`` (with ``%(value)r``) refuses any other word.
    """
    words: dict[str, E] = {}
    for member in members:
        words[_key(str(member.value))] = member
        for locale in SUPPORTED_LOCALES:
            words[_key(translator(locale).gettext(labels[member]))] = member
    for word, member in (aliases or {}).items():
        words[_key(word)] = member
    return Vocabulary(words, message)


_RECTIFICATION_LABELS = {
    RectificationStatus.SUBMITTED: N_("waiting for review"),
    RectificationStatus.ACCEPTED: N_("accepted"),
    RectificationStatus.REJECTED: N_("rejected"),
}


@cache
def _warning_statuses() -> Vocabulary[WarningStatus]:
    return vocabulary(
        WarningStatus,
        STATUS_LABELS,
        N_(
            "unknown status %(value)r: use issued, acknowledged, returned, submitted, "
            "closed or withdrawn"
        ),
        aliases={
            "已退回": WarningStatus.RETURNED,
            "退回": WarningStatus.RETURNED,
            "待整改": WarningStatus.RETURNED,
            "rejected": WarningStatus.RETURNED,
            "待阅": WarningStatus.ISSUED,
            "pending": WarningStatus.ISSUED,
            "整改已反馈": WarningStatus.SUBMITTED,
            "待审核": WarningStatus.SUBMITTED,
            "已反馈": WarningStatus.SUBMITTED,
            "办结": WarningStatus.CLOSED,
            "撤回": WarningStatus.WITHDRAWN,
        },
    )


@cache
def _prompt_statuses() -> Vocabulary[PromptStatus]:
    return vocabulary(
        PromptStatus,
        PROMPT_STATUS_LABELS,
        N_("unknown status %(value)r: use open, acknowledged or cancelled"),
        aliases={
            "pending": PromptStatus.OPEN,
            "unread": PromptStatus.OPEN,
            "未阅": PromptStatus.OPEN,
            "read": PromptStatus.ACKNOWLEDGED,
            "已读": PromptStatus.ACKNOWLEDGED,
            "withdrawn": PromptStatus.CANCELLED,
            "撤回": PromptStatus.CANCELLED,
        },
    )


@cache
def _delivery_statuses() -> Vocabulary[DeliveryStatus]:
    return vocabulary(
        DeliveryStatus,
        DELIVERY_STATUS_LABELS,
        N_("unknown status %(value)r: use pending, sending, sent, failed or cancelled"),
    )


@cache
def _correction_statuses() -> Vocabulary[RectificationStatus]:
    return vocabulary(
        RectificationStatus,
        _RECTIFICATION_LABELS,
        N_("unknown status %(value)r: use submitted, accepted or rejected"),
        aliases={"待审核": RectificationStatus.SUBMITTED, "pending": RectificationStatus.SUBMITTED},
    )


def warning_status(text: str) -> WarningStatus:
    """A warning's state: ``issued``/``已下发``, ``returned``/``已退回``/``待整改``...

    Raises:
        InvalidInput: no state has that name.
    """
    return _warning_statuses().parse(text)


def prompt_status(text: str) -> PromptStatus:
    """A prompt's state: ``open``/``pending``/``待阅``, ``acknowledged``/``已阅``...

    Raises:
        InvalidInput: no state has that name.
    """
    return _prompt_statuses().parse(text)


def delivery_status(text: str) -> DeliveryStatus:
    """A delivery's state: ``pending``/``待发送``, ``sent``/``已发送``...

    Raises:
        InvalidInput: no state has that name.
    """
    return _delivery_statuses().parse(text)


def correction_status(text: str) -> RectificationStatus:
    """A correction report's review: ``submitted``/``待审核``, ``accepted``, ``rejected``.

    Raises:
        InvalidInput: no state has that name.
    """
    return _correction_statuses().parse(text)


def correction_status_label(status: RectificationStatus) -> str:
    """The msgid of a correction report's review state (translate where shown)."""
    return _RECTIFICATION_LABELS[status]


def risk_level(text: str) -> RiskLevel:
    """高/中/低 or high/medium/low (see :meth:`RiskLevel.parse`).

    Raises:
        InvalidInput: anything else.
    """
    return RiskLevel.parse(text)


def colour(text: str) -> WarningColour:
    """黄/橙/红 or yellow/orange/red (see :func:`riskprompt.models.warnings.parse_colour`).

    Raises:
        InvalidInput: anything else.
    """
    return parse_colour(text)


def form(text: str) -> WarningForm:
    """预警提示/诫勉警示/责令纠错 or prompt/admonish/correct.

    Raises:
        InvalidInput: anything else.
    """
    return parse_form(text)


def role(text: str) -> Role:
    """staff/officer/admin or 工作人员/纪检监察/管理员 (see :meth:`Role.parse`).

    Raises:
        InvalidInput: anything else.
    """
    return Role.parse(text)


def channel(text: str) -> Channel:
    """One channel: telegram, sms or email, or 短信, 邮件...

    Raises:
        InvalidInput: an unknown channel, or more than one.
    """
    channels = Channel.parse_list(text)
    if len(channels) != 1:
        raise InvalidInput(N_("name one channel: telegram, sms or email"))
    return channels[0]


# -- periods, days, moments ----------------------------------------------------------------

_SEP = r"\s*(?:-|/|\.|年)\s*"
_PERIOD = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}})\s*月?$")
_DAY = re.compile(rf"^(\d{{4}}){_SEP}(\d{{1,2}})\s*(?:-|/|\.|月)\s*(\d{{1,2}})\s*日?$")
_MOMENT = re.compile(
    r"^(?P<day>.+?)(?:\s*T\s*|\s+|(?<=日))"
    r"(?P<hour>\d{1,2})\s*[:：时点]\s*(?P<minute>\d{2})(?:\s*[:：分]\s*(?P<second>\d{2}))?\s*[分秒]?$"
)


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def parse_period(text: str) -> str:
    """A period as ``YYYY-MM`` from ``2026-12``, ``2026-1``, ``2026/12`` or ``2026年12月``.

    Raises:
        InvalidInput: anything else (``2026-13``, ``202612``, ``12月``).
    """
    found = _PERIOD.match(_folded(text))
    if found is None or not 1 <= int(found.group(2)) <= 12:
        raise InvalidInput(
            N_("not a period %(value)r: write it as 2026-12 or 2026年12月"), value=text
        )
    return _checked_period(f"{int(found.group(1)):04d}-{int(found.group(2)):02d}")


def parse_day(text: str) -> date:
    """A day from ``2026-12-24``, ``2026/12/24`` or ``2026年12月24日``.

    Raises:
        InvalidInput: anything else, or a day no calendar has (``2026-02-30``).
    """
    found = _DAY.match(_folded(text))
    try:
        if found is None:
            raise ValueError(text)
        return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
    except ValueError:
        raise InvalidInput(
            N_("not a date %(value)r: write it as 2026-12-24 or 2026年12月24日"), value=text
        ) from None


def parse_moment(text: str, settings: Settings) -> datetime:
    """A moment in the office's time zone from a day and a time of day:
    ``2026-12-24 09:00``, ``2026-12-24T09:00:30``, ``2026年12月24日 9:00``.

    Raises:
        InvalidInput: anything else.
    """
    found = _MOMENT.match(_folded(text))
    try:
        if found is None:
            raise ValueError(text)
        day = parse_day(found.group("day"))
        at = time(int(found.group("hour")), int(found.group("minute")), int(found["second"] or 0))
    except (ValueError, InvalidInput):
        raise InvalidInput(
            N_("not a time %(value)r: write it as YYYY-MM-DD HH:MM, e.g. 2026-12-24 09:00"),
            value=text,
        ) from None
    return datetime.combine(day, at, tzinfo=settings.zone)


# -- people and units ----------------------------------------------------------------------


def _listed(items: list[str]) -> str:
    shown = "; ".join(items[:MAX_CANDIDATES])
    return shown + ("; …" if len(items) > MAX_CANDIDATES else "")


def find_person(session: Session, ref: str) -> Person:
    """The person ``ref`` names: their staff ID (any case), else their name if only they have it.

    Raises:
        NotFound: nobody has that staff ID or name.
        InvalidInput: several people have that name (each is named, with their staff ID).
    """
    text = _folded(ref)
    if not text:
        raise NotFound(N_("no person with staff id or name %(ref)r"), ref=ref)
    person = session.exec(
        select(Person).where(func.upper(col(Person.staff_id)) == text.upper())
    ).first()
    if person is not None:
        return person
    named = session.exec(
        select(Person, Unit.name)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(Person.name == text)
        .order_by(col(Person.staff_id))
    ).all()
    if len(named) == 1:
        return named[0][0]
    if not named:
        raise NotFound(N_("no person with staff id or name %(ref)r"), ref=ref)
    raise InvalidInput(
        N_("%(n)s people are called %(ref)s: %(people)s; give the staff ID"),
        n=len(named),
        ref=text,
        people=_listed([f"{p.name} ({p.staff_id}, {unit})" for p, unit in named]),
    )


def _abbreviates(short: str, name: str) -> bool:
    """Whether ``short`` is ``name`` with characters left out (住建局, 发改委)."""
    rest = iter(name)
    return all(ch in rest for ch in short)


def find_unit(session: Session, ref: str) -> Unit:
    """The unit ``ref`` names: its id, its full name, or a short form only its name fits.

    Short forms are tried in turn, the first that fits any unit deciding: the end of
    the name (``财政局``), a part of it, then an abbreviation (``住建局``).

    Raises:
        NotFound: no unit fits.
        InvalidInput: several units fit the short form (each is named, with its id).
    """
    text = _folded(ref)
    if text.isascii() and text.isdigit():
        unit = session.get(Unit, int(text)) if 0 < int(text) <= MAX_ROW_ID else None
        if unit is None:
            raise NotFound(N_("no unit %(ref)r"), ref=ref)
        return unit
    unit = session.exec(select(Unit).where(Unit.name == text)).first()
    if unit is not None:
        return unit
    short = _key(text)
    units = [(u, _key(u.name)) for u in session.exec(select(Unit).order_by(col(Unit.id))).all()]
    for fits in (str.endswith, str.__contains__, lambda name, s: _abbreviates(s, name)):
        found = [u for u, name in units if short and fits(name, short)]
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidInput(
                N_("%(ref)s fits %(n)s units: %(units)s; give the full name or the id"),
                ref=text,
                n=len(found),
                units=_listed([f"{u.name} ({u.id})" for u in found]),
            )
    raise NotFound(N_("no unit %(ref)r"), ref=ref)


def staff_id_of(session: Session, ref: str) -> str:
    """The staff ID of the person ``ref`` names (see :func:`find_person`)."""
    return find_person(session, ref).staff_id


def unit_id_of(session: Session, ref: str) -> int:
    """The id of the unit ``ref`` names (see :func:`find_unit`)."""
    return find_unit(session, ref).id or 0


def code_of(kind: CodeKind, id: int) -> str:
    """How the thing is printed (``W7``): what :func:`parse_number` reads back."""
    return format_code(kind, id)


def target_of(session: Session, text: str) -> str:
    """A special prompt's target with its person and unit named the canonical way:
    ``person:王出纳`` → ``person:CW001``, ``unit:住建局+`` → ``unit:4+``
    (see :mod:`riskprompt.models.targets`).

    Raises:
        InvalidInput: not a target, or a name several people or units fit.
        NotFound: nobody or no unit has that name.
    """
    target = parse_target(text)
    if target.kind is TargetKind.PERSON:
        return str(replace(target, value=staff_id_of(session, target.value)))
    if target.kind is TargetKind.UNIT:
        return str(replace(target, value=str(unit_id_of(session, target.value))))
    return str(target)


def acknowledgeable(text: str) -> str:
    """What an acknowledgement names, as its code: ``P12`` from ``P12`` or ``12`` (a
    prompt), ``W7`` from ``W7`` (a warning).

    Raises:
        InvalidInput: anything else.
    """
    code = parse_code(text, kinds=frozenset({CodeKind.WARNING}))
    if code is not None and code.id <= MAX_ROW_ID:
        return str(code)
    return str(Code(CodeKind.PROMPT, prompt_number(text)))
