"""Assessment (考核评估): per unit or per person, how a period's prompts and warnings went.

Definitions (``period`` is a month ``YYYY-MM``; its bounds are the first instant of
the month and of the next one in the configured time zone, ``settings.TIMEZONE``):

- **Prompts of the period**: a monthly prompt (月度提示) by its ``period`` column; a
  special prompt (特别提示) by the local month of its ``created_at``.  Cancelled
  prompts are left out.
- **Sent**: a prompt with at least one delivery whose status is ``sent``.
- **Acknowledged %**: prompts acknowledged / prompts of the period that require an
  acknowledgement (sent or not: a prompt that never reached its reader counts as
  unacknowledged).  None when no prompt required one.
- **Median time to acknowledge**: the median of (``acknowledged_at`` − the first
  ``sent_at`` of its deliveries) over the acknowledged prompts that were sent; an
  acknowledgement recorded before the first recorded send counts as zero.
- **Warnings by colour**: warnings issued in the period (``created_at`` within the
  bounds), by their colour now (an escalated warning counts in its new colour).
- **Corrections on time / late**: warnings whose correction was accepted (status
  ``closed``) with ``closed_at`` in the period, on or before / after the deadline
  (the deadline as it stands: a rejection or an escalation moves it).
- **Open**: warnings created before the period's end and not closed or withdrawn
  by then (``closed_at`` is empty or falls after the end).
- **Escalations**: the sum of ``Warning.escalations`` over the warnings that were
  open at some moment of the period.

Score (0–100) per row, with weights ``w`` (the settings' ``ASSESSMENT_WEIGHTS``,
or a ``--weights`` TOML file over them)::

    raw   = Σ w[k] · m[k]        over the measures k that apply to the row
    score = 100 · clamp(raw / Σ w[k] > 0 of those measures, 0, 1)

The measures are ``acknowledged`` (the acknowledged ratio; it applies when a prompt
required an acknowledgement), ``on_time`` (on time / (on time + late); it applies
when a correction was accepted), and ``open_warnings`` and ``escalations`` (the
counts per person of the row, capped at 1; they always apply).  Positive weights
reward, negative weights penalise; a row with every prompt acknowledged, every
correction on time and nothing open or escalated scores 100.

A measure with nothing to measure is left out, weight and all: it neither gives
nor takes points.  A row where no rewarding measure applies (a unit, a person or a
whole period without a prompt to acknowledge or a correction accepted) has **no
score** (None, shown as —), not 100, and is not ranked.

Rank: rows with a score, by score, highest first; equal scores share a rank
(1, 2, 2, 4).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import DEFAULT_ASSESSMENT_WEIGHTS
from riskprompt.models.catalog import Unit
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.people import Person
from riskprompt.models.periods import parse_period
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import Warning, WarningColour, WarningStatus

if TYPE_CHECKING:
    from riskprompt.config.settings import Settings

DEFAULT_WEIGHTS = DEFAULT_ASSESSMENT_WEIGHTS
"""The measures a score weighs, with their default weights (``ASSESSMENT_WEIGHTS``)."""

By = Literal["unit", "person"]


def parse_weights(
    values: Mapping[str, object], base: Mapping[str, float] | None = None
) -> dict[str, float]:
    """``base`` (default: :data:`DEFAULT_WEIGHTS`) overridden by ``values`` (e.g. a TOML file).

    Raises:
        InvalidInput: an unknown key, a value that is not a number, or no positive weight.
    """
    weights = dict(base if base is not None else DEFAULT_WEIGHTS)
    for key, value in values.items():
        if key not in DEFAULT_WEIGHTS:
            raise InvalidInput(
                N_("unknown weight %(key)r: use %(known)s"),
                key=key,
                known=", ".join(DEFAULT_WEIGHTS),
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(N_("the weight %(key)s must be a number"), key=key)
        weights[key] = float(value)
    if not any(w > 0 for w in weights.values()):
        raise InvalidInput(N_("at least one weight must be positive"))
    return weights


@dataclass(slots=True)
class AssessmentRow:
    """The figures of one unit or one person for the period."""

    key: int
    name: str
    unit: str
    people: int = 0
    prompts: int = 0
    sent: int = 0
    requiring_ack: int = 0
    acknowledged: int = 0
    ack_durations: list[timedelta] = field(default_factory=list)
    warnings: dict[WarningColour, int] = field(
        default_factory=lambda: dict.fromkeys(WarningColour, 0)
    )
    on_time: int = 0
    late: int = 0
    open: int = 0
    escalations: int = 0
    score: float | None = None
    rank: int | None = None

    @property
    def ack_rate(self) -> float | None:
        """Acknowledged / requiring an acknowledgement; None when none required one."""
        return self.acknowledged / self.requiring_ack if self.requiring_ack else None

    @property
    def median_ack(self) -> timedelta | None:
        """The median time to acknowledge, None when nothing sent was acknowledged."""
        return statistics.median(self.ack_durations) if self.ack_durations else None

    @property
    def warnings_issued(self) -> int:
        """Warnings issued in the period, every colour."""
        return sum(self.warnings.values())

    @property
    def received_anything(self) -> bool:
        """Whether the row had a prompt or a warning in play during the period."""
        return bool(
            self.prompts
            or self.warnings_issued
            or self.on_time
            or self.late
            or self.open
            or self.escalations
        )

    def add(self, other: AssessmentRow) -> None:
        """Add ``other``'s counts to this row (the score is not added)."""
        self.people += other.people
        self.prompts += other.prompts
        self.sent += other.sent
        self.requiring_ack += other.requiring_ack
        self.acknowledged += other.acknowledged
        self.ack_durations.extend(other.ack_durations)
        for colour, n in other.warnings.items():
            self.warnings[colour] += n
        self.on_time += other.on_time
        self.late += other.late
        self.open += other.open
        self.escalations += other.escalations


