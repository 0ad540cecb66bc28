"""Every listing, for every surface: the CLI, the officer API, the chat and the web console.

One :class:`Page` type, one row type per thing listed (:class:`PromptRow`,
:class:`WarningRow`, :class:`CorrectionRow`, :class:`DeliveryRow`,
:class:`FocusRow`), and the reads behind the officers' status and the metrics.
Each page function returns one page (``limit``/``offset``) and the total count of
what matches, so a client can page through everything.

Who looks (``viewer``) narrows what is listed, the same on every surface:

- ``None``: no narrowing (the administrator at the terminal, without ``--as``);
- an admin: everything;
- an officer: the people of the units they supervise
  (:func:`riskprompt.models.scope.scope_unit_ids`), and themselves;
- staff: only their own rows.

These only read; every change goes through the rule functions of ``models/``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, distinct, extract, func, literal_column, or_
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_, format_number, translator
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import Post, Unit
from riskprompt.models.conversations import ApiToken
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.evidence import EvidenceFile, evidence_files
from riskprompt.models.people import Channel, Person, normalise_mobile
from riskprompt.models.periods import parse_period, period_bounds
from riskprompt.models.prompts import (
    AWAITING_ACK,
    LATEST_FIRST,
    Broadcast,
    Delivery,
    DeliveryStatus,
    FocusWork,
    Prompt,
    PromptKind,
    PromptStatus,
)
from riskprompt.models.scope import require_in_scope, scope_conditions, supervised_units
from riskprompt.models.warnings import (
    OPEN_STATES,
    TRANSITIONS,
    Rectification,
    RectificationStatus,
    Warning,
    WarningColour,
    WarningStatus,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows, how many match in all, and where the page starts."""

    rows: list[T]
    total: int
    limit: int
    offset: int = 0

    @property
    def number(self) -> int:
        """Which page this is, from 1."""
        return self.offset // self.limit + 1 if self.limit else 1

    @property
    def pages(self) -> int:
        """How many pages there are (at least 1)."""
        return max(1, -(-self.total // self.limit)) if self.limit else 1


def page_offset(number: int, per_page: int) -> int:
    """Where page ``number`` (from 1) starts; below 1 means the first page."""
    return (max(number, 1) - 1) * per_page


@dataclass(frozen=True, slots=True)
class PromptRow:
    """A prompt with its reader and post."""

    prompt: Prompt
    person: Person
    post_name: str | None


@dataclass(frozen=True, slots=True)
class WarningRow:
    """A warning with its addressee and the officer who issued it."""

    warning: Warning
    person: Person
    issuer: Person


@dataclass(frozen=True, slots=True)
class CorrectionRow:
    """A correction report with its author, its warning and the reviewer (if reviewed)."""

    correction: Rectification
    warning: Warning
    person: Person
    reviewer: Person | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """A delivery in the outbox with its addressee."""

    delivery: Delivery
    person: Person


@dataclass(frozen=True, slots=True)
class FocusRow:
    """A key work with its unit's name (None: every unit) and who set it."""

    focus: FocusWork
    unit: str | None
    set_by: str


def _count(session: Session, query: Any) -> int:
    return int(session.exec(select(func.count()).select_from(query.subquery())).one())


def _paged(
    session: Session,
    query: Any,
    order: tuple[Any, ...],
    limit: int,
    offset: int,
    *,
    clamp: bool = False,
) -> tuple[list[Any], int, int]:
    """The rows of one page of ``query`` in ``order``, the total and the offset used.

    ``clamp``: an offset past the end shows the last page (the chat's pager).
    """
    total = _count(session, query)
    if clamp and total and offset >= total:
        offset = page_offset(-(-total // limit), limit)
    rows = session.exec(query.order_by(*order).limit(limit).offset(offset)).all()
    return list(rows), total, offset


# -- people by mobile (SMS replies) --------------------------------------------------------


def _mobile_numbers(mobile: str) -> list[str]:
    numbers = [mobile.strip()]
    if not numbers[0].startswith("+"):
        try:
            numbers.append(normalise_mobile(numbers[0]))
        except InvalidInput:
            pass
    return numbers


def person_and_latest_prompt_by_mobile(
    session: Session, *, mobile: str
) -> tuple[Person | None, Prompt | None]:
    """The active person with this mobile number and their latest open prompt, in one query.

    The number is in E.164, or national in China; (None, None): nobody has it.  The
    prompt is the one :func:`riskprompt.models.prompts.latest_open_prompt` finds (None: nothing
    waits for an acknowledgement); an SMS reply most often acknowledges it.
    """
    row = session.exec(
        _PERSON_AND_LATEST_PROMPT, params={"numbers": _mobile_numbers(mobile)}
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


# Built once: constructing a statement costs more than running a cached one.
_PERSON_AND_LATEST_PROMPT = (
    select(Person, Prompt)
    .outerjoin(Prompt, and_(col(Prompt.person_id) == col(Person.id), *AWAITING_ACK))
    .where(
        col(Person.mobile).in_(bindparam("numbers", expanding=True)), col(Person.active).is_(True)
    )
    .order_by(col(Person.id), *LATEST_FIRST)
    .limit(1)
)


def person_id_of(session: Session, staff_id: str) -> int | None:
    """The id of the person with ``staff_id``, or None (a filter that then matches nothing)."""
    return session.exec(select(Person.id).where(Person.staff_id == staff_id.strip())).first()


# -- one thing by its number ---------------------------------------------------------------


def get_person_by_id(session: Session, *, person_id: int) -> Person:
    """A person by id.

    Raises:
        NotFound: there is none.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(N_("This person no longer exists."))
    return person


def own_prompt(session: Session, *, person: Person, prompt_id: int) -> Prompt:
    """One of the person's prompts.

    Raises:
        NotFound: no prompt of theirs has that id.
    """
    prompt = session.get(Prompt, prompt_id)
    if prompt is None or prompt.person_id != person.id:
        raise NotFound(N_("No prompt of yours has that code."))
    return prompt


def get_warning(session: Session, *, warning_id: int) -> Warning:
    """A warning by number.

    Raises:
        NotFound: there is none.
    """
    warning = session.get(Warning, warning_id)
    if warning is None:
        raise NotFound(N_("There is no warning W%(id)s."), id=warning_id)
    return warning


def own_warning(session: Session, *, person: Person, warning_id: int) -> Warning:
    """One of the person's warnings.

    Raises:
        NotFound: no warning of theirs has that number.
    """
    warning = session.get(Warning, warning_id)
    if warning is None or warning.person_id != person.id:
        raise NotFound(N_("No warning of yours has the number W%(id)s."), id=warning_id)
    return warning


def get_rectification(session: Session, *, rectification_id: int) -> Rectification:
    """A correction report by number.

    Raises:
        NotFound: there is none.
    """
    rectification = session.get(Rectification, rectification_id)
    if rectification is None:
        raise NotFound(N_("There is no correction R%(id)s."), id=rectification_id)
    return rectification


# -- prompts -------------------------------------------------------------------------------


def _prompt_conditions(
    session: Session,
    *,
    viewer: Person | None,
    period: str | None,
    status: PromptStatus | None,
    unit_id: int | None,
    staff_id: str | None,
    person_id: int | None,
    awaiting_ack: bool,
) -> list[Any]:
    conditions = scope_conditions(session, viewer)
    if period is not None:
        conditions.append(Prompt.period == parse_period(period))
    if status is not None:
        conditions.append(Prompt.status == status)
    if unit_id is not None:
        conditions.append(Person.unit_id == unit_id)
    if staff_id is not None:
        conditions.append(Person.staff_id == staff_id.strip())
    if person_id is not None:
        conditions.append(Prompt.person_id == person_id)
    if awaiting_ack:
        conditions.extend(AWAITING_ACK)
    return conditions


def page_prompts(
    session: Session,
    *,
    viewer: Person | None = None,
    period: str | None = None,
    status: PromptStatus | None = None,
    unit_id: int | None = None,
    staff_id: str | None = None,
    person_id: int | None = None,
    awaiting_ack: bool = False,
    limit: int = 50,
    offset: int = 0,
    clamp: bool = False,
) -> Page[PromptRow]:
    """Prompts by period, status, the reader's unit and the reader, newest first.

    Args:
        session: an open session.
        viewer: who looks (see the module doc).
        period: keep one period (``YYYY-MM``).
        status: keep one status.
        unit_id: keep readers of this unit.
        staff_id: keep this reader (by staff id).
        person_id: keep this reader (by id).
        awaiting_ack: keep those waiting for an acknowledgement.
        limit: rows per page.
        offset: rows to skip.
        clamp: an offset past the end shows the last page.

    Raises:
        InvalidInput: a malformed period.
    """
    conditions = _prompt_conditions(
        session,
        viewer=viewer,
        period=period,
        status=status,
        unit_id=unit_id,
        staff_id=staff_id,
        person_id=person_id,
        awaiting_ack=awaiting_ack,
    )
    query = (
        select(Prompt, Person, Post.name)
        .join(Person, col(Person.id) == Prompt.person_id)
        .outerjoin(Post, col(Post.id) == Prompt.post_id)
        .where(*conditions)
    )
    rows, total, offset = _paged(session, query, LATEST_FIRST, limit, offset, clamp=clamp)
    return Page([PromptRow(p, person, post) for p, person, post in rows], total, limit, offset)


def count_prompts(
    session: Session,
    *,
    viewer: Person | None = None,
    period: str | None = None,
    status: PromptStatus | None = None,
    unit_id: int | None = None,
    staff_id: str | None = None,
) -> dict[PromptStatus, int]:
    """How many prompts match, per status (every status present, 0 when none).

    Raises:
        InvalidInput: a malformed period.
    """
    conditions = _prompt_conditions(
        session,
        viewer=viewer,
        period=period,
        status=status,
        unit_id=unit_id,
        staff_id=staff_id,
        person_id=None,
        awaiting_ack=False,
    )
    counted = session.exec(
        select(Prompt.status, func.count())
        .join(Person, col(Person.id) == Prompt.person_id)
        .where(*conditions)
        .group_by(Prompt.status)
    ).all()
    found = {PromptStatus(s): n for s, n in counted}
    return {s: found.get(s, 0) for s in PromptStatus}


def open_prompts(session: Session, *, person: Person, page: int, per_page: int) -> Page[PromptRow]:
    """The person's prompts waiting for an acknowledgement, newest first, one page."""
    return page_prompts(
        session,
        person_id=person.id,
        awaiting_ack=True,
        limit=per_page,
        offset=page_offset(page, per_page),
        clamp=True,
    )


# -- warnings ------------------------------------------------------------------------------


def page_warnings(
    session: Session,
    *,
    viewer: Person | None = None,
    status: WarningStatus | None = None,
    colour: WarningColour | None = None,
    staff_id: str | None = None,
    person_id: int | None = None,
    open_only: bool = False,
    by_deadline: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Page[WarningRow]:
    """Warnings by status, colour and addressee, newest first (or nearest deadline first).

    Args:
        session: an open session.
        viewer: who looks (see the module doc).
        status: keep one status.
        colour: keep one colour.
        staff_id: keep this addressee (by staff id).
        person_id: keep this addressee (by id).
        open_only: keep the open ones (issued, acknowledged, returned, submitted).
        by_deadline: nearest deadline first instead of newest first.
        limit: rows per page.
        offset: rows to skip.
    """
    issuer = aliased(Person)
    query = (
        select(Warning, Person, issuer)
        .join(Person, col(Person.id) == Warning.person_id)
        .join(issuer, col(issuer.id) == Warning.issued_by_id)
        .where(*scope_conditions(session, viewer))
    )
    if status is not None:
        query = query.where(Warning.status == status)
    if colour is not None:
        query = query.where(Warning.colour == colour)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id.strip())
    if person_id is not None:
        query = query.where(Warning.person_id == person_id)
    if open_only:
        query = query.where(col(Warning.status).in_(OPEN_STATES))
    if by_deadline:
        order = (col(Warning.deadline), col(Warning.id))
    else:
        order = (col(Warning.created_at).desc(), col(Warning.id).desc())
    rows, total, offset = _paged(session, query, order, limit, offset)
    return Page([WarningRow(w, person, by) for w, person, by in rows], total, limit, offset)


def correctable_warning(session: Session, *, person_id: int, issuer_id: int) -> int | None:
    """The oldest warning from this issuer to this person that a correction may be reported on."""
    return session.exec(
        select(Warning.id)
        .where(
            Warning.person_id == person_id,
            Warning.issued_by_id == issuer_id,
            col(Warning.status).in_(sorted(TRANSITIONS["submit"])),
        )
        .order_by(col(Warning.id))
    ).first()


def open_warnings(session: Session, *, person: Person, limit: int) -> Page[WarningRow]:
    """The person's open warnings, nearest deadline first (at most ``limit``; all counted)."""
    return page_warnings(
        session, person_id=person.id, open_only=True, by_deadline=True, limit=limit
    )


# -- corrections ---------------------------------------------------------------------------


def _corrections_query() -> Any:
    reviewer = aliased(Person)
    return (
        select(Rectification, Warning, Person, reviewer)
        .join(Warning, col(Warning.id) == Rectification.warning_id)
        .join(Person, col(Person.id) == Rectification.person_id)
        .outerjoin(reviewer, col(reviewer.id) == Rectification.reviewed_by_id)
    )


def page_corrections(
    session: Session,
    *,
    viewer: Person | None = None,
    status: RectificationStatus | None = None,
    staff_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[CorrectionRow]:
    """Correction reports by review status and author; pending ones oldest first, else newest."""
    query = _corrections_query().where(*scope_conditions(session, viewer))
    if status is not None:
        query = query.where(Rectification.status == status)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id.strip())
    # Pending reports wait in a queue: the oldest first; otherwise the newest first.
    if status is RectificationStatus.SUBMITTED:
        order = (col(Rectification.submitted_at), col(Rectification.id))
    else:
        order = (col(Rectification.submitted_at).desc(), col(Rectification.id).desc())
    rows, total, offset = _paged(session, query, order, limit, offset)
    return Page([CorrectionRow(c, w, p, r) for c, w, p, r in rows], total, limit, offset)


def warning_row(session: Session, warning_id: int) -> WarningRow | None:
    """One warning with its addressee and issuer, or None."""
    warning = session.get(Warning, warning_id)
    if warning is None:
        return None
    person = session.get(Person, warning.person_id)
    issuer = session.get(Person, warning.issued_by_id)
    assert person is not None and issuer is not None  # foreign keys
    return WarningRow(warning=warning, person=person, issuer=issuer)


def correction_row(session: Session, correction_id: int) -> CorrectionRow | None:
    """One correction report with its warning, author and reviewer, or None."""
    correction = session.get(Rectification, correction_id)
    if correction is None:
        return None
    warning = session.get(Warning, correction.warning_id)
    person = session.get(Person, correction.person_id)
    reviewer = session.get(Person, correction.reviewed_by_id) if correction.reviewed_by_id else None
    assert warning is not None and person is not None  # foreign keys
    return CorrectionRow(correction, warning, person, reviewer)


#: The steps of a warning's history, by the action of their audit record, and what each
#: is called (a reminder the follow-up skipped is not a step).
HISTORY_LABELS: dict[str, str] = {
    "warning.issued": N_("warning issued"),
    "warning.acknowledged": N_("warning acknowledged"),
    "warning.reminded": N_("reminder sent"),
    "warning.submitted": N_("correction reported"),
    "warning.accepted": N_("correction accepted"),
    "warning.rejected": N_("correction rejected"),
    "warning.escalated": N_("warning escalated"),
    "warning.flagged": N_("flagged for follow-up"),
    "warning.withdrawn": N_("warning withdrawn"),
}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of a warning's history: when, what (``label``, a msgid), who, and its data.

    ``actor`` None: the service did it (a reminder, an escalation).
    """

    at: datetime
    action: str
    label: str
    actor: Person | None
    data: dict[str, Any]

    @property
    def correction_id(self) -> int | None:
        """The correction report the step is about, if any."""
        value = self.data.get("rectification")
        return int(value) if isinstance(value, int) else None

    @property
    def note(self) -> str:
        """The reason given (a rejection's, a withdrawal's), or empty."""
        return str(self.data.get("note") or self.data.get("reason") or "")

    def notes(self, locale: str | None = None) -> list[str]:
        """What the step adds beyond its correction, for the reader: the number of files
        reported, the colours of an escalation, the reason given."""
        t = translator(locale)
        parts = []
        files = self.data.get("files")
        if self.action == "warning.submitted" and isinstance(files, int):
            parts.append(
                t.ngettext("%(n)s file", "%(n)s files", files) % {"n": format_number(files, locale)}
            )
        colours = [self.data.get("from"), self.data.get("colour")]
        if self.action == "warning.escalated" and all(
            c in WarningColour.__members__.values() for c in colours
        ):
            parts.append(" → ".join(t.gettext(WarningColour(c).label) for c in colours))
        if self.note:
            parts.append(t.gettext("reason: %(reason)s") % {"reason": self.note})
        return parts


def warning_history(session: Session, *, warning_id: int) -> list[HistoryEntry]:
    """What happened to a warning, oldest first, from its audit records."""
    events = session.exec(
        select(AuditEvent)
        .where(
            col(AuditEvent.action).in_(list(HISTORY_LABELS)),
            AuditEvent.subject_type == "warning",
            AuditEvent.subject_id == warning_id,
        )
        .order_by(col(AuditEvent.id))
    ).all()
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    actors = {
        p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(actor_ids))).all()
    }
    return [
        HistoryEntry(
            at=e.at,
            action=e.action,
            label=HISTORY_LABELS[e.action],
            actor=actors.get(e.actor_id) if e.actor_id is not None else None,
            data=dict(e.data or {}),
        )
        for e in events
    ]


@dataclass(frozen=True)
class CorrectionDetail:
    """A correction report as an officer looks at it before deciding.

    ``row``: the report, its warning, its author and its reviewer; ``issuer``: who
    issued the warning; ``history``: the warning's steps (every report on it, each
    review with its reason); ``evidence``: the files it carries.
    """

    row: CorrectionRow
    issuer: Person
    history: list[HistoryEntry]
    evidence: list[EvidenceFile]


def correction_detail(
    session: Session, *, correction_id: int, data_dir: Path, viewer: Person | None = None
) -> CorrectionDetail:
    """One correction report with its warning, the warning's history and the evidence files.

    Args:
        session: an open session.
        correction_id: the report.
        data_dir: the data folder the evidence is stored under (``DATA_DIR``).
        viewer: who looks: an officer sees the reports of their supervision scope,
            anyone else their own (None: no narrowing).

    Raises:
        NotFound: there is no such report.
        PermissionDenied: the viewer may not see it.
    """
    row = correction_row(session, correction_id)
    if row is None:
        raise NotFound(N_("There is no correction R%(id)s."), id=correction_id)
    if viewer is not None and viewer.id != row.person.id:
        if not viewer.is_officer:
            raise PermissionDenied(N_("this correction report is someone else's"))
        require_in_scope(session, officer=viewer, person=row.person)
    issuer = get_person_by_id(session, person_id=row.warning.issued_by_id)
    return CorrectionDetail(
        row=row,
        issuer=issuer,
        history=warning_history(session, warning_id=row.warning.id or 0),
        evidence=evidence_files(data_dir, list(row.correction.evidence)),
    )


def _review_queue(session: Session, officer: Person) -> list[Any]:
    """Conditions on (Rectification, Person) for the corrections waiting for ``officer``.

    The people of their scope; nobody is shown their own corrections (the domain
    refuses to let them review one).
    """
    return [
        Rectification.status == RectificationStatus.SUBMITTED,
        Rectification.person_id != officer.id,
        *scope_conditions(session, officer, own=False),
    ]


def next_correction(
    session: Session, *, officer: Person, after_id: int = 0
) -> tuple[Rectification | None, int]:
    """The first correction waiting for the officer's review after ``after_id``, and how many wait.

    Oldest first; ``after_id`` skips those already shown (the "next" button), going
    back to the oldest when none is left after it.
    """
    conditions = _review_queue(session, officer)
    base = (
        select(Rectification)
        .join(Person, col(Person.id) == Rectification.person_id)
        .where(*conditions)
    )
    waiting = _count(session, base)
    ordered = base.order_by(col(Rectification.id))
    found = session.exec(ordered.where(col(Rectification.id) > after_id).limit(1)).first()
    if found is None and after_id:
        found = session.exec(ordered.limit(1)).first()
    return found, waiting


def page_review_queue(
    session: Session,
    *,
    officer: Person,
    extra: Sequence[Any] = (),
    limit: int = 50,
    offset: int = 0,
) -> Page[CorrectionRow]:
    """One page of the corrections waiting for ``officer``'s review, oldest first.

    The queue is :func:`next_correction`'s; ``extra`` narrows it further (conditions
    on the author, :class:`Person`: a unit, a name).
    """
    query = _corrections_query().where(*_review_queue(session, officer), *extra)
    order = (col(Rectification.submitted_at), col(Rectification.id))
    rows, total, offset = _paged(session, query, order, limit, offset)
    return Page([CorrectionRow(c, w, p, r) for c, w, p, r in rows], total, limit, offset)


def correction_for_review(
    session: Session, *, officer: Person, correction_id: int
) -> Rectification:
    """A correction an officer opens to review (from a notice's button, a link...).

    Raises:
        NotFound: there is none.
        PermissionDenied: its author is outside the officer's supervision scope.
    """
    correction = get_rectification(session, rectification_id=correction_id)
    author = get_person_by_id(session, person_id=correction.person_id)
    require_in_scope(session, officer=officer, person=author)
    return correction


# -- deliveries ----------------------------------------------------------------------------


def _delivery_conditions(
    session: Session, viewer: Person | None, failed_only: bool, channel: Channel | None
) -> list[Any]:
    conditions = scope_conditions(session, viewer)
    if failed_only:
        conditions.append(col(Delivery.status) == DeliveryStatus.FAILED)
    if channel is not None:
        conditions.append(col(Delivery.channel) == channel.value)
    return conditions


def page_deliveries(
    session: Session,
    *,
    viewer: Person | None = None,
    failed_only: bool = False,
    channel: Channel | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[DeliveryRow]:
    """The most recent deliveries with their addressee, newest first.

    Args:
        session: an open session.
        viewer: who looks (see the module doc).
        failed_only: only the failed ones (what officers must look at).
        channel: only this channel.
        limit: rows per page.
        offset: rows to skip.
    """
    query = (
        select(Delivery, Person)
        .join(Person, col(Person.id) == col(Delivery.person_id))
        .where(*_delivery_conditions(session, viewer, failed_only, channel))
    )
    rows, total, offset = _paged(session, query, (col(Delivery.id).desc(),), limit, offset)
    return Page([DeliveryRow(d, p) for d, p in rows], total, limit, offset)


def count_deliveries(
    session: Session,
    *,
    viewer: Person | None = None,
    failed_only: bool = False,
    channel: Channel | None = None,
) -> Counter[tuple[str, str]]:
    """How many deliveries there are per (status value, channel value)."""
    query = (
        select(Delivery.status, Delivery.channel, func.count())
        .join(Person, col(Person.id) == col(Delivery.person_id))
        .where(*_delivery_conditions(session, viewer, failed_only, channel))
        .group_by(col(Delivery.status), col(Delivery.channel))
    )
    counts: Counter[tuple[str, str]] = Counter()
    for status, channel_name, n in session.exec(query).all():
        counts[(DeliveryStatus(status).value, channel_name)] += n
    return counts


# -- key work, tokens ----------------------------------------------------------------------


def list_focus(session: Session, *, period: str | None = None) -> list[FocusRow]:
    """The key work set, newest period first; ``period`` keeps one period.

    Raises:
        InvalidInput: a malformed period.
    """
    query = (
        select(FocusWork, Unit.name, Person.name)
        .outerjoin(Unit, col(Unit.id) == FocusWork.unit_id)
        .join(Person, col(Person.id) == FocusWork.set_by_id)
        .order_by(
            col(FocusWork.period).desc(), col(FocusWork.unit_id).nulls_first(), col(FocusWork.id)
        )
    )
    if period is not None:
        query = query.where(FocusWork.period == parse_period(period))
    return [FocusRow(focus, unit, setter) for focus, unit, setter in session.exec(query).all()]


def list_tokens(session: Session, *, staff_id: str | None = None) -> list[tuple[ApiToken, Person]]:
    """API tokens (never the secrets) with their holders, newest first."""
    query = select(ApiToken, Person).join(Person, col(Person.id) == ApiToken.person_id)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id.strip())
    return list(session.exec(query.order_by(col(ApiToken.id).desc())).all())


# -- the officers' status ------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeStatus:
    """This month's acknowledgements (counted in people) and the open warnings of a scope.

    ``units``: the units named in the officer's scope (each with its subtree);
    None: every unit.
    """

    units: list[str] | None
    people: int
    since: datetime
    prompted: int
    acknowledged: int
    waiting: int
    open_warnings: int
    overdue_warnings: int
    corrections_waiting: int

    @property
    def rate(self) -> float:
        """The share of the people prompted this month who acknowledged all (0 when none)."""
        return self.acknowledged / self.prompted if self.prompted else 0.0


def month_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of the month ``now`` falls in, in ``zone``."""
    local = now.astimezone(zone)
    return datetime.combine(local.date().replace(day=1), time(0), tzinfo=zone)


def scope_status(
    session: Session, *, officer: Person, now: datetime, zone: ZoneInfo
) -> ScopeStatus:
    """The people of the officer's scope: how many, how many were prompted this month and
    how many have not acknowledged yet; their open and overdue warnings; the corrections
    waiting for the officer's review.

    A person counts once however many prompts they have: acknowledged means every
    prompt of theirs this month is; waiting means one at least is not.
    """
    since = month_start(now, zone)
    within = scope_conditions(session, officer, own=False)
    people = session.exec(
        select(func.count()).select_from(Person).where(col(Person.active).is_(True), *within)
    ).one()
    this_month = (
        col(Prompt.requires_ack).is_(True),
        col(Prompt.created_at) >= since,
        Prompt.status != PromptStatus.CANCELLED,
        *within,
    )
    prompted_people = (
        select(func.count(distinct(Prompt.person_id)))
        .select_from(Prompt)
        .join(Person, col(Person.id) == Prompt.person_id)
    )
    prompted = session.exec(prompted_people.where(*this_month)).one()
    waiting = session.exec(
        prompted_people.where(*this_month, Prompt.status == PromptStatus.OPEN)
    ).one()
    warnings = (
        select(func.count())
        .select_from(Warning)
        .join(Person, col(Person.id) == Warning.person_id)
        .where(col(Warning.status).in_(OPEN_STATES), *within)
    )
    open_count = session.exec(warnings).one()
    overdue = session.exec(warnings.where(Warning.deadline < now)).one()
    _, corrections = next_correction(session, officer=officer)
    roots = supervised_units(session, officer=officer)
    return ScopeStatus(
        units=None if roots is None else [u.name for u in roots],
        people=int(people),
        since=since,
        prompted=int(prompted),
        acknowledged=int(prompted) - int(waiting),
        waiting=int(waiting),
        open_warnings=int(open_count),
        overdue_warnings=int(overdue),
        corrections_waiting=corrections,
    )


# -- metrics -------------------------------------------------------------------------------

#: Upper bounds of the acknowledgement latency buckets, in seconds: 1 min to 7 days.
ACK_BUCKETS: tuple[float, ...] = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    3 * 86400,
    7 * 86400,
)


@dataclass
class MetricsSnapshot:
    """The service's figures at one moment, for ``/metrics`` (no personal data)."""

    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)
    due: dict[str, int] = field(default_factory=dict)
    oldest_due_age: float = 0.0
    in_flight: int = 0
    ack_buckets: list[int] = field(default_factory=list)  # cumulative, one per ACK_BUCKETS
    ack_count: int = 0
    ack_sum: float = 0.0
    open_prompts: int = 0
    warnings: dict[tuple[str, str], int] = field(default_factory=dict)
    escalations: int = 0


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in seconds, in the dialect's own date arithmetic."""
    if dialect == "postgresql":
        return extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _aware(moment: datetime | str) -> datetime:
    """A moment from an aggregate (SQLite gives it back as text or naive) as aware UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo("UTC"))


def metrics_snapshot(session: Session, *, now: datetime) -> MetricsSnapshot:
    """Every figure of ``/metrics``, in a handful of aggregate queries.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database did not answer.
    """
    snap = MetricsSnapshot()
    for channel, status, n in session.exec(
        select(Delivery.channel, Delivery.status, func.count()).group_by(
            col(Delivery.channel), col(Delivery.status)
        )
    ).all():
        snap.deliveries[(channel, DeliveryStatus(status).value)] = int(n)
    snap.in_flight = sum(
        n for (_, status), n in snap.deliveries.items() if status == DeliveryStatus.SENDING
    )
    due = (col(Delivery.status) == DeliveryStatus.PENDING, col(Delivery.due_at) <= now)
    for channel, n in session.exec(
        select(Delivery.channel, func.count()).where(*due).group_by(col(Delivery.channel))
    ).all():
        snap.due[channel] = int(n)
    oldest = session.exec(select(func.min(Delivery.due_at)).where(*due)).one()
    if oldest is not None:
        snap.oldest_due_age = max(0.0, (now - _aware(oldest)).total_seconds())

    dialect = session.get_bind().dialect.name
    latency = _seconds_between(dialect, col(Prompt.created_at), col(Prompt.acknowledged_at))
    acknowledged = col(Prompt.acknowledged_at).is_not(None)
    # One pass over the acknowledged prompts: count, sum and each bucket's count.
    within = [func.coalesce(func.sum(case((latency <= b, 1), else_=0)), 0) for b in ACK_BUCKETS]
    row = session.exec(
        select(func.count(), func.coalesce(func.sum(latency), 0.0), *within).where(acknowledged)
    ).one()
    snap.ack_count, snap.ack_sum = int(row[0]), float(row[1])
    snap.ack_buckets = [int(n) for n in row[2:]]
    snap.open_prompts = int(
        session.exec(
            select(func.count()).where(
                col(Prompt.status) == PromptStatus.OPEN, col(Prompt.requires_ack)
            )
        ).one()
    )
    for colour, status, n, steps in session.exec(
        select(
            Warning.colour,
            Warning.status,
            func.count(),
            func.coalesce(func.sum(Warning.escalations), 0),
        ).group_by(col(Warning.colour), col(Warning.status))
    ).all():
        snap.warnings[(str(colour), str(status))] = int(n)
        snap.escalations += int(steps)
    return snap


# -- the officers' list of people who have not acknowledged -------------------------------


@dataclass(frozen=True, slots=True)
class UnacknowledgedPerson:
    """A person of an officer's scope who has not acknowledged, named once however many
    prompts wait for them.

    Attributes:
        person / unit: who, and the name of their unit.
        posts: the posts of the prompts waiting (a special prompt has none), in order.
        prompt_ids: the prompts waiting, oldest first.
        reminders: the most reminders sent about any one of them.
        last_channel: the channel of the last message sent about them (None: none sent yet).
        last_sent_at: when it was sent.
        since: when the oldest prompt waiting was made (how long they have been waiting).
        latest_channel / latest_status / latest_at: the latest delivery about them,
            whatever became of it (pending, sent, failed...), and when it last moved
            (sent, last tried, or queued); None: no delivery.
    """

    person: Person
    unit: str
    posts: list[str]
    prompt_ids: list[int]
    reminders: int
    last_channel: Channel | None
    last_sent_at: datetime | None
    since: datetime | None = None
    latest_channel: Channel | None = None
    latest_status: DeliveryStatus | None = None
    latest_at: datetime | None = None


def unindexed(session: Session, column: Any) -> Any:
    """``column`` as an expression SQLite cannot look up by index (``column + 0``).

    Joining a period's prompts to their readers, SQLite's planner prefers to walk every
    person and look up their prompts by ``ix_prompt_person_id`` (ten times slower on a
    city with a year of prompts than reading the period's prompts by ``ix_prompt_period``
    and each reader by id); ``+ 0`` rules that index out.  PostgreSQL plans well alone.
    """
    if session.get_bind().dialect.name == "sqlite":
        return column + literal_column("0")
    return column


def prompts_of_period(period: str, start: datetime, end: datetime) -> Any:
    """SQL: the prompts of ``period``, as the assessment counts them.

    A monthly prompt by its ``period``; a special prompt by the local month it was sent
    in, which the planner writes in its ``period`` too (one without a period is read
    by its ``created_at`` between ``start`` and ``end``, the period's bounds).
    """
    return or_(
        col(Prompt.period) == period,
        and_(
            col(Prompt.period).is_(None),
            col(Prompt.kind) == PromptKind.SPECIAL,
            col(Prompt.created_at) >= start,
            col(Prompt.created_at) < end,
        ),
    )


def period_window(period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of ``period`` and of the month after, in ``zone``.

    Raises:
        InvalidInput: a malformed period.
    """
    first, last = period_bounds(period)
    return (
        datetime.combine(first, time(0), tzinfo=zone),
        datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone),
    )


#: The longest name or staff-ID search accepted.
MAX_SEARCH = 100


def person_search(search: str | None) -> list[Any]:
    """Conditions keeping the people whose name or staff ID holds ``search`` (any case).

    Raises:
        InvalidInput: a search longer than :data:`MAX_SEARCH`.
    """
    needle = (search or "").strip()
    if not needle:
        return []
    if len(needle) > MAX_SEARCH:
        raise InvalidInput(N_("the search is longer than %(n)s characters"), n=MAX_SEARCH)
    return [
        or_(
            col(Person.name).contains(needle, autoescape=True),
            func.lower(col(Person.staff_id)).contains(needle.lower(), autoescape=True),
        )
    ]


def unacknowledged_people(
    session: Session,
    *,
    officer: Person,
    now: datetime,
    zone: ZoneInfo,
    period: str | None = None,
    unit_ids: Sequence[int] | frozenset[int] | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[UnacknowledgedPerson]:
    """The people of the officer's scope with a prompt not acknowledged: one row each,
    the longest waiting first, one page (all counted; an offset past the end shows the
    last page).

    Args:
        session: an open session.
        officer: who looks (their supervision scope, without their own rows).
        now / zone: "this month" when no period is given.
        period: the prompts of this period (:func:`prompts_of_period`); None: the
            prompts made this month, those of :func:`scope_status` (whose ``waiting``
            is then this page's ``total``).
        unit_ids: keep the people of these units (a unit with those below it:
            :func:`riskprompt.models.overview.unit_in_scope`).
        search: keep the people whose name or staff ID holds this.
        limit: people per page.
        offset: people to skip.

    Raises:
        InvalidInput: a malformed period, a search too long.
    """
    if period is None:
        window: Any = col(Prompt.created_at) >= month_start(now, zone)
    else:
        period = parse_period(period)
        window = prompts_of_period(period, *period_window(period, zone))
    of_people = [*scope_conditions(session, officer, own=False), *person_search(search)]
    if unit_ids is not None:
        of_people.append(col(Person.unit_id).in_(sorted(unit_ids)))
    reader = unindexed(session, col(Prompt.person_id))  # the period's prompts drive the plan
    waiting = select(
        reader.label("person_id"),
        func.min(Prompt.created_at).label("since"),
        func.min(Prompt.id).label("first"),
    ).where(*AWAITING_ACK, window, *of_people)
    if of_people:  # the readers are read only to narrow them (not for every unit)
        waiting = waiting.join(Person, col(Person.id) == reader)
    grouped_by = waiting.group_by(reader).subquery()
    offset = max(offset, 0)

    def page_at(start: int) -> list[tuple[int, int]]:
        """The page's people and (on each row) how many there are in all: one pass."""
        return [
            (int(person_id), int(total))
            for person_id, total in session.exec(
                select(grouped_by.c.person_id, func.count().over())
                .order_by(grouped_by.c.since, grouped_by.c.first, grouped_by.c.person_id)
                .limit(limit)
                .offset(start)
            ).all()
        ]

    found = page_at(offset)
    if found:
        total = found[0][1]
    else:  # nobody, or past the end: count them, and show the last page
        total = int(session.exec(select(func.count()).select_from(grouped_by)).one())
        if total:
            offset = page_offset(-(-total // limit), limit)
            found = page_at(offset)
    person_ids = [person_id for person_id, _total in found]
    grouped: dict[int, tuple[Person, str, list[Prompt], list[str]]] = {}
    for prompt, person, unit, post in session.exec(
        select(Prompt, Person, Unit.name, Post.name)
        .join(Person, col(Person.id) == Prompt.person_id)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .outerjoin(Post, col(Post.id) == Prompt.post_id)
        .where(*AWAITING_ACK, window, col(Prompt.person_id).in_(person_ids))
        .order_by(col(Prompt.created_at), col(Prompt.id))
    ).all():
        _person, _unit, prompts, posts = grouped.setdefault(person.id or 0, (person, unit, [], []))
        prompts.append(prompt)
        if post and post not in posts:
            posts.append(post)
    shown = [grouped[person_id] for person_id in person_ids if person_id in grouped]
    prompt_ids = [p.id for _person, _unit, prompts, _posts in shown for p in prompts]
    last: dict[int, tuple[str, datetime]] = {}
    latest: dict[int, tuple[str, DeliveryStatus, datetime]] = {}
    steps: dict[int, set[object]] = {}  # prompt id → the reminders sent about it
    about = session.exec(
        select(
            Delivery.prompt_id,
            Delivery.person_id,
            Delivery.channel,
            Delivery.status,
            Delivery.sent_at,
            Delivery.last_attempt_at,
            Delivery.created_at,
            Delivery.extra,
        )
        .where(col(Delivery.prompt_id).in_(prompt_ids))
        .order_by(col(Delivery.id))
    ).all()
    for prompt_id, person_id, channel_name, state, sent_at, tried, queued, extra in about:
        status = DeliveryStatus(state)
        latest[person_id] = (channel_name, status, sent_at or tried or queued)
        if status is not DeliveryStatus.SENT or sent_at is None:
            continue
        if person_id not in last or sent_at >= last[person_id][1]:
            last[person_id] = (channel_name, sent_at)
        if (extra or {}).get("reminder") is not None:
            steps.setdefault(prompt_id or 0, set()).add(extra["reminder"])
    rows = []
    for person, unit, prompts, posts in shown:
        channel_name, sent_at = last.get(person.id or 0, (None, None))
        latest_channel, latest_status, latest_at = latest.get(person.id or 0, (None, None, None))
        rows.append(
            UnacknowledgedPerson(
                person=person,
                unit=unit,
                posts=posts,
                prompt_ids=[p.id or 0 for p in prompts],
                reminders=max(len(steps.get(p.id or 0, ())) for p in prompts),
                last_channel=Channel(channel_name) if channel_name else None,
                last_sent_at=sent_at,
                since=prompts[0].created_at,
                latest_channel=Channel(latest_channel) if latest_channel else None,
                latest_status=latest_status,
                latest_at=latest_at,
            )
        )
    return Page(rows, total, limit, offset)


# -- special prompts an officer issued (the console's composer) ----------------------------


def page_broadcasts(
    session: Session,
    *,
    issuer: Person,
    limit: int,
    offset: int = 0,
    ids: list[int] | None = None,
) -> Page[Broadcast]:
    """The special prompts ``issuer`` issued, newest first (``ids``: only those of them)."""
    query = select(Broadcast).where(Broadcast.issued_by_id == issuer.id)
    if ids is not None:
        query = query.where(col(Broadcast.id).in_(ids))
    rows, total, offset = _paged(
        session, query, (col(Broadcast.created_at).desc(), col(Broadcast.id).desc()), limit, offset
    )
    return Page(rows, total, limit, offset)
