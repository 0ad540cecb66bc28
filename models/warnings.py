"""Three-colour warnings (三色预警) and correction reports (整改反馈).

The tables and the one state machine every front end goes through.  Each rule
function checks the actor (and their supervision scope), changes the state, writes
the audit record and writes the notices (:func:`riskprompt.models.notices.tell`)
for everyone who must hear of it, in the caller's transaction:

* issued: the addressee (every channel for orange and red, the first for yellow)
  and, for red, their supervisor;
* escalated: the addressee on every channel, their supervisor, the issuing officer;
* flagged: the issuing officer and the supervisor;
* withdrawn: the addressee, with the reason (pending messages are cancelled);
* correction submitted: the reviewing officers (the issuer and those supervising
  the person);
* accepted: the addressee (and the issuer when someone else reviewed);
  rejected: the addressee, with the reason and the new deadline.

``notifications/`` turns the notices into messages on each reader's channels.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Text, update
from sqlmodel import Field, Session, SQLModel, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.catalog import RiskPoint, Unit
from riskprompt.models.clock import Clock
from riskprompt.models.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied
from riskprompt.models.notices import NoticeEvent, NoticeReach, NoticeRole, Reader, tell
from riskprompt.models.people import Person, require_officer
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.queries import get_person, resolve_unit
from riskprompt.models.scope import require_in_scope, supervising_officers
from riskprompt.models.text import check_storable
from riskprompt.models.types import UTCDateTime, str_enum


class WarningColour(enum.StrEnum):
    """Yellow, orange or red (黄/橙/红)."""

    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def label(self) -> str:
        """The msgid of the colour's name."""
        return {"yellow": N_("yellow"), "orange": N_("orange"), "red": N_("red")}[self.value]


class WarningForm(enum.StrEnum):
    """预警提示 (warning prompt), 诫勉警示 (admonishment), 责令纠错 (ordered correction)."""

    PROMPT = "prompt"
    ADMONISH = "admonish"
    CORRECT = "correct"

    @property
    def label(self) -> str:
        """The msgid of the form's name."""
        return {
            "prompt": N_("warning prompt"),
            "admonish": N_("admonishment"),
            "correct": N_("ordered correction"),
        }[self.value]


class WarningStatus(enum.StrEnum):
    """Where a warning stands (returned: a correction was rejected, a new one is due)."""

    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    RETURNED = "returned"
    SUBMITTED = "submitted"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        """The msgid of the state's name (see :data:`STATUS_LABELS`)."""
        return STATUS_LABELS[self]


