"""The assessment as an officer reads it: within their supervision scope.

An officer assesses the units of their scope (sub-units included) and nothing else:
:func:`assess_within` is :func:`~riskprompt.models.assessment.assess` narrowed to the
scope (``within``), so that a unit outside it is not found, as if it did not exist,
and the totals count the scope only.  An admin, or an officer with no scope given,
reads every unit, as ``riskprompt report`` does.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.assessment import Assessment, By, assess
from riskprompt.models.catalog import Unit


@dataclass(frozen=True, slots=True)
class UnitChoice:
    """A unit to choose from, with how deep it sits below the first unit shown."""

    id: int
    name: str
    depth: int


def units_within(session: Session, scope: Collection[int] | None) -> list[UnitChoice]:
    """The units of ``scope`` (None: every unit) in tree order, each under its parent."""
    units = list(session.exec(select(Unit).order_by(col(Unit.name), col(Unit.id))).all())
    shown = [u for u in units if scope is None or u.id in scope]
    ids = {u.id for u in shown}
    children: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in shown:
        children[unit.parent_id if unit.parent_id in ids else None].append(unit)
    choices: list[UnitChoice] = []
    stack = [(unit, 0) for unit in reversed(children[None])]
    seen: set[int] = set()
    while stack:
        unit, depth = stack.pop()
        if unit.id is None or unit.id in seen:
            continue
        seen.add(unit.id)
        choices.append(UnitChoice(unit.id, unit.name, depth))
        stack.extend((child, depth + 1) for child in reversed(children[unit.id]))
    return choices


def assess_within(
    session: Session,
    *,
    scope: Collection[int] | None,
    scope_label: str | None,
    period: str,
    settings: Settings,
    unit_id: int | None = None,
    by: By = "unit",
) -> Assessment:
    """The assessment of ``period`` within an officer's scope.

    Args:
        session: an open session (read only).
        scope: the unit ids the officer supervises, sub-units included; None: every unit.
        scope_label: what the heading calls the scope when no unit is chosen (the names
            of the units it names, as the reader lists them); None: by the unit.
        period: the month, ``YYYY-MM``.
        settings: the time zone and the score's weights (``ASSESSMENT_WEIGHTS``).
        unit_id: only this unit of the scope and its sub-units.
        by: one row per unit or per person.

    Raises:
        InvalidInput: a malformed period or ``by``.
        NotFound: ``unit_id`` is not a unit of the scope.
    """
    result = assess(session, period=period, settings=settings, unit_id=unit_id, by=by, within=scope)
    if unit_id is None and scope is not None and scope_label:
        result = dataclasses.replace(result, scope=scope_label)
    return result


__all__ = ["UnitChoice", "assess_within", "units_within"]
