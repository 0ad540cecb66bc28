"""What the chat shows: read-only queries of prompts, warnings and corrections.

These only read; every change goes through the domain functions in ``models/``
and ``notifications/planning``.  "Yours" here scopes what a person is shown
(someone else's warning is reported as not found); the domain functions check
again whoever acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Generic, TypeVar

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.errors import NotFound
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.warnings import (
    OPEN_STATES,
    Rectification,
    RectificationStatus,
    Warning,
    WarningStatus,
)
from riskprompt.notifications.planning import Target, TargetKind, resolve_target

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing: its items, which page it is and how many there are."""

    items: list[T]
    number: int
    pages: int
    total: int


def open_prompts(session: Session, *, person: Person, page: int, per_page: int) -> Page[Prompt]:
    """The person's prompts waiting for an acknowledgement, newest first, one page."""
    conditions = (
        Prompt.person_id == person.id,
        Prompt.status == PromptStatus.OPEN,
        col(Prompt.requires_ack).is_(True),
    )
    total = session.exec(select(func.count()).select_from(Prompt).where(*conditions)).one()
    pages = max(1, -(-total // per_page))
    number = min(max(page, 1), pages)
    items = session.exec(
        select(Prompt)
        .where(*conditions)
        .order_by(col(Prompt.created_at).desc(), col(Prompt.id).desc())
        .offset((number - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(items=list(items), number=number, pages=pages, total=total)


def own_prompt(session: Session, *, person: Person, prompt_id: int) -> Prompt:
    """One of the person's prompts.

    Raises:
        NotFound: no prompt of theirs has that id.
    """
    prompt = session.get(Prompt, prompt_id)
    if prompt is None or prompt.person_id != person.id:
        raise NotFound(N_("No prompt of yours has that code."))
    return prompt


def open_warnings(session: Session, *, person: Person) -> list[Warning]:
    """The person's open warnings, nearest deadline first."""
    return list(
        session.exec(
            select(Warning)
            .where(Warning.person_id == person.id, col(Warning.status).in_(OPEN_STATES))
            .order_by(col(Warning.deadline), col(Warning.id))
        ).all()
    )


def own_warning(session: Session, *, person: Person, warning_id: int) -> Warning:
    """One of the person's warnings.

    Raises:
        NotFound: no warning of theirs has that number.
    """
    warning = session.get(Warning, warning_id)
    if warning is None or warning.person_id != person.id:
        raise NotFound(N_("No warning of yours has the number W%(id)s."), id=warning_id)
    return warning


def get_warning(session: Session, *, warning_id: int) -> Warning:
    """A warning by number.

    Raises:
        NotFound: there is none.
    """
    warning = session.get(Warning, warning_id)
    if warning is None:
        raise NotFound(N_("There is no warning W%(id)s."), id=warning_id)
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


def get_person_by_id(session: Session, *, person_id: int) -> Person:
    """A person by id.

    Raises:
        NotFound: there is none.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(N_("This person no longer exists."))
    return person


def people_of_units(session: Session, *, officer: Person, on: date) -> list[int]:
    """The people of the officer's unit and its sub-units (members and post holders) on ``on``."""
    target = Target(TargetKind.UNIT, str(officer.unit_id), sub_units=True)
    return resolve_target(session, target, on)


def _review_scope(session: Session, officer: Person, today: date) -> list[object]:
    """Conditions on (Rectification, Warning) for the corrections an officer reviews.

    Their units' people and the warnings they issued; admins see every unit.
    Nobody is shown their own corrections (the domain refuses to let them review one).
    """
    conditions: list[object] = [
        Rectification.status == RectificationStatus.SUBMITTED,
        Rectification.person_id != officer.id,
    ]
    if officer.role is not Role.ADMIN:
        people = people_of_units(session, officer=officer, on=today)
        conditions.append(
            or_(col(Rectification.person_id).in_(people), Warning.issued_by_id == officer.id)
        )
    return conditions


def next_correction(
    session: Session, *, officer: Person, today: date, after_id: int = 0
) -> tuple[Rectification | None, int]:
    """The first correction waiting for the officer's review after ``after_id``, and how many wait.

    Oldest first; ``after_id`` skips those already shown (the "next" button), going
    back to the oldest when none is left after it.
    """
    conditions = _review_scope(session, officer, today)
    base = select(Rectification).join(Warning, col(Warning.id) == Rectification.warning_id)
    waiting = session.exec(
        select(func.count())
        .select_from(Rectification)
        .join(Warning, col(Warning.id) == Rectification.warning_id)
        .where(*conditions)  # type: ignore[arg-type]
    ).one()
    ordered = base.where(*conditions).order_by(col(Rectification.id))  # type: ignore[arg-type]
    found = session.exec(ordered.where(col(Rectification.id) > after_id).limit(1)).first()
    if found is None and after_id:
        found = session.exec(ordered.limit(1)).first()
    return found, waiting


@dataclass(frozen=True)
class UnitStatus:
    """Acknowledgement and overdue counts for an officer's units."""

    people: int
    since: datetime
    prompts: int
    acknowledged: int
    waiting: int
    open_warnings: int
    overdue_warnings: int
    corrections_waiting: int

    @property
    def rate(self) -> float:
        """The share of this month's prompts acknowledged (0 when there are none)."""
        return self.acknowledged / self.prompts if self.prompts else 0.0


def unit_status(
    session: Session, *, officer: Person, now: datetime, settings: Settings
) -> UnitStatus:
    """This month's prompts and the open warnings of the officer's units."""
    local = now.astimezone(settings.zone)
    since = datetime.combine(local.date().replace(day=1), time(0), tzinfo=settings.zone)
    people = people_of_units(session, officer=officer, on=local.date())
    prompt_counts = dict(
        session.exec(
            select(Prompt.status, func.count())
            .where(
                col(Prompt.person_id).in_(people),
                col(Prompt.requires_ack).is_(True),
                col(Prompt.created_at) >= since,
                Prompt.status != PromptStatus.CANCELLED,
            )
            .group_by(Prompt.status)
        ).all()
    )
    acknowledged = prompt_counts.get(PromptStatus.ACKNOWLEDGED, 0)
    waiting = prompt_counts.get(PromptStatus.OPEN, 0)
    open_warnings = col(Warning.person_id).in_(people), col(Warning.status).in_(OPEN_STATES)
    counted = session.exec(select(func.count()).select_from(Warning).where(*open_warnings)).one()
    overdue = session.exec(
        select(func.count()).select_from(Warning).where(*open_warnings, Warning.deadline < now)
    ).one()
    submitted = session.exec(
        select(func.count())
        .select_from(Warning)
        .where(col(Warning.person_id).in_(people), Warning.status == WarningStatus.SUBMITTED)
    ).one()
    return UnitStatus(
        people=len(people),
        since=since,
        prompts=acknowledged + waiting,
        acknowledged=acknowledged,
        waiting=waiting,
        open_warnings=counted,
        overdue_warnings=overdue,
        corrections_waiting=submitted,
    )
