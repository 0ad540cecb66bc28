"""Export the catalogue and people in the layout the importers read.

An exported file imports back as a no-op: the same columns, the values as stored
(measures, posts and an officer's supervision scope joined with ``；``), risk
levels and roles in words that
:meth:`RiskLevel.parse` and :meth:`Role.parse` read.  Headers are Chinese for
zh_CN and English otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from riskprompt.models.catalog import Post, Power, RiskLevel, RiskPoint, Unit, join_measures
from riskprompt.models.importing import CATALOG_LAYOUT, PEOPLE_LAYOUT
from riskprompt.models.people import Assignment, Person, Role
from riskprompt.models.queries import active_assignment_filter
from riskprompt.models.scope import Supervision
from riskprompt.models.tabular import write_table

_LEVEL_WORDS = {
    "zh_CN": {RiskLevel.HIGH: "高", RiskLevel.MEDIUM: "中", RiskLevel.LOW: "低"},
    "en": {RiskLevel.HIGH: "high", RiskLevel.MEDIUM: "medium", RiskLevel.LOW: "low"},
}
_ROLE_WORDS = {
    "zh_CN": {Role.STAFF: "工作人员", Role.OFFICER: "纪检监察", Role.ADMIN: "管理员"},
    "en": {Role.STAFF: "staff", Role.OFFICER: "officer", Role.ADMIN: "admin"},
}
POST_SEPARATOR = "；"


def _words(table: dict[str, dict[object, str]], locale: str) -> dict[object, str]:
    return table.get(locale, table["en"])


def catalog_header(locale: str) -> list[str]:
    """The header row of a catalogue file for ``locale``."""
    return CATALOG_LAYOUT.header(locale)


def catalog_rows(session: Session, *, locale: str) -> Iterator[list[str]]:
    """The catalogue as rows in :data:`CATALOG_LAYOUT` order, one per risk point.

    Per post: its risk points (with their power) in the order they were created,
    then its powers no risk point refers to, or a single row when the post has
    neither; a unit without posts gets a row of its own.  So every unit, post and
    power survives the round trip.
    """
    levels = _words(_LEVEL_WORDS, locale)  # type: ignore[arg-type]
    connection = session.connection()
    unit, post, power, point = (
        Unit.__table__,  # type: ignore[attr-defined]
        Post.__table__,  # type: ignore[attr-defined]
        Power.__table__,  # type: ignore[attr-defined]
        RiskPoint.__table__,  # type: ignore[attr-defined]
    )
    units = connection.execute(
        select(unit.c.id, unit.c.name, unit.c.parent_id).order_by(unit.c.id)
    ).all()
    names = {unit_id: name for unit_id, name, _ in units}
    posts_of: dict[int, list[tuple[int, str]]] = {}
    for post_id, unit_id, name in connection.execute(
        select(post.c.id, post.c.unit_id, post.c.name).order_by(post.c.id)
    ):
        posts_of.setdefault(unit_id, []).append((post_id, name))
    powers: dict[int, tuple[str, str, str, str]] = {}
    powers_of: dict[int, list[int]] = {}
    for power_id, post_id, name, content, legal_basis, body in connection.execute(
        select(
            power.c.id,
            power.c.post_id,
            power.c.name,
            power.c.content,
            power.c.legal_basis,
            power.c.exercising_body,
        ).order_by(power.c.id)
    ):
        powers[power_id] = (name, content, legal_basis, body)
        powers_of.setdefault(post_id, []).append(power_id)
    points_of: dict[int, list[tuple[int | None, str, RiskLevel, str, list[str]]]] = {}
    for post_id, power_id, description, level, cause, measures in connection.execute(
        select(
            point.c.post_id,
            point.c.power_id,
            point.c.description,
            point.c.level,
            point.c.cause,
            point.c.measures,
        ).order_by(point.c.id)
    ):
        points_of.setdefault(post_id, []).append(
            (power_id, description, RiskLevel(level), cause, measures)
        )

    no_power = ("", "", "", "")
    for unit_id, unit_name, parent_id in units:
        parent = names.get(parent_id, "") if parent_id else ""
        unit_posts = posts_of.get(unit_id)
        if not unit_posts:
            yield [unit_name, parent, "", "", "", "", "", "", "", "", ""]
            continue
        for post_id, post_name in unit_posts:
            points = points_of.get(post_id, [])
            used: set[int] = set()
            for power_id, description, level, cause, measures in points:
                if power_id is not None:
                    used.add(power_id)
                name, content, legal_basis, body = (
                    powers.get(power_id, no_power) if power_id else no_power
                )
                yield [
                    unit_name,
                    parent,
                    post_name,
                    name,
                    content,
                    legal_basis,
                    body,
                    description,
                    levels[level],
                    cause,
                    join_measures(measures),
                ]
            spare = [p for p in powers_of.get(post_id, []) if p not in used]
            for power_id in spare:
                name, content, legal_basis, body = powers[power_id]
                yield [
                    unit_name,
                    parent,
                    post_name,
                    name,
                    content,
                    legal_basis,
                    body,
                    "",
                    "",
                    "",
                    "",
                ]
            if not points and not spare:
                yield [unit_name, parent, post_name, "", "", "", "", "", "", "", ""]


def people_header(locale: str) -> list[str]:
    """The header row of a people file for ``locale``."""
    return PEOPLE_LAYOUT.header(locale)


def people_rows(session: Session, *, locale: str, today: date) -> Iterator[list[str]]:
    """People as rows in :data:`PEOPLE_LAYOUT` order, by staff id, with the posts held ``today``."""
    roles = _words(_ROLE_WORDS, locale)  # type: ignore[arg-type]
    connection = session.connection()
    unit, post, person, assignment = (
        Unit.__table__,  # type: ignore[attr-defined]
        Post.__table__,  # type: ignore[attr-defined]
        Person.__table__,  # type: ignore[attr-defined]
        Assignment.__table__,  # type: ignore[attr-defined]
    )
    units = {i: n for i, n in connection.execute(select(unit.c.id, unit.c.name))}
    held: dict[int, list[str]] = {}
    for person_id, name in connection.execute(
        select(assignment.c.person_id, post.c.name)
        .join(post, post.c.id == assignment.c.post_id)
        .where(active_assignment_filter(today))
        .order_by(assignment.c.post_id, assignment.c.id)
    ):
        names = held.setdefault(person_id, [])
        if name not in names:
            names.append(name)
    supervision = Supervision.__table__  # type: ignore[attr-defined]
    scopes: dict[int, list[str]] = {}
    for officer_id, unit_id in connection.execute(
        select(supervision.c.officer_id, supervision.c.unit_id)
    ):
        scopes.setdefault(officer_id, []).append(units.get(unit_id, ""))
    people = connection.execute(select(person).order_by(person.c.staff_id)).mappings().all()
    staff_ids = {p["id"]: p["staff_id"] for p in people}
    for p in people:
        yield [
            p["name"],
            p["staff_id"],
            units.get(p["unit_id"], ""),
            POST_SEPARATOR.join(held.get(p["id"], [])),
            p["mobile"] or "",
            p["email"] or "",
            p["wecom_userid"] or "",
            p["dingtalk_userid"] or "",
            roles[Role(p["role"])],
            staff_ids.get(p["supervisor_id"], "") if p["supervisor_id"] else "",
            p["locale"],
            p["channels"],
            p["timezone"],
            POST_SEPARATOR.join(sorted(scopes.get(p["id"], []))),
        ]


def export_catalog(session: Session, *, path: Path, locale: str, source: str | None = None) -> int:
    """Write the whole catalogue to ``path`` (.csv or .xlsx); returns the number of rows.

    Raises:
        TableError: an unsupported extension, or the file cannot be written.
    """
    return write_table(
        path,
        headers=catalog_header(locale),
        rows=catalog_rows(session, locale=locale),
        source=source,
        title="职权目录" if locale == "zh_CN" else "Catalogue",
    )


def export_people(
    session: Session, *, path: Path, locale: str, today: date, source: str | None = None
) -> int:
    """Write every person to ``path`` (.csv or .xlsx); returns the number of rows.

    Raises:
        TableError: an unsupported extension, or the file cannot be written.
    """
    return write_table(
        path,
        headers=people_header(locale),
        rows=people_rows(session, locale=locale, today=today),
        source=source,
        title="人员" if locale == "zh_CN" else "People",
    )
