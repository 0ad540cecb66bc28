"""Reminders and escalation: silence is not an answer.

One policy, in the settings:

* an unacknowledged prompt is re-sent on the reader's next channel every
  ``PROMPT_REMIND_AFTER_HOURS``, ``PROMPT_REMINDERS`` times; at the step after
  that the responsible officers get one list of the people who have not
  acknowledged (the issuing officer of a special prompt; for a monthly prompt the
  officers of the person's unit or a unit above it, or every officer when none);
* a warning waiting for its addressee reminds them ``WARNING_REMIND_DAYS_<COLOUR>``
  days before its deadline; when the deadline passes it rises one colour with a
  new deadline (``WARNING_DEADLINE_DAYS_<COLOUR>`` from now); an overdue red is
  flagged for disciplinary follow-up.  Who is told of an escalation or a flag is
  the domain's (:func:`riskprompt.models.warnings.escalate_warning` and
  :func:`~riskprompt.models.warnings.flag_warning` write the notices); the
  dispatcher expands them.

Every step is due on a row: ``Prompt.remind_at`` and ``Warning.next_step_at``.
:func:`run_follow_ups` takes what is due, oldest first, and takes each step once:
the row's state moves on in the transaction that queues the step's deliveries.
After downtime every missed step is taken once, in order; a warning reminder
overtaken by a later step of the same warning (its deadline passed meanwhile) is
recorded as skipped instead of sent.  Quiet hours are the dispatcher's
(:mod:`riskprompt.notifications.quiet`): what is queued at night goes out in the morning.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert
from sqlmodel import Session, col, select

from riskprompt.config.i18n import format_number, translator
from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.catalog import Unit
from riskprompt.models.clock import Clock
from riskprompt.models.people import Channel, Person, Role
from riskprompt.models.prompts import Delivery, Prompt, PromptKind, PromptStatus
from riskprompt.models.warnings import (
    NEXT_COLOUR,
    WAITING_STATES,
    Warning,
    WarningColour,
    default_deadline,
    escalate_warning,
    flag_warning,
)
from riskprompt.notifications.links import ACK_URL_PLACEHOLDER, AckLinks
from riskprompt.notifications.outbox import (
    DeliveryKey,
    ack_links,
    delivery_values,
    enqueue,
    first_channel,
)
from riskprompt.notifications.rendering import (
    Rendered,
    UnacknowledgedRow,
    reader_locale,
    render_prompt_reminder,
    render_unacknowledged_list,
    with_buttons,
)
from riskprompt.notifications.warnings import queue_warning_message

log = logging.getLogger(__name__)

#: Rows taken per transaction.
BATCH_SIZE = 500


@dataclass
class FollowUpStats:
    """What one run of the follow-up did.

    Attributes:
        prompt_reminders: unacknowledged prompts re-sent.
        officer_lists: lists of people who have not acknowledged, queued to officers.
        people_listed: prompts reported on those lists (a person with several
            prompts is one line of a list, their prompts grouped).
        warning_reminders: warning reminders queued.
        reminders_skipped: warning reminders overtaken by a later step (after downtime).
        escalations: warnings that rose one colour.
        flagged: overdue red warnings flagged for disciplinary follow-up.
    """

    prompt_reminders: int = 0
    officer_lists: int = 0
    people_listed: int = 0
    warning_reminders: int = 0
    reminders_skipped: int = 0
    escalations: int = 0
    flagged: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)

    @property
    def busy(self) -> bool:
        """Whether anything was done."""
        return any(asdict(self).values())


def run_follow_ups(
    engine: Engine, *, clock: Clock, settings: Settings, batch_size: int = BATCH_SIZE
) -> FollowUpStats:
    """Take every reminder and escalation step due by now, once, oldest first.

    Each batch is one transaction (its steps, their deliveries and audit records);
    on PostgreSQL due rows are taken with ``FOR UPDATE SKIP LOCKED`` so that two
    instances never take the same step.

    Args:
        engine: the database.
        clock: the clock (``tick --at`` moves it).
        settings: the policy (see the module).
        batch_size: rows per transaction.

    Returns:
        What was done.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: the database failed; batches committed stay.
    """
    stats = FollowUpStats()
    while True:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            taken = _warning_batch(
                session, clock=clock, settings=settings, stats=stats, size=batch_size
            )
        if taken < batch_size:
            break
    while True:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            taken = _prompt_batch(
                session, clock=clock, settings=settings, stats=stats, size=batch_size
            )
        if taken < batch_size:
            break
    if stats.busy:
        log.info("follow-up: %s", stats.as_dict())
    return stats


def _locked(session: Session, query):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
    """``query`` with its rows locked against other instances (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=query.column_descriptions[0]["entity"])
    return query


