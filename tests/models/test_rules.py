"""Domain rules shared by every front end: parsing, reachability, roles, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from riskprompt.models import AuditEvent, Prompt, PromptKind, PromptStatus, RiskLevel, Role
from riskprompt.models.audit import GENESIS_HASH, event_hash
from riskprompt.models.catalog import join_measures, split_measures
from riskprompt.models.errors import IllegalTransition, InvalidInput, PermissionDenied
from riskprompt.models.people import (
    Channel,
    normalise_email,
    normalise_mobile,
    parse_locale,
    require_officer,
)
from riskprompt.models.prompts import acknowledge_prompt
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit


@pytest.mark.parametrize(
    ("text", "level"),
    [("高", RiskLevel.HIGH), (" 中 ", RiskLevel.MEDIUM), ("LOW", RiskLevel.LOW), ("high", "high")],
)
def test_risk_level_reads_chinese_and_english(text: str, level: RiskLevel) -> None:
    assert RiskLevel.parse(text) == level


def test_risk_level_refuses_anything_else() -> None:
    with pytest.raises(InvalidInput) as caught:
        RiskLevel.parse("极高")
    assert "极高" in str(caught.value)


def test_levels_sort_high_first() -> None:
    levels = sorted([RiskLevel.LOW, RiskLevel.HIGH, RiskLevel.MEDIUM], key=lambda lv: lv.rank)
    assert levels == [RiskLevel.HIGH, RiskLevel.MEDIUM, RiskLevel.LOW]


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("纪检监察", Role.OFFICER),
        ("officer", Role.OFFICER),
        ("工作人员", Role.STAFF),
        ("Admin", Role.ADMIN),
    ],
)
def test_role_reads_chinese_and_english(text: str, role: Role) -> None:
    assert Role.parse(text) is role


def test_channels_keep_their_order_and_refuse_unknown_or_repeated() -> None:
    assert Channel.parse_list("sms, telegram，邮件") == [
        Channel.SMS,
        Channel.TELEGRAM,
        Channel.EMAIL,
    ]
    assert Channel.parse_list("") == []
    with pytest.raises(InvalidInput):
        Channel.parse_list("sms,fax")
    with pytest.raises(InvalidInput):
        Channel.parse_list("sms,短信")


def test_mobile_numbers_become_e164() -> None:
    assert normalise_mobile("13800138000") == "+8613800138000"
    assert normalise_mobile("+86 138 0013 8000") == "+8613800138000"
    assert normalise_mobile("+1 415 555 2671") == "+14155552671"
    for bad in ("12345", "abc", "+86 000"):
        with pytest.raises(InvalidInput):
            normalise_mobile(bad)


def test_email_addresses_are_checked() -> None:
    assert normalise_email(" wang@Example.ORG ") == "wang@example.org"
    for bad in ("wang", "wang@", "@example.org", "wang@@example.org"):
        with pytest.raises(InvalidInput):
            normalise_email(bad)


def test_locale_spellings() -> None:
    assert parse_locale("中文") == "zh_CN"
    assert parse_locale("en_US") == "en"
    with pytest.raises(InvalidInput):
        parse_locale("fr")


def test_measures_split_on_newlines_and_both_semicolons() -> None:
    text = "集体研究决定；全程留痕;公开结果\n定期检查\n\n"
    measures = split_measures(text)
    assert measures == ["集体研究决定", "全程留痕", "公开结果", "定期检查"]
    assert split_measures(join_measures(measures)) == measures


def test_reachable_channels_follow_preference_and_opt_out(session: Session) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit, channels="telegram,sms,email")
    assert person.reachable_channels() == [Channel.SMS, Channel.EMAIL]  # no chat bound
    person.telegram_chat_id = 42
    person.sms_opt_out = True
    assert person.reachable_channels() == [Channel.TELEGRAM, Channel.EMAIL]
    person.email = None
    assert person.address_for(Channel.EMAIL) is None


def test_only_officers_and_admins_pass_the_officer_check(session: Session) -> None:
    unit = make_unit(session)
    require_officer(make_person(session, unit=unit, role=Role.OFFICER))
    require_officer(make_person(session, unit=unit, role=Role.ADMIN))
    with pytest.raises(PermissionDenied):
        require_officer(make_person(session, unit=unit, role=Role.STAFF))


def _prompt(session: Session, clock, person, post=None, period="2026-12") -> Prompt:
    prompt = Prompt(
        kind=PromptKind.MONTHLY,
        person_id=person.id,
        post_id=post.id if post else None,
        period=period,
        title="2026年12月风险提示",
        created_at=clock.now(),
    )
    session.add(prompt)
    session.flush()
    return prompt


def test_acknowledge_once_by_the_addressee_only(session: Session, clock) -> None:
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    owner = make_person(session, unit=unit)
    stranger = make_person(session, unit=unit)
    assign(session, person=owner, post=post)
    prompt = _prompt(session, clock, owner, post)

    with pytest.raises(PermissionDenied):
        acknowledge_prompt(session, prompt=prompt, actor=stranger, clock=clock, via="cli")
    assert prompt.status is PromptStatus.OPEN

    assert acknowledge_prompt(session, prompt=prompt, actor=owner, clock=clock, via="telegram")
    clock.advance(timedelta(hours=1))
    assert not acknowledge_prompt(session, prompt=prompt, actor=owner, clock=clock, via="sms")
    session.commit()

    stored = session.get(Prompt, prompt.id)
    assert stored is not None
    assert stored.status is PromptStatus.ACKNOWLEDGED
    assert stored.acknowledged_via == "telegram"
    assert stored.acknowledged_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    events = session.exec(
        select(AuditEvent).where(AuditEvent.action == "prompt.acknowledged")
    ).all()
    assert len(events) == 1


def test_a_withdrawn_prompt_cannot_be_acknowledged(session: Session, clock) -> None:
    unit = make_unit(session)
    owner = make_person(session, unit=unit)
    prompt = _prompt(session, clock, owner)
    prompt.status = PromptStatus.CANCELLED
    with pytest.raises(IllegalTransition):
        acknowledge_prompt(session, prompt=prompt, actor=owner, clock=clock, via="cli")


def test_an_acknowledgement_made_meanwhile_elsewhere_is_not_recorded_twice(
    session: Session, engine, clock
) -> None:
    unit = make_unit(session)
    owner = make_person(session, unit=unit)
    prompt = _prompt(session, clock, owner)
    cancelled = _prompt(session, clock, owner, period="2026-11")
    session.commit()

    with Session(engine, expire_on_commit=False) as other:
        # The other front end loaded both while they were still open...
        stale = other.get(Prompt, prompt.id)
        stale_cancelled = other.get(Prompt, cancelled.id)
        reader = other.get(type(owner), owner.id)
        # ...then this one acknowledged the first and an officer withdrew the second.
        assert acknowledge_prompt(session, prompt=prompt, actor=owner, clock=clock, via="sms")
        cancelled.status = PromptStatus.CANCELLED
        session.add(cancelled)
        session.commit()

        assert not acknowledge_prompt(other, prompt=stale, actor=reader, clock=clock, via="api")
        assert stale.status is PromptStatus.ACKNOWLEDGED
        assert stale.acknowledged_via == "sms"
        with pytest.raises(IllegalTransition):
            acknowledge_prompt(other, prompt=stale_cancelled, actor=reader, clock=clock, via="api")
        other.commit()

    events = session.exec(
        select(AuditEvent).where(AuditEvent.action == "prompt.acknowledged")
    ).all()
    assert len(events) == 1


def test_monthly_prompt_is_unique_per_person_post_period(session: Session, clock) -> None:
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    person = make_person(session, unit=unit)
    _prompt(session, clock, person, post)
    session.commit()
    with pytest.raises(IntegrityError):
        _prompt(session, clock, person, post)
    session.rollback()


def test_times_come_back_aware_utc(session: Session) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit)
    shanghai = timezone(timedelta(hours=8))
    prompt = Prompt(
        kind=PromptKind.SPECIAL,
        person_id=person.id,
        created_at=datetime(2026, 12, 24, 9, 0, tzinfo=shanghai),
    )
    session.add(prompt)
    session.commit()
    session.expunge_all()
    stored = session.get(Prompt, prompt.id)
    assert stored is not None
    assert stored.created_at == datetime(2026, 12, 24, 1, 0, tzinfo=UTC)
    assert stored.created_at.tzinfo is not None


def test_audit_records_are_hash_chained(session: Session, clock) -> None:
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    a = make_person(session, unit=unit)
    b = make_person(session, unit=unit)
    for person in (a, b):
        acknowledge_prompt(
            session,
            prompt=_prompt(session, clock, person, post),
            actor=person,
            clock=clock,
            via="cli",
        )
    session.commit()
    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash
    for event in events:
        assert event.hash == event_hash(event.prev_hash, event)
    events[0].data = {"via": "forged"}
    assert event_hash(events[0].prev_hash, events[0]) != events[0].hash
