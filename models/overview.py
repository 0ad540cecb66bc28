"""The overview (总览) of an officer's supervision scope: units × what needs attention.

One row per unit of the scope, in the scope's tree (a unit, then the units below
it).  Each row counts the unit **with the units below it** (as the console's other
lists filter by ``unit``: the unit and its sub-units), so that a cell's figure is
what its drill-down lists; the totals count each person once.  Per row:

- **risk points** of the posts by level (高/中/低), from the catalogue;
- **prompts acknowledged %** for the period: the prompts of the period that require
  an acknowledgement (not cancelled) and how many of them are acknowledged.  The
  prompts of a period are those of the assessment
  (:func:`riskprompt.models.listings.prompts_of_period`);
- **open warnings** by colour (黄/橙/红) as they stand now (any state of
  :data:`~riskprompt.models.warnings.OPEN_STATES`);
- **overdue**: open warnings still waiting for their addressee
  (:data:`~riskprompt.models.warnings.WAITING_STATES`) whose deadline has passed;
- **corrections waiting** for review (submitted, not the officer's own).

The figures are a handful of aggregate queries (``GROUP BY`` unit), however many
units the scope holds; the sub-units are added up in memory.  Nothing outside the
scope is read into a figure: not a row, not a total, not a column's maximum.

**Heat** (0–5, the console's ``.heat-0`` … ``.heat-5``): how bad a cell is.

- A count: 0 for none; otherwise ``ceil(cap × n / max)`` (at least 1), where ``max``
  is the column's largest count among the scope's units at the same depth of the
  tree (a unit is compared with its peers, not with the unit above it, which holds
  it) and ``cap`` the column's severity (:data:`HEAT_CAPS`: a red warning or an
  overdue one can reach 5, a low risk point 2).
- Acknowledged %: by the share not acknowledged (:data:`MISSING_STEPS`): none 0,
  up to 5 % 1, 15 % 2, 30 % 3, 50 % 4, more 5; no prompt to acknowledge: 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.assessment import period_span
from riskprompt.models.catalog import Post, RiskLevel, RiskPoint, Unit
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.listings import Page, prompts_of_period, unindexed
from riskprompt.models.people import Person, require_officer
from riskprompt.models.periods import parse_period
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.scope import scope_unit_ids
from riskprompt.models.warnings import (
    OPEN_STATES,
    WAITING_STATES,
    Rectification,
    RectificationStatus,
    Warning,
    WarningColour,
)

#: The columns of the heat map, in the order shown.
COLUMNS: tuple[str, ...] = (
    "high",
    "medium",
    "low",
    "acknowledged",
    "yellow",
    "orange",
    "red",
    "overdue",
    "corrections",
)
#: The darkest heat each count column can reach (see the module's docstring).
HEAT_CAPS: dict[str, int] = {
    "high": 4,
    "medium": 3,
    "low": 2,
    "yellow": 3,
    "orange": 4,
    "red": 5,
    "overdue": 5,
    "corrections": 3,
}
#: Upper bounds of the share not acknowledged for heat 1, 2, 3, 4 (above: 5).
MISSING_STEPS: tuple[float, ...] = (0.05, 0.15, 0.30, 0.50)
#: Units per page of the overview.
PER_PAGE = 50
#: The longest unit-name search accepted.
MAX_SEARCH = 100

_LEVELS = frozenset(level.value for level in RiskLevel)
_COLOURS = frozenset(colour.value for colour in WarningColour)

#: The orders of the rows: the scope's tree, or the units needing attention first.
ORDERS: tuple[str, ...] = ("tree", "attention")


@dataclass(slots=True)
class UnitFigures:
    """One unit's figures (or the scope's totals: ``unit_id`` 0).

    Attributes:
        unit_id / name / parent_id / depth: the unit, and how deep it sits in the
            scope's tree (0: a unit the scope names, or one whose parent is outside it).
        people: its active people (all its figures: with the units below it).
        risk: its posts' risk points by level.
        prompts: prompts of the period requiring an acknowledgement.
        acknowledged: how many of them are acknowledged.
        warnings: open warnings by colour.
        overdue: open warnings past their deadline, waiting for the addressee.
        corrections: corrections waiting for review.
        heat: the heat (0–5) of each column of :data:`COLUMNS`.
    """

    unit_id: int
    name: str
    parent_id: int | None = None
    depth: int = 0
    people: int = 0
    risk: dict[RiskLevel, int] = field(default_factory=lambda: dict.fromkeys(RiskLevel, 0))
    prompts: int = 0
    acknowledged: int = 0
    warnings: dict[WarningColour, int] = field(
        default_factory=lambda: dict.fromkeys(WarningColour, 0)
    )
    overdue: int = 0
    corrections: int = 0
    heat: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMNS, 0))

    @property
    def ack_rate(self) -> float | None:
        """Acknowledged / prompts requiring one; None when none required one."""
        return self.acknowledged / self.prompts if self.prompts else None

    @property
    def waiting(self) -> int:
        """Prompts of the period not acknowledged yet."""
        return self.prompts - self.acknowledged

    @property
    def open_warnings(self) -> int:
        """Open warnings, every colour."""
        return sum(self.warnings.values())

    def count(self, column: str) -> int:
        """The count shown in a count column of :data:`COLUMNS`."""
        if column in _LEVELS:
            return self.risk[RiskLevel(column)]
        if column in _COLOURS:
            return self.warnings[WarningColour(column)]
        if column == "overdue":
            return self.overdue
        if column == "corrections":
            return self.corrections
        raise KeyError(column)

    def attention(self) -> tuple[int, ...]:
        """What sorts the units needing attention first (larger: sooner)."""
        return (
            self.overdue,
            self.warnings[WarningColour.RED],
            self.warnings[WarningColour.ORANGE],
            self.corrections,
            self.waiting,
            self.warnings[WarningColour.YELLOW],
        )

    def add(self, other: UnitFigures) -> None:
        """Add ``other``'s counts to this row (the heat is not added)."""
        self.people += other.people
        for level, n in other.risk.items():
            self.risk[level] += n
        self.prompts += other.prompts
        self.acknowledged += other.acknowledged
        for colour, n in other.warnings.items():
            self.warnings[colour] += n
        self.overdue += other.overdue
        self.corrections += other.corrections


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview of a scope for one period.

    Attributes:
        period: the period (``YYYY-MM``).
        start / end: its bounds (first instant of the month and of the next).
        now: the moment the open and overdue warnings are counted at.
        units: the page of unit rows (filtered by the search, in the order asked).
        totals: the whole scope's totals (every unit, whatever the search).
        scope_units: how many units the scope holds.
    """

    period: str
    start: datetime
    end: datetime
    now: datetime
    units: Page[UnitFigures]
    totals: UnitFigures
    scope_units: int


def count_heat(n: int, largest: int, cap: int) -> int:
    """The heat of a count: 0 for none, else ``ceil(cap × n / largest)`` (at least 1)."""
    if n <= 0 or largest <= 0:
        return 0
    return max(1, min(cap, math.ceil(cap * n / largest)))


def ack_heat(rate: float | None) -> int:
    """The heat of an acknowledged share: by the share missing (:data:`MISSING_STEPS`)."""
    if rate is None:
        return 0
    missing = 1.0 - rate
    if missing <= 1e-9:
        return 0
    for heat, bound in enumerate(MISSING_STEPS, start=1):
        if missing <= bound + 1e-9:
            return heat
    return 5


@dataclass(frozen=True, slots=True)
class ScopeUnit:
    """A unit of an officer's scope in tree order.

    Attributes:
        id / name: the unit.
        parent_id: the unit above it within the scope (None: a top unit of the scope).
        depth: how deep it sits below a top unit (0: a top unit).
        subtree: its id and those of the units below it, within the scope.
    """

    id: int
    name: str
    parent_id: int | None
    depth: int
    subtree: frozenset[int]


def _tree(units: list[tuple[int, str, int | None]]) -> list[ScopeUnit]:
    """The units in tree order (a parent before its sub-units, by id).

    A unit whose parent is not among ``units`` is a top unit; so is each unit of a
    cycle of parents (data that should not be, shown rather than lost).
    """
    present = {unit_id for unit_id, _name, _parent in units}
    children: dict[int | None, list[tuple[int, str, int | None]]] = defaultdict(list)
    for unit in units:
        children[unit[2] if unit[2] in present else None].append(unit)
    placed: list[tuple[int, str, int | None, int]] = []
    seen: set[int] = set()

    def walk(root: tuple[int, str, int | None]) -> None:
        stack: list[tuple[tuple[int, str, int | None], int | None, int]] = [(root, None, 0)]
        while stack:
            (unit_id, name, _parent), above, depth = stack.pop()
            if unit_id in seen:
                continue
            seen.add(unit_id)
            placed.append((unit_id, name, above, depth))
            stack.extend((c, unit_id, depth + 1) for c in sorted(children[unit_id], reverse=True))

    for root in sorted(children[None]):
        walk(root)
    for unit in units:
        if unit[0] not in seen:
            walk(unit)
    below: dict[int, set[int]] = {unit_id: {unit_id} for unit_id, *_rest in placed}
    for unit_id, _name, above, _depth in reversed(placed):  # children before parents
        if above is not None:
            below[above] |= below[unit_id]
    return [ScopeUnit(u, n, a, d, frozenset(below[u])) for u, n, a, d in placed]


def scope_units(session: Session, *, officer: Person) -> list[ScopeUnit]:
    """The units of the officer's supervision scope, in tree order (every unit: None scope).

    Raises:
        PermissionDenied: ``officer`` is not an officer.
    """
    require_officer(officer)
    return _scope_units(session, scope_unit_ids(session, officer=officer))


def _scope_units(session: Session, scope: set[int] | None) -> list[ScopeUnit]:
    query = select(Unit.id, Unit.name, Unit.parent_id).order_by(col(Unit.id))
    if scope is not None:
        query = query.where(col(Unit.id).in_(sorted(scope)))
    return _tree([(u or 0, n, p) for u, n, p in session.exec(query).all()])


def unit_in_scope(session: Session, *, officer: Person, unit_id: int) -> ScopeUnit:
    """One unit of the officer's supervision scope (a filter's value, checked), with the
    ids of the units below it within the scope.

    Raises:
        PermissionDenied: ``officer`` is not an officer.
        NotFound: no unit of their scope has that id (whether or not it exists elsewhere).
    """
    for unit in scope_units(session, officer=officer):
        if unit.id == unit_id:
            return unit
    raise NotFound(N_("There is no unit %(id)s in your supervision scope."), id=unit_id)


def scope_overview(
    session: Session,
    *,
    officer: Person,
    period: str,
    settings: Settings,
    now: datetime,
    search: str | None = None,
    order: str = "tree",
    limit: int = PER_PAGE,
    offset: int = 0,
) -> Overview:
    """The overview of the officer's supervision scope for ``period``.

    Args:
        session: an open session (read only).
        officer: who looks: an officer (their scope) or an admin (every unit).
        period: the period, ``YYYY-MM``.
        settings: for the time zone the period is read in.
        now: the moment open and overdue warnings are counted at.
        search: keep the units whose name holds this (the totals keep the whole scope).
        order: ``tree`` (a parent, then its sub-units) or ``attention`` (overdue, red,
            orange, corrections waiting, not acknowledged, yellow: most first).
        limit: units per page.
        offset: units to skip.

    Raises:
        PermissionDenied: ``officer`` is not an officer.
        InvalidInput: a malformed period, an unknown order, a search too long.
    """
    require_officer(officer)
    period = parse_period(period)
    if order not in ORDERS:
        raise InvalidInput(
            N_("unknown order %(value)r: use %(known)s"), value=order, known=", ".join(ORDERS)
        )
    needle = (search or "").strip()
    if len(needle) > MAX_SEARCH:
        raise InvalidInput(N_("the search is longer than %(n)s characters"), n=MAX_SEARCH)
    start, end = period_span(period, settings)
    scope = scope_unit_ids(session, officer=officer)
    ids = sorted(scope) if scope is not None else None

    def within(column: Any) -> list[Any]:
        return [] if ids is None else [col(column).in_(ids)]

    tree = _scope_units(session, scope)
    rows = {u.id: UnitFigures(u.id, u.name) for u in tree}  # each unit's own figures

    for unit_id, n in session.exec(
        select(Person.unit_id, func.count())
        .where(col(Person.active).is_(True), *within(Person.unit_id))
        .group_by(col(Person.unit_id))
    ).all():
        if unit_id in rows:
            rows[unit_id].people = int(n)

    for unit_id, level, n in session.exec(
        select(Post.unit_id, RiskPoint.level, func.count())
        .join(Post, col(Post.id) == col(RiskPoint.post_id))
        .where(*within(Post.unit_id))
        .group_by(col(Post.unit_id), col(RiskPoint.level))
    ).all():
        if unit_id in rows:
            rows[unit_id].risk[RiskLevel(level)] += int(n)

    acknowledged = func.coalesce(
        func.sum(case((col(Prompt.status) == PromptStatus.ACKNOWLEDGED, 1), else_=0)), 0
    )
    for unit_id, n, done in session.exec(
        select(Person.unit_id, func.count(), acknowledged)
        .join(Person, col(Person.id) == unindexed(session, col(Prompt.person_id)))
        .where(
            prompts_of_period(period, start, end),
            col(Prompt.requires_ack).is_(True),
            col(Prompt.status) != PromptStatus.CANCELLED,
            *within(Person.unit_id),
        )
        .group_by(col(Person.unit_id))
    ).all():
        if unit_id in rows:
            rows[unit_id].prompts, rows[unit_id].acknowledged = int(n), int(done)

    overdue = func.coalesce(
        func.sum(
            case(
                (
                    and_(
                        col(Warning.status).in_(sorted(WAITING_STATES)),
                        col(Warning.deadline) < now,
                    ),
                    1,
                ),
                else_=0,
            )
        ),
        0,
    )
    for unit_id, colour, n, late in session.exec(
        select(Person.unit_id, Warning.colour, func.count(), overdue)
        .join(Person, col(Person.id) == col(Warning.person_id))
        .where(col(Warning.status).in_(sorted(OPEN_STATES)), *within(Person.unit_id))
        .group_by(col(Person.unit_id), col(Warning.colour))
    ).all():
        if unit_id in rows:
            rows[unit_id].warnings[WarningColour(colour)] += int(n)
            rows[unit_id].overdue += int(late)

    for unit_id, n in session.exec(
        select(Person.unit_id, func.count())
        .select_from(Rectification)
        .join(Person, col(Person.id) == col(Rectification.person_id))
        .where(
            col(Rectification.status) == RectificationStatus.SUBMITTED,
            col(Rectification.person_id) != officer.id,
            *within(Person.unit_id),
        )
        .group_by(col(Person.unit_id))
    ).all():
        if unit_id in rows:
            rows[unit_id].corrections = int(n)

    totals = UnitFigures(0, "")
    for own in rows.values():
        totals.add(own)
    totals.heat["acknowledged"] = ack_heat(totals.ack_rate)
    every: list[UnitFigures] = []
    for unit in tree:  # each unit with the units below it
        row = UnitFigures(unit.id, unit.name, unit.parent_id, unit.depth)
        for unit_id in unit.subtree:
            row.add(rows[unit_id])
        every.append(row)
    largest: dict[tuple[int, str], int] = defaultdict(int)
    for row in every:
        for column in HEAT_CAPS:
            key = (row.depth, column)
            largest[key] = max(largest[key], row.count(column))
    for row in every:
        for column, cap in HEAT_CAPS.items():
            row.heat[column] = count_heat(row.count(column), largest[(row.depth, column)], cap)
        row.heat["acknowledged"] = ack_heat(row.ack_rate)

    shown = [row for row in every if needle.casefold() in row.name.casefold()]
    if order == "attention":
        shown.sort(key=lambda row: tuple(-n for n in row.attention()))  # stable: tree order
    total = len(shown)
    if total and offset >= total:
        offset = (total - 1) // limit * limit  # past the end: the last page
    page = Page(shown[offset : offset + limit], total, limit, max(offset, 0))
    return Overview(
        period=period,
        start=start,
        end=end,
        now=now,
        units=page,
        totals=totals,
        scope_units=len(every),
    )


__all__ = [
    "COLUMNS",
    "HEAT_CAPS",
    "MISSING_STEPS",
    "ORDERS",
    "PER_PAGE",
    "Overview",
    "ScopeUnit",
    "UnitFigures",
    "ack_heat",
    "count_heat",
    "scope_overview",
    "scope_units",
    "unit_in_scope",
]