# -- prompts ------------------------------------------------------------------------------


def first_reminder_at(created_at: datetime, settings: Settings) -> datetime | None:
    """When a new prompt asking for an acknowledgement is first followed up (None: never)."""
    if settings.PROMPT_REMIND_AFTER_HOURS <= 0:
        return None
    return created_at + timedelta(hours=settings.PROMPT_REMIND_AFTER_HOURS)


def reminder_channel(person: Person, last: Channel | str | None) -> Channel | None:
    """The channel of a prompt's next reminder: the one after ``last`` used, round again."""
    reachable = person.reachable_channels()
    if not reachable:
        return None
    if last is None or Channel(last) not in reachable:
        return reachable[0]
    return reachable[(reachable.index(Channel(last)) + 1) % len(reachable)]


def _last_channels(session: Session, prompt_ids: list[int]) -> dict[int, str]:
    """Prompt id → the channel of its latest delivery."""
    rows = session.exec(
        select(Delivery.prompt_id, Delivery.channel)
        .where(col(Delivery.prompt_id).in_(prompt_ids))
        .order_by(col(Delivery.id))
    ).all()
    return {prompt_id: channel for prompt_id, channel in rows if prompt_id is not None}


def _prompt_batch(
    session: Session, *, clock: Clock, settings: Settings, stats: FollowUpStats, size: int
) -> int:
    """Follow up one batch of due prompts: reminders queued, the rest listed to officers.

    Set-based: one query for the people, one for the channels last used, the
    deliveries in one bulk insert, and a rendering shared by the prompts with the
    same content (chat and email; an SMS reminder names its prompt's code).
    """
    now = clock.now()
    rows = session.exec(
        _locked(
            session,
            select(Prompt)
            .where(
                col(Prompt.status) == PromptStatus.OPEN,
                col(Prompt.remind_at) <= now,
            )
            .order_by(col(Prompt.remind_at), col(Prompt.id))
            .limit(size),
        )
    ).all()
    if not rows:
        return 0
    people = {
        p.id: p
        for p in session.exec(
            select(Person).where(col(Person.id).in_({prompt.person_id for prompt in rows}))
        ).all()
    }
    last = _last_channels(session, [prompt.id or 0 for prompt in rows])
    interval = timedelta(hours=settings.PROMPT_REMIND_AFTER_HOURS)
    renderer = _ReminderRenderer(settings, now)
    unanswered: list[tuple[Prompt, Person]] = []
    reminded: list[tuple[Prompt, int, Channel | None]] = []
    deliveries: list[dict[str, object]] = []
    with session.no_autoflush:
        for prompt in rows:
            person = people[prompt.person_id]
            step = prompt.reminders + 1
            prompt.reminders = step
            if not person.active or not prompt.requires_ack:
                prompt.remind_at = None
                continue
            if step > settings.PROMPT_REMINDERS:
                prompt.remind_at = None
                unanswered.append((prompt, person))
                continue
            prompt.remind_at = now + interval if interval else None
            channel = reminder_channel(person, last.get(prompt.id or 0))
            if channel is None:
                log.warning("prompt %s: %s has no reachable channel", prompt.id, person.staff_id)
            else:
                deliveries.append(renderer.delivery(prompt, person, channel, step))
                stats.prompt_reminders += 1
            reminded.append((prompt, step, channel))
        for prompt in rows:
            session.add(prompt)
    if deliveries:
        session.execute(insert(Delivery), deliveries)
    for prompt, step, channel in reminded:
        record(
            session,
            at=now,
            actor_id=None,
            action="prompt.reminded",
            subject_type="prompt",
            subject_id=prompt.id,
            data={"reminder": step, "channel": channel.value if channel else None},
        )
    if unanswered:
        _queue_officer_lists(session, unanswered, now=now, settings=settings, stats=stats)
    return len(rows)


