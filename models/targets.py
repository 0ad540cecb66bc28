"""Targets of a special prompt (特别提示): whom it reaches, within the issuer's scope.

A target is written ``person:STAFF_ID``, ``post:ID``, ``unit:ID`` (``unit:ID+``
with its sub-units), ``level:high|medium|low`` or ``all``.  :func:`parse_target`
reads one, :func:`check_target` checks that what it names exists and lies in the
officer's supervision scope (:mod:`riskprompt.models.scope`), and
:func:`resolve_target` says who it reaches on a given day, narrowed to a scope.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import Post, RiskLevel, RiskPoint
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.people import Assignment, Person
from riskprompt.models.queries import active_assignment_filter, get_person, is_row_id, resolve_unit
from riskprompt.models.scope import require_in_scope, scope_unit_ids, sub_units


class TargetKind(enum.StrEnum):
    """Whom a special prompt (特别提示) goes to."""

    PERSON = "person"
    POST = "post"
    UNIT = "unit"
    LEVEL = "level"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target: ``person:STAFF_ID``, ``post:ID``, ``unit:ID`` / ``unit:ID+``
    (with sub-units), ``level:high|medium|low`` or ``all``."""

    kind: TargetKind
    value: str = ""
    sub_units: bool = False

    def __str__(self) -> str:
        if self.kind is TargetKind.ALL:
            return "all"
        return f"{self.kind.value}:{self.value}{'+' if self.sub_units else ''}"


_TARGET_HELP = N_(
    "unknown target %(target)r: use person:STAFF_ID, post:ID, unit:ID (unit:ID+ with "
    "sub-units), level:high|medium|low or all"
)


def parse_target(text: str) -> Target:
    """Read a target such as ``unit:3+`` or ``level:高``.

    Raises:
        InvalidInput: not one of the target forms.
    """
    raw = text.strip()
    if raw.lower() in ("all", "全部", "全体"):
        return Target(TargetKind.ALL)
    kind_text, sep, value = raw.partition(":")
    if not sep:
        kind_text, sep, value = raw.partition("：")
    try:
        kind = TargetKind(kind_text.strip().lower())
    except ValueError:
        raise InvalidInput(_TARGET_HELP, target=text) from None
    value = value.strip()
    sub_units = False
    if kind is TargetKind.UNIT and value.endswith("+"):
        sub_units, value = True, value[:-1].strip()
    if not value or kind is TargetKind.ALL:
        raise InvalidInput(_TARGET_HELP, target=text)
    if kind is TargetKind.POST and not is_row_id(value):
        raise InvalidInput(N_("a post is given by its id: post:%(value)s is not one"), value=value)
    if kind is TargetKind.LEVEL:
        value = RiskLevel.parse(value).value
    return Target(kind, value, sub_units)


def describe_target(session: Session, target: Target | str, gettext: Callable[[str], str]) -> str:
    """A target in the reader's words (``gettext``): "everyone", "unit 财政局 and its
    sub-units", "张三 (CW001)", never ``unit:3+`` or ``level:high``.

    A person, post or unit that no longer exists is named by the target as written.
    """
    found = parse_target(target) if isinstance(target, str) else target
    if found.kind is TargetKind.ALL:
        return gettext(N_("everyone"))
    if found.kind is TargetKind.LEVEL:
        level = gettext(RiskLevel(found.value).label)
        return gettext(N_("holders of posts with %(level)s risks")) % {"level": level}
    try:
        if found.kind is TargetKind.PERSON:
            person = get_person(session, staff_id=found.value)
            return f"{person.name} ({person.staff_id})"
        if found.kind is TargetKind.UNIT:
            unit = resolve_unit(session, ref=found.value)
            if found.sub_units:
                return gettext(N_("unit %(unit)s and its sub-units")) % {"unit": unit.name}
            return gettext(N_("unit %(unit)s")) % {"unit": unit.name}
    except NotFound:
        return str(found)
    post = session.get(Post, int(found.value)) if is_row_id(found.value) else None
    return gettext(N_("post %(post)s")) % {"post": post.name if post else found.value}


def _outside_scope(what: str) -> PermissionDenied:
    return PermissionDenied(N_("%(target)s is outside your supervision scope"), target=what)


