"""The overview (总览): the scope's units × figures, counted by hand, and nothing of unit B.

The scene (on top of the console's ``office``): in unit A (财政局) and its sub-unit
国库科 a few posts, risk points, prompts of December and November, open, closed and
overdue warnings and a correction waiting; in unit B (审计局) the same kinds of rows,
which officer A must never see counted anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.catalog import RiskLevel, Unit
from riskprompt.models.clock import FixedClock
from riskprompt.models.overview import (
    MISSING_STEPS,
    Overview,
    ack_heat,
    count_heat,
    scope_overview,
    scope_units,
)
from riskprompt.models.people import Person
from riskprompt.models.prompts import Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
)
from tests.builders import make_person, make_post, make_risk_point, make_unit
from tests.riskprompt.web.console.conftest import ConsoleClients, Office

DECEMBER = "2026-12"
NOVEMBER = "2026-11"


@dataclass
class Scene:
    """The office with figures; ``clerk`` is a second person of unit A (not the sub-unit)."""

    office: Office
    clerk: Person
    now: datetime


def add_prompt(
    session: Session,
    person: Person,
    *,
    period: str,
    at: datetime,
    status: PromptStatus = PromptStatus.OPEN,
    post_id: int | None = None,
    kind: PromptKind = PromptKind.MONTHLY,
    requires_ack: bool = True,
) -> Prompt:
    """A prompt to ``person`` (no delivery: the overview counts prompts)."""
    prompt = Prompt(
        kind=kind,
        person_id=person.id or 0,
        post_id=post_id,
        period=period,
        title="提示",
        created_at=at,
        status=status,
        requires_ack=requires_ack,
        acknowledged_at=at if status is PromptStatus.ACKNOWLEDGED else None,
    )
    session.add(prompt)
    session.flush()
    return prompt


def add_warning(
    session: Session,
    person: Person,
    officer: Person,
    *,
    colour: WarningColour,
    at: datetime,
    deadline: datetime,
    status: WarningStatus = WarningStatus.ISSUED,
) -> Warning:
    """A warning row as it stands (the figures read states, not how they came to be)."""
    warning = Warning(
        person_id=person.id or 0,
        issued_by_id=officer.id or 0,
        colour=colour,
        form=WarningForm.PROMPT,
        reason="测试",
        status=status,
        deadline=deadline,
        created_at=at,
    )
    session.add(warning)
    session.flush()
    return warning


def add_correction(session: Session, warning: Warning, at: datetime) -> Rectification:
    """A correction report waiting for review."""
    correction = Rectification(
        warning_id=warning.id or 0,
        person_id=warning.person_id,
        description="已整改",
        submitted_at=at,
    )
    session.add(correction)
    session.flush()
    return correction


@pytest.fixture
def scene(engine: Engine, office: Office, clock: FixedClock) -> Scene:
    """Figures in A (财政局 and 国库科) and in B (审计局), counted by hand in the tests."""
    now = clock.now()
    with Session(engine, expire_on_commit=False) as session:
        a, sub, b = office.unit_a, office.unit_a_sub, office.unit_b
        clerk = make_person(session, unit=a, staff_id="CZ002", name="刘会计")
        # risk points: A 2 high; 国库科 1 high, 1 medium; B 3 low
        post_a = make_post(session, unit=a, name="预算审核岗")
        make_risk_point(session, post=post_a, level=RiskLevel.HIGH)
        make_risk_point(session, post=post_a, level=RiskLevel.HIGH)
        post_sub = make_post(session, unit=sub, name="出纳岗")
        make_risk_point(session, post=post_sub, level=RiskLevel.HIGH)
        make_risk_point(session, post=post_sub, level=RiskLevel.MEDIUM)
        post_b = make_post(session, unit=b, name="审计岗")
        for _ in range(3):
            make_risk_point(session, post=post_b, level=RiskLevel.LOW)
        # December prompts: 国库科 (staff) 1 of 2 acknowledged; A (clerk) 1 of 1, plus a
        # cancelled one and one without acknowledgement asked (neither counted), and a
        # special prompt without a period sent in December (counted, open)
        add_prompt(session, office.staff, period=DECEMBER, at=now, post_id=post_sub.id)
        add_prompt(session, office.staff, period=DECEMBER, at=now, status=PromptStatus.ACKNOWLEDGED)
        add_prompt(session, clerk, period=DECEMBER, at=now, status=PromptStatus.ACKNOWLEDGED)
        add_prompt(session, clerk, period=DECEMBER, at=now, status=PromptStatus.CANCELLED)
        add_prompt(
            session, clerk, period=DECEMBER, at=now, requires_ack=False, kind=PromptKind.SPECIAL
        )
        special = add_prompt(session, clerk, period=DECEMBER, at=now, kind=PromptKind.SPECIAL)
        special.period = None  # made before the planner wrote the period of special prompts
        session.add(special)
        # November: 国库科 (staff) 2 open
        before = now - timedelta(days=20)
        add_prompt(session, office.staff, period=NOVEMBER, at=before, post_id=post_sub.id)
        add_prompt(session, office.staff, period=NOVEMBER, at=before)
        # B: 3 December prompts open, never counted for officer A
        for _ in range(3):
            add_prompt(session, office.staff_b, period=DECEMBER, at=now)
        # warnings of 国库科: yellow overdue, red open (not due), orange closed, and a
        # red correction submitted (open, past its deadline, but not waiting: not overdue)
        officer = office.officer_a
        add_warning(
            session,
            office.staff,
            officer,
            colour=WarningColour.YELLOW,
            at=before,
            deadline=now - timedelta(days=1),
        )
        add_warning(
            session,
            office.staff,
            officer,
            colour=WarningColour.RED,
            at=now,
            deadline=now + timedelta(days=3),
        )
        add_warning(
            session,
            office.staff,
            officer,
            colour=WarningColour.ORANGE,
            at=before,
            deadline=now,
            status=WarningStatus.CLOSED,
        )
        submitted = add_warning(
            session,
            office.staff,
            officer,
            colour=WarningColour.RED,
            at=before,
            deadline=now - timedelta(days=2),
            status=WarningStatus.SUBMITTED,
        )
        add_correction(session, submitted, now)
        # B: an orange overdue warning and a correction waiting
        in_b = add_warning(
            session,
            office.staff_b,
            office.officer_b,
            colour=WarningColour.ORANGE,
            at=before,
            deadline=now - timedelta(days=1),
            status=WarningStatus.SUBMITTED,
        )
        add_correction(session, in_b, now)
        add_warning(
            session,
            office.staff_b,
            office.officer_b,
            colour=WarningColour.ORANGE,
            at=before,
            deadline=now - timedelta(days=1),
        )
        session.commit()
    return Scene(office=office, clerk=clerk, now=now)


def overview_of(
    engine: Engine, person: Person, settings: Settings, now: datetime, **kw: Any
) -> Overview:
    with Session(engine) as session:
        return scope_overview(session, officer=person, settings=settings, now=now, **kw)


# -- the figures -------------------------------------------------------------------------


def test_each_unit_counts_itself_with_the_units_below_it(
    engine: Engine, scene: Scene, web_settings: Settings
) -> None:
    office = scene.office
    seen = overview_of(engine, office.officer_a, web_settings, scene.now, period=DECEMBER)
    rows = {row.name: row for row in seen.units.rows}
    assert list(rows) == ["财政局", "国库科"]  # B is not in A's scope
    a, sub = rows["财政局"], rows["国库科"]
    assert (sub.depth, a.depth) == (1, 0)
    # 国库科: staff only
    assert sub.people == 1
    assert sub.risk == {RiskLevel.HIGH: 1, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 0}
    assert (sub.prompts, sub.acknowledged, sub.waiting) == (2, 1, 1)
    assert sub.ack_rate == 0.5
    assert sub.warnings == {WarningColour.YELLOW: 1, WarningColour.ORANGE: 0, WarningColour.RED: 2}
    assert (sub.overdue, sub.corrections) == (1, 1)
    # 财政局 with 国库科: officer A, admin, clerk, staff
    assert a.people == 4
    assert a.risk == {RiskLevel.HIGH: 3, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 0}
    assert (a.prompts, a.acknowledged) == (4, 2)  # staff 2 (1 ack), clerk 2 (1 ack)
    assert a.warnings == sub.warnings and (a.overdue, a.corrections) == (1, 1)
    # the totals count each person once (not 财政局 + 国库科)
    totals = seen.totals
    assert (totals.people, totals.prompts, totals.acknowledged) == (4, 4, 2)
    assert totals.risk[RiskLevel.HIGH] == 3 and totals.risk[RiskLevel.LOW] == 0
    assert (totals.overdue, totals.corrections, totals.open_warnings) == (1, 1, 3)
    assert seen.scope_units == 2


def test_the_period_chosen_counts_its_own_prompts(
    engine: Engine, scene: Scene, web_settings: Settings
) -> None:
    seen = overview_of(engine, scene.office.officer_a, web_settings, scene.now, period=NOVEMBER)
    sub = {row.name: row for row in seen.units.rows}["国库科"]
    assert (sub.prompts, sub.acknowledged, sub.ack_rate) == (2, 0, 0.0)
    # warnings and corrections stand as they are now, whatever the period
    assert sub.open_warnings == 3 and sub.corrections == 1
    empty = overview_of(engine, scene.office.officer_a, web_settings, scene.now, period="2026-06")
    assert empty.totals.prompts == 0 and empty.totals.ack_rate is None


def test_officer_b_and_the_admin_see_their_own_scope(
    engine: Engine, scene: Scene, web_settings: Settings
) -> None:
    office = scene.office
    b = overview_of(engine, office.officer_b, web_settings, scene.now, period=DECEMBER)
    [row] = b.units.rows
    assert row.name == "审计局"
    assert (row.people, row.prompts, row.acknowledged) == (2, 3, 0)
    assert row.risk[RiskLevel.LOW] == 3
    assert (row.warnings[WarningColour.ORANGE], row.overdue, row.corrections) == (2, 1, 1)
    every = overview_of(engine, office.admin, web_settings, scene.now, period=DECEMBER)
    assert [r.name for r in every.units.rows] == ["财政局", "国库科", "审计局"]
    assert every.totals.prompts == 7 and every.totals.overdue == 2
    # the admin reviews: B's correction and A's are both waiting for them
    assert every.totals.corrections == 2


def test_search_order_and_pages(engine: Engine, scene: Scene, web_settings: Settings) -> None:
    admin = scene.office.admin
    found = overview_of(engine, admin, web_settings, scene.now, period=DECEMBER, search="国库")
    assert [r.name for r in found.units.rows] == ["国库科"]
    assert found.totals.prompts == 7  # the totals keep the whole scope
    urgent = overview_of(engine, admin, web_settings, scene.now, period=DECEMBER, order="attention")
    # 财政局 (1 overdue, 2 red) and 国库科 (the same) before 审计局 (1 overdue, no red)
    assert [r.name for r in urgent.units.rows] == ["财政局", "国库科", "审计局"]
    paged = overview_of(engine, admin, web_settings, scene.now, period=DECEMBER, limit=2, offset=2)
    assert [r.name for r in paged.units.rows] == ["审计局"] and paged.units.number == 2
    past = overview_of(engine, admin, web_settings, scene.now, period=DECEMBER, limit=2, offset=40)
    assert past.units.number == 2  # past the end: the last page


def test_heat_follows_how_bad(engine: Engine, scene: Scene, web_settings: Settings) -> None:
    assert count_heat(0, 5, 5) == 0
    assert count_heat(1, 100, 5) == 1
    assert count_heat(5, 5, 5) == 5
    assert count_heat(3, 3, 2) == 2  # a low risk point never reaches red
    assert ack_heat(None) == 0 and ack_heat(1.0) == 0
    assert ack_heat(1 - MISSING_STEPS[0]) == 1
    assert ack_heat(0.5) == 4 and ack_heat(0.2) == 5
    seen = overview_of(engine, scene.office.admin, web_settings, scene.now, period=DECEMBER)
    rows = {row.name: row for row in seen.units.rows}
    # compared with its peers: 财政局 and 审计局 are top units, 国库科 alone below
    assert rows["财政局"].heat["red"] == 5 and rows["审计局"].heat["red"] == 0
    assert rows["审计局"].heat["orange"] == 4 and rows["财政局"].heat["orange"] == 0
    assert rows["审计局"].heat["acknowledged"] == 5  # nothing acknowledged
    assert rows["国库科"].heat["acknowledged"] == 4  # half


def test_the_number_of_queries_does_not_grow_with_the_units(
    engine: Engine, scene: Scene, web_settings: Settings
) -> None:
    def statements() -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            overview_of(engine, scene.office.admin, web_settings, scene.now, period=DECEMBER)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    with Session(engine) as session:
        parent = session.get(Unit, scene.office.unit_b.id)
        for n in range(30):
            unit = make_unit(session, name=f"审计分局{n}", parent=parent)
            person = make_person(session, unit=unit)
            add_prompt(session, person, period=DECEMBER, at=scene.now)
        session.commit()
    assert statements() == few <= 10


def test_scope_units_are_in_tree_order(engine: Engine, scene: Scene) -> None:
    office = scene.office
    with Session(engine) as session:
        units = scope_units(session, officer=office.officer_a)
    assert [(u.name, u.depth) for u in units] == [("财政局", 0), ("国库科", 1)]
    assert units[0].subtree == {office.unit_a.id, office.unit_a_sub.id}


# -- the page ----------------------------------------------------------------------------


def test_the_page_shows_the_heat_map_with_links_to_the_rows(
    console: ConsoleClients, scene: Scene
) -> None:
    office = scene.office
    page = console.as_role("officer_a").get("/")
    assert page.status_code == 200
    html = page.text
    assert "总览" in html and "2026年12月" in html
    assert "财政局" in html and "国库科" in html
    sub = office.unit_a_sub.id
    assert f'href="/warnings?unit={sub}&amp;colour=red"' in html
    assert f'href="/unacknowledged?unit={sub}&amp;period=2026-12"' in html
    assert f'href="/corrections?unit={sub}"' in html
    assert f'href="/catalogue?unit={office.unit_a.id}&amp;level=high"' in html
    assert "50%" in html and "heat-4" in html
    for short in ("黄", "橙", "红"):  # the warning colours' short names in the header
        assert (
            f'<span class="badge {dict(黄="yellow", 橙="orange", 红="red")[short]}">{short}</span>'
            in html
        )
    for marker in ("审计局", "陈审计", "SJ001", "李纪检"):
        assert marker not in html


def test_the_period_is_chosen_at_the_top(console: ConsoleClients, scene: Scene) -> None:
    html = console.as_role("officer_a").get("/?period=2026-11").text
    assert '<option value="2026-11" selected>' in html
    assert 'href="/unacknowledged?unit=' in html and "period=2026-11" in html
    older = console.as_role("officer_a").get("/?period=2025-01").text
    assert '<option value="2025-01" selected>' in older  # kept though not offered


def test_the_page_in_english(console: ConsoleClients, scene: Scene) -> None:
    html = console.as_role("officer_a").get("/?lang=en").text
    assert "Overview" in html and "Open warnings" in html and "December 2026" in html


@pytest.mark.parametrize(
    "query",
    [
        "period=2026-13",
        "period=202612",
        "page=0",
        "page=abc",
        "page=99999999999",
        "sort=bogus",
        "q=" + "长" * 101,
    ],
)
def test_bad_query_parameters_answer_a_page_not_a_500(
    console: ConsoleClients, scene: Scene, query: str
) -> None:
    page = console.as_role("officer_a").get(f"/?{query}")
    assert 400 <= page.status_code < 500, page.text[:300]
    assert "<html" in page.text and "Traceback" not in page.text


def test_staff_and_strangers_see_no_figures(console: ConsoleClients, scene: Scene) -> None:
    assert console.anonymous().get("/").status_code == 302
    page = console.as_role("staff").get("/")
    assert page.status_code == 403 and "国库科" not in page.text