class _ReminderRenderer:
    """Reminder deliveries, rendered once per content, locale, channel and step."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings = settings
        self.now = now
        self.links = ack_links(settings, now)
        self.cache: dict[tuple[object, ...], Rendered] = {}

    def _rendered(self, prompt: Prompt, person: Person, channel: Channel, step: int) -> Rendered:
        if channel is Channel.SMS:  # short, and names the prompt's own code
            return render_prompt_reminder(
                prompt=prompt, person=person, channel=channel, settings=self.settings, number=step
            )
        content = (prompt.kind, prompt.post_id, prompt.period, prompt.broadcast_id)
        if prompt.broadcast_id is None and prompt.post_id is None:
            content = (prompt.id,)  # no shared snapshot: render it on its own
        key = (*content, reader_locale(person.locale, self.settings), channel, step)
        rendered = self.cache.get(key)
        if rendered is None:
            rendered = self.cache[key] = render_prompt_reminder(
                prompt=prompt,
                person=person,
                channel=channel,
                settings=self.settings,
                number=step,
                ack_url=ACK_URL_PLACEHOLDER if channel is Channel.EMAIL else None,
            )
        if channel.is_chat:
            return with_buttons(
                rendered,
                prompt_id=prompt.id or 0,
                locale=reader_locale(person.locale, self.settings),
                requires_ack=prompt.requires_ack,
            )
        url = self.links.for_prompt(prompt.id or 0, person.id or 0)
        return Rendered(
            subject=rendered.subject,
            text=AckLinks.fill(rendered.text, url) or "",
            html=AckLinks.fill(rendered.html, url),
        )

    def delivery(
        self, prompt: Prompt, person: Person, channel: Channel, step: int
    ) -> dict[str, object]:
        """The values of the reminder's delivery row."""
        return delivery_values(
            person_id=person.id or 0,
            channel=channel,
            rendered=self._rendered(prompt, person, channel, step),
            key=DeliveryKey.prompt_reminder(prompt.id, channel, step),
            due_at=self.now,
            prompt_id=prompt.id,
            extra={"reminder": step},
        )


def _ancestors(session: Session) -> dict[int, list[int]]:
    """Each unit's id with the ids of the units above it, nearest first."""
    parents = dict(session.exec(select(Unit.id, Unit.parent_id)).all())
    chains: dict[int, list[int]] = {}
    for unit_id in parents:
        chain, seen, current = [], set(), unit_id
        while current is not None and current not in seen:
            seen.add(current)
            chain.append(current)
            current = parents.get(current)
        chains[unit_id] = chain
    return chains


def responsible_officers(
    session: Session, *, prompts: Sequence[tuple[Prompt, Person]]
) -> dict[int, list[int]]:
    """Prompt id → the ids of the officers who hear that it was not acknowledged.

    The issuing officer of a special prompt; for a monthly prompt the active
    officers of the person's unit or a unit above it (the nearest level that has
    any); every active officer when no unit has one.
    """
    officers = session.exec(
        select(Person).where(
            col(Person.active).is_(True), col(Person.role).in_([Role.OFFICER, Role.ADMIN])
        )
    ).all()
    by_unit: dict[int, list[int]] = defaultdict(list)
    for officer in officers:
        by_unit[officer.unit_id].append(officer.id or 0)
    everyone = sorted(o.id or 0 for o in officers)
    active = set(everyone)
    chains = _ancestors(session)
    result: dict[int, list[int]] = {}
    for prompt, person in prompts:
        if prompt.kind is PromptKind.SPECIAL and prompt.issued_by_id in active:
            result[prompt.id or 0] = [prompt.issued_by_id or 0]
            continue
        chosen: list[int] = []
        for unit_id in chains.get(person.unit_id, [person.unit_id]):
            chosen = [o for o in by_unit.get(unit_id, []) if o != person.id]
            if chosen:
                break
        result[prompt.id or 0] = chosen or [o for o in everyone if o != person.id]
    return result


