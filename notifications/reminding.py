"""Reminders an officer asks for, queued now: the follow-up's own reminder messages.

:func:`resend_reminders` takes the steps of the rule
(:func:`riskprompt.models.reminding.request_reminders`: the officer, the scope, the
prompts still waiting) and queues each as the follow-up
(:mod:`riskprompt.notifications.escalation`) queues its reminders: on the reader's
next channel after the one last used, rendered by the same renderer, under the key
``p<id>-<channel>-rem<step>``, with the same ``prompt.reminded`` audit record
(``{"reminder": step, "channel": ...}``), whose actor is the officer who asked
(the follow-up's has none: the service).  The dispatcher sends them (quiet hours
hold them until the morning, as any other message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery
from riskprompt.models.reminding import ReminderRequest, request_reminders
from riskprompt.notifications.escalation import (
    _last_channels,
    _ReminderRenderer,
    reminder_channel,
)


@dataclass(frozen=True, slots=True)
class Resent:
    """What a request for reminders did.

    Attributes:
        request: the rule's answer (who was reminded, who had nothing waiting).
        queued: the reminder messages queued.
        unreachable: the people reminded whom no channel reaches (nothing queued for them).
    """

    request: ReminderRequest
    queued: int = 0
    unreachable: list[Person] = field(default_factory=list)


def resend_reminders(
    session: Session,
    *,
    officer: Person,
    staff_ids: Iterable[str],
    period: str,
    clock: Clock,
    settings: Settings,
) -> Resent:
    """Remind the chosen people now of their prompts of ``period`` not acknowledged.

    The caller commits (the steps, the messages and the audit records together).

    Raises:
        The rule's errors (PermissionDenied, InvalidInput, NotFound): nothing is changed.
    """
    request = request_reminders(
        session,
        officer=officer,
        staff_ids=staff_ids,
        period=period,
        clock=clock,
        settings=settings,
    )
    now = clock.now()
    renderer = _ReminderRenderer(settings, now)
    last = _last_channels(session, [s.prompt.id or 0 for s in request.steps])
    deliveries: list[dict[str, object]] = []
    sent_to: list[tuple[int, int, str | None]] = []
    unreachable: list[Person] = []
    for step in request.steps:
        channel = reminder_channel(step.person, last.get(step.prompt.id or 0))
        if channel is None:
            if step.person not in unreachable:
                unreachable.append(step.person)
        else:
            deliveries.append(renderer.delivery(step.prompt, step.person, channel, step.step))
        sent_to.append((step.prompt.id or 0, step.step, channel.value if channel else None))
    if deliveries:
        session.execute(insert(Delivery), deliveries)
    for prompt_id, number, channel_name in sent_to:
        record(
            session,
            at=now,
            actor_id=officer.id,
            action="prompt.reminded",
            subject_type="prompt",
            subject_id=prompt_id,
            data={"reminder": number, "channel": channel_name},
        )
    return Resent(request=request, queued=len(deliveries), unreachable=unreachable)


__all__ = ["Resent", "resend_reminders"]