@dataclass(slots=True)
class Assessment:
    """The assessment of a period: one row per unit (or person) and the totals.

    ``scope`` is the name of the unit asked for (with its sub-units); None for all.
    """

    period: str
    by: By
    start: datetime
    end: datetime
    weights: dict[str, float]
    rows: list[AssessmentRow]
    totals: AssessmentRow
    scope: str | None = None

    @property
    def ranked(self) -> list[AssessmentRow]:
        """The rows with a score, by rank (best first; ties in report order)."""
        return sorted(
            (row for row in self.rows if row.rank is not None), key=lambda row: row.rank or 0
        )


def period_span(period: str, settings: Settings) -> tuple[datetime, datetime]:
    """The first instant of ``period`` and of the next month, in the configured zone.

    Raises:
        InvalidInput: the period is malformed.
    """
    year, month = (int(part) for part in parse_period(period).split("-"))
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    zone = settings.zone
    return datetime.combine(first, time(), zone), datetime.combine(following, time(), zone)


def measures(row: AssessmentRow) -> dict[str, float]:
    """The row's measures that apply (see the module docstring), each in 0–1."""
    people = max(row.people, 1)
    corrections = row.on_time + row.late
    result: dict[str, float] = {}
    if row.ack_rate is not None:
        result["acknowledged"] = row.ack_rate
    if corrections:
        result["on_time"] = row.on_time / corrections
    result["open_warnings"] = min(row.open / people, 1.0)
    result["escalations"] = min(row.escalations / people, 1.0)
    return result


def score(row: AssessmentRow, weights: Mapping[str, float]) -> float | None:
    """The row's score, 0–100, by the formula in the module docstring.

    None when no rewarding measure applies: nothing was there to assess.
    """
    applying = measures(row)
    positive = sum(w for key, w in weights.items() if w > 0 and key in applying)
    if positive <= 0:
        return None
    raw = sum(weights.get(key, 0.0) * value for key, value in applying.items())
    return round(100 * min(max(raw / positive, 0.0), 1.0), 1)