class Warning(SQLModel, table=True):
    """A warning issued by an officer to a person, with a deadline."""

    __tablename__: ClassVar[str] = "warning"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    issued_by_id: int = Field(foreign_key="person.id")
    colour: WarningColour = Field(sa_type=str_enum(WarningColour))
    form: WarningForm = Field(sa_type=str_enum(WarningForm))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    risk_point_id: int | None = Field(default=None, foreign_key="risk_point.id")
    status: WarningStatus = Field(default=WarningStatus.ISSUED, sa_type=str_enum(WarningStatus))
    deadline: datetime = Field(sa_type=UTCDateTime)
    escalations: int = Field(default=0)
    created_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Follow-up (notifications/escalation.py): when the current deadline was set, the
    # reminders sent for it, and when the next step (a reminder, the overdue step)
    # falls due.  Setting a deadline makes the warning due at once, for the follow-up
    # to plan its steps; None: no step left (closed, withdrawn, flagged).
    deadline_set_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminders_sent: int = Field(default=0)
    next_step_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    # An overdue red warning, flagged for disciplinary follow-up (no further steps).
    flagged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RectificationStatus(enum.StrEnum):
    """A correction report's review."""

    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Rectification(SQLModel, table=True):
    """A correction (整改) reported on a warning, with evidence, and its review."""

    __tablename__: ClassVar[str] = "rectification"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    warning_id: int = Field(foreign_key="warning.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    description: str = Field(sa_column=Column(Text, nullable=False))
    evidence: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: RectificationStatus = Field(
        default=RectificationStatus.SUBMITTED, sa_type=str_enum(RectificationStatus)
    )
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    reviewed_by_id: int | None = Field(default=None, foreign_key="person.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


# --- The state machine -------------------------------------------------------------------
#
# issued → acknowledged → submitted → closed (accepted)
#                          ↓ (rejected)
#                       returned (已退回, 待整改) → submitted ...
# any open state → withdrawn (by an officer)
# Escalation (overdue → colour up, see escalate_warning) keeps the state and moves
# the deadline; an overdue red is flagged (flag_warning).  notifications/escalation.py
# decides when.
OPEN_STATES = frozenset(
    {
        WarningStatus.ISSUED,
        WarningStatus.ACKNOWLEDGED,
        WarningStatus.RETURNED,
        WarningStatus.SUBMITTED,
    }
)
TRANSITIONS: dict[str, dict[WarningStatus, WarningStatus]] = {
    "acknowledge": {WarningStatus.ISSUED: WarningStatus.ACKNOWLEDGED},
    "submit": {
        WarningStatus.ISSUED: WarningStatus.SUBMITTED,
        WarningStatus.ACKNOWLEDGED: WarningStatus.SUBMITTED,
        WarningStatus.RETURNED: WarningStatus.SUBMITTED,
    },
    "accept": {WarningStatus.SUBMITTED: WarningStatus.CLOSED},
    "reject": {WarningStatus.SUBMITTED: WarningStatus.RETURNED},
    "withdraw": {state: WarningStatus.WITHDRAWN for state in OPEN_STATES},
}
ACTION_LABELS = {
    "acknowledge": N_("acknowledge"),
    "submit": N_("report a correction on"),
    "accept": N_("accept the correction of"),
    "reject": N_("reject the correction of"),
    "withdraw": N_("withdraw"),
}
STATUS_LABELS = {
    WarningStatus.ISSUED: N_("issued"),
    WarningStatus.ACKNOWLEDGED: N_("acknowledged"),
    WarningStatus.RETURNED: N_("returned for correction"),
    WarningStatus.SUBMITTED: N_("correction submitted"),
    WarningStatus.CLOSED: N_("closed"),
    WarningStatus.WITHDRAWN: N_("withdrawn"),
}

MAX_TEXT = 4000  # longest reason, description or review note accepted from any front end


def next_status(warning: Warning, action: str) -> WarningStatus:
    """The state ``action`` leads to from the warning's current state.

    Raises:
        IllegalTransition: the action is not allowed now, named in the reader's words.
    """
    target = TRANSITIONS[action].get(warning.status)
    if target is None:
        raise IllegalTransition(
            N_("cannot %(action)s warning W%(id)s: it is %(status)s"),
            action=ACTION_LABELS[action],
            id=warning.id,
            status=STATUS_LABELS[warning.status],
        )
    return target


def _clean_text(value: str, what: str, *, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidInput(N_("%(what)s may not be empty"), what=what)
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            N_("%(what)s is longer than %(max)s characters"), what=what, max=MAX_TEXT
        )
    return check_storable(text, what)


def _audit(
    session: Session, warning: Warning, actor: Person, action: str, at: datetime, **data: object
) -> None:
    record(
        session,
        at=at,
        actor_id=actor.id,
        action=f"warning.{action}",
        subject_type="warning",
        subject_id=warning.id,
        data={"status": warning.status.value, "colour": warning.colour.value, **data},
    )


#: What a colour may be written as, in both languages.
_COLOUR_WORDS = {
    "yellow": WarningColour.YELLOW,
    "黄": WarningColour.YELLOW,
    "黄色": WarningColour.YELLOW,
    "orange": WarningColour.ORANGE,
    "橙": WarningColour.ORANGE,
    "橙色": WarningColour.ORANGE,
    "red": WarningColour.RED,
    "红": WarningColour.RED,
    "红色": WarningColour.RED,
}
#: What a form may be written as, in both languages.
_FORM_WORDS = {
    "prompt": WarningForm.PROMPT,
    "预警提示": WarningForm.PROMPT,
    "admonish": WarningForm.ADMONISH,
    "admonishment": WarningForm.ADMONISH,
    "诫勉警示": WarningForm.ADMONISH,
    "correct": WarningForm.CORRECT,
    "correction": WarningForm.CORRECT,
    "责令纠错": WarningForm.CORRECT,
}


def parse_colour(value: WarningColour | str) -> WarningColour:
    """yellow/orange/red or 黄/橙/红.

    Raises:
        InvalidInput: anything else.
    """
    if isinstance(value, WarningColour):
        return value
    colour = _COLOUR_WORDS.get(value.strip().lower())
    if colour is None:
        raise InvalidInput(N_("unknown colour %(value)r: use yellow, orange or red"), value=value)
    return colour


def parse_form(value: WarningForm | str) -> WarningForm:
    """prompt/admonish/correct or 预警提示/诫勉警示/责令纠错.

    Raises:
        InvalidInput: anything else.
    """
    if isinstance(value, WarningForm):
        return value
    form = _FORM_WORDS.get(value.strip().lower())
    if form is None:
        raise InvalidInput(
            N_("unknown form %(value)r: use prompt, admonish or correct"), value=value
        )
    return form


#: The last moment of a day: a deadline is the end of a whole day.
END_OF_DAY = time(23, 59, 59)


def deadline_on(day: date | datetime, settings: Settings) -> datetime:
    """The deadline of ``day``: 23:59:59 of it in the office's time zone (``settings.zone``).

    Deadlines are whole days everywhere (the default, one given on the command line,
    in chat or through the API, the new one after a rejection, an escalation's): a
    moment stands for the day it falls on in the office's time zone.
    """
    zone = settings.zone
    if isinstance(day, datetime):
        day = day.astimezone(zone).date()
    return datetime.combine(day, END_OF_DAY, tzinfo=zone)


def default_deadline(colour: WarningColour, *, now: datetime, settings: Settings) -> datetime:
    """The end of the day WARNING_DEADLINE_DAYS_<COLOUR> days after ``now`` (a whole day)."""
    days = {
        WarningColour.RED: settings.WARNING_DEADLINE_DAYS_RED,
        WarningColour.ORANGE: settings.WARNING_DEADLINE_DAYS_ORANGE,
        WarningColour.YELLOW: settings.WARNING_DEADLINE_DAYS_YELLOW,
    }[WarningColour(colour)]
    return deadline_on(now + timedelta(days=days), settings)


def unit_head(session: Session, *, unit: Unit) -> Person:
    """The head of ``unit``: its active person with no supervisor in the same unit.

    When several qualify, the lowest id wins.

    Raises:
        NotFound: the unit has no such person.
    """
    people = session.exec(
        select(Person).where(col(Person.unit_id) == unit.id).order_by(col(Person.id))
    ).all()
    in_unit = {p.id for p in people}
    for person in people:
        if person.active and (person.supervisor_id is None or person.supervisor_id not in in_unit):
            return person
    raise NotFound(
        N_("unit %(unit)s has no head (an active person with no supervisor in it)"), unit=unit.name
    )


def warning_subject(
    session: Session, *, staff_id: str | None = None, unit_ref: str | None = None
) -> Person:
    """The person a warning is for: by staff ID, else the head of the unit ``unit_ref``.

    Raises:
        NotFound: no such person or unit, or the unit has no head.
    """
    if staff_id is not None:
        return get_person(session, staff_id=staff_id)
    return unit_head(session, unit=resolve_unit(session, ref=unit_ref or ""))


def _whole_day(deadline: date | datetime, settings: Settings | None) -> datetime:
    """``deadline`` as the end of its day (see :func:`deadline_on`); a moment as it is
    when there are no settings to say the time zone."""
    if settings is not None:
        return deadline_on(deadline, settings)
    if not isinstance(deadline, datetime):
        raise TypeError("a deadline given as a day needs the settings")
    return deadline


def _supervisor(session: Session, person: Person) -> Person | None:
    return session.get(Person, person.supervisor_id) if person.supervisor_id else None


def _addressee(session: Session, warning: Warning) -> Person:
    person = session.get(Person, warning.person_id)
    if person is None:  # pragma: no cover - foreign key; people are deactivated, not deleted
        raise NotFound(N_("no person with staff id %(staff_id)r"), staff_id=warning.person_id)
    return person


def issue_warning(
    session: Session,
    *,
    actor: Person,
    person: Person,
    colour: WarningColour | str,
    form: WarningForm | str,
    reason: str,
    clock: Clock,
    deadline: date | datetime | None = None,
    settings: Settings | None = None,
    risk_point_id: int | None = None,
) -> Warning:
    """An officer issues a warning (预警) to ``person`` with a deadline; they are told.

    The addressee is told on every reachable channel for orange and red, on the
    first for yellow; for red their supervisor too.  Bot, CLI and API call this.

    Args:
        session: the open session; the caller commits.
        actor: the issuing officer (``person`` must be in their supervision scope).
        person: the person warned (see :func:`warning_subject`).
        colour: yellow, orange or red (or 黄/橙/红).
        form: prompt, admonish or correct (or 预警提示/诫勉警示/责令纠错).
        reason: why (required).
        clock: the clock.
        deadline: by which day (its end in the office's time zone, see
            :func:`deadline_on`); default WARNING_DEADLINE_DAYS_<COLOUR> of ``settings``
            after today.
        settings: the settings (needed for a day or no deadline; without them a
            moment given is kept as it is).
        risk_point_id: the risk point it is about, if any.

    Returns:
        The warning, flushed, with its notices in the same session.

    Raises:
        PermissionDenied: the actor is not an officer, or the person is outside their scope.
        InvalidInput: unknown colour or form, empty or over-long reason, a deadline
            not in the future, an officer warning themselves.
        NotFound: no such risk point.
    """
    require_officer(actor)
    chosen_colour = parse_colour(colour)
    chosen_form = parse_form(form)
    if person.id == actor.id:
        raise InvalidInput(N_("Officers do not warn themselves; choose someone else."))
    require_in_scope(session, officer=actor, person=person)
    now = clock.now()
    text = _clean_text(reason, N_("the reason"))
    if risk_point_id is not None and session.get(RiskPoint, risk_point_id) is None:
        raise NotFound(N_("no risk point %(id)s"), id=risk_point_id)
    if deadline is None:
        if settings is None:
            raise TypeError("issue_warning needs a deadline or the settings")
        deadline = default_deadline(chosen_colour, now=now, settings=settings)
    deadline = _whole_day(deadline, settings)
    if deadline <= now:
        raise InvalidInput(N_("the deadline must be in the future"))
    warning = Warning(
        person_id=person.id or 0,
        issued_by_id=actor.id or 0,
        colour=chosen_colour,
        form=chosen_form,
        reason=text,
        risk_point_id=risk_point_id,
        deadline=deadline,
        created_at=now,
        deadline_set_at=now,
        next_step_at=now,
    )
    session.add(warning)
    session.flush()
    _audit(session, warning, actor, "issued", now, person=person.id, form=chosen_form.value)
    reach = NoticeReach.FIRST if chosen_colour is WarningColour.YELLOW else NoticeReach.EVERY
    readers = [Reader(person, NoticeRole.ADDRESSEE, reach)]
    supervisor = _supervisor(session, person)
    if chosen_colour is WarningColour.RED and supervisor is not None:
        readers.append(Reader(supervisor, NoticeRole.SUPERVISOR))
    tell(
        session,
        event=NoticeEvent.WARNING_ISSUED,
        readers=readers,
        at=now,
        actor=actor,
        warning_id=warning.id,
    )
    return warning


def _require_addressee(warning: Warning, actor: Person) -> None:
    if warning.person_id != actor.id:
        raise PermissionDenied(N_("this warning is addressed to someone else"))


def acknowledge_warning(
    session: Session, *, warning: Warning, actor: Person, clock: Clock, via: str
) -> bool:
    """The addressee acknowledges a warning; a second acknowledgement changes nothing.

    Returns:
        True when this call recorded it, False when it was already acknowledged.

    Raises:
        PermissionDenied: someone else's warning.
        IllegalTransition: the warning is withdrawn.
    """
    _require_addressee(warning, actor)
    if warning.acknowledged_at is not None and warning.status is not WarningStatus.WITHDRAWN:
        return False
    warning.status = next_status(warning, "acknowledge")
    warning.acknowledged_at = clock.now()
    session.add(warning)
    _audit(session, warning, actor, "acknowledged", warning.acknowledged_at, via=via)
    return True


def submit_rectification(
    session: Session,
    *,
    warning: Warning,
    actor: Person,
    description: str,
    evidence: list[dict[str, Any]],
    clock: Clock,
) -> Rectification:
    """The addressee reports the correction taken (整改反馈), with evidence.

    Submitting implies acknowledging.  Evidence items are dicts describing stored
    files (name, path under the data folder, type, size).  The reviewing officers
    are told: the issuer and every officer supervising the person.

    Raises:
        PermissionDenied: someone else's warning.
        IllegalTransition: nothing to correct now (closed, withdrawn, already submitted).
        InvalidInput: empty or over-long description.
    """
    _require_addressee(warning, actor)
    text = _clean_text(description, N_("the description"))
    status = next_status(warning, "submit")
    now = clock.now()
    if warning.acknowledged_at is None:
        warning.acknowledged_at = now
    warning.status = status
    rectification = Rectification(
        warning_id=warning.id or 0,
        person_id=actor.id or 0,
        description=text,
        evidence=evidence,
        submitted_at=now,
    )
    session.add(warning)
    session.add(rectification)
    session.flush()
    _audit(
        session,
        warning,
        actor,
        "submitted",
        now,
        rectification=rectification.id,
        files=len(evidence),
    )
    issuer = session.get(Person, warning.issued_by_id)
    reviewers = [issuer] if issuer is not None else []
    reviewers += supervising_officers(session, person=actor)
    tell(
        session,
        event=NoticeEvent.CORRECTION_SUBMITTED,
        readers=[Reader(officer, NoticeRole.REVIEWER) for officer in reviewers],
        at=now,
        actor=actor,
        warning_id=warning.id,
        rectification_id=rectification.id,
        data={"files": len(evidence)},
    )
    return rectification


def review_rectification(
    session: Session,
    *,
    rectification: Rectification,
    actor: Person,
    accept: bool,
    clock: Clock,
    note: str = "",
    new_deadline: date | datetime | None = None,
    settings: Settings | None = None,
) -> Warning:
    """An officer accepts a correction (the warning closes) or rejects it with a reason.

    A rejection returns the warning (已退回, 待整改: a new correction is due) with a
    new deadline: the day given, else the old one while it lies ahead, else as long
    again as the person had from the last deadline's setting.  With ``settings`` a
    new deadline is the end of its day in the office's time zone (:func:`deadline_on`).
    The person is told (with the reason and the deadline when rejected), and the
    issuer of an accepted warning when someone else reviewed it.

    Raises:
        PermissionDenied: the actor is not an officer, reviews their own correction,
            or the person is outside their supervision scope.
        IllegalTransition: the correction was already reviewed.
        InvalidInput: a rejection without a reason, or a new deadline in the past.
    """
    require_officer(actor)
    if rectification.person_id == actor.id:
        raise PermissionDenied(N_("nobody may review their own correction"))
    warning = session.get(Warning, rectification.warning_id)
    if warning is None:  # pragma: no cover - foreign key
        raise IllegalTransition(N_("the warning of this correction is gone"))
    person = _addressee(session, warning)
    require_in_scope(session, officer=actor, person=person)
    if rectification.status is not RectificationStatus.SUBMITTED:
        raise IllegalTransition(N_("this correction has already been reviewed"))
    now = clock.now()
    reason = _clean_text(note, N_("the reason"), required=not accept)
    if accept:
        warning.status = next_status(warning, "accept")
        warning.closed_at = now
        warning.next_step_at = None
        rectification.status = RectificationStatus.ACCEPTED
    else:
        warning.status = next_status(warning, "reject")
        if new_deadline is not None:
            chosen = _whole_day(new_deadline, settings)
            if chosen <= now:
                raise InvalidInput(N_("the deadline must be in the future"))
            _move_deadline(warning, chosen, now)
        elif warning.deadline <= now:
            # The deadline passed while the correction waited for review: the person
            # gets as long again as they had, rather than an escalation at once.
            window = warning.deadline - (warning.deadline_set_at or warning.created_at)
            later = now + max(window, timedelta(days=1))
            _move_deadline(warning, _whole_day(later, settings), now)
        else:
            warning.next_step_at = now  # waiting again: the follow-up plans what is left
        rectification.status = RectificationStatus.REJECTED
    rectification.reviewed_by_id = actor.id
    rectification.reviewed_at = now
    rectification.review_note = reason or None
    session.add(warning)
    session.add(rectification)
    _audit(
        session,
        warning,
        actor,
        "accepted" if accept else "rejected",
        now,
        rectification=rectification.id,
        note=reason,
    )
    readers = [Reader(person, NoticeRole.ADDRESSEE)]
    if accept:
        issuer = session.get(Person, warning.issued_by_id)
        if issuer is not None and issuer.id != actor.id:
            readers.append(Reader(issuer, NoticeRole.OFFICER))
    tell(
        session,
        event=NoticeEvent.CORRECTION_ACCEPTED if accept else NoticeEvent.CORRECTION_REJECTED,
        readers=readers,
        at=now,
        actor=actor,
        warning_id=warning.id,
        rectification_id=rectification.id,
        data={} if accept else {"reason": reason, "deadline": warning.deadline},
    )
    return warning


def withdraw_warning(
    session: Session, *, warning: Warning, actor: Person, clock: Clock, reason: str
) -> int:
    """An officer withdraws an open warning: its messages not sent yet are cancelled and
    the addressee is told why.

    Returns:
        How many pending deliveries were cancelled.

    Raises:
        PermissionDenied: the actor is not an officer, or the person is outside their scope.
        IllegalTransition: the warning is already closed or withdrawn.
        InvalidInput: an empty or over-long reason.
    """
    require_officer(actor)
    person = _addressee(session, warning)
    require_in_scope(session, officer=actor, person=person)
    text = _clean_text(reason, N_("the reason"))
    warning.status = next_status(warning, "withdraw")
    now = clock.now()
    warning.closed_at = now
    warning.next_step_at = None
    session.add(warning)
    _audit(session, warning, actor, "withdrawn", now, reason=text)
    session.flush()
    cancelled = session.exec(
        update(Delivery)
        .where(
            col(Delivery.warning_id) == warning.id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error="warning withdrawn")
    ).rowcount
    tell(
        session,
        event=NoticeEvent.WARNING_WITHDRAWN,
        readers=[Reader(person, NoticeRole.ADDRESSEE)],
        at=now,
        actor=actor,
        warning_id=warning.id,
        data={"reason": text},
    )
    return int(cancelled or 0)


#: The colour an overdue warning rises to.
NEXT_COLOUR = {WarningColour.YELLOW: WarningColour.ORANGE, WarningColour.ORANGE: WarningColour.RED}
#: The states in which a warning waits for its addressee (and so can fall overdue).
WAITING_STATES = frozenset(
    {WarningStatus.ISSUED, WarningStatus.ACKNOWLEDGED, WarningStatus.RETURNED}
)


def _move_deadline(warning: Warning, deadline: datetime, now: datetime) -> None:
    """A new deadline: its reminders start again, planned by the next follow-up."""
    warning.deadline = deadline
    warning.deadline_set_at = now
    warning.reminders_sent = 0
    warning.next_step_at = now


def escalate_warning(
    session: Session, *, warning: Warning, clock: Clock, new_deadline: datetime
) -> WarningColour:
    """An overdue warning rises one colour (yellow → orange → red) with a new deadline.

    The service does it (no actor); the audit record says from which colour to which.
    The addressee is told on every channel, their supervisor and the issuing officer
    once each.

    Returns:
        The new colour.

    Raises:
        IllegalTransition: the warning is not waiting for its addressee, is red
            already (it is flagged instead), or is not overdue.
    """
    now = clock.now()
    colour = WarningColour(warning.colour)
    target = NEXT_COLOUR.get(colour)
    if warning.status not in WAITING_STATES or target is None or warning.deadline > now:
        raise IllegalTransition(
            N_("warning W%(id)s cannot be escalated: it is %(status)s, %(colour)s"),
            id=warning.id,
            status=STATUS_LABELS[warning.status],
            colour=colour.label,
        )
    if new_deadline <= now:
        raise InvalidInput(N_("the deadline must be in the future"))
    old_deadline = warning.deadline
    warning.colour = target
    warning.escalations += 1
    _move_deadline(warning, new_deadline, now)
    session.add(warning)
    session.flush()
    record(
        session,
        at=now,
        actor_id=None,
        action="warning.escalated",
        subject_type="warning",
        subject_id=warning.id,
        data={
            "status": warning.status.value,
            "from": colour.value,
            "colour": target.value,
            "overdue_since": old_deadline,
            "deadline": new_deadline,
        },
    )
    person = _addressee(session, warning)
    readers = [Reader(person, NoticeRole.ADDRESSEE, NoticeReach.EVERY)]
    supervisor = _supervisor(session, person)
    if supervisor is not None:
        readers.append(Reader(supervisor, NoticeRole.SUPERVISOR))
    issuer = session.get(Person, warning.issued_by_id)
    if issuer is not None:
        readers.append(Reader(issuer, NoticeRole.OFFICER))
    tell(
        session,
        event=NoticeEvent.WARNING_ESCALATED,
        readers=readers,
        at=now,
        warning_id=warning.id,
        data={"from": colour, "to": target, "escalations": warning.escalations},
    )
    return target


def flag_warning(session: Session, *, warning: Warning, clock: Clock) -> bool:
    """Flag an overdue red warning for disciplinary follow-up (once); the issuing
    officer and the supervisor are told.

    Returns:
        True when this call flagged it, False when it already was.

    Raises:
        IllegalTransition: the warning is not red, not waiting, or not overdue.
    """
    if warning.flagged_at is not None:
        return False
    now = clock.now()
    colour = WarningColour(warning.colour)
    if (
        colour is not WarningColour.RED
        or warning.status not in WAITING_STATES
        or (warning.deadline > now)
    ):
        raise IllegalTransition(
            N_("warning W%(id)s cannot be flagged: it is %(status)s, %(colour)s"),
            id=warning.id,
            status=STATUS_LABELS[warning.status],
            colour=colour.label,
        )
    warning.flagged_at = now
    warning.next_step_at = None
    session.add(warning)
    session.flush()
    record(
        session,
        at=now,
        actor_id=None,
        action="warning.flagged",
        subject_type="warning",
        subject_id=warning.id,
        data={
            "status": warning.status.value,
            "colour": colour.value,
            "overdue_since": warning.deadline,
        },
    )
    person = _addressee(session, warning)
    readers = []
    issuer = session.get(Person, warning.issued_by_id)
    if issuer is not None:
        readers.append(Reader(issuer, NoticeRole.OFFICER))
    supervisor = _supervisor(session, person)
    if supervisor is not None:
        readers.append(Reader(supervisor, NoticeRole.SUPERVISOR))
    tell(session, event=NoticeEvent.WARNING_FLAGGED, readers=readers, at=now, warning_id=warning.id)
    return True
