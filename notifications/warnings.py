"""Warnings (预警) going out: issue one and queue its deliveries in the same transaction.

Who receives what:

* yellow: the person's first reachable channel (a failure falls back to the next one);
* orange and red: every reachable channel of the person at once;
* red: also a notice to the person's supervisor, on their first reachable channel,
  with no button and no acknowledgement link.

Deliveries carry ``warning_id`` (``prompt_id`` is None) and the idempotency key
``w<id>-<channel>`` (``-sup`` on the supervisor's notice, ``-r<id>`` on a fallback),
so the dispatcher sends them like any other row of the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.catalog import RiskPoint, Unit
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.queries import get_person, resolve_unit
from riskprompt.models.warnings import (
    OPEN_STATES,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
    withdraw_warning,
)
from riskprompt.notifications.outbox import ack_links, first_channel
from riskprompt.notifications.rendering import reader_locale, render_warning

log = logging.getLogger(__name__)

#: What ``--colour`` accepts, in both languages.
_COLOUR_WORDS = {
    "yellow": WarningColour.YELLOW,
    "黄": WarningColour.YELLOW,
    "黄色": WarningColour.YELLOW,
    "orange": WarningColour.ORANGE,
    "橙": WarningColour.ORANGE,
    "橙色": WarningColour.ORANGE,
    "red": WarningColour.RED,
    "红": WarningColour.RED,
    "红色": WarningColour.RED,
}
#: What ``--form`` accepts, in both languages.
_FORM_WORDS = {
    "prompt": WarningForm.PROMPT,
    "预警提示": WarningForm.PROMPT,
    "admonish": WarningForm.ADMONISH,
    "admonishment": WarningForm.ADMONISH,
    "诫勉警示": WarningForm.ADMONISH,
    "correct": WarningForm.CORRECT,
    "correction": WarningForm.CORRECT,
    "责令纠错": WarningForm.CORRECT,
}


def parse_colour(value: str) -> WarningColour:
    """yellow/orange/red or 黄/橙/红.

    Raises:
        InvalidInput: anything else.
    """
    colour = _COLOUR_WORDS.get(value.strip().lower())
    if colour is None:
        raise InvalidInput(N_("unknown colour %(value)r: use yellow, orange or red"), value=value)
    return colour


def parse_form(value: str) -> WarningForm:
    """prompt/admonish/correct or 预警提示/诫勉警示/责令纠错.

    Raises:
        InvalidInput: anything else.
    """
    form = _FORM_WORDS.get(value.strip().lower())
    if form is None:
        raise InvalidInput(
            N_("unknown form %(value)r: use prompt, admonish or correct"), value=value
        )
    return form


def default_deadline(colour: WarningColour, *, now: datetime, settings: Settings) -> datetime:
    """``now`` plus the configured days for ``colour`` (WARNING_DEADLINE_DAYS_*)."""
    days = {
        WarningColour.RED: settings.WARNING_DEADLINE_DAYS_RED,
        WarningColour.ORANGE: settings.WARNING_DEADLINE_DAYS_ORANGE,
        WarningColour.YELLOW: settings.WARNING_DEADLINE_DAYS_YELLOW,
    }[WarningColour(colour)]
    return now + timedelta(days=days)


def unit_head(session: Session, *, unit: Unit) -> Person:
    """The head of ``unit``: its active person with no supervisor in the same unit.

    When several qualify, the lowest id wins.

    Raises:
        NotFound: the unit has no such person.
    """
    people = session.exec(
        select(Person).where(col(Person.unit_id) == unit.id).order_by(col(Person.id))
    ).all()
    in_unit = {p.id for p in people}
    for person in people:
        if person.active and (person.supervisor_id is None or person.supervisor_id not in in_unit):
            return person
    raise NotFound(
        N_("unit %(unit)s has no head (an active person with no supervisor in it)"), unit=unit.name
    )


def warning_subject(
    session: Session, *, staff_id: str | None = None, unit_ref: str | None = None
) -> Person:
    """The person a warning is for: by staff ID, else the head of the unit ``unit_ref``.

    Raises:
        NotFound: no such person or unit, or the unit has no head.
    """
    if staff_id is not None:
        return get_person(session, staff_id=staff_id)
    return unit_head(session, unit=resolve_unit(session, ref=unit_ref or ""))


def _key(
    warning_id: int | None,
    channel: Channel,
    *,
    notice: bool,
    replaces: int | None,
    tag: str = "",
    notice_role: str = "supervisor",
) -> str:
    key = f"w{warning_id}-{channel.value}"
    if tag:
        key += f"-{tag}"
    if notice:
        key += "-sup" if notice_role == "supervisor" else "-off"
    if replaces is not None:
        key += f"-r{replaces}"
    return key


def create_warning_delivery(
    session: Session,
    *,
    warning: Warning,
    reader: Person,
    channel: Channel,
    now: datetime,
    settings: Settings,
    subject: Person | None = None,
    replaces: Delivery | None = None,
    headline: Callable[[str], str] | None = None,
    notice_role: str = "supervisor",
    tag: str = "",
) -> Delivery:
    """Render ``warning`` for ``reader`` on ``channel`` and add it to the outbox.

    Args:
        session: the open session; the caller's transaction commits the row.
        warning: the warning (flushed).
        reader: the person warned, or their supervisor (then pass ``subject``).
        channel: a channel that reaches ``reader``.
        now: when it is due (and when its acknowledgement link is stamped).
        settings: the settings.
        subject: the person warned, when ``reader`` is their supervisor (a notice).
        replaces: the failed delivery this one falls back from.
        headline: a first line (a reminder, an escalation): given the reader's
            locale, returns the text in it.
        notice_role: on a notice, who reads it: ``supervisor`` or ``officer``.
        tag: what the delivery is for (``rm0.1``, ``esc1``) in its idempotency key.
    """
    issuer = session.get(Person, warning.issued_by_id)
    issuer_unit = session.get(Unit, issuer.unit_id) if issuer is not None else None
    risk_point = session.get(RiskPoint, warning.risk_point_id) if warning.risk_point_id else None
    url = None
    if channel is Channel.EMAIL and subject is None:
        url = ack_links(settings, now).for_warning(warning.id or 0, reader.id or 0)
    rendered = render_warning(
        warning=warning,
        reader=reader,
        channel=channel,
        settings=settings,
        issuer=issuer.name if issuer is not None else "",
        issuer_unit=issuer_unit.name if issuer_unit is not None else "",
        risk_point=risk_point,
        subject=subject,
        ack_url=url,
        notice_role=notice_role,
        headline=headline(reader_locale(reader.locale, settings)) if headline else "",
    )
    delivery = Delivery(
        warning_id=warning.id,
        person_id=reader.id or 0,
        channel=channel.value,
        replaces_id=replaces.id if replaces is not None else None,
        subject=rendered.subject,
        body=rendered.text,
        html=rendered.html,
        extra={
            "parts": list(rendered.parts),
            "buttons": [[b.label, b.data] for b in rendered.buttons],
        },
        status=DeliveryStatus.PENDING,
        due_at=now,
        idempotency_key=_key(
            warning.id,
            channel,
            notice=subject is not None,
            replaces=replaces.id if replaces is not None else None,
            tag=tag,
            notice_role=notice_role,
        ),
        created_at=now,
    )
    session.add(delivery)
    return delivery


def queue_warning_deliveries(
    session: Session, *, warning: Warning, person: Person, now: datetime, settings: Settings
) -> list[Delivery]:
    """Queue the deliveries of a warning just issued to ``person`` (see the module's rules)."""
    colour = WarningColour(warning.colour)
    reachable = person.reachable_channels()
    channels = reachable[:1] if colour is WarningColour.YELLOW else reachable
    deliveries = [
        create_warning_delivery(
            session, warning=warning, reader=person, channel=channel, now=now, settings=settings
        )
        for channel in channels
    ]
    if not channels:
        log.warning("warning %s: %s has no reachable channel", warning.id, person.staff_id)
    if colour is WarningColour.RED and person.supervisor_id is not None:
        supervisor = session.get(Person, person.supervisor_id)
        channel = first_channel(supervisor) if supervisor and supervisor.active else None
        if supervisor is not None and channel is not None:
            deliveries.append(
                create_warning_delivery(
                    session,
                    warning=warning,
                    reader=supervisor,
                    channel=channel,
                    now=now,
                    settings=settings,
                    subject=person,
                )
            )
        else:
            log.warning(
                "warning %s: the supervisor of %s cannot be reached", warning.id, person.staff_id
            )
    session.flush()
    return deliveries


def issue_and_notify(
    session: Session,
    *,
    actor: Person,
    person: Person,
    colour: WarningColour | str,
    form: WarningForm | str,
    reason: str,
    deadline: datetime | None = None,
    risk_point_id: int | None = None,
    clock: Clock,
    settings: Settings,
) -> Warning:
    """An officer issues a warning (预警) and its deliveries are queued, in one transaction.

    The rule is :func:`riskprompt.models.warnings.issue_warning`'s; this adds the default
    deadline and the outbox rows.  The caller commits.

    Args:
        session: the open session.
        actor: the issuing officer.
        person: the person warned.
        colour: yellow, orange or red.
        form: prompt (预警提示), admonish (诫勉警示) or correct (责令纠错).
        reason: why (required).
        deadline: by when; default now plus WARNING_DEADLINE_DAYS_<COLOUR>.
        risk_point_id: the risk point it is about, if any.
        clock: the clock.
        settings: the settings.

    Returns:
        The warning, flushed, with its deliveries pending in the same session.

    Raises:
        PermissionDenied: the actor is not an officer.
        InvalidInput: empty reason, deadline not in the future, unknown colour or form.
        NotFound: no such risk point.
    """
    chosen_colour = colour if isinstance(colour, WarningColour) else parse_colour(colour)
    chosen_form = form if isinstance(form, WarningForm) else parse_form(form)
    now = clock.now()
    if risk_point_id is not None and session.get(RiskPoint, risk_point_id) is None:
        raise NotFound(N_("no risk point %(id)s"), id=risk_point_id)
    warning = issue_warning(
        session,
        actor=actor,
        person=person,
        colour=chosen_colour,
        form=chosen_form,
        reason=reason,
        deadline=deadline or default_deadline(chosen_colour, now=now, settings=settings),
        clock=clock,
        risk_point_id=risk_point_id,
    )
    queue_warning_deliveries(session, warning=warning, person=person, now=now, settings=settings)
    return warning


def warning_fallback(
    session: Session, *, failed: Delivery, person: Person, now: datetime, settings: Settings
) -> Delivery | None:
    """Queue a failed warning delivery on the reader's next channel not used yet, if any.

    Orange and red warnings already went to every channel, so nothing is left for
    them; a yellow one (or a supervisor's notice) moves on to the next channel.
    Nothing is queued once the warning is no longer waiting for the reader.
    """
    warning = session.get(Warning, failed.warning_id) if failed.warning_id else None
    if warning is None or warning.status not in OPEN_STATES:
        return None
    notice = warning.person_id != person.id
    if not notice and warning.status is not WarningStatus.ISSUED:
        return None
    used = set(
        session.exec(
            select(Delivery.channel).where(
                col(Delivery.warning_id) == warning.id,
                col(Delivery.person_id) == person.id,
                col(Delivery.status) != DeliveryStatus.FAILED,
            )
        ).all()
    )
    preference = person.reachable_channels()
    after = Channel(failed.channel)
    later = preference[preference.index(after) + 1 :] if after in preference else preference
    channel = next((c for c in later if c.value not in used and c is not after), None)
    if channel is None:
        return None
    subject = session.get(Person, warning.person_id) if notice else None
    return create_warning_delivery(
        session,
        warning=warning,
        reader=person,
        channel=channel,
        now=now,
        settings=settings,
        subject=subject,
        replaces=failed,
        notice_role="officer" if notice and person.id == warning.issued_by_id else "supervisor",
    )


def withdraw_and_cancel(
    session: Session, *, warning: Warning, actor: Person, clock: Clock, reason: str
) -> int:
    """An officer withdraws a warning; its deliveries not sent yet are cancelled.

    Returns:
        How many pending deliveries were cancelled.

    Raises:
        PermissionDenied: the actor is not an officer.
        IllegalTransition: the warning is already closed or withdrawn.
        InvalidInput: an empty reason.
    """
    withdraw_warning(session, warning=warning, actor=actor, clock=clock, reason=reason)
    result = session.exec(
        update(Delivery)
        .where(
            col(Delivery.warning_id) == warning.id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.CANCELLED, last_error="warning withdrawn")
    )
    return int(result.rowcount or 0)


def warning_deliveries(session: Session, *, warning_id: int) -> list[Delivery]:
    """The deliveries of a warning, in the order they were queued."""
    return list(
        session.exec(
            select(Delivery)
            .where(col(Delivery.warning_id) == warning_id)
            .order_by(col(Delivery.id))
        ).all()
    )


@dataclass(frozen=True)
class WarningRow:
    """A warning with its addressee's and issuer's names."""

    warning: Warning
    person_name: str
    staff_id: str
    issuer_name: str


def list_warnings(
    session: Session,
    *,
    status: WarningStatus | None = None,
    colour: WarningColour | None = None,
    person_id: int | None = None,
    limit: int = 50,
) -> list[WarningRow]:
    """Warnings, newest first, filtered by status, colour and person."""
    query = select(Warning, Person).join(Person, col(Person.id) == col(Warning.person_id))
    if status is not None:
        query = query.where(col(Warning.status) == status)
    if colour is not None:
        query = query.where(col(Warning.colour) == colour)
    if person_id is not None:
        query = query.where(col(Warning.person_id) == person_id)
    rows = session.exec(query.order_by(col(Warning.id).desc()).limit(limit)).all()
    issuers = {
        p.id: p.name
        for p in session.exec(
            select(Person).where(col(Person.id).in_(sorted({w.issued_by_id for w, _ in rows})))
        ).all()
    }
    return [
        WarningRow(
            warning=w,
            person_name=p.name,
            staff_id=p.staff_id,
            issuer_name=issuers.get(w.issued_by_id, ""),
        )
        for w, p in rows
    ]
