"""Read-side queries shared by the officer API and the CLI: pages of prompts, warnings, corrections.

Each returns one page (``limit``/``offset``, newest first) and the total count of
what matches, so a client can page through everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, bindparam, func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from riskprompt.models.catalog import Post
from riskprompt.models.conversations import ApiToken
from riskprompt.models.errors import InvalidInput
from riskprompt.models.people import Person, normalise_mobile
from riskprompt.models.prompts import AWAITING_ACK, LATEST_FIRST, Prompt, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningColour,
    WarningStatus,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of rows and how many match in all."""

    rows: list[T]
    total: int


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


def _count(session: Session, query: Any) -> int:
    return int(session.exec(select(func.count()).select_from(query.subquery())).one())


def _paged(session: Session, query: Any, order: tuple[Any, ...], limit: int, offset: int) -> Any:
    """The total of ``query`` and one page of its rows in ``order``."""
    total = _count(session, query)
    rows = session.exec(query.order_by(*order).limit(limit).offset(offset)).all()
    return rows, total


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


def page_prompts(
    session: Session,
    *,
    period: str | None = None,
    status: PromptStatus | None = None,
    unit_id: int | None = None,
    staff_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[PromptRow]:
    """Prompts by period, status, the reader's unit and the reader, newest first."""
    query = (
        select(Prompt, Person, Post.name)
        .join(Person, col(Person.id) == Prompt.person_id)
        .outerjoin(Post, col(Post.id) == Prompt.post_id)
    )
    if period is not None:
        query = query.where(Prompt.period == period)
    if status is not None:
        query = query.where(Prompt.status == status)
    if unit_id is not None:
        query = query.where(Person.unit_id == unit_id)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id)
    rows, total = _paged(
        session, query, (col(Prompt.created_at).desc(), col(Prompt.id).desc()), limit, offset
    )
    return Page([PromptRow(p, person, post) for p, person, post in rows], total)


def page_warnings(
    session: Session,
    *,
    status: WarningStatus | None = None,
    colour: WarningColour | None = None,
    staff_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[WarningRow]:
    """Warnings by status, colour and addressee, newest first."""
    issuer = aliased(Person)
    query = (
        select(Warning, Person, issuer)
        .join(Person, col(Person.id) == Warning.person_id)
        .join(issuer, col(issuer.id) == Warning.issued_by_id)
    )
    if status is not None:
        query = query.where(Warning.status == status)
    if colour is not None:
        query = query.where(Warning.colour == colour)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id)
    rows, total = _paged(
        session, query, (col(Warning.created_at).desc(), col(Warning.id).desc()), limit, offset
    )
    return Page([WarningRow(w, person, by) for w, person, by in rows], total)


def page_corrections(
    session: Session,
    *,
    status: RectificationStatus | None = None,
    staff_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[CorrectionRow]:
    """Correction reports by review status and author; pending ones oldest first, else newest."""
    reviewer = aliased(Person)
    query = (
        select(Rectification, Warning, Person, reviewer)
        .join(Warning, col(Warning.id) == Rectification.warning_id)
        .join(Person, col(Person.id) == Rectification.person_id)
        .outerjoin(reviewer, col(reviewer.id) == Rectification.reviewed_by_id)
    )
    if status is not None:
        query = query.where(Rectification.status == status)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id)
    # Pending reports wait in a queue: the oldest first; otherwise the newest first.
    if status is RectificationStatus.SUBMITTED:
        order = (col(Rectification.submitted_at), col(Rectification.id))
    else:
        order = (col(Rectification.submitted_at).desc(), col(Rectification.id).desc())
    rows, total = _paged(session, query, order, limit, offset)
    return Page([CorrectionRow(c, w, p, r) for c, w, p, r in rows], total)


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


def list_tokens(session: Session, *, staff_id: str | None = None) -> list[tuple[ApiToken, Person]]:
    """API tokens (never the secrets) with their holders, newest first."""
    query = select(ApiToken, Person).join(Person, col(Person.id) == ApiToken.person_id)
    if staff_id is not None:
        query = query.where(Person.staff_id == staff_id.strip())
    return list(session.exec(query.order_by(col(ApiToken.id).desc())).all())