def _queue_officer_lists(
    session: Session,
    unanswered: Sequence[tuple[Prompt, Person]],
    *,
    now: datetime,
    settings: Settings,
    stats: FollowUpStats,
) -> None:
    """One message per officer naming the people who have not acknowledged."""
    routing = responsible_officers(session, prompts=unanswered)
    per_officer: dict[int, list[tuple[Prompt, Person]]] = defaultdict(list)
    for prompt, person in unanswered:
        for officer_id in routing[prompt.id or 0]:
            per_officer[officer_id].append((prompt, person))
        record(
            session,
            at=now,
            actor_id=None,
            action="prompt.unacknowledged_reported",
            subject_type="prompt",
            subject_id=prompt.id,
            data={"reminders": prompt.reminders - 1, "officers": routing[prompt.id or 0]},
        )
        stats.people_listed += 1
    if not per_officer:
        log.warning("%d prompts not acknowledged and no officer to tell", len(unanswered))
        return
    officers = {
        o.id: o for o in session.exec(select(Person).where(col(Person.id).in_(per_officer))).all()
    }
    units = dict(session.exec(select(Unit.id, Unit.name)).all())
    for officer_id, items in sorted(per_officer.items()):
        officer = officers[officer_id]
        channel = first_channel(officer)
        if channel is None:
            log.warning(
                "officer %s cannot be reached with the unacknowledged list", officer.staff_id
            )
            continue
        rows = _people_rows(items, units, reader_locale(officer.locale, settings))
        rendered = render_unacknowledged_list(
            rows=rows,
            reminders=settings.PROMPT_REMINDERS,
            reader=officer,
            channel=channel,
            settings=settings,
        )
        first = min(prompt.id or 0 for prompt, _person in items)
        enqueue(
            session,
            person=officer,
            channel=channel,
            rendered=rendered,
            key=DeliveryKey.officer_list(officer_id, first),
            due_at=now,
            extra={"unacknowledged": len(rows), "prompts": len(items)},
        )
        stats.officer_lists += 1


def _people_rows(
    items: Sequence[tuple[Prompt, Person]], units: dict[int | None, str], locale: str
) -> list[UnacknowledgedRow]:
    """One row per person (in the order first met), their prompts grouped on it."""
    grouped: dict[int, tuple[Person, list[Prompt]]] = {}
    for prompt, person in items:
        grouped.setdefault(person.id or 0, (person, []))[1].append(prompt)
    return [
        UnacknowledgedRow(
            name=person.name,
            staff_id=person.staff_id,
            unit=units.get(person.unit_id, ""),
            prompts=tuple(
                (p.title_in(locale), p.id or 0) for p in sorted(prompts, key=lambda p: p.id or 0)
            ),
        )
        for person, prompts in grouped.values()
    ]


# -- warnings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """One follow-up step of a warning: a reminder (``days`` before) or the deadline."""

    at: datetime
    days: float | None  # None: the overdue step


def warning_steps(warning: Warning, settings: Settings) -> list[Step]:
    """The steps of a warning's current deadline not taken yet, in order.

    Reminders that would fall before the deadline was set are not planned.
    """
    since = warning.deadline_set_at or warning.created_at
    reminders = [
        Step(at=warning.deadline - timedelta(days=days), days=days)
        for days in settings.warning_remind_days(warning.colour)
        if warning.deadline - timedelta(days=days) > since
    ]
    return [*reminders[warning.reminders_sent :], Step(at=warning.deadline, days=None)]


