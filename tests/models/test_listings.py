"""One listing module for every surface: pages, rows, and who looks narrows what is listed."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.listings import (
    Page,
    correction_for_review,
    count_deliveries,
    count_prompts,
    list_focus,
    next_correction,
    open_prompts,
    open_warnings,
    page_corrections,
    page_deliveries,
    page_prompts,
    page_warnings,
    scope_status,
)
from riskprompt.models.people import Role
from riskprompt.models.prompts import FocusWork, PromptStatus
from riskprompt.models.scope import Supervision
from riskprompt.models.warnings import Rectification, WarningStatus
from tests.builders import make_person, make_prompt_with_delivery, make_unit, make_warning

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def org(session: Session, clock) -> dict:
    """Units A (财政局) and B (税务局); an officer of A's scope, one of every unit, an admin.

    A1 has three open prompts, A2 one acknowledged, B1 one open; A1 and B1 each
    have a warning with a correction waiting for review.
    """
    now = clock.now()
    a, b = make_unit(session, name="财政局"), make_unit(session, name="税务局")
    scoped = make_person(session, unit=a, staff_id="JA", name="甲纪检", role=Role.OFFICER)
    session.add(Supervision(officer_id=scoped.id or 0, unit_id=a.id or 0))
    everyone = make_person(session, unit=a, staff_id="JJ", name="总纪检", role=Role.OFFICER)
    admin = make_person(session, unit=b, staff_id="AD", role=Role.ADMIN)
    a1 = make_person(session, unit=a, staff_id="A1", name="张三")
    a2 = make_person(session, unit=a, staff_id="A2", name="李四")
    b1 = make_person(session, unit=b, staff_id="B1", name="王五")
    for n in range(3):
        make_prompt_with_delivery(session, person=a1, at=now + timedelta(minutes=n))
    acknowledged, _ = make_prompt_with_delivery(session, person=a2, at=now)
    acknowledged.status, acknowledged.acknowledged_at = PromptStatus.ACKNOWLEDGED, now
    session.add(acknowledged)
    make_prompt_with_delivery(session, person=b1, at=now)
    corrections = {}
    for person in (a1, b1):
        warning = make_warning(session, person=person, officer=everyone, at=now)
        warning.status = WarningStatus.SUBMITTED
        session.add(warning)
        correction = Rectification(
            warning_id=warning.id or 0,
            person_id=person.id or 0,
            description="已整改",
            submitted_at=now,
        )
        session.add(correction)
        session.flush()
        corrections[person.staff_id] = correction.id
    session.commit()
    return {
        "scoped": scoped,
        "everyone": everyone,
        "admin": admin,
        "A1": a1,
        "A2": a2,
        "B1": b1,
        "corrections": corrections,
    }


def _people(page: Page) -> set[str]:
    return {row.person.staff_id for row in page.rows}


@pytest.mark.parametrize(
    ("viewer", "seen"),
    [
        (None, {"A1", "A2", "B1"}),
        ("admin", {"A1", "A2", "B1"}),
        ("everyone", {"A1", "A2", "B1"}),  # no scope given: every unit
        ("scoped", {"A1", "A2"}),
        ("A1", {"A1"}),  # staff: only their own
    ],
)
def test_who_looks_narrows_every_listing(session, org, viewer, seen) -> None:
    who = org[viewer] if viewer else None
    assert _people(page_prompts(session, viewer=who)) == seen
    assert _people(page_deliveries(session, viewer=who)) == seen
    assert _people(page_warnings(session, viewer=who)) == seen & {"A1", "B1"}
    assert _people(page_corrections(session, viewer=who)) == seen & {"A1", "B1"}
    prompts = {"A1": 3, "A2": 1, "B1": 1}
    counted = count_prompts(session, viewer=who)
    assert sum(counted.values()) == sum(prompts[s] for s in seen)
    assert sum(count_deliveries(session, viewer=who).values()) == sum(prompts[s] for s in seen)


def test_pages_count_everything_that_matches(session, org) -> None:
    page = page_prompts(session, viewer=org["scoped"], limit=2, offset=2)
    assert (page.total, len(page.rows), page.number, page.pages) == (4, 2, 2, 2)
    counts = count_prompts(session, viewer=org["scoped"])
    assert counts == {PromptStatus.OPEN: 3, PromptStatus.ACKNOWLEDGED: 1, PromptStatus.CANCELLED: 0}
    assert page_prompts(session, staff_id="B1").total == 1
    assert page_prompts(session, period="2027-01").total == 0
    with pytest.raises(InvalidInput):
        page_prompts(session, period="2027-13")


def test_the_chats_pager_stays_on_the_last_page(session, org) -> None:
    page = open_prompts(session, person=org["A1"], page=9, per_page=2)
    assert (page.number, page.pages, page.total, len(page.rows)) == (2, 2, 3, 1)
    newest = open_prompts(session, person=org["A1"], page=1, per_page=2)
    assert newest.rows[0].prompt.created_at > newest.rows[1].prompt.created_at
    assert open_prompts(session, person=org["A2"], page=1, per_page=2).total == 0
    warnings = open_warnings(session, person=org["B1"], limit=8)
    assert [row.issuer.staff_id for row in warnings.rows] == ["JJ"]


def test_the_review_queue_holds_the_scope_only(session, org) -> None:
    corrections = org["corrections"]
    found, waiting = next_correction(session, officer=org["scoped"])
    assert waiting == 1 and found is not None and found.id == corrections["A1"]
    _, waiting = next_correction(session, officer=org["everyone"])
    assert waiting == 2
    # From a notice's button: outside the scope is refused, naming the person.
    with pytest.raises(PermissionDenied) as refused:
        correction_for_review(session, officer=org["scoped"], correction_id=corrections["B1"])
    assert str(refused.value) == "王五 (B1) is outside your supervision scope"
    assert (
        correction_for_review(session, officer=org["scoped"], correction_id=corrections["A1"]).id
        == (corrections["A1"])
    )
    with pytest.raises(NotFound):
        correction_for_review(session, officer=org["scoped"], correction_id=999)


def test_the_officers_status_counts_people_not_prompts(session, org, clock) -> None:
    scoped = scope_status(session, officer=org["scoped"], now=clock.now(), zone=SHANGHAI)
    # 财政局: JA, JJ, A1 (three prompts, none acknowledged), A2 (one, acknowledged).
    assert scoped.units == ["财政局"]
    assert (scoped.people, scoped.prompted, scoped.acknowledged, scoped.waiting) == (4, 2, 1, 1)
    assert scoped.rate == 0.5
    assert (scoped.open_warnings, scoped.corrections_waiting) == (1, 1)
    assert scoped.overdue_warnings == 0
    later = clock.now() + timedelta(days=8)
    overdue = scope_status(session, officer=org["everyone"], now=later, zone=SHANGHAI)
    assert overdue.units is None
    assert (overdue.people, overdue.prompted, overdue.waiting) == (6, 3, 2)
    assert (overdue.open_warnings, overdue.overdue_warnings) == (2, 2)


def test_key_work_is_listed_newest_period_first(session, org, clock) -> None:
    unit_id = org["A1"].unit_id
    for period, unit, text in (
        ("2026-11", None, "旧的"),
        ("2026-12", unit_id, "单位的"),
        ("2026-12", None, "年底集中采购"),
    ):
        session.add(
            FocusWork(
                period=period,
                unit_id=unit,
                text=text,
                set_by_id=org["everyone"].id or 0,
                updated_at=clock.now(),
            )
        )
    session.commit()
    rows = list_focus(session)
    assert [(r.focus.text, r.unit, r.set_by) for r in rows] == [
        ("年底集中采购", None, "总纪检"),
        ("单位的", "财政局", "总纪检"),
        ("旧的", None, "总纪检"),
    ]
    assert [r.focus.text for r in list_focus(session, period="2026-11")] == ["旧的"]