def rank_rows(rows: list[AssessmentRow]) -> None:
    """Set each row's ``rank`` by score, highest first (ties share); None without a score."""
    scored = sorted((row.score for row in rows if row.score is not None), reverse=True)
    first_place: dict[float, int] = {}
    for place, value in enumerate(scored, start=1):
        first_place.setdefault(value, place)
    for row in rows:
        row.rank = first_place[row.score] if row.score is not None else None


def _units_in_scope(session: Session, unit_id: int | None) -> list[Unit]:
    units = list(session.exec(select(Unit).order_by(col(Unit.id))).all())
    if unit_id is None:
        return units
    if not any(u.id == unit_id for u in units):
        raise NotFound(N_("no unit %(ref)r"), ref=str(unit_id))
    children: dict[int | None, list[Unit]] = defaultdict(list)
    for unit in units:
        children[unit.parent_id].append(unit)
    scope: set[int] = set()
    todo = [unit_id]
    while todo:  # the unit and its sub-units, however deep
        current = todo.pop()
        if current in scope:
            continue
        scope.add(current)
        todo.extend(u.id for u in children[current] if u.id is not None)
    return [u for u in units if u.id in scope]


def _person_figures(
    session: Session, *, period: str, start: datetime, end: datetime, people: set[int]
) -> dict[int, AssessmentRow]:
    """Per person id: the counts of the period (names filled in by the caller)."""
    figures: dict[int, AssessmentRow] = defaultdict(lambda: AssessmentRow(0, "", ""))

    in_period = or_(
        and_(Prompt.kind == PromptKind.MONTHLY, Prompt.period == period),
        and_(
            Prompt.kind == PromptKind.SPECIAL,
            col(Prompt.created_at) >= start,
            col(Prompt.created_at) < end,
        ),
    )
    prompts = session.exec(
        select(Prompt.id, Prompt.person_id, Prompt.requires_ack, Prompt.acknowledged_at).where(
            in_period, Prompt.status != PromptStatus.CANCELLED
        )
    ).all()
    first_sent: dict[int, datetime | None] = {}
    sent_rows = session.exec(
        select(Delivery.prompt_id, Delivery.sent_at)
        .join(Prompt, col(Prompt.id) == col(Delivery.prompt_id))
        .where(in_period, Prompt.status != PromptStatus.CANCELLED)
        .where(Delivery.status == DeliveryStatus.SENT)
    ).all()
    for prompt_id, sent_at in sent_rows:
        if prompt_id is None:  # pragma: no cover - joined on it
            continue
        earlier = first_sent.get(prompt_id)
        if prompt_id not in first_sent or (sent_at and (earlier is None or sent_at < earlier)):
            first_sent[prompt_id] = sent_at
    for prompt_id, person_id, requires_ack, acknowledged_at in prompts:
        if person_id not in people:
            continue
        row = figures[person_id]
        row.prompts += 1
        sent = prompt_id in first_sent
        row.sent += sent
        if requires_ack:
            row.requiring_ack += 1
            if acknowledged_at is not None:
                row.acknowledged += 1
                sent_at = first_sent.get(prompt_id)
                if sent_at is not None:
                    row.ack_durations.append(max(acknowledged_at - sent_at, timedelta(0)))

    issued = and_(col(Warning.created_at) >= start, col(Warning.created_at) < end)
    accepted = and_(
        Warning.status == WarningStatus.CLOSED,
        col(Warning.closed_at) >= start,
        col(Warning.closed_at) < end,
    )
    open_at_end = and_(
        col(Warning.created_at) < end,
        or_(col(Warning.closed_at).is_(None), col(Warning.closed_at) >= end),
    )
    open_in_period = and_(
        col(Warning.created_at) < end,
        or_(col(Warning.closed_at).is_(None), col(Warning.closed_at) >= start),
    )

    def count(condition: object) -> object:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)  # type: ignore[arg-type]

    colour_columns = [count(and_(issued, Warning.colour == colour)) for colour in WarningColour]
    statement = (
        select(  # type: ignore[call-overload]
            Warning.person_id,
            *colour_columns,
            count(and_(accepted, col(Warning.closed_at) <= col(Warning.deadline))),
            count(and_(accepted, col(Warning.closed_at) > col(Warning.deadline))),
            count(open_at_end),
            func.coalesce(func.sum(case((open_in_period, Warning.escalations), else_=0)), 0),
        )
        .where(col(Warning.created_at) < end)
        .group_by(Warning.person_id)
    )
    for person_id, *numbers in session.exec(statement).all():
        if person_id not in people:
            continue
        row = figures[person_id]
        colours = numbers[: len(WarningColour)]
        row.warnings = {c: int(n) for c, n in zip(WarningColour, colours, strict=True)}
        row.on_time, row.late, row.open, row.escalations = (
            int(n) for n in numbers[len(WarningColour) :]
        )
    return figures