def _warning_batch(
    session: Session, *, clock: Clock, settings: Settings, stats: FollowUpStats, size: int
) -> int:
    now = clock.now()
    rows = session.exec(
        _locked(
            session,
            select(Warning)
            .where(
                col(Warning.status).in_(sorted(WAITING_STATES)),
                col(Warning.flagged_at).is_(None),
                col(Warning.next_step_at) <= now,
            )
            .order_by(col(Warning.next_step_at), col(Warning.id))
            .limit(size),
        )
    ).all()
    # one query for the batch's people (and their supervisors and officers, mostly
    # the same few): later session.get calls find them in the identity map
    wanted = {w.person_id for w in rows} | {w.issued_by_id for w in rows}
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(wanted))).all()}
    for warning in rows:
        _follow_up_warning(
            session,
            warning,
            people.get(warning.person_id),
            now=now,
            clock=clock,
            settings=settings,
            stats=stats,
        )
        session.add(warning)
    return len(rows)


def _follow_up_warning(
    session: Session,
    warning: Warning,
    person: Person | None,
    *,
    now: datetime,
    clock: Clock,
    settings: Settings,
    stats: FollowUpStats,
) -> None:
    """Take the warning's due steps in order; leave ``next_step_at`` on the next one."""
    steps = warning_steps(warning, settings)
    due = [step for step in steps if step.at <= now]
    for index, step in enumerate(due):
        if step.days is not None:
            warning.reminders_sent += 1
            # overtaken: a later step of this warning is due too (after downtime)
            skipped = index < len(due) - 1 or person is None or not person.active
            if skipped:
                stats.reminders_skipped += 1
            else:
                _remind_warning(session, warning, person, step, now, settings)
                stats.warning_reminders += 1
            record(
                session,
                at=now,
                actor_id=None,
                action="warning.reminder_skipped" if skipped else "warning.reminded",
                subject_type="warning",
                subject_id=warning.id,
                data={"colour": warning.colour.value, "days_before": step.days, "due": step.at},
            )
            continue
        if WarningColour(warning.colour) is WarningColour.RED:
            flag_warning(session, warning=warning, clock=clock)
            stats.flagged += 1
            return
        target = NEXT_COLOUR[WarningColour(warning.colour)]
        escalate_warning(
            session,
            warning=warning,
            clock=clock,
            new_deadline=default_deadline(target, now=now, settings=settings),
        )
        # Reminders the new deadline leaves no time for are not sent.
        fresh = warning_steps(warning, settings)
        warning.reminders_sent = sum(
            1 for step in fresh if step.days is not None and step.at <= now
        )
        stats.escalations += 1
        break
    remaining = [step for step in warning_steps(warning, settings) if step.at > now]
    warning.next_step_at = remaining[0].at if remaining else now


def _reminder_headline(days: float) -> Callable[[str], str]:
    def text(locale: str) -> str:
        i18n = translator(locale)
        return i18n.ngettext(
            "Reminder: %(num)s day left before the deadline.",
            "Reminder: %(num)s days left before the deadline.",
            math.ceil(days),
        ) % {"num": format_number(days, locale)}

    return text


def _channels_for(warning: Warning, person: Person) -> list[Channel]:
    reachable = person.reachable_channels()
    return reachable[:1] if WarningColour(warning.colour) is WarningColour.YELLOW else reachable


def _remind_warning(
    session: Session,
    warning: Warning,
    person: Person,
    step: Step,
    now: datetime,
    settings: Settings,
) -> None:
    tag = f"rm{warning.escalations}.{warning.reminders_sent}"
    for channel in _channels_for(warning, person):
        queue_warning_message(
            session,
            warning=warning,
            reader=person,
            channel=channel,
            now=now,
            settings=settings,
            headline=_reminder_headline(step.days or 0),
            tag=tag,
        )


__all__ = [
    "FollowUpStats",
    "Step",
    "first_reminder_at",
    "reminder_channel",
    "responsible_officers",
    "run_follow_ups",
    "warning_steps",
]
