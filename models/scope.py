"""Supervision scope (监督范围): which people an officer may list, warn and review.

An officer supervises the units named in their :class:`Supervision` rows, each
with its subtree; an officer with no row supervises every unit (so people files
without a 监督范围 column keep working).  A 派驻 discipline-inspection group's
officers name the units they are stationed in, not their own.  Admins see every
unit; staff only themselves.

Every rule function that acts on a person for an officer calls
:func:`require_in_scope`; every listing narrows by :func:`scope_conditions` (built on
:func:`scope_unit_ids`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from sqlalchemy import UniqueConstraint, or_
from sqlmodel import Field, Session, SQLModel, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import Unit
from riskprompt.models.errors import PermissionDenied
from riskprompt.models.people import Person, Role


class Supervision(SQLModel, table=True):
    """One unit (with its subtree) an officer supervises."""

    __tablename__: ClassVar[str] = "supervision"  # type: ignore[misc]
    __table_args__ = (UniqueConstraint("officer_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    officer_id: int = Field(foreign_key="person.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")


def sub_units(session: Session, roots: Iterable[int]) -> set[int]:
    """``roots`` and every unit below them (each unit's subtree)."""
    children: dict[int | None, list[int]] = {}
    for unit_id, parent_id in session.exec(select(Unit.id, Unit.parent_id)).all():
        children.setdefault(parent_id, []).append(unit_id or 0)
    found, stack = set(), list(roots)
    while stack:
        unit_id = stack.pop()
        if unit_id in found:
            continue
        found.add(unit_id)
        stack.extend(children.get(unit_id, ()))
    return found


def scope_unit_ids(session: Session, *, officer: Person) -> set[int] | None:
    """The units an officer or admin supervises (subtrees included); None: every unit.

    Staff supervise nobody: an empty set (their own rows are theirs by person, not unit).
    """
    if officer.role is Role.ADMIN:
        return None
    if officer.role is not Role.OFFICER:
        return set()
    roots = set(
        session.exec(
            select(Supervision.unit_id).where(col(Supervision.officer_id) == officer.id)
        ).all()
    )
    if not roots:
        return None
    return sub_units(session, roots)


def supervised_units(session: Session, *, officer: Person) -> list[Unit] | None:
    """The units named in an officer's scope (each stands for its subtree), by name.

    None: every unit (an admin, or an officer with no scope given); staff: none.
    """
    if officer.role is Role.ADMIN:
        return None
    if officer.role is not Role.OFFICER:
        return []
    units = session.exec(
        select(Unit)
        .join(Supervision, col(Supervision.unit_id) == Unit.id)
        .where(col(Supervision.officer_id) == officer.id)
        .order_by(col(Unit.name))
    ).all()
    return list(units) or None


def scope_conditions(
    session: Session, viewer: Person | None, *, person: Any = None, own: bool = True
) -> list[Any]:
    """SQL conditions keeping the rows of the people ``viewer`` may see.

    Args:
        session: an open session.
        viewer: who looks (None: no narrowing).
        person: the entity of the person the rows are about (default: :class:`Person`,
            joined by the query).
        own: an officer also sees their own rows (outside their scope units).
    """
    who = Person if person is None else person
    if viewer is None:
        return []
    if not viewer.is_officer:
        return [who.id == viewer.id]
    units = scope_unit_ids(session, officer=viewer)
    if units is None:
        return []
    within = who.unit_id.in_(sorted(units))
    return [or_(within, who.id == viewer.id) if own else within]


def in_scope(session: Session, *, officer: Person, person: Person) -> bool:
    """Whether ``officer`` supervises ``person`` (everyone is in their own scope)."""
    if officer.id == person.id:
        return True
    units = scope_unit_ids(session, officer=officer)
    return units is None or person.unit_id in units


def require_in_scope(session: Session, *, officer: Person, person: Person) -> None:
    """Refuse an officer's action on someone outside their supervision scope.

    Raises:
        PermissionDenied: names the person and says why, in the reader's words.
    """
    if not in_scope(session, officer=officer, person=person):
        raise PermissionDenied(
            N_("%(name)s (%(staff_id)s) is outside your supervision scope"),
            name=person.name,
            staff_id=person.staff_id,
        )


def _ancestors(session: Session, unit_id: int) -> set[int]:
    """``unit_id`` and every unit above it."""
    parents = dict(session.exec(select(Unit.id, Unit.parent_id)).all())
    found: set[int] = set()
    current: int | None = unit_id
    while current is not None and current not in found:
        found.add(current)
        current = parents.get(current)
    return found


def supervising_officers(session: Session, *, person: Person) -> list[Person]:
    """The active officers (not admins) whose scope holds ``person``, by id.

    An officer with no scope given holds everyone; one with a scope holds the people
    of the units named and of the units below them.
    """
    officers = session.exec(
        select(Person)
        .where(col(Person.role) == Role.OFFICER, col(Person.active).is_(True))
        .order_by(col(Person.id))
    ).all()
    roots: dict[int, set[int]] = {}
    for officer_id, unit_id in session.exec(select(Supervision.officer_id, Supervision.unit_id)):
        roots.setdefault(officer_id, set()).add(unit_id)
    above = _ancestors(session, person.unit_id)
    return [
        o
        for o in officers
        if o.id != person.id and (o.id not in roots or bool(roots[o.id] & above))
    ]
