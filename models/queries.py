"""Read-side queries shared by the CLI, the API and the demo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, and_, case, func, or_, text
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import Post, RiskLevel, RiskPoint, Unit
from riskprompt.models.errors import NotFound
from riskprompt.models.people import Assignment, Person, Role
from riskprompt.models.scope import scope_conditions


@dataclass(frozen=True)
class UnitRow:
    """A unit with its parent's name and its counts."""

    unit: Unit
    parent: str | None
    posts: int
    people: int


@dataclass(frozen=True)
class PostRow:
    """A post with its unit's name and risk points per level."""

    post: Post
    unit: str
    high: int
    medium: int
    low: int


MAX_ROW_ID = 2**31 - 1  # PostgreSQL INTEGER


def is_row_id(text: str) -> bool:
    """Whether ``text`` can name a row id (ASCII digits within INTEGER range)."""
    return text.isascii() and text.isdigit() and int(text) <= MAX_ROW_ID


def resolve_unit(session: Session, *, ref: str) -> Unit:
    """A unit by id, full name or a short form only its name fits (``住建局``).

    See :func:`riskprompt.models.refs.find_unit`.

    Raises:
        NotFound: no such unit.
        InvalidInput: several units fit the short form.
    """
    from riskprompt.models.refs import find_unit  # refs reads codes, which read this module

    return find_unit(session, ref)


def get_person(session: Session, *, staff_id: str) -> Person:
    """A person by staff id (工号).

    Raises:
        NotFound: no such person.
    """
    person = session.exec(select(Person).where(Person.staff_id == staff_id.strip())).first()
    if person is None:
        raise NotFound(N_("no person with staff id %(staff_id)r"), staff_id=staff_id)
    return person


def ping_database(engine: Engine) -> None:
    """Ask the database a trivial question (the health check).

    Raises:
        sqlalchemy.exc.SQLAlchemyError: it does not answer.
    """
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def list_units(session: Session) -> list[UnitRow]:
    """Every unit, ordered by id, with its parent and counts."""
    posts = dict(session.exec(select(Post.unit_id, func.count()).group_by(Post.unit_id)).all())
    people = dict(session.exec(select(Person.unit_id, func.count()).group_by(Person.unit_id)).all())
    units = session.exec(select(Unit).order_by(col(Unit.id))).all()
    names = {u.id: u.name for u in units}
    return [
        UnitRow(
            unit=u,
            parent=names.get(u.parent_id) if u.parent_id else None,
            posts=posts.get(u.id, 0),
            people=people.get(u.id, 0),
        )
        for u in units
    ]


def list_posts(
    session: Session, *, unit_id: int | None = None, level: RiskLevel | None = None
) -> list[PostRow]:
    """Posts with their risk points per level; ``level`` keeps posts having such a point."""
    counts = (
        select(
            RiskPoint.post_id,
            func.sum(case((RiskPoint.level == RiskLevel.HIGH, 1), else_=0)).label("high"),
            func.sum(case((RiskPoint.level == RiskLevel.MEDIUM, 1), else_=0)).label("medium"),
            func.sum(case((RiskPoint.level == RiskLevel.LOW, 1), else_=0)).label("low"),
        )
        .group_by(RiskPoint.post_id)
        .subquery()
    )
    query = (
        select(Post, Unit.name, counts.c.high, counts.c.medium, counts.c.low)
        .join(Unit, col(Unit.id) == Post.unit_id)
        .outerjoin(counts, counts.c.post_id == Post.id)
        .order_by(col(Post.id))
    )
    if unit_id is not None:
        query = query.where(Post.unit_id == unit_id)
    if level is not None:
        query = query.where(
            col(Post.id).in_(select(RiskPoint.post_id).where(RiskPoint.level == level))
        )
    return [
        PostRow(post=post, unit=unit, high=high or 0, medium=medium or 0, low=low or 0)
        for post, unit, high, medium, low in session.exec(query).all()
    ]


def list_people(
    session: Session,
    *,
    unit_id: int | None = None,
    role: Role | None = None,
    viewer: Person | None = None,
) -> list[tuple[Person, str]]:
    """People with their unit's name, ordered by staff id.

    ``viewer`` narrows to whom they may see (see :func:`riskprompt.models.scope.scope_conditions`).
    """
    query = (
        select(Person, Unit.name)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(*scope_conditions(session, viewer))
    )
    if unit_id is not None:
        query = query.where(Person.unit_id == unit_id)
    if role is not None:
        query = query.where(Person.role == role)
    return list(session.exec(query.order_by(col(Person.staff_id))).all())


def active_assignment_filter(day: date):  # type: ignore[no-untyped-def]  # noqa: ANN201
    """SQL condition: the assignment is active on ``day``."""
    return and_(
        col(Assignment.start_on) <= day,
        or_(col(Assignment.end_on).is_(None), col(Assignment.end_on) > day),
    )


def posts_held(session: Session, *, person_id: int, on: date) -> list[Post]:
    """The posts a person holds on ``on``."""
    query = (
        select(Post)
        .join(Assignment, col(Assignment.post_id) == Post.id)
        .where(Assignment.person_id == person_id, active_assignment_filter(on))
        .order_by(col(Post.id))
    )
    return list(session.exec(query).all())


def risk_points_of(session: Session, *, post_id: int) -> list[RiskPoint]:
    """A post's risk points, high first."""
    points = session.exec(select(RiskPoint).where(RiskPoint.post_id == post_id)).all()
    return sorted(points, key=lambda p: (p.level.rank, p.id or 0))


def count_by_level(session: Session) -> dict[RiskLevel, int]:
    """How many risk points there are of each level."""
    rows = session.exec(select(RiskPoint.level, func.count()).group_by(RiskPoint.level)).all()
    found = {RiskLevel(level): n for level, n in rows}
    return {level: found.get(level, 0) for level in RiskLevel}


def count_by_role(session: Session) -> dict[Role, int]:
    """How many people there are of each role."""
    rows = session.exec(select(Person.role, func.count()).group_by(Person.role)).all()
    found = {Role(role): n for role, n in rows}
    return {role: found.get(role, 0) for role in Role}
