"""Rules of the monthly cycle: the month's key work (重点工作) and which periods may be planned.

``notifications/planning.py`` plans the cycle (the *when*); what an officer may
set, and which period a cycle may be run for, is decided here.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.catalog import Unit
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.people import Person, require_officer
from riskprompt.models.periods import current_period, parse_period, shift_period
from riskprompt.models.prompts import FocusWork
from riskprompt.models.scope import scope_unit_ids
from riskprompt.models.text import check_storable

#: How many periods after the current one a cycle may be planned without ``force``.
PERIODS_AHEAD = 1


def check_cycle_period(
    period: str, *, clock: Clock, settings: Settings, force: bool = False
) -> str:
    """``period`` checked as one a monthly cycle may be planned for.

    A period more than :data:`PERIODS_AHEAD` month after the current one is almost
    always a typing slip (``2027-21`` for ``2026-12`` is refused as malformed, but
    ``2027-12`` is not): it is refused unless ``force``.  Past periods are allowed
    (catching up).

    Args:
        period: the period, ``YYYY-MM``.
        clock: the clock (the current period).
        settings: the settings (time zone).
        force: plan a far period all the same.

    Returns:
        The period in canonical form.

    Raises:
        InvalidInput: a malformed period, or one too far ahead without ``force``.
    """
    period = parse_period(period)
    current = current_period(clock=clock, settings=settings)
    if not force and period > shift_period(current, PERIODS_AHEAD):
        raise InvalidInput(
            N_(
                "%(period)s is more than one month after the current period %(current)s: "
                "check the period, or force it (--force)"
            ),
            period=period,
            current=current,
        )
    return period


def set_focus(
    session: Session,
    *,
    actor: Person,
    period: str,
    text: str,
    unit_id: int | None = None,
    clock: Clock,
) -> FocusWork:
    """Set the month's key work (重点工作) for every unit, or for one unit and its sub-units.

    Setting it again replaces the text.  The caller commits.

    Args:
        session: the open session.
        actor: the officer setting it.
        period: the period, ``YYYY-MM``.
        text: the key work, e.g. ``年底集中采购和资金拨付``.
        unit_id: the unit it applies to (with its sub-units); None for everyone.
        clock: the clock.

    Returns:
        The key work row (flushed).

    Raises:
        PermissionDenied: the actor is not an officer, or the unit (every unit) is
            outside their supervision scope.
        InvalidInput: a malformed period or an empty text.
        NotFound: no such unit.
    """
    require_officer(actor)
    period = parse_period(period)
    text = check_storable(text.strip(), N_("the key work text"))
    if not text:
        raise InvalidInput(N_("the key work text is empty"))
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit_id is not None and unit is None:
        raise NotFound(N_("no unit %(ref)r"), ref=str(unit_id))
    scope = scope_unit_ids(session, officer=actor)
    if scope is not None:
        if unit is None:
            raise PermissionDenied(
                N_("the key work of every unit is set by an officer who supervises every unit")
            )
        if unit.id not in scope:
            raise PermissionDenied(
                N_("%(target)s is outside your supervision scope"),
                target=unit.name,
            )
    now = clock.now()
    query = select(FocusWork).where(FocusWork.period == period)
    query = query.where(
        col(FocusWork.unit_id).is_(None) if unit_id is None else FocusWork.unit_id == unit_id
    )
    focus = session.exec(query).first()
    if focus is None:
        focus = FocusWork(
            period=period, unit_id=unit_id, text=text, set_by_id=actor.id or 0, updated_at=now
        )
    else:
        focus.text = text
        focus.set_by_id = actor.id or 0
        focus.updated_at = now
    session.add(focus)
    session.flush()
    record(
        session,
        at=now,
        actor_id=actor.id,
        action="focus.set",
        subject_type="focus_work",
        subject_id=focus.id,
        data={"period": period, "unit_id": unit_id, "text": text},
    )
    return focus