def check_target(session: Session, target: Target, *, officer: Person | None = None) -> Target:
    """The target with its unit in canonical form (an id), after checking it exists.

    With ``officer``, a ``person``, ``post`` or ``unit`` outside the officer's
    supervision scope is refused (a unit with sub-units: the whole subtree must be
    in scope); ``all`` and ``level`` are left to :func:`resolve_target` to narrow.

    Raises:
        NotFound: no such person, post or unit.
        InvalidInput: the person has left.
        PermissionDenied: the person, post or unit is outside the officer's scope.
    """
    scope = scope_unit_ids(session, officer=officer) if officer is not None else None
    if target.kind is TargetKind.PERSON:
        person = get_person(session, staff_id=target.value)
        if not person.active:
            raise InvalidInput(
                N_("%(name)s (%(staff_id)s) is no longer active"),
                name=person.name,
                staff_id=person.staff_id,
            )
        if officer is not None:
            require_in_scope(session, officer=officer, person=person)
        return Target(target.kind, person.staff_id)
    if target.kind is TargetKind.POST:
        post = session.get(Post, int(target.value))
        if post is None:
            raise NotFound(N_("no post %(ref)r"), ref=target.value)
        if scope is not None and post.unit_id not in scope:
            raise _outside_scope(post.name)
    if target.kind is TargetKind.UNIT:
        unit = resolve_unit(session, ref=target.value)
        units = sub_units(session, [unit.id or 0]) if target.sub_units else {unit.id or 0}
        if scope is not None and not units <= scope:
            raise _outside_scope(unit.name)
        return Target(target.kind, str(unit.id), target.sub_units)
    return target


def resolve_target(
    session: Session, target: Target, on: date, *, within: set[int] | None = None
) -> list[int]:
    """The active people a target reaches on ``on``, by person id (ascending).

    * ``person``: that person;
    * ``post``: whoever holds the post that day;
    * ``unit`` (``+``: and its sub-units): the unit's members and whoever holds
      one of its posts that day;
    * ``level``: whoever holds a post with a risk point of that level that day;
    * ``all``: every active person.

    Args:
        session: an open session.
        target: the target.
        on: the day (who holds which post).
        within: keep only people of these units (an officer's scope,
            :func:`riskprompt.models.scope.scope_unit_ids`); None: everyone.

    Raises:
        NotFound: an unknown person or unit.
    """
    holders = (
        select(Assignment.person_id)
        .join(Person, col(Person.id) == Assignment.person_id)
        .where(col(Person.active).is_(True), active_assignment_filter(on))
    )
    members = select(Person.id).where(col(Person.active).is_(True))
    if within is not None:
        holders = holders.where(col(Person.unit_id).in_(within))
        members = members.where(col(Person.unit_id).in_(within))
    ids: set[int] = set()
    if target.kind is TargetKind.ALL:
        ids.update(session.exec(members).all())  # type: ignore[arg-type]
    elif target.kind is TargetKind.PERSON:
        person = get_person(session, staff_id=target.value)
        if person.active and person.id is not None and (within is None or person.unit_id in within):
            ids.add(person.id)
    elif target.kind is TargetKind.POST:
        ids.update(session.exec(holders.where(Assignment.post_id == int(target.value))).all())
    elif target.kind is TargetKind.UNIT:
        unit = resolve_unit(session, ref=target.value)
        units = sub_units(session, [unit.id or 0]) if target.sub_units else {unit.id or 0}
        posts = select(Post.id).where(col(Post.unit_id).in_(units))
        ids.update(session.exec(holders.where(col(Assignment.post_id).in_(posts))).all())
        ids.update(session.exec(members.where(col(Person.unit_id).in_(units))).all())  # type: ignore[arg-type]
    else:
        posts = select(RiskPoint.post_id).where(RiskPoint.level == RiskLevel(target.value))
        ids.update(session.exec(holders.where(col(Assignment.post_id).in_(posts))).all())
    return sorted(ids)


def reach_of(session: Session, *, officer: Person, target: Target | str, on: date) -> list[int]:
    """Whom an officer's target reaches on ``on``, checked and narrowed to their scope.

    Raises:
        InvalidInput: a malformed target or a person who left.
        NotFound: no such person, post or unit.
        PermissionDenied: the target is outside the officer's scope.
    """
    parsed = check_target(
        session, parse_target(target) if isinstance(target, str) else target, officer=officer
    )
    return resolve_target(session, parsed, on, within=scope_unit_ids(session, officer=officer))


__all__ = [
    "Target",
    "TargetKind",
    "check_target",
    "parse_target",
    "reach_of",
    "resolve_target",
    "sub_units",
]
