"""Builders that make test data with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from sqlmodel import Session

from riskprompt.models.catalog import Post, Power, RiskLevel, RiskPoint, Unit
from riskprompt.models.people import Assignment, Channel, Person, Role
from riskprompt.models.prompts import Delivery, Prompt, PromptKind
from riskprompt.models.warnings import Warning

_seq = itertools.count(1)


def make_unit(session: Session, *, name: str | None = None, parent: Unit | None = None) -> Unit:
    """A unit (flushed, so it has an id)."""
    unit = Unit(name=name or f"测试单位{next(_seq)}", parent_id=parent.id if parent else None)
    session.add(unit)
    session.flush()
    return unit


def make_post(session: Session, *, unit: Unit, name: str | None = None) -> Post:
    """A post in ``unit``."""
    post = Post(unit_id=unit.id or 0, name=name or f"岗位{next(_seq)}")
    session.add(post)
    session.flush()
    return post


def make_power(session: Session, *, post: Post, name: str | None = None) -> Power:
    """A power of ``post``."""
    power = Power(post_id=post.id or 0, name=name or f"职权{next(_seq)}", content="内容")
    session.add(power)
    session.flush()
    return power


def make_risk_point(
    session: Session,
    *,
    post: Post,
    level: RiskLevel = RiskLevel.HIGH,
    description: str | None = None,
    measures: list[str] | None = None,
    power: Power | None = None,
) -> RiskPoint:
    """A risk point of ``post``."""
    point = RiskPoint(
        post_id=post.id or 0,
        power_id=power.id if power else None,
        description=description or f"风险点{next(_seq)}",
        level=level,
        measures=measures if measures is not None else ["集体研究决定", "全程留痕"],
    )
    session.add(point)
    session.flush()
    return point


def make_person(
    session: Session,
    *,
    unit: Unit,
    staff_id: str | None = None,
    name: str | None = None,
    role: Role = Role.STAFF,
    supervisor: Person | None = None,
    mobile: str | None = "+8613800000000",
    email: str | None = "someone@example.org",
    channels: str = "telegram,sms,email",
    locale: str = "zh_CN",
) -> Person:
    """A person in ``unit``."""
    n = next(_seq)
    person = Person(
        staff_id=staff_id or f"T{n:05d}",
        name=name or f"测试人员{n}",
        unit_id=unit.id or 0,
        role=role,
        supervisor_id=supervisor.id if supervisor else None,
        mobile=mobile,
        email=email,
        channels=channels,
        locale=locale,
    )
    session.add(person)
    session.flush()
    return person


def assign(
    session: Session,
    *,
    person: Person,
    post: Post,
    start_on: date = date(2026, 1, 1),
    end_on: date | None = None,
) -> Assignment:
    """``person`` holds ``post`` from ``start_on``."""
    assignment = Assignment(
        person_id=person.id or 0, post_id=post.id or 0, start_on=start_on, end_on=end_on
    )
    session.add(assignment)
    session.flush()
    return assignment


def make_prompt_with_delivery(
    session: Session,
    *,
    person: Person,
    at: datetime,
    channel: Channel | None = None,
    title: str | None = None,
    body: str = "请注意本岗位风险点。",
) -> tuple[Prompt, Delivery]:
    """A special prompt to ``person`` with a pending delivery due at ``at``.

    The delivery goes on ``channel`` (default: the person's first reachable one) with
    a plain body, so that dispatch can be tested without the renderers.
    """
    n = next(_seq)
    prompt = Prompt(
        kind=PromptKind.SPECIAL,
        person_id=person.id or 0,
        title=title or f"特别提示{n}",
        body=body,
        content={"text": body, "issuer": "纪检监察室", "issued_on": at.date().isoformat()},
        created_at=at,
    )
    session.add(prompt)
    session.flush()
    chosen = channel or person.reachable_channels()[0]
    delivery = Delivery(
        prompt_id=prompt.id,
        person_id=person.id or 0,
        channel=chosen.value,
        subject=prompt.title,
        body=body,
        extra={"parts": [body], "buttons": []},
        due_at=at,
        idempotency_key=f"p{prompt.id}-{chosen.value}",
        created_at=at,
    )
    session.add(delivery)
    session.flush()
    return prompt, delivery


def make_warning(
    session: Session,
    *,
    person: Person,
    officer: Person,
    at: datetime,
    reason: str = "采购审批未经集体研究",
    days: int = 7,
) -> Warning:
    """A yellow ordered-correction warning (责令纠错) issued by ``officer`` to ``person``."""
    from datetime import timedelta

    from riskprompt.models.clock import FixedClock
    from riskprompt.models.warnings import WarningColour, WarningForm, issue_warning

    return issue_warning(
        session,
        actor=officer,
        person=person,
        colour=WarningColour.YELLOW,
        form=WarningForm.CORRECT,
        reason=reason,
        deadline=at + timedelta(days=days),
        clock=FixedClock(at),
    )
