"""The directory (目录与人员): units, posts with their risk points, and people, as an
officer may browse them, and who may import or export the catalogue and people.

Every read here is narrowed to what the viewer supervises
(:func:`riskprompt.models.scope.scope_unit_ids`): an admin, or an officer with no
scope given, sees every unit; an officer with a scope sees only its units (each
with its subtree), their posts and their people.  Nothing outside it is counted.

Rules of the web console's import and export, whose files are those of
``riskprompt import`` and ``riskprompt export`` (:mod:`riskprompt.models.importing`,
:mod:`riskprompt.models.exporting`):

- **importing** rewrites the catalogue and people of every unit (contact details,
  roles and supervision scopes included), so it is an administrator's matter
  (:func:`require_import_right`); the CLI is run by whoever administers the
  server, the console checks the role;
- **exporting** writes the whole catalogue or every person, so only those who see
  every unit may (:func:`may_export`): admins, and officers with no scope given.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import Post, RiskLevel, RiskPoint, Unit
from riskprompt.models.clock import Clock
from riskprompt.models.errors import NotFound, PermissionDenied
from riskprompt.models.exporting import export_catalog, export_people
from riskprompt.models.importing import ImportResult, import_catalog, import_people
from riskprompt.models.listings import Page
from riskprompt.models.people import Assignment, Person, Role
from riskprompt.models.queries import MAX_ROW_ID, active_assignment_filter
from riskprompt.models.scope import scope_unit_ids, sub_units

#: Rows per page of every directory list.
PER_PAGE = 50
#: The longest search text taken (longer is cut: nobody types more).
MAX_QUERY = 100


class TableKind(enum.StrEnum):
    """What a file imports or exports: the catalogue (职权目录与风险点) or people."""

    CATALOG = "catalog"
    PEOPLE = "people"

    @property
    def label(self) -> str:
        """The msgid of its name (translate where shown)."""
        return _KIND_LABELS[self]


_KIND_LABELS = {
    TableKind.CATALOG: N_("Catalogue (units, posts, powers and risk points)"),
    TableKind.PEOPLE: N_("People (with their posts and channels)"),
}


@dataclass(frozen=True, slots=True)
class UnitEntry:
    """A unit in the directory: its parent, its posts, people and risk points by level."""

    unit: Unit
    parent: str | None
    posts: int
    people: int
    levels: dict[RiskLevel, int]


@dataclass(frozen=True, slots=True)
class PostEntry:
    """A post in the directory with its unit and its risk points (high first)."""

    post: Post
    unit: str
    points: list[RiskPoint]

    def count(self, level: RiskLevel) -> int:
        """How many of its risk points are of ``level``."""
        return sum(1 for p in self.points if p.level is level)


@dataclass(frozen=True, slots=True)
class PersonEntry:
    """A person in the directory: their unit, the posts held that day, and the risk
    levels of those posts (high first)."""

    person: Person
    unit: str
    posts: list[str]
    levels: list[RiskLevel]


# -- who sees what -------------------------------------------------------------------------


def visible_units(session: Session, *, viewer: Person) -> list[Unit]:
    """The units ``viewer`` supervises (every unit for an admin), by name."""
    scope = scope_unit_ids(session, officer=viewer)
    query = select(Unit).order_by(col(Unit.name))
    if scope is not None:
        query = query.where(col(Unit.id).in_(sorted(scope)))
    return list(session.exec(query).all())


def unit_in_scope(session: Session, *, viewer: Person, ref: str) -> Unit:
    """The unit ``ref`` names (its id or its full name), when ``viewer`` supervises it.

    A unit outside the scope is answered as one that does not exist: nothing of
    another unit is told, not even that it exists.

    Raises:
        NotFound: no such unit within the viewer's scope.
    """
    text = ref.strip()
    unit: Unit | None
    if text.isascii() and text.isdigit():
        unit = session.get(Unit, int(text)) if 0 < int(text) <= MAX_ROW_ID else None
    else:
        unit = session.exec(select(Unit).where(Unit.name == text)).first()
    scope = scope_unit_ids(session, officer=viewer)
    if unit is None or (scope is not None and unit.id not in scope):
        raise NotFound(N_("no unit %(ref)r in your supervision scope"), ref=text)
    return unit


def _within(session: Session, viewer: Person, unit: Unit | None) -> set[int] | None:
    """The unit ids a list keeps: the chosen unit's subtree, within the viewer's scope."""
    scope = scope_unit_ids(session, officer=viewer)
    if unit is None:
        return scope
    subtree = sub_units(session, [unit.id or 0])
    return subtree if scope is None else subtree & scope


def _search(text: str | None) -> str:
    return (text or "").strip()[:MAX_QUERY]


def _page(number: int, per_page: int) -> int:
    return (max(number, 1) - 1) * per_page


# -- units ---------------------------------------------------------------------------------


def page_units(
    session: Session,
    *,
    viewer: Person,
    q: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[UnitEntry]:
    """The units ``viewer`` supervises whose name contains ``q``, by name, one page."""
    scope = scope_unit_ids(session, officer=viewer)
    query = select(Unit)
    if scope is not None:
        query = query.where(col(Unit.id).in_(sorted(scope)))
    text = _search(q)
    if text:
        query = query.where(col(Unit.name).icontains(text, autoescape=True))
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    offset = _page(page, per_page)
    units = list(
        session.exec(query.order_by(col(Unit.name), col(Unit.id)).limit(per_page).offset(offset))
    )
    ids = [u.id or 0 for u in units]
    parent_ids = {u.parent_id for u in units if u.parent_id}
    parents = (
        dict(session.exec(select(Unit.id, Unit.name).where(col(Unit.id).in_(parent_ids))).all())
        if parent_ids
        else {}
    )
    posts = dict(
        session.exec(
            select(Post.unit_id, func.count())
            .where(col(Post.unit_id).in_(ids))
            .group_by(col(Post.unit_id))
        ).all()
    )
    people = dict(
        session.exec(
            select(Person.unit_id, func.count())
            .where(col(Person.unit_id).in_(ids), col(Person.active).is_(True))
            .group_by(col(Person.unit_id))
        ).all()
    )
    levels: dict[int, dict[RiskLevel, int]] = {i: dict.fromkeys(RiskLevel, 0) for i in ids}
    for unit_id, level, n in session.exec(
        select(Post.unit_id, RiskPoint.level, func.count())
        .join(Post, col(Post.id) == RiskPoint.post_id)
        .where(col(Post.unit_id).in_(ids))
        .group_by(col(Post.unit_id), col(RiskPoint.level))
    ).all():
        levels[unit_id][RiskLevel(level)] = n
    rows = [
        UnitEntry(
            unit=u,
            parent=parents.get(u.parent_id) if u.parent_id else None,
            posts=posts.get(u.id or 0, 0),
            people=people.get(u.id or 0, 0),
            levels=levels[u.id or 0],
        )
        for u in units
    ]
    return Page(rows=rows, total=total, limit=per_page, offset=offset)


# -- posts ---------------------------------------------------------------------------------


def page_posts(
    session: Session,
    *,
    viewer: Person,
    q: str | None = None,
    unit: Unit | None = None,
    level: RiskLevel | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[PostEntry]:
    """Posts of the units ``viewer`` supervises, with their risk points, one page.

    Args:
        session: an open session.
        viewer: who looks (their scope narrows the list).
        q: a part of the post's or its unit's name.
        unit: only this unit and the units below it (see :func:`unit_in_scope`).
        level: only posts with a risk point of this level.
        page: which page (from 1).
        per_page: rows per page.
    """
    units = _within(session, viewer, unit)
    query = select(Post, Unit.name).join(Unit, col(Unit.id) == Post.unit_id)
    if units is not None:
        query = query.where(col(Post.unit_id).in_(sorted(units)))
    text = _search(q)
    if text:
        query = query.where(
            or_(
                col(Post.name).icontains(text, autoescape=True),
                col(Unit.name).icontains(text, autoescape=True),
            )
        )
    if level is not None:
        query = query.where(
            col(Post.id).in_(select(RiskPoint.post_id).where(RiskPoint.level == level))
        )
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    offset = _page(page, per_page)
    found = list(
        session.exec(
            query.order_by(col(Unit.name), col(Post.name), col(Post.id))
            .limit(per_page)
            .offset(offset)
        ).all()
    )
    points: dict[int, list[RiskPoint]] = {}
    ids = [post.id or 0 for post, _unit in found]
    for point in session.exec(select(RiskPoint).where(col(RiskPoint.post_id).in_(ids))).all():
        points.setdefault(point.post_id, []).append(point)
    rows = [
        PostEntry(
            post=post,
            unit=unit_name,
            points=sorted(points.get(post.id or 0, []), key=lambda p: (p.level.rank, p.id or 0)),
        )
        for post, unit_name in found
    ]
    return Page(rows=rows, total=total, limit=per_page, offset=offset)


# -- people --------------------------------------------------------------------------------


def page_people(
    session: Session,
    *,
    viewer: Person,
    on: date,
    q: str | None = None,
    unit: Unit | None = None,
    level: RiskLevel | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[PersonEntry]:
    """Active people of the units ``viewer`` supervises, by staff ID, one page.

    Args:
        session: an open session.
        viewer: who looks (their scope narrows the list).
        on: the day whose posts count (today, in the office's time zone).
        q: a part of the name, the staff ID (any case) or the name of a post held.
        unit: only this unit and the units below it (see :func:`unit_in_scope`).
        level: only holders of a post with a risk point of this level (as the
            special prompt's ``level:`` target reaches them).
        page: which page (from 1).
        per_page: rows per page.
    """
    units = _within(session, viewer, unit)
    held = (
        select(Assignment.person_id)
        .join(Post, col(Post.id) == Assignment.post_id)
        .where(active_assignment_filter(on))
    )
    query = (
        select(Person, Unit.name)
        .join(Unit, col(Unit.id) == Person.unit_id)
        .where(col(Person.active).is_(True))
    )
    if units is not None:
        query = query.where(col(Person.unit_id).in_(sorted(units)))
    text = _search(q)
    if text:
        query = query.where(
            or_(
                col(Person.name).icontains(text, autoescape=True),
                col(Person.staff_id).icontains(text, autoescape=True),
                col(Person.id).in_(held.where(col(Post.name).icontains(text, autoescape=True))),
            )
        )
    if level is not None:
        query = query.where(
            col(Person.id).in_(
                held.where(
                    col(Post.id).in_(select(RiskPoint.post_id).where(RiskPoint.level == level))
                )
            )
        )
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    offset = _page(page, per_page)
    found = list(
        session.exec(query.order_by(col(Person.staff_id)).limit(per_page).offset(offset)).all()
    )
    ids = [person.id or 0 for person, _unit in found]
    posts: dict[int, list[str]] = {}
    post_of: dict[int, list[int]] = {}
    for person_id, post_id, name in session.exec(
        select(Assignment.person_id, Post.id, Post.name)
        .join(Post, col(Post.id) == Assignment.post_id)
        .where(col(Assignment.person_id).in_(ids), active_assignment_filter(on))
        .order_by(col(Post.name))
    ).all():
        if name not in posts.setdefault(person_id, []):
            posts[person_id].append(name)
        post_of.setdefault(person_id, []).append(post_id or 0)
    all_posts = {p for ps in post_of.values() for p in ps}
    post_levels: dict[int, set[RiskLevel]] = {}
    for post_id, point_level in session.exec(
        select(RiskPoint.post_id, RiskPoint.level)
        .where(col(RiskPoint.post_id).in_(all_posts))
        .distinct()
    ).all():
        post_levels.setdefault(post_id, set()).add(RiskLevel(point_level))
    rows = []
    for person, unit_name in found:
        levels: set[RiskLevel] = set()
        for post_id in post_of.get(person.id or 0, []):
            levels |= post_levels.get(post_id, set())
        rows.append(
            PersonEntry(
                person=person,
                unit=unit_name,
                posts=posts.get(person.id or 0, []),
                levels=sorted(levels, key=lambda lv: lv.rank),
            )
        )
    return Page(rows=rows, total=total, limit=per_page, offset=offset)


def directory_totals(session: Session, *, viewer: Person) -> dict[str, int]:
    """How many units, posts, risk points (by level) and active people ``viewer`` sees."""
    scope = scope_unit_ids(session, officer=viewer)

    def narrowed(query: Any, unit_column: Any) -> Any:
        return query if scope is None else query.where(unit_column.in_(sorted(scope)))

    units = session.exec(narrowed(select(func.count()).select_from(Unit), col(Unit.id))).one()
    posts = session.exec(narrowed(select(func.count()).select_from(Post), col(Post.unit_id))).one()
    people = session.exec(
        narrowed(
            select(func.count()).select_from(Person).where(col(Person.active).is_(True)),
            col(Person.unit_id),
        )
    ).one()
    by_level = session.exec(
        narrowed(
            select(
                func.sum(case((RiskPoint.level == RiskLevel.HIGH, 1), else_=0)),
                func.sum(case((RiskPoint.level == RiskLevel.MEDIUM, 1), else_=0)),
                func.sum(case((RiskPoint.level == RiskLevel.LOW, 1), else_=0)),
            ).join(Post, col(Post.id) == RiskPoint.post_id),
            col(Post.unit_id),
        )
    ).one()
    high, medium, low = (int(n or 0) for n in by_level)
    return {
        "units": int(units),
        "posts": int(posts),
        "people": int(people),
        "high": high,
        "medium": medium,
        "low": low,
    }


# -- import and export ---------------------------------------------------------------------


def may_import(person: Person) -> bool:
    """Whether ``person`` may import the catalogue or people (an active admin)."""
    return person.active and person.role is Role.ADMIN


def require_import_right(actor: Person) -> None:
    """Refuse an import to anyone but an administrator.

    Raises:
        PermissionDenied: the actor is not an (active) admin.
    """
    if not may_import(actor):
        raise PermissionDenied(
            N_(
                "%(name)s (%(staff_id)s) may not import: importing the catalogue or "
                "people is for administrators"
            ),
            name=actor.name,
            staff_id=actor.staff_id,
        )


def may_export(session: Session, *, viewer: Person) -> bool:
    """Whether ``viewer`` may export the whole catalogue and every person: an active
    officer or admin who sees every unit."""
    return viewer.active and viewer.is_officer and scope_unit_ids(session, officer=viewer) is None


def require_export_right(session: Session, *, viewer: Person) -> None:
    """Refuse an export to anyone who does not see every unit.

    Raises:
        PermissionDenied: the viewer's scope is limited (or they are staff).
    """
    if not may_export(session, viewer=viewer):
        raise PermissionDenied(
            N_(
                "an export holds every unit and every person: it is for administrators "
                "and officers who supervise every unit"
            )
        )


def import_table(
    session: Session,
    *,
    actor: Person,
    kind: TableKind,
    path: Path,
    source: str,
    clock: Clock,
    zone: ZoneInfo,
    default_locale: str,
    default_timezone: str,
    dry_run: bool = False,
) -> ImportResult:
    """Import a catalogue or people file for ``actor`` (an admin), as ``riskprompt
    import catalog|people`` does: every problem found and nothing written, or all of it.

    Args:
        session: the transaction; the caller commits.
        actor: who imports (recorded in the audit record).
        kind: the catalogue or people.
        path: the file (.csv or .xlsx, by its extension).
        source: how the file is named in problems and in the audit record.
        clock: the clock.
        zone: the office's time zone ("today" for the posts people hold).
        default_locale: a new person's language when the file leaves it out.
        default_timezone: a new person's time zone when the file leaves it out.
        dry_run: check and count only; write nothing.

    Raises:
        PermissionDenied: the actor is not an administrator.
    """
    require_import_right(actor)
    if kind is TableKind.CATALOG:
        return import_catalog(
            session, path=path, clock=clock, dry_run=dry_run, source=source, actor_id=actor.id
        )
    return import_people(
        session,
        path=path,
        clock=clock,
        zone=zone,
        default_locale=default_locale,
        default_timezone=default_timezone,
        dry_run=dry_run,
        source=source,
        actor_id=actor.id,
    )


def export_table(
    session: Session, *, viewer: Person, kind: TableKind, path: Path, locale: str, today: date
) -> int:
    """Write the whole catalogue or every person to ``path`` (.csv or .xlsx), as
    ``riskprompt export catalog|people`` does; returns the number of rows.

    Raises:
        PermissionDenied: the viewer does not see every unit (:func:`may_export`).
        TableError: an unsupported extension, or the file cannot be written.
    """
    require_export_right(session, viewer=viewer)
    if kind is TableKind.CATALOG:
        return export_catalog(session, path=path, locale=locale, source=path.name)
    return export_people(session, path=path, locale=locale, today=today, source=path.name)


__all__ = [
    "MAX_QUERY",
    "PER_PAGE",
    "PersonEntry",
    "PostEntry",
    "TableKind",
    "UnitEntry",
    "directory_totals",
    "export_table",
    "import_table",
    "may_export",
    "may_import",
    "page_people",
    "page_posts",
    "page_units",
    "require_export_right",
    "require_import_right",
    "unit_in_scope",
    "visible_units",
]
