"""The warning state machine: every front end goes through these functions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from riskprompt.models import AuditEvent, Rectification, RectificationStatus, Role, WarningStatus
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import IllegalTransition, InvalidInput, NotFound, PermissionDenied
from riskprompt.models.notices import Notice, NoticeEvent
from riskprompt.models.warnings import (
    OPEN_STATES,
    WarningColour,
    WarningForm,
    acknowledge_warning,
    deadline_on,
    escalate_warning,
    flag_warning,
    issue_warning,
    review_rectification,
    submit_rectification,
    withdraw_warning,
)
from tests.builders import make_person, make_unit


def _cast(session: Session, clock: FixedClock):
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    person = make_person(session, unit=unit)
    stranger = make_person(session, unit=unit)
    return officer, person, stranger


def _warn(session: Session, clock: FixedClock, officer, person):
    return issue_warning(
        session,
        actor=officer,
        person=person,
        colour=WarningColour.YELLOW,
        form=WarningForm.CORRECT,
        reason="专项资金拨付未履行集体研究程序",
        deadline=clock.now() + timedelta(days=15),
        clock=clock,
    )


def test_issue_acknowledge_submit_accept(session: Session, clock: FixedClock) -> None:
    officer, person, _stranger = _cast(session, clock)
    warning = _warn(session, clock, officer, person)
    assert warning.status is WarningStatus.ISSUED
    assert acknowledge_warning(session, warning=warning, actor=person, clock=clock, via="telegram")
    assert not acknowledge_warning(session, warning=warning, actor=person, clock=clock, via="sms")
    rect = submit_rectification(
        session,
        warning=warning,
        actor=person,
        description="已补充集体研究会议纪要",
        evidence=[{"name": "minutes.pdf", "size": 1024}],
        clock=clock,
    )
    assert warning.status is WarningStatus.SUBMITTED
    review_rectification(session, rectification=rect, actor=officer, accept=True, clock=clock)
    assert warning.status is WarningStatus.CLOSED
    assert rect.status is RectificationStatus.ACCEPTED
    session.commit()
    actions = session.exec(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == [
        "warning.issued",
        "warning.acknowledged",
        "warning.submitted",
        "warning.accepted",
    ]


def test_rejection_reopens_with_reason_and_new_deadline(
    session: Session, clock: FixedClock
) -> None:
    officer, person, _ = _cast(session, clock)
    warning = _warn(session, clock, officer, person)
    rect = submit_rectification(
        session, warning=warning, actor=person, description="已整改", evidence=[], clock=clock
    )
    with pytest.raises(InvalidInput):
        review_rectification(session, rectification=rect, actor=officer, accept=False, clock=clock)
    new_deadline = clock.now() + timedelta(days=5)
    review_rectification(
        session,
        rectification=rect,
        actor=officer,
        accept=False,
        note="证据不足，请补充会议纪要",
        new_deadline=new_deadline,
        clock=clock,
    )
    assert warning.status is WarningStatus.RETURNED  # 已退回, 待整改: not 已阅
    assert warning.deadline == new_deadline
    assert rect.review_note == "证据不足，请补充会议纪要"
    with pytest.raises(IllegalTransition):
        review_rectification(session, rectification=rect, actor=officer, accept=True, clock=clock)


def test_only_the_addressee_acts_and_only_officers_issue_and_review(
    session: Session, clock: FixedClock
) -> None:
    officer, person, stranger = _cast(session, clock)
    with pytest.raises(PermissionDenied):
        _warn(session, clock, stranger, person)
    warning = _warn(session, clock, officer, person)
    with pytest.raises(PermissionDenied):
        acknowledge_warning(session, warning=warning, actor=stranger, clock=clock, via="cli")
    with pytest.raises(PermissionDenied):
        submit_rectification(
            session, warning=warning, actor=stranger, description="x", evidence=[], clock=clock
        )
    rect = submit_rectification(
        session, warning=warning, actor=person, description="已整改", evidence=[], clock=clock
    )
    with pytest.raises(PermissionDenied):
        review_rectification(session, rectification=rect, actor=person, accept=True, clock=clock)


def test_withdrawn_and_closed_warnings_refuse_further_steps(
    session: Session, clock: FixedClock
) -> None:
    officer, person, _ = _cast(session, clock)
    warning = _warn(session, clock, officer, person)
    withdraw_warning(session, warning=warning, actor=officer, clock=clock, reason="误发")
    with pytest.raises(IllegalTransition) as caught:
        submit_rectification(
            session, warning=warning, actor=person, description="x", evidence=[], clock=clock
        )
    assert "withdrawn" in str(caught.value)
    with pytest.raises(IllegalTransition):
        withdraw_warning(session, warning=warning, actor=officer, clock=clock, reason="again")


def test_bad_input_is_refused(session: Session, clock: FixedClock) -> None:
    officer, person, _ = _cast(session, clock)
    with pytest.raises(InvalidInput):
        issue_warning(
            session,
            actor=officer,
            person=person,
            colour=WarningColour.RED,
            form=WarningForm.ADMONISH,
            reason="   ",
            deadline=clock.now() + timedelta(days=1),
            clock=clock,
        )
    with pytest.raises(InvalidInput):
        issue_warning(
            session,
            actor=officer,
            person=person,
            colour=WarningColour.RED,
            form=WarningForm.ADMONISH,
            reason="x" * 5000,
            deadline=clock.now() + timedelta(days=1),
            clock=clock,
        )
    with pytest.raises(InvalidInput):
        issue_warning(
            session,
            actor=officer,
            person=person,
            colour=WarningColour.RED,
            form=WarningForm.ADMONISH,
            reason="逾期",
            deadline=clock.now() - timedelta(days=1),
            clock=clock,
        )


ACTIONS = st.lists(
    st.sampled_from(["ack", "submit", "accept", "reject", "withdraw", "stranger_ack"]),
    max_size=12,
)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=ACTIONS)
def test_no_sequence_reaches_an_illegal_state_or_skips_the_audit(
    session: Session, actions: list[str]
) -> None:
    clock = FixedClock()
    officer, person, stranger = _cast(session, clock)
    warning = _warn(session, clock, officer, person)
    pending: Rectification | None = None
    for action in actions:
        before = warning.status
        audits = len(session.exec(select(AuditEvent.id)).all())
        notices = len(session.exec(select(Notice.id)).all())
        changed = False
        try:
            if action == "ack":
                changed = acknowledge_warning(
                    session, warning=warning, actor=person, clock=clock, via="cli"
                )
            elif action == "stranger_ack":
                acknowledge_warning(
                    session, warning=warning, actor=stranger, clock=clock, via="cli"
                )
            elif action == "submit":
                pending = submit_rectification(
                    session,
                    warning=warning,
                    actor=person,
                    description="整改",
                    evidence=[],
                    clock=clock,
                )
                changed = True
            elif action in ("accept", "reject") and pending is not None:
                review_rectification(
                    session,
                    rectification=pending,
                    actor=officer,
                    accept=action == "accept",
                    note="理由",
                    clock=clock,
                )
                changed = True
            elif action == "withdraw":
                withdraw_warning(
                    session, warning=warning, actor=officer, clock=clock, reason="撤回"
                )
                changed = True
        except (IllegalTransition, PermissionDenied):
            assert warning.status is before
            changed = False
        session.flush()
        after = len(session.exec(select(AuditEvent.id)).all())
        assert after == audits + (1 if changed else 0)
        # every decision tells someone (the reviewing officer, or the person); an
        # acknowledgement and a refused step tell nobody
        told = len(session.exec(select(Notice.id)).all()) - notices
        assert told == (1 if changed and action != "ack" else 0), action
        assert warning.status in WarningStatus
        if warning.status not in OPEN_STATES:
            assert warning.closed_at is not None
        if warning.status is WarningStatus.SUBMITTED:
            assert pending is not None and pending.status is RectificationStatus.SUBMITTED
    session.rollback()


# -- who is told ---------------------------------------------------------------------------


def _told(session: Session, event: NoticeEvent) -> list[tuple[int, str, str]]:
    rows = session.exec(select(Notice).where(Notice.event == event).order_by(Notice.id)).all()
    return [(n.reader_id, n.role.value, n.reach.value) for n in rows]


@pytest.mark.parametrize(
    ("colour", "expected"),
    [
        (WarningColour.YELLOW, [("person", "addressee", "first")]),
        (WarningColour.ORANGE, [("person", "addressee", "every")]),
        (WarningColour.RED, [("person", "addressee", "every"), ("boss", "supervisor", "first")]),
    ],
)
def test_issuing_tells_the_addressee_and_for_red_the_supervisor(
    session: Session, clock: FixedClock, colour: WarningColour, expected: list[tuple[str, ...]]
) -> None:
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    boss = make_person(session, unit=unit)
    person = make_person(session, unit=unit, supervisor=boss)
    issue_warning(
        session,
        actor=officer,
        person=person,
        colour=colour.value,
        form="责令纠错",
        reason="专项资金拨付未履行集体研究程序",
        deadline=clock.now() + timedelta(days=3),
        clock=clock,
    )
    ids = {"person": person.id, "boss": boss.id}
    assert _told(session, NoticeEvent.WARNING_ISSUED) == [
        (ids[who], role, reach) for who, role, reach in expected
    ]


def test_each_outcome_tells_the_right_people(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    issuer = make_person(session, unit=unit, role=Role.OFFICER)
    colleague = make_person(session, unit=unit, role=Role.OFFICER)
    boss = make_person(session, unit=unit)
    person = make_person(session, unit=unit, supervisor=boss)
    warning = _warn(session, clock, issuer, person)
    report = submit_rectification(
        session, warning=warning, actor=person, description="已整改", evidence=[], clock=clock
    )
    # the reviewers: the issuer and every officer supervising the person
    assert _told(session, NoticeEvent.CORRECTION_SUBMITTED) == [
        (issuer.id, "reviewer", "first"),
        (colleague.id, "reviewer", "first"),
    ]
    review_rectification(
        session, rectification=report, actor=colleague, accept=False, note="证据不足", clock=clock
    )
    [rejected] = session.exec(
        select(Notice).where(Notice.event == NoticeEvent.CORRECTION_REJECTED)
    ).all()
    assert (rejected.reader_id, rejected.data["reason"]) == (person.id, "证据不足")
    assert rejected.data["deadline"] == warning.deadline.isoformat()
    again = submit_rectification(
        session, warning=warning, actor=person, description="已补充", evidence=[], clock=clock
    )
    review_rectification(session, rectification=again, actor=colleague, accept=True, clock=clock)
    # accepted by someone else: the issuer hears of it too
    assert _told(session, NoticeEvent.CORRECTION_ACCEPTED) == [
        (person.id, "addressee", "first"),
        (issuer.id, "officer", "first"),
    ]
    other = _warn(session, clock, issuer, person)
    withdraw_warning(session, warning=other, actor=issuer, clock=clock, reason="误发")
    [withdrawn] = session.exec(
        select(Notice).where(Notice.event == NoticeEvent.WARNING_WITHDRAWN)
    ).all()
    assert (withdrawn.reader_id, withdrawn.data) == (person.id, {"reason": "误发"})


def test_escalation_and_flag_tell_the_person_the_supervisor_and_the_officer(
    session: Session, clock: FixedClock
) -> None:
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER)
    boss = make_person(session, unit=unit)
    person = make_person(session, unit=unit, supervisor=boss)
    warning = issue_warning(
        session,
        actor=officer,
        person=person,
        colour=WarningColour.ORANGE,
        form=WarningForm.PROMPT,
        reason="逾期未整改",
        deadline=clock.now() + timedelta(days=1),
        clock=clock,
    )
    later = FixedClock(clock.now() + timedelta(days=2))
    escalate_warning(
        session, warning=warning, clock=later, new_deadline=later.now() + timedelta(days=1)
    )
    assert _told(session, NoticeEvent.WARNING_ESCALATED) == [
        (person.id, "addressee", "every"),
        (boss.id, "supervisor", "first"),
        (officer.id, "officer", "first"),
    ]
    [notice, *_] = session.exec(
        select(Notice).where(Notice.event == NoticeEvent.WARNING_ESCALATED)
    ).all()
    assert notice.data == {"from": "orange", "to": "red", "escalations": 1}
    last = FixedClock(later.now() + timedelta(days=2))
    assert flag_warning(session, warning=warning, clock=last)
    assert _told(session, NoticeEvent.WARNING_FLAGGED) == [
        (officer.id, "officer", "first"),
        (boss.id, "supervisor", "first"),
    ]


def test_an_officer_acts_only_within_their_scope(session: Session, clock: FixedClock) -> None:
    from riskprompt.models.scope import Supervision

    mine, theirs = make_unit(session, name="甲局"), make_unit(session, name="乙局")
    officer = make_person(session, unit=mine, role=Role.OFFICER)
    session.add(Supervision(officer_id=officer.id or 0, unit_id=mine.id or 0))
    colleague = make_person(session, unit=theirs, role=Role.OFFICER)
    outsider = make_person(session, unit=theirs, name="外单位人员")
    session.flush()
    with pytest.raises(PermissionDenied) as caught:
        _warn(session, clock, officer, outsider)
    assert "外单位人员" in str(caught.value)
    warning = _warn(session, clock, colleague, outsider)
    report = submit_rectification(
        session, warning=warning, actor=outsider, description="已整改", evidence=[], clock=clock
    )
    with pytest.raises(PermissionDenied):
        review_rectification(session, rectification=report, actor=officer, accept=True, clock=clock)
    with pytest.raises(PermissionDenied):
        withdraw_warning(session, warning=warning, actor=officer, clock=clock, reason="越权")
    assert warning.status is WarningStatus.SUBMITTED


def test_issuing_reads_the_words_and_the_default_deadline(
    session: Session, clock: FixedClock
) -> None:
    from riskprompt.config.settings import load_settings

    officer, person, _ = _cast(session, clock)
    warning = issue_warning(
        session,
        actor=officer,
        person=person,
        colour="红色",
        form="admonish",
        reason="逾期",
        clock=clock,
        settings=(settings := load_settings(WARNING_DEADLINE_DAYS_RED=2)),
    )
    assert (warning.colour, warning.form) == (WarningColour.RED, WarningForm.ADMONISH)
    assert warning.deadline == deadline_on(clock.now() + timedelta(days=2), settings)
    for bad in ({"colour": "purple"}, {"form": "scold"}, {"risk_point_id": 999}):
        arguments = {"colour": "red", "form": "prompt", "risk_point_id": None, **bad}
        with pytest.raises((InvalidInput, NotFound)):
            issue_warning(
                session,
                actor=officer,
                person=person,
                reason="逾期",
                clock=clock,
                deadline=clock.now() + timedelta(days=1),
                **arguments,
            )
    with pytest.raises(InvalidInput):
        _warn(session, clock, officer, officer)  # officers do not warn themselves
