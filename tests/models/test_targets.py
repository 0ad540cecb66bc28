"""Targets of special prompts: parsing, checking against the scope, resolving on a day."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session

from riskprompt.models.catalog import RiskLevel
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.people import Role
from riskprompt.models.scope import Supervision, sub_units
from riskprompt.models.targets import (
    Target,
    TargetKind,
    check_target,
    parse_target,
    reach_of,
    resolve_target,
)
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit

DAY = date(2026, 12, 1)


def test_targets_are_parsed() -> None:
    assert parse_target("person:BJ0001") == Target(TargetKind.PERSON, "BJ0001")
    assert parse_target("post:7") == Target(TargetKind.POST, "7")
    assert parse_target("unit:3+") == Target(TargetKind.UNIT, "3", sub_units=True)
    assert parse_target("unit：财政局") == Target(TargetKind.UNIT, "财政局")
    assert parse_target("level:高") == Target(TargetKind.LEVEL, "high")
    assert parse_target("ALL") == Target(TargetKind.ALL)
    assert parse_target("全体") == Target(TargetKind.ALL)
    assert str(parse_target("unit: 3 +")) == "unit:3+"
    for bad in ("everyone", "post:abc", "post:²", "level:极高", "person:", "group:1", "all:1"):
        with pytest.raises(InvalidInput):
            parse_target(bad)


@pytest.fixture
def org(session: Session) -> dict[str, Any]:
    """A city, its bureau with a section, another bureau; posts, holders, two officers."""
    city = make_unit(session, name="滨江市")
    bureau = make_unit(session, name="财政局", parent=city)
    section = make_unit(session, name="国库科", parent=bureau)
    other = make_unit(session, name="发改委", parent=city)
    high_post = make_post(session, unit=bureau, name="资金拨付岗")
    make_risk_point(session, post=high_post, level=RiskLevel.HIGH)
    other_post = make_post(session, unit=other, name="审批岗")
    make_risk_point(session, post=other_post, level=RiskLevel.HIGH)
    payer = make_person(session, unit=bureau)
    assign(session, person=payer, post=high_post)
    clerk = make_person(session, unit=section)
    approver = make_person(session, unit=other)
    assign(session, person=approver, post=other_post)
    seconded = make_person(session, unit=other)  # of 发改委, holds a 财政局 post
    assign(session, person=seconded, post=high_post, start_on=date(2026, 11, 1))
    boss = make_person(session, unit=city, role=Role.OFFICER)  # no scope: every unit
    inspector = make_person(session, unit=city, role=Role.OFFICER)
    session.add(Supervision(officer_id=inspector.id or 0, unit_id=bureau.id or 0))
    session.commit()
    return locals()


def test_sub_units_are_the_whole_subtree(session: Session, org: dict[str, Any]) -> None:
    ids = {name: org[name].id for name in ("city", "bureau", "section", "other")}
    assert sub_units(session, [ids["bureau"]]) == {ids["bureau"], ids["section"]}
    assert sub_units(session, [ids["city"]]) == set(ids.values())
    assert sub_units(session, [ids["section"], ids["other"]]) == {ids["section"], ids["other"]}


def test_resolving_uses_the_day_and_the_scope(session: Session, org: dict[str, Any]) -> None:
    post = parse_target(f"post:{org['high_post'].id}")
    assert resolve_target(session, post, DAY) == sorted([org["payer"].id, org["seconded"].id])
    assert resolve_target(session, post, date(2026, 10, 1)) == [org["payer"].id]
    scope = sub_units(session, [org["bureau"].id])
    assert resolve_target(session, post, DAY, within=scope) == [org["payer"].id]
    everyone = resolve_target(session, parse_target("all"), DAY, within=scope)
    assert everyone == sorted([org["payer"].id, org["clerk"].id])


def test_an_unlimited_officer_reaches_every_unit(session: Session, org: dict[str, Any]) -> None:
    reached = reach_of(session, officer=org["boss"], target="level:high", on=DAY)
    assert reached == sorted([org["payer"].id, org["approver"].id, org["seconded"].id])


def test_a_scoped_officer_is_narrowed_or_refused_by_name(
    session: Session, org: dict[str, Any]
) -> None:
    inspector = org["inspector"]
    assert reach_of(session, officer=inspector, target="level:high", on=DAY) == [org["payer"].id]
    assert reach_of(session, officer=inspector, target="all", on=DAY) == sorted(
        [org["payer"].id, org["clerk"].id]
    )
    assert check_target(session, parse_target("unit:财政局+"), officer=inspector) == Target(
        TargetKind.UNIT, str(org["bureau"].id), sub_units=True
    )
    for target, named in (
        ("unit:发改委", "发改委"),
        (f"unit:{org['city'].id}+", "滨江市"),
        (f"post:{org['other_post'].id}", "审批岗"),
        (f"person:{org['approver'].staff_id}", org["approver"].staff_id),
    ):
        with pytest.raises(PermissionDenied) as caught:
            reach_of(session, officer=inspector, target=target, on=DAY)
        assert named in str(caught.value), target


def test_unknown_or_departed_targets_are_refused(session: Session, org: dict[str, Any]) -> None:
    for target, error in (
        ("person:NOBODY", NotFound),
        ("post:99999", NotFound),
        ("unit:不存在", NotFound),
    ):
        with pytest.raises(error):
            check_target(session, parse_target(target))
    org["clerk"].active = False
    session.add(org["clerk"])
    session.flush()
    with pytest.raises(InvalidInput) as caught:
        check_target(session, parse_target(f"person:{org['clerk'].staff_id}"))
    assert org["clerk"].staff_id in str(caught.value)
