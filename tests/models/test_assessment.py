"""The assessment's numbers against a count made by hand on a small scenario."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.assessment import (
    DEFAULT_WEIGHTS,
    AssessmentRow,
    assess,
    parse_period,
    parse_weights,
    rank_rows,
    score,
)
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import DeliveryStatus, Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import WarningColour, WarningStatus
from tests.builders import make_person, make_prompt_with_delivery, make_unit, make_warning


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sent_prompt(
    session: Session, person: Person, at: datetime, *, ack_after: timedelta | None = None
) -> Prompt:
    prompt, delivery = make_prompt_with_delivery(session, person=person, at=at)
    delivery.status = DeliveryStatus.SENT
    delivery.sent_at = at
    if ack_after is not None:
        prompt.status = PromptStatus.ACKNOWLEDGED
        prompt.acknowledged_at = at + ack_after
    session.add_all([prompt, delivery])
    return prompt


def warning(
    session: Session,
    person: Person,
    officer: Person,
    at: datetime,
    *,
    colour: WarningColour = WarningColour.YELLOW,
    status: WarningStatus = WarningStatus.ISSUED,
    closed_at: datetime | None = None,
    escalations: int = 0,
) -> None:
    item = make_warning(session, person=person, officer=officer, at=at)  # deadline: +7 days
    item.colour = colour
    item.status = status
    item.closed_at = closed_at
    item.escalations = escalations
    session.add(item)


def build(session: Session) -> dict[str, Any]:
    """Units A (财政局) ⊃ B (审计科), and C (教育局) with nobody; December 2026 in Shanghai."""
    a = make_unit(session, name="财政局")
    b = make_unit(session, name="审计科", parent=a)
    c = make_unit(session, name="教育局")
    officer = make_person(session, unit=a, role=Role.OFFICER, staff_id="A0")
    p1 = make_person(session, unit=a, staff_id="A1")
    p2 = make_person(session, unit=a, staff_id="A2")
    p3 = make_person(session, unit=b, staff_id="B1")

    sent_prompt(session, p1, utc(2026, 12, 3, 2), ack_after=timedelta(hours=3))
    sent_prompt(session, p1, utc(2026, 12, 10, 2), ack_after=timedelta(hours=1))
    # 23:00 on 30 November in Shanghai: November, left out
    sent_prompt(session, p1, utc(2026, 11, 30, 15), ack_after=timedelta(hours=1))
    sent_prompt(session, p2, utc(2026, 12, 5, 2))
    # 01:00 on 1 December in Shanghai: December; its delivery is still pending
    make_prompt_with_delivery(session, person=p2, at=utc(2026, 11, 30, 17))
    no_ack, _ = make_prompt_with_delivery(session, person=p2, at=utc(2026, 12, 6, 2))
    no_ack.requires_ack = False
    session.add(no_ack)
    # a monthly prompt counts by its period column, whenever it was created
    monthly, _ = make_prompt_with_delivery(session, person=p3, at=utc(2026, 11, 28, 2))
    monthly.kind = PromptKind.MONTHLY
    monthly.period = "2026-12"
    session.add(monthly)
    session.flush()
    for delivery in _deliveries(session, monthly):
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = utc(2026, 12, 1, 2)
    monthly.status = PromptStatus.ACKNOWLEDGED
    monthly.acknowledged_at = utc(2026, 12, 1, 2, 30)
    cancelled = sent_prompt(session, p3, utc(2026, 12, 7, 2))
    cancelled.status = PromptStatus.CANCELLED

    closed = WarningStatus.CLOSED
    warning(session, p1, officer, utc(2026, 12, 2), status=closed, closed_at=utc(2026, 12, 5))
    warning(
        session,
        p1,
        officer,
        utc(2026, 11, 20),
        status=closed,
        closed_at=utc(2026, 12, 15),
        escalations=2,
    )
    warning(session, p2, officer, utc(2026, 12, 20), colour=WarningColour.RED, escalations=1)
    warning(
        session,
        p3,
        officer,
        utc(2026, 12, 21),
        colour=WarningColour.ORANGE,
        status=WarningStatus.WITHDRAWN,
        closed_at=utc(2026, 12, 22),
    )
    warning(session, p3, officer, utc(2027, 1, 2))
    warning(
        session,
        p2,
        officer,
        utc(2026, 10, 1),
        status=closed,
        closed_at=utc(2026, 10, 3),
        escalations=3,
    )
    session.commit()
    return {"a": a, "b": b, "c": c, "people": [officer, p1, p2, p3]}


def _deliveries(session: Session, prompt: Prompt) -> list[Any]:
    from sqlmodel import select

    from riskprompt.models.prompts import Delivery

    return list(session.exec(select(Delivery).where(Delivery.prompt_id == prompt.id)).all())


@pytest.fixture
def scenario(session: Session) -> dict[str, Any]:
    return build(session)


def test_per_unit_figures_match_the_hand_count(session: Session, scenario: dict) -> None:
    result = assess(session, period="2026-12", settings=Settings())
    rows = {row.name: row for row in result.rows}
    assert list(rows) == ["财政局", "审计科", "教育局"]
    a, b, c = rows["财政局"], rows["审计科"], rows["教育局"]

    assert (a.people, a.prompts, a.sent, a.requiring_ack, a.acknowledged) == (3, 5, 3, 4, 2)
    assert a.ack_rate == 0.5
    assert a.median_ack == timedelta(hours=2)
    assert a.warnings == {WarningColour.YELLOW: 1, WarningColour.ORANGE: 0, WarningColour.RED: 1}
    assert (a.on_time, a.late, a.open, a.escalations) == (1, 1, 1, 3)
    # 0.5·0.5 + 0.5·(1/2) − 0.25·(1/3) − 0.25·1 = 1/6
    assert a.score == 16.7

    assert (b.people, b.prompts, b.sent, b.requiring_ack, b.acknowledged) == (1, 1, 1, 1, 1)
    assert b.median_ack == timedelta(minutes=30)
    assert b.warnings[WarningColour.ORANGE] == 1
    assert (b.on_time, b.late, b.open, b.escalations) == (0, 0, 0, 0)
    assert b.score == 100.0

    assert (c.people, c.prompts, c.ack_rate, c.median_ack) == (0, 0, None, None)
    assert (c.score, c.rank) == (None, None)  # nothing to assess: no score, not 100
    assert (b.rank, a.rank) == (1, 2)

    totals = result.totals
    assert (totals.prompts, totals.sent, totals.requiring_ack, totals.acknowledged) == (6, 4, 5, 3)
    assert totals.median_ack == timedelta(hours=1)
    assert (totals.on_time, totals.late, totals.open, totals.escalations) == (1, 1, 1, 3)


def test_by_person_and_unit_scope(session: Session, scenario: dict) -> None:
    result = assess(
        session, period="2026-12", settings=Settings(), unit_id=scenario["a"].id, by="person"
    )
    rows = {row.name.split("(")[-1].rstrip(")"): row for row in result.rows}
    assert list(rows) == ["A0", "A1", "A2", "B1"]
    assert (rows["A1"].prompts, rows["A1"].acknowledged, rows["A1"].escalations) == (2, 2, 2)
    assert rows["A1"].median_ack == timedelta(hours=2)
    assert (rows["A2"].prompts, rows["A2"].open, rows["A2"].escalations) == (3, 1, 1)
    assert rows["B1"].unit == "审计科"
    assert rows["A0"].prompts == 0

    only_b = assess(session, period="2026-12", settings=Settings(), unit_id=scenario["b"].id)
    assert [row.name for row in only_b.rows] == ["审计科"]


def test_other_months_are_left_out(session: Session, scenario: dict) -> None:
    november = assess(session, period="2026-11", settings=Settings()).totals
    assert (november.prompts, november.acknowledged) == (1, 1)
    assert november.open == 1  # the warning of 20 November, closed in December
    assert november.warnings[WarningColour.YELLOW] == 1


@pytest.mark.parametrize("period", ["2026-13", "2026/12", "202612", ""])
def test_a_malformed_period_is_refused(period: str) -> None:
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        parse_period(period)


def test_unknown_unit_and_view_are_refused(session: Session) -> None:
    with pytest.raises(NotFound):
        assess(session, period="2026-12", settings=Settings(), unit_id=999)
    with pytest.raises(InvalidInput):
        assess(session, period="2026-12", settings=Settings(), by="post")  # type: ignore[arg-type]


def test_weights_override_the_defaults_and_are_checked() -> None:
    assert parse_weights({}) == DEFAULT_WEIGHTS
    assert parse_weights({"on_time": 1})["on_time"] == 1.0
    with pytest.raises(InvalidInput, match="unknown weight"):
        parse_weights({"speed": 1})
    with pytest.raises(InvalidInput, match="number"):
        parse_weights({"on_time": "high"})
    with pytest.raises(InvalidInput, match="positive"):
        parse_weights({"acknowledged": 0, "on_time": 0})


def test_an_empty_period_has_no_score(session: Session, scenario: dict) -> None:
    result = assess(session, period="2027-06", settings=Settings())
    assert [row.prompts for row in result.rows] == [0, 0, 0]
    assert [row.score for row in result.rows] == [None, None, None]
    assert [row.rank for row in result.rows] == [None, None, None]
    assert result.totals.score is None
    assert result.ranked == []
    # two warnings are still open: counted (and penalised) but nothing to reward
    assert result.totals.open == 2


def test_a_period_of_an_empty_database_has_no_score(session: Session) -> None:
    make_unit(session, name="财政局")
    session.commit()
    result = assess(session, period="2026-12", settings=Settings(), by="person")
    assert result.rows == []
    assert result.totals.score is None


def test_a_person_who_received_nothing_is_not_ranked(session: Session, scenario: dict) -> None:
    result = assess(session, period="2026-12", settings=Settings(), by="person")
    rows = {row.name.split("(")[-1].rstrip(")"): row for row in result.rows}
    nobody = rows["A0"]  # the officer: no prompt, no warning
    assert not nobody.received_anything
    assert (nobody.score, nobody.rank) == (None, None)
    assert [(row.name[-3:-1], row.score, row.rank) for row in result.ranked] == [
        ("B1", 100.0, 1),
        ("A1", 50.0, 2),  # all acknowledged, one of two corrections late, two escalations
        ("A2", 0.0, 3),
    ]


def test_a_measure_with_nothing_to_measure_counts_neither_way() -> None:
    half_read = AssessmentRow(0, "", "", people=1, requiring_ack=2, acknowledged=1)
    assert score(half_read, DEFAULT_WEIGHTS) == 50.0  # not 75: no correction is no credit
    only_corrections = AssessmentRow(0, "", "", people=1, on_time=3, late=1)
    assert score(only_corrections, DEFAULT_WEIGHTS) == 75.0
    open_only = AssessmentRow(0, "", "", people=1, open=1)
    assert score(open_only, DEFAULT_WEIGHTS) is None
    assert score(AssessmentRow(0, "", ""), DEFAULT_WEIGHTS) is None


def test_equal_scores_share_a_rank() -> None:
    rows = [AssessmentRow(i, "", "") for i in range(5)]
    for row, value in zip(rows, [50.0, 100.0, None, 50.0, 0.0], strict=True):
        row.score = value
    rank_rows(rows)
    assert [row.rank for row in rows] == [2, 1, None, 2, 4]
