"""Supervision scope (监督范围): which people an officer supervises."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from riskprompt.models.errors import PermissionDenied
from riskprompt.models.people import Role
from riskprompt.models.scope import (
    Supervision,
    in_scope,
    require_in_scope,
    scope_unit_ids,
    supervised_units,
    supervising_officers,
)
from tests.builders import make_person, make_unit


@pytest.fixture
def org(session: Session) -> dict:
    """市纪委监委 above 财政局 (with 国库科 below it) and 税务局; officers of three kinds."""
    top = make_unit(session, name="市纪委监委")
    finance = make_unit(session, name="财政局", parent=top)
    treasury = make_unit(session, name="国库科", parent=finance)
    tax = make_unit(session, name="税务局", parent=top)
    everyone = make_person(session, unit=top, staff_id="J0", role=Role.OFFICER)
    # 派驻纪检监察组: a member of 市纪委监委 stationed in 财政局.
    stationed = make_person(session, unit=top, staff_id="J1", role=Role.OFFICER)
    session.add(Supervision(officer_id=stationed.id or 0, unit_id=finance.id or 0))
    tax_officer = make_person(session, unit=tax, staff_id="J2", role=Role.OFFICER)
    session.add(Supervision(officer_id=tax_officer.id or 0, unit_id=tax.id or 0))
    admin = make_person(session, unit=top, staff_id="A1", role=Role.ADMIN)
    clerk = make_person(session, unit=treasury, staff_id="C1", name="张出纳")
    taxman = make_person(session, unit=tax, staff_id="C2", name="李税务")
    session.commit()
    return {
        "top": top,
        "finance": finance,
        "treasury": treasury,
        "tax": tax,
        "everyone": everyone,
        "stationed": stationed,
        "tax_officer": tax_officer,
        "admin": admin,
        "clerk": clerk,
        "taxman": taxman,
    }


def test_an_officer_without_scope_rows_and_an_admin_supervise_every_unit(session, org) -> None:
    for who in ("everyone", "admin"):
        assert scope_unit_ids(session, officer=org[who]) is None
        assert supervised_units(session, officer=org[who]) is None
        assert in_scope(session, officer=org[who], person=org["clerk"])
        assert in_scope(session, officer=org[who], person=org["taxman"])


def test_a_scope_holds_its_units_subtrees_and_nothing_else(session, org) -> None:
    stationed = org["stationed"]
    assert scope_unit_ids(session, officer=stationed) == {org["finance"].id, org["treasury"].id}
    assert [u.name for u in supervised_units(session, officer=stationed) or []] == ["财政局"]
    assert in_scope(session, officer=stationed, person=org["clerk"])  # 国库科, below 财政局
    assert not in_scope(session, officer=stationed, person=org["taxman"])
    # Stationed in 财政局: their own unit (市纪委监委) is not theirs to supervise...
    assert not in_scope(session, officer=stationed, person=org["everyone"])
    # ...but everyone is in their own scope.
    assert in_scope(session, officer=stationed, person=stationed)


def test_staff_supervise_nobody(session, org) -> None:
    assert scope_unit_ids(session, officer=org["clerk"]) == set()
    assert supervised_units(session, officer=org["clerk"]) == []
    assert not in_scope(session, officer=org["clerk"], person=org["taxman"])


def test_the_refusal_names_the_person(session, org) -> None:
    with pytest.raises(PermissionDenied) as refused:
        require_in_scope(session, officer=org["stationed"], person=org["taxman"])
    assert str(refused.value) == "李税务 (C2) is outside your supervision scope"
    require_in_scope(session, officer=org["tax_officer"], person=org["taxman"])


def test_the_supervising_officers_of_a_person(session, org) -> None:
    def staff_ids(person) -> list[str]:
        return [o.staff_id for o in supervising_officers(session, person=person)]

    assert staff_ids(org["clerk"]) == ["J0", "J1"]  # no admin, not the tax officer
    assert staff_ids(org["taxman"]) == ["J0", "J2"]
    org["everyone"].active = False
    session.add(org["everyone"])
    session.commit()
    assert staff_ids(org["clerk"]) == ["J1"]
    assert staff_ids(org["stationed"]) == []  # J1 is not in J2's scope, nor their own reviewer
