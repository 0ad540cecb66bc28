"""The officers' desk in the web console: warnings and corrections within their scope.

What the console's warnings page (预警) and corrections page (整改审核) read:

- :func:`warning_desk`: one page of the warnings of the officer's supervision scope,
  overdue first, each with its countdown (:class:`Countdown`), and how many there
  are of each colour;
- :func:`warning_detail`: one warning with its history, corrections and messages;
- :func:`correction_desk` / :func:`correction_for_officer` / :func:`evidence_of`:
  the corrections waiting for the officer's review, oldest first, one of them, and
  one of its evidence files;
- :func:`find_person` and :func:`risk_point_in_scope`: whom and which risk point
  an officer's form names.

Everything is narrowed to the officer's supervision scope
(:mod:`riskprompt.models.scope`), and what lies outside it is answered as not found:
a guessed number of another unit's warning, correction or file says nothing about
it, not even that it exists.  These only read; the decisions go through
:mod:`riskprompt.models.warnings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import Post, RiskPoint, Unit
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.evidence import EvidenceFile
from riskprompt.models.listings import (
    CorrectionDetail,
    CorrectionRow,
    DeliveryRow,
    HistoryEntry,
    Page,
    WarningRow,
    correction_detail,
    correction_row,
    page_review_queue,
    warning_history,
    warning_row,
)
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery
from riskprompt.models.scope import in_scope, scope_conditions, scope_unit_ids, sub_units
from riskprompt.models.warnings import (
    OPEN_STATES,
    Rectification,
    Warning,
    WarningColour,
    WarningStatus,
)

#: The most people a name that several share is answered with.
MAX_NAMESAKES = 8
#: The longest search text taken (a name or a staff ID is far shorter).
MAX_SEARCH = 100


@dataclass(frozen=True, slots=True)
class Countdown:
    """How a warning's deadline stands, in whole days of the office's calendar.

    Attributes:
        days: days left (0: due today) or, when ``overdue``, days since the
            deadline's day (0: it passed earlier today).
        overdue: the deadline has passed.
    """

    days: int
    overdue: bool


def countdown(warning: Warning, *, now: datetime, zone: ZoneInfo) -> Countdown | None:
    """The countdown of an open warning's deadline; None once it is closed or withdrawn."""
    if warning.status not in OPEN_STATES:
        return None
    today = now.astimezone(zone).date()
    due = warning.deadline.astimezone(zone).date()
    if warning.deadline < now:
        return Countdown(days=max(0, (today - due).days), overdue=True)
    return Countdown(days=(due - today).days, overdue=False)


@dataclass(frozen=True, slots=True)
class DeskWarning:
    """A warning as the desk lists it: with its addressee's unit and its countdown."""

    row: WarningRow
    unit: str
    countdown: Countdown | None


@dataclass(frozen=True, slots=True)
class WarningDesk:
    """One page of warnings and how many match of each colour (the other filters kept)."""

    page: Page[DeskWarning]
    by_colour: dict[WarningColour, int]


def _clean_search(text: str | None) -> str:
    value = (text or "").strip()
    if len(value) > MAX_SEARCH:
        raise InvalidInput(
            N_("%(what)s is longer than %(max)s characters"), what=N_("the search"), max=MAX_SEARCH
        )
    return value


def _narrowing(session: Session, *, unit_id: int | None, search: str | None) -> list[Any]:
    """Conditions on :class:`Person`: of this unit (with its subtree), named like ``search``
    (part of the name, or the whole staff ID)."""
    conditions: list[Any] = []
    if unit_id is not None:
        conditions.append(col(Person.unit_id).in_(sorted(sub_units(session, [unit_id]))))
    text = _clean_search(search)
    if text:
        conditions.append(
            or_(
                col(Person.name).contains(text, autoescape=True),
                func.upper(col(Person.staff_id)) == text.upper(),
            )
        )
    return conditions


