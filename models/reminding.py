"""Reminders an officer asks for (催阅): the people they choose are reminded now.

The follow-up (:mod:`riskprompt.notifications.escalation`) reminds by itself, every
``PROMPT_REMIND_AFTER_HOURS``; from the console's list of people who have not
acknowledged, an officer can also remind the people they select at once.
:func:`request_reminders` is the rule: it checks the officer and that everyone
chosen is within their supervision scope (one outside refuses the whole request:
nothing is changed), and takes one reminder step on each of their prompts of the
period still waiting, the step the follow-up would take next: ``Prompt.reminders``
counts it (one guarded ``UPDATE``, so that the follow-up running at the same moment
never takes the same step), and the follow-up's own next reminder waits a full
interval again.

:func:`riskprompt.notifications.reminding.resend_reminders` calls it and queues the
reminders, the very messages of the follow-up (the reader's next channel, the key
``p<id>-<channel>-rem<step>``), each with its ``prompt.reminded`` audit record, the
officer as its actor.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import case, literal, update
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.listings import period_window, prompts_of_period
from riskprompt.models.people import Person, require_officer
from riskprompt.models.periods import parse_period
from riskprompt.models.prompts import AWAITING_ACK, Prompt, PromptStatus
from riskprompt.models.scope import require_in_scope
from riskprompt.models.types import UTCDateTime

#: The most people one request may remind (a page of the console's list is 50).
MAX_PEOPLE = 200


@dataclass(frozen=True, slots=True)
class ReminderStep:
    """One reminder to send: the prompt, its reader, and the step's number (from 1)."""

    prompt: Prompt
    person: Person
    step: int


@dataclass(frozen=True, slots=True)
class ReminderRequest:
    """What a request for reminders came to.

    Attributes:
        steps: the reminders to send, by person (as chosen), oldest prompt first.
        reminded: the people with at least one prompt reminded.
        nothing_waiting: the people chosen with nothing waiting any more (they
            acknowledged meanwhile, or left).
    """

    steps: list[ReminderStep] = field(default_factory=list)
    reminded: list[Person] = field(default_factory=list)
    nothing_waiting: list[Person] = field(default_factory=list)


def _chosen(staff_ids: Iterable[str]) -> list[str]:
    chosen: list[str] = []
    for value in staff_ids:
        staff_id = value.strip()
        if staff_id and staff_id not in chosen:
            chosen.append(staff_id)
    if not chosen:
        raise InvalidInput(N_("choose at least one person to remind"))
    if len(chosen) > MAX_PEOPLE:
        raise InvalidInput(N_("at most %(n)s people can be reminded at once"), n=MAX_PEOPLE)
    return chosen


def request_reminders(
    session: Session,
    *,
    officer: Person,
    staff_ids: Iterable[str],
    period: str,
    clock: Clock,
    settings: Settings,
) -> ReminderRequest:
    """Take a reminder step now on the chosen people's prompts of ``period`` still waiting.

    Args:
        session: the open session; the caller commits (with the messages queued).
        officer: who asks.
        staff_ids: the people to remind, by staff ID.
        period: their prompts of this period (``YYYY-MM``) are reminded.
        clock: the clock.
        settings: the follow-up's interval and the time zone the period is read in.

    Returns:
        The steps taken (the caller queues their messages).

    Raises:
        PermissionDenied: the actor is not an officer, or someone chosen is outside
            their supervision scope.
        InvalidInput: nobody chosen, too many, a malformed period.
        NotFound: no one has one of the staff IDs.
    """
    require_officer(officer)
    chosen = _chosen(staff_ids)
    period = parse_period(period)
    found = {
        p.staff_id: p for p in session.exec(select(Person).where(col(Person.staff_id).in_(chosen)))
    }
    people: list[Person] = []
    for staff_id in chosen:
        person = found.get(staff_id)
        if person is None:
            raise NotFound(N_("no person with staff id %(staff_id)r"), staff_id=staff_id)
        require_in_scope(session, officer=officer, person=person)
        people.append(person)

    now = clock.now()
    interval = timedelta(hours=settings.PROMPT_REMIND_AFTER_HOURS)
    active = [p.id for p in people if p.active]
    waiting = (
        select(Prompt.id)
        .where(
            *AWAITING_ACK,
            prompts_of_period(period, *period_window(period, settings.zone)),
            col(Prompt.person_id).in_(active),
        )
        .scalar_subquery()
    )
    # One guarded UPDATE: a prompt acknowledged meanwhile is not reminded, and the step
    # is counted from the stored value (the follow-up may have taken one just now).
    values: dict[str, Any] = {"reminders": col(Prompt.reminders) + 1}
    if interval:  # the follow-up's next reminder (if one is planned) waits a full interval
        values["remind_at"] = case(
            (col(Prompt.remind_at).is_not(None), literal(now + interval, UTCDateTime())),
            else_=None,
        )
    stepped = session.execute(
        update(Prompt)
        .where(col(Prompt.id).in_(waiting), col(Prompt.status) == PromptStatus.OPEN)
        .values(**values)
        .returning(col(Prompt.id), col(Prompt.reminders))
        .execution_options(synchronize_session=False)
    ).all()
    steps_of = {prompt_id: int(step) for prompt_id, step in stepped}
    prompts = session.exec(
        select(Prompt)
        .where(col(Prompt.id).in_(list(steps_of)))
        .order_by(col(Prompt.created_at), col(Prompt.id))
        .execution_options(populate_existing=True)
    ).all()
    by_person: dict[int, list[Prompt]] = {}
    for prompt in prompts:
        by_person.setdefault(prompt.person_id, []).append(prompt)
    request = ReminderRequest()
    for person in people:
        mine = by_person.get(person.id or 0, [])
        if not mine:
            request.nothing_waiting.append(person)
            continue
        request.reminded.append(person)
        request.steps.extend(ReminderStep(p, person, steps_of[p.id or 0]) for p in mine)
    return request


__all__ = ["MAX_PEOPLE", "ReminderRequest", "ReminderStep", "request_reminders"]
