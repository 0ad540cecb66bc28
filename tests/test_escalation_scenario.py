"""A month of silence and answers: 100 people, 10 warnings, 30 simulated days.

Every hour of the simulated month the scripted people act (acknowledge, report a
correction), the officer reviews, then the service ticks as ``riskprompt tick``
does (reminders and escalation, then dispatch through the file channel).  The
test then checks, against counts it makes itself from the script:

* every reminder, escalation and flag happened once, at the expected hour;
* every message went out exactly once (one file per idempotency key), the
  notices of every outcome included;
* the assessment report's numbers per unit.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.assessment import assess
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Prompt, acknowledge_prompt
from riskprompt.models.warnings import (
    Rectification,
    Warning,
    WarningColour,
    acknowledge_warning,
    issue_warning,
    review_rectification,
    submit_rectification,
    withdraw_warning,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.escalation import run_follow_ups
from riskprompt.notifications.planning import plan_monthly_cycle
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit

START = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 on 1 December in Shanghai
DAYS = 30
UNITS = 5
PEOPLE = 100
#: Hours after the prompt at which person i acknowledges, by i % 10 (None: never).
ACK_AFTER_HOURS: dict[int, int | None] = {
    0: 1,
    1: 5,
    2: 23,
    3: 30,
    4: 50,
    5: 80,
    6: None,
    7: 2,
    8: 24,
    9: None,
}


@dataclass(frozen=True)
class Scripted:
    """A warning of the script: issued on ``day`` to person ``10 * j + 1``."""

    colour: str
    deadline_days: int
    # what the person and the officer do, in hours after issue
    acknowledge: int | None = None
    submit: tuple[int, ...] = ()
    accept: int | None = None
    reject: int | None = None
    withdraw: int | None = None
    # what must follow: (action, the day after issue at whose end it falls due); a
    # deadline is the end of a whole day (23:59:59 in Shanghai), so each step is
    # taken by the first hourly tick after it, at 00:00 the next day
    steps: tuple[tuple[str, int], ...] = ()
    colour_at_end: str = ""
    outcome: str = "open"  # on_time, late, open, withdrawn


R, E, F = "warning.reminded", "warning.escalated", "warning.flagged"
SCRIPT = [
    # silent: yellow → orange → red → flagged
    Scripted(
        "yellow",
        5,
        steps=((R, 2), (R, 4), (E, 5), (R, 13), (R, 15), (E, 16), (R, 19), (R, 21), (F, 22)),
        colour_at_end="red",
    ),
    # corrected at once, accepted: nothing follows
    Scripted("yellow", 6, submit=(48,), accept=72, colour_at_end="yellow", outcome="on_time"),
    # acknowledged, then silent
    Scripted(
        "orange",
        8,
        acknowledge=24,
        steps=((R, 5), (R, 7), (E, 8), (R, 11), (R, 13), (F, 14)),
        colour_at_end="red",
    ),
    # red, reminded once, corrected and accepted on the last day
    Scripted(
        "red", 5, submit=(96,), accept=96, steps=((R, 2),), colour_at_end="red", outcome="on_time"
    ),
    # reminded, reports before the deadline, reviewed after it: late
    Scripted(
        "yellow",
        4,
        submit=(72,),
        accept=144,
        steps=((R, 1),),
        colour_at_end="yellow",
        outcome="late",
    ),
    # rejected once (the deadline stays), reminded, corrected again and accepted
    Scripted(
        "yellow",
        10,
        submit=(48, 192),
        reject=72,
        accept=216,
        steps=((R, 7),),
        colour_at_end="yellow",
        outcome="on_time",
    ),
    # withdrawn by the officer
    Scripted("orange", 6, withdraw=24, colour_at_end="orange", outcome="withdrawn"),
    # red and silent: flagged
    Scripted("red", 7, steps=((R, 4), (R, 6), (F, 7)), colour_at_end="red"),
    # default deadline: escalated late in the month, its orange reminders after it
    Scripted("yellow", 15, steps=((R, 12), (R, 14), (E, 15)), colour_at_end="orange"),
    # a 3-day orange, acknowledged, then silent: "3 days before" is the end of the day
    # it was issued
    Scripted(
        "orange",
        3,
        acknowledge=1,
        steps=((R, 0), (R, 2), (E, 3), (R, 6), (R, 8), (F, 9)),
        colour_at_end="red",
    ),
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(LOCAL_CHANNEL="file", OUTBOX_DIR=tmp_path / "outbox", RATE_LIMITS=False)


def build_city(session: Session) -> tuple[Person, list[Person]]:
    """The officer (in the city) and 100 people in 5 units; the first of each is its head."""
    city = make_unit(session, name="市纪委监委")
    officer = make_person(
        session, unit=city, staff_id="JJ000", role=Role.OFFICER, channels="telegram,sms"
    )
    officer.telegram_chat_id = 9000
    people: list[Person] = []
    for u in range(UNITS):
        unit = make_unit(session, name=f"第{u + 1}局", parent=city)
        post = make_post(session, unit=unit, name="审批岗")
        make_risk_point(session, post=post)
        head: Person | None = None
        for k in range(PEOPLE // UNITS):
            i = u * (PEOPLE // UNITS) + k
            person = make_person(
                session,
                unit=unit,
                staff_id=f"S{i:03d}",
                name=f"人员{i:03d}",
                supervisor=head,
                channels="telegram,sms",
            )
            person.telegram_chat_id = 10_000 + i
            assign(session, person=person, post=post)
            head = head or person
            people.append(person)
    session.commit()
    return officer, people


def expected_sent_keys(prompts: dict[int, Prompt], warnings: list[Warning]) -> Counter[str]:
    """The messages the script must produce, counted from the script alone."""
    keys: Counter[str] = Counter()
    for i, prompt in prompts.items():
        keys[f"p{prompt.id}-telegram"] += 1
        ack = ACK_AFTER_HOURS[i % 10]
        if ack is None or ack > 24:
            keys[f"p{prompt.id}-sms-rem1"] += 1
        if ack is None or ack > 48:
            keys[f"p{prompt.id}-telegram-rem2"] += 1
    keys["officer list"] += 1
    both = ("telegram", "sms")
    for script, warning in zip(SCRIPT, warnings, strict=True):
        w, colour = warning.id, script.colour
        keys.update(f"w{w}-{c}" for c in (both if colour != "yellow" else both[:1]))
        if colour == "red":
            keys[f"w{w}-telegram-sup"] += 1
        escalations = reminders = 0
        for action, _day in script.steps:
            if action == R:
                reminders += 1
                channels = both if colour != "yellow" else both[:1]
                keys.update(f"w{w}-{c}-rm{escalations}.{reminders}" for c in channels)
            elif action == E:
                escalations, reminders = escalations + 1, 0
                colour = {"yellow": "orange", "orange": "red"}[colour]
                keys.update(f"w{w}-{c}-esc{escalations}" for c in both)
                keys[f"w{w}-telegram-esc{escalations}-sup"] += 1
                keys[f"w{w}-telegram-esc{escalations}-off"] += 1
            else:
                keys[f"w{w}-telegram-flag-off"] += 1
                keys[f"w{w}-telegram-flag-sup"] += 1
        # the outcomes: each report to the reviewing officer, each review and the
        # withdrawal to the person
        keys["notice"] += len(script.submit) + sum(
            step is not None for step in (script.accept, script.reject, script.withdraw)
        )
    return keys


def test_a_month_of_reminders_escalations_and_the_report(
    engine: Engine, session: Session, settings: Settings, tmp_path: Path
) -> None:
    clock = FixedClock(START)
    officer, people = build_city(session)
    plan_monthly_cycle(engine, period="2026-12", clock=clock, settings=settings)
    prompts = {
        int(p.person_id): p for p in session.exec(select(Prompt).order_by(col(Prompt.id))).all()
    }
    index = {person.id: i for i, person in enumerate(people)}
    prompts = {index[person_id]: prompt for person_id, prompt in prompts.items()}
    assert len(prompts) == PEOPLE

    actions: dict[int, list[Callable[[Session], Any]]] = defaultdict(list)
    for i, after in ACK_AFTER_HOURS.items():
        if after is None:
            continue
        for person_index in range(i, PEOPLE, 10):

            def ack(s: Session, n: int = person_index) -> None:
                acknowledge_prompt(
                    s,
                    prompt=s.get(Prompt, prompts[n].id),
                    actor=s.get(Person, people[n].id),
                    clock=clock,
                    via="telegram",
                )

            actions[after].append(ack)
    warnings: list[Warning | None] = [None] * len(SCRIPT)
    for j, script in enumerate(SCRIPT):
        issued = j * 24
        target = people[10 * j + 1]

        def issue(
            s: Session, j: int = j, script: Scripted = script, target: Person = target
        ) -> None:
            warnings[j] = issue_warning(
                s,
                actor=s.get(Person, officer.id),
                person=s.get(Person, target.id),
                colour=script.colour,
                form="correct",
                reason=f"第{j}号预警的事由",
                deadline=clock.now() + timedelta(days=script.deadline_days),
                clock=clock,
                settings=settings,
            )

        actions[issued].append(issue)
        warning_of = lambda s, j=j: s.get(Warning, warnings[j].id)  # noqa: E731
        person_of = lambda s, t=target: s.get(Person, t.id)  # noqa: E731
        if script.acknowledge is not None:
            actions[issued + script.acknowledge].append(
                lambda s, w=warning_of, p=person_of: acknowledge_warning(
                    s, warning=w(s), actor=p(s), clock=clock, via="telegram"
                )
            )
        for hour in script.submit:
            actions[issued + hour].append(
                lambda s, w=warning_of, p=person_of: submit_rectification(
                    s, warning=w(s), actor=p(s), description="已整改", evidence=[], clock=clock
                )
            )

        def review(s: Session, accept: bool, w: Callable[..., Warning] = warning_of) -> None:
            pending = s.exec(
                select(Rectification).where(
                    col(Rectification.warning_id) == w(s).id,
                    col(Rectification.status) == "submitted",
                )
            ).one()
            review_rectification(
                s,
                rectification=pending,
                actor=s.get(Person, officer.id),
                accept=accept,
                note="" if accept else "证据不足",
                clock=clock,
            )

        if script.reject is not None:
            actions[issued + script.reject].append(lambda s, r=review: r(s, False))
        if script.accept is not None:
            actions[issued + script.accept].append(lambda s, r=review: r(s, True))
        if script.withdraw is not None:
            actions[issued + script.withdraw].append(
                lambda s, w=warning_of: withdraw_warning(
                    s, warning=w(s), actor=s.get(Person, officer.id), clock=clock, reason="误发"
                )
            )

    async def month() -> None:
        async with Dispatcher(
            engine, settings, clock, build_adapters(settings), worker_id="scenario"
        ) as dispatcher:
            for hour in range(DAYS * 24 + 1):
                clock.current = START + timedelta(hours=hour)
                for act in actions.get(hour, []):
                    with Session(engine, expire_on_commit=False) as s:
                        act(s)
                        s.commit()
                run_follow_ups(engine, clock=clock, settings=settings)
                await dispatcher.drain()

    asyncio.run(month())
    session.expire_all()
    final = [session.get(Warning, w.id) for w in warnings if w is not None]

    # every step once, at its hour (all steps fall at 00:00 after the end of their day)
    for j, (script, warning) in enumerate(zip(SCRIPT, final, strict=True)):
        events = session.exec(
            select(AuditEvent.action, AuditEvent.at)
            .where(
                col(AuditEvent.subject_type) == "warning",
                col(AuditEvent.subject_id) == warning.id,
                col(AuditEvent.action).in_([R, E, F]),
            )
            .order_by(col(AuditEvent.id))
        ).all()
        expected = [
            (action, START + timedelta(days=j + day, hours=15))
            for action, day in script.steps
            if (j + day) * 24 + 15 <= DAYS * 24
        ]
        assert [(a, at) for a, at in events] == expected, f"warning {j}"
        assert warning.colour == WarningColour(script.colour_at_end), f"warning {j}"

    # every message exactly once: the file channel wrote one file per delivery
    written: Counter[str] = Counter()
    for path in (tmp_path / "outbox").iterdir():
        record = json.loads(path.read_text(encoding="utf-8"))
        key = record["idempotency_key"]
        kind = {"ua": "officer list", "n": "notice"}
        written[next((v for k, v in kind.items() if key.startswith(k)), key)] += 1
    assert written == expected_sent_keys(prompts, final)

    # the report, unit by unit, against a count made from the script
    report = assess(session, period="2026-12", settings=settings)
    rows = {row.name: row for row in report.rows}
    for u in range(UNITS):
        row = rows[f"第{u + 1}局"]
        members = range(u * 20, u * 20 + 20)
        acked = [ACK_AFTER_HOURS[i % 10] for i in members if ACK_AFTER_HOURS[i % 10] is not None]
        assert (row.prompts, row.sent, row.acknowledged) == (20, 20, len(acked))
        assert row.median_ack == timedelta(hours=statistics.median(acked))
        mine = [(s, w) for s, w in zip(SCRIPT, final, strict=True) if index[w.person_id] in members]
        colours = Counter(s.colour_at_end for s, _w in mine)
        assert {c.value: n for c, n in row.warnings.items() if n} == dict(colours)
        outcomes = Counter(s.outcome for s, _w in mine)
        assert (row.on_time, row.late, row.open) == (
            outcomes["on_time"],
            outcomes["late"],
            outcomes["open"],
        )
        assert row.escalations == sum(
            sum(1 for action, day in s.steps if action == E and j + day <= DAYS)
            for j, (s, w) in enumerate(zip(SCRIPT, final, strict=True))
            if index[w.person_id] in members and s.outcome == "open"
        )