def warning_desk(
    session: Session,
    *,
    officer: Person,
    now: datetime,
    zone: ZoneInfo,
    colour: WarningColour | None = None,
    status: WarningStatus | None = None,
    open_only: bool = False,
    overdue_only: bool = False,
    unit_id: int | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> WarningDesk:
    """The warnings to the people of the officer's scope: overdue first (the longest
    overdue first), then the open ones by nearest deadline, then the closed and
    withdrawn ones, newest first.

    Args:
        session: an open session.
        officer: who looks (an officer or admin; their own warnings are not listed).
        now: the moment the countdowns count from.
        zone: the office's time zone (the days of a countdown).
        colour: keep one colour.
        status: keep one state.
        open_only: keep the open ones (issued, acknowledged, returned, submitted).
        overdue_only: keep the open ones past their deadline.
        unit_id: keep the people of this unit and the units below it.
        search: keep the people whose name holds it, or whose staff ID it is.
        limit: rows per page.
        offset: rows to skip.

    Raises:
        InvalidInput: an over-long search.
    """
    is_open = col(Warning.status).in_(OPEN_STATES)
    is_overdue = and_(is_open, col(Warning.deadline) < now)
    conditions = [
        *scope_conditions(session, officer, own=False),
        *_narrowing(session, unit_id=unit_id, search=search),
    ]
    if status is not None:
        conditions.append(col(Warning.status) == status)
    if open_only:
        conditions.append(is_open)
    if overdue_only:
        conditions.append(is_overdue)
    counted = session.exec(
        select(Warning.colour, func.count())
        .join(Person, col(Person.id) == Warning.person_id)
        .where(*conditions)
        .group_by(col(Warning.colour))
    ).all()
    found = {WarningColour(c): int(n) for c, n in counted}
    by_colour = {
        c: found.get(c, 0) for c in (WarningColour.RED, WarningColour.ORANGE, WarningColour.YELLOW)
    }
    if colour is not None:
        conditions.append(col(Warning.colour) == colour)
    issuer = aliased(Person)
    query = (
        select(Warning, Person, issuer, Unit.name)
        .join(Person, col(Person.id) == Warning.person_id)
        .join(issuer, col(issuer.id) == Warning.issued_by_id)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(*conditions)
    )
    total = by_colour[colour] if colour is not None else sum(by_colour.values())
    order = (
        case((is_overdue, 0), (is_open, 1), else_=2),
        case((is_open, col(Warning.deadline)), else_=None),
        col(Warning.created_at).desc(),
        col(Warning.id).desc(),
    )
    rows = session.exec(query.order_by(*order).limit(limit).offset(offset)).all()
    listed = [
        DeskWarning(
            row=WarningRow(warning=w, person=p, issuer=by),
            unit=unit,
            countdown=countdown(w, now=now, zone=zone),
        )
        for w, p, by, unit in rows
    ]
    return WarningDesk(page=Page(listed, total, limit, offset), by_colour=by_colour)


def unit_name(session: Session, unit_id: int) -> str:
    """The name of a unit (empty when there is none)."""
    unit = session.get(Unit, unit_id)
    return unit.name if unit is not None else ""


@dataclass(frozen=True)
class WarningDetail:
    """A warning as an officer opens it.

    Attributes:
        row: the warning, its addressee and its issuer.
        unit: the addressee's unit.
        risk_point: the risk point it concerns, if any.
        countdown: how its deadline stands (None: closed or withdrawn).
        history: its steps, oldest first (:func:`~riskprompt.models.listings.warning_history`).
        corrections: the corrections reported on it, oldest first.
        messages: the messages queued about it, with their readers, in order.
    """

    row: WarningRow
    unit: str
    risk_point: RiskPoint | None
    countdown: Countdown | None
    history: list[HistoryEntry]
    corrections: list[Rectification]
    messages: list[DeliveryRow]

    @property
    def is_open(self) -> bool:
        """Whether it may still be withdrawn."""
        return self.row.warning.status in OPEN_STATES


def _no_warning(warning_id: int) -> NotFound:
    return NotFound(N_("There is no warning W%(id)s."), id=warning_id)


def warning_detail(
    session: Session, *, officer: Person, warning_id: int, now: datetime, zone: ZoneInfo
) -> WarningDetail:
    """One warning of the officer's scope, with its history, corrections and messages.

    Raises:
        NotFound: there is none, or its addressee is outside the officer's scope.
    """
    row = warning_row(session, warning_id)
    if row is None or not in_scope(session, officer=officer, person=row.person):
        raise _no_warning(warning_id)
    warning = row.warning
    risk_point = session.get(RiskPoint, warning.risk_point_id) if warning.risk_point_id else None
    corrections = session.exec(
        select(Rectification)
        .where(col(Rectification.warning_id) == warning_id)
        .order_by(col(Rectification.id))
    ).all()
    messages = session.exec(
        select(Delivery, Person)
        .join(Person, col(Person.id) == col(Delivery.person_id))
        .where(col(Delivery.warning_id) == warning_id)
        .order_by(col(Delivery.id))
    ).all()
    return WarningDetail(
        row=row,
        unit=unit_name(session, row.person.unit_id),
        risk_point=risk_point,
        countdown=countdown(warning, now=now, zone=zone),
        history=warning_history(session, warning_id=warning_id),
        corrections=list(corrections),
        messages=[DeliveryRow(d, p) for d, p in messages],
    )


def warning_in_scope(session: Session, *, officer: Person, warning_id: int) -> Warning:
    """A warning of the officer's scope (to withdraw it).

    Raises:
        NotFound: there is none, or its addressee is outside the officer's scope.
    """
    row = warning_row(session, warning_id)
    if row is None or not in_scope(session, officer=officer, person=row.person):
        raise _no_warning(warning_id)
    return row.warning


# -- whom and what a form names ------------------------------------------------------------


class Namesakes(InvalidInput):
    """Several people of the scope have the name given: ``people`` lists them as
    (staff ID, name)."""

    def __init__(self, message: str, *, people: list[tuple[str, str]], **params: object) -> None:
        super().__init__(message, **params)
        self.people = people


def find_person(session: Session, *, officer: Person, ref: str) -> Person:
    """The person of the officer's scope a form names: by staff ID, else by full name.

    Raises:
        InvalidInput: nothing given.
        Namesakes: several active people of the scope have that name.
        NotFound: nobody of the scope has that staff ID or name (whether someone
            outside it has is not said).
    """
    text = ref.strip()
    if not text:
        raise InvalidInput(N_("Enter the staff ID or the name of the person."))
    if len(text) > MAX_SEARCH:
        raise NotFound(
            N_("Nobody in your supervision scope has the staff ID or name %(ref)s."),
            ref=text[:MAX_SEARCH],
        )
    within = scope_conditions(session, officer, own=False)
    by_staff_id = session.exec(
        select(Person).where(func.upper(col(Person.staff_id)) == text.upper(), *within)
    ).first()
    if by_staff_id is not None:
        return by_staff_id
    named = session.exec(
        select(Person)
        .where(col(Person.name) == text, col(Person.active).is_(True), *within)
        .order_by(col(Person.staff_id))
        .limit(MAX_NAMESAKES)
    ).all()
    if len(named) == 1:
        return named[0]
    if named:
        raise Namesakes(
            N_("Several people in your supervision scope are called %(name)s: enter a staff ID."),
            people=[(p.staff_id, p.name) for p in named],
            name=text,
        )
    raise NotFound(
        N_("Nobody in your supervision scope has the staff ID or name %(ref)s."), ref=text
    )


def risk_point_in_scope(session: Session, *, officer: Person, risk_point_id: int) -> RiskPoint:
    """A risk point of a post of the officer's scope.

    Raises:
        NotFound: there is none (or it belongs to a unit outside the scope).
    """
    found = session.exec(
        select(RiskPoint, Post.unit_id)
        .join(Post, col(Post.id) == RiskPoint.post_id)
        .where(col(RiskPoint.id) == risk_point_id)
    ).first()
    units = scope_unit_ids(session, officer=officer)
    if found is None or (units is not None and found[1] not in units):
        raise NotFound(
            N_("There is no risk point %(id)s in your supervision scope."), id=risk_point_id
        )
    return found[0]


# -- corrections to review -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeskCorrection:
    """A correction waiting for review, with its author's unit."""

    row: CorrectionRow
    unit: str


def correction_desk(
    session: Session,
    *,
    officer: Person,
    unit_id: int | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[DeskCorrection]:
    """The corrections waiting for the officer's review, oldest first.

    Args:
        session: an open session.
        officer: who reviews (their own corrections are not listed).
        unit_id: keep the authors of this unit and the units below it.
        search: keep the authors whose name holds it, or whose staff ID it is.
        limit: rows per page.
        offset: rows to skip.

    Raises:
        InvalidInput: an over-long search.
    """
    page = page_review_queue(
        session,
        officer=officer,
        extra=_narrowing(session, unit_id=unit_id, search=search),
        limit=limit,
        offset=offset,
    )
    unit_ids = {row.person.unit_id for row in page.rows}
    names = dict(
        session.exec(select(Unit.id, Unit.name).where(col(Unit.id).in_(sorted(unit_ids)))).all()
    )
    rows = [DeskCorrection(row, names.get(row.person.unit_id, "")) for row in page.rows]
    return Page(rows, page.total, page.limit, page.offset)


@dataclass(frozen=True)
class CorrectionView:
    """A correction as an officer opens it: :class:`~riskprompt.models.listings.CorrectionDetail`
    with its author's unit."""

    detail: CorrectionDetail
    unit: str


def _no_correction(correction_id: int) -> NotFound:
    return NotFound(N_("There is no correction R%(id)s."), id=correction_id)


def correction_for_officer(
    session: Session, *, officer: Person, correction_id: int, data_dir: Path
) -> CorrectionView:
    """One correction of the officer's scope, its warning, history and evidence.

    Raises:
        NotFound: there is none, or its author is outside the officer's scope.
    """
    row = correction_row(session, correction_id)
    if row is None or not in_scope(session, officer=officer, person=row.person):
        raise _no_correction(correction_id)
    detail = correction_detail(
        session, correction_id=correction_id, data_dir=data_dir, viewer=officer
    )
    return CorrectionView(detail=detail, unit=unit_name(session, row.person.unit_id))


def evidence_of(
    session: Session, *, officer: Person, correction_id: int, number: int, data_dir: Path
) -> EvidenceFile:
    """The ``number``-th (from 1) evidence file of a correction of the officer's scope.

    Raises:
        NotFound: no such correction in the scope, no such file, or it is not stored
            (missing, or recorded outside the evidence folder).
    """
    files = correction_for_officer(
        session, officer=officer, correction_id=correction_id, data_dir=data_dir
    ).detail.evidence
    if not 1 <= number <= len(files) or not files[number - 1].present:
        raise NotFound(
            N_("Correction R%(id)s has no file %(number)s."), id=correction_id, number=number
        )
    return files[number - 1]


__all__ = [
    "CorrectionView",
    "Countdown",
    "DeskCorrection",
    "DeskWarning",
    "Namesakes",
    "WarningDesk",
    "WarningDetail",
    "correction_desk",
    "correction_for_officer",
    "countdown",
    "evidence_of",
    "find_person",
    "risk_point_in_scope",
    "unit_name",
    "warning_desk",
    "warning_detail",
    "warning_in_scope",
]