def assess(
    session: Session,
    *,
    period: str,
    settings: Settings,
    unit_id: int | None = None,
    by: By = "unit",
    weights: Mapping[str, float] | None = None,
    within: Collection[int] | None = None,
) -> Assessment:
    """Assess ``period`` per unit (or per person), with totals.

    Args:
        session: an open session (read only).
        period: the month, ``YYYY-MM``.
        settings: for the time zone the period is read in.
        unit_id: only this unit and its sub-units (each unit counts its own people).
        by: ``unit`` for one row per unit, ``person`` for one row per person.
        weights: the score's weights; the settings' ``ASSESSMENT_WEIGHTS`` when None.
        within: only these units (an officer's supervision scope, sub-units included:
            :func:`~riskprompt.models.scope.scope_unit_ids`); None: every unit.  A
            ``unit_id`` outside them is not found, as if it did not exist.

    Raises:
        InvalidInput: a malformed period or ``by``.
        NotFound: no unit ``unit_id`` (within ``within``).
    """
    if by not in ("unit", "person"):
        raise InvalidInput(N_("unknown view %(value)r: use unit or person"), value=by)
    start, end = period_span(period, settings)
    chosen = dict(weights) if weights is not None else dict(settings.ASSESSMENT_WEIGHTS)
    if unit_id is not None and within is not None and unit_id not in within:
        raise NotFound(N_("no unit %(ref)r"), ref=str(unit_id))
    units = _units_in_scope(session, unit_id)
    if within is not None:
        units = [u for u in units if u.id in within]
    unit_names = {u.id: u.name for u in units}
    people = list(
        session.exec(
            select(Person)
            .where(col(Person.unit_id).in_(list(unit_names)))
            .order_by(col(Person.unit_id), col(Person.staff_id))
        ).all()
    )
    figures = _person_figures(
        session, period=period, start=start, end=end, people={p.id for p in people if p.id}
    )

    rows: list[AssessmentRow]
    if by == "person":
        rows = []
        for person in people:
            row = AssessmentRow(person.id or 0, f"{person.name} ({person.staff_id})", "")
            row.unit = unit_names[person.unit_id]
            if person.id in figures:
                row.add(figures[person.id])
            row.people = 1
            if person.active or row.prompts or row.warnings_issued or row.open:
                rows.append(row)
    else:
        by_unit = {u.id: AssessmentRow(u.id or 0, u.name, u.name) for u in units}
        for person in people:
            target = by_unit[person.unit_id]
            target.people += person.active
            if person.id in figures:
                target.add(figures[person.id])
        rows = list(by_unit.values())

    totals = AssessmentRow(0, "", "")
    for row in rows:
        row.score = score(row, chosen)
        totals.add(row)
    totals.score = score(totals, chosen)
    rank_rows(rows)
    return Assessment(
        period=period,
        by=by,
        start=start,
        end=end,
        weights=chosen,
        rows=rows,
        totals=totals,
        scope=unit_names[unit_id] if unit_id is not None else None,
    )
