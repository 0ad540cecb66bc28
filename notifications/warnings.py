"""Warnings (预警) as messages: rendered for a reader and a channel, and their fallback.

The rules (issue, escalate, withdraw ...) are :mod:`riskprompt.models.warnings`'s;
they write notices that :mod:`riskprompt.notifications.notices` expands with
:func:`render_warning_for`.  The follow-up's reminders of a warning
(:mod:`riskprompt.notifications.escalation`) are queued with
:func:`queue_warning_message`, keyed ``w<id>-<channel>-<tag>``, and a failed one
moves on with :func:`warning_fallback`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.catalog import RiskPoint, Unit
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.warnings import Warning, WarningStatus
from riskprompt.notifications.links import AckTarget
from riskprompt.notifications.outbox import DeliveryKey, ack_links, enqueue, with_links
from riskprompt.notifications.rendering import Rendered, reader_locale, render_warning

#: The key suffix of a notice's reader role (the addressee has none).
ROLE_KEYS = {"supervisor": "sup", "officer": "off"}


def render_warning_for(
    session: Session,
    *,
    warning: Warning,
    reader: Person,
    channel: Channel,
    now: datetime,
    settings: Settings,
    subject: Person | None = None,
    notice_role: str = "supervisor",
    headline: Callable[[str], str] | None = None,
) -> Rendered:
    """Render ``warning`` for ``reader`` on ``channel``, loading what the message names.

    Args:
        session: an open session (the issuer, their unit and the risk point are read;
            the issuer, with their email and mobile, is the email's contact).
        warning: the warning (flushed).
        reader: the person warned, or a supervisor or officer (then pass ``subject``).
        channel: a channel that reaches ``reader``.
        now: when the acknowledgement link (email, the addressee only) is stamped.
        settings: the settings.
        subject: the person warned, when ``reader`` is someone else (a notice).
        notice_role: on a notice, who reads it: ``supervisor`` or ``officer``.
        headline: a first line (a reminder, an escalation): given the reader's
            locale, returns the text in it.
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
        issuer_email=issuer.email if issuer is not None else None,
        issuer_mobile=issuer.mobile if issuer is not None else None,
    )
    if channel is Channel.SMS and subject is None:
        target = AckTarget(kind="warning", id=warning.id or 0, person_id=reader.id or 0)
        rendered = with_links(rendered, ack_links(settings, now), target)
    return rendered


def queue_warning_message(
    session: Session,
    *,
    warning: Warning,
    reader: Person,
    channel: Channel,
    now: datetime,
    settings: Settings,
    tag: str = "",
    headline: Callable[[str], str] | None = None,
    replaces: Delivery | None = None,
) -> Delivery:
    """Render ``warning`` for its addressee on ``channel`` and add it to the outbox.

    Used for what the follow-up sends on its own (a reminder, ``tag`` ``rm<e>.<n>``)
    and for its fallback; what a decision tells goes through the notices.
    """
    rendered = render_warning_for(
        session,
        warning=warning,
        reader=reader,
        channel=channel,
        now=now,
        settings=settings,
        headline=headline,
    )
    return enqueue(
        session,
        person=reader,
        channel=channel,
        rendered=rendered,
        key=DeliveryKey.warning(
            warning.id, channel, tag=tag, replaces=replaces.id if replaces is not None else None
        ),
        due_at=now,
        warning_id=warning.id,
        replaces=replaces,
    )


def warning_fallback(
    session: Session, *, failed: Delivery, person: Person, now: datetime, settings: Settings
) -> Delivery | None:
    """Queue a failed warning reminder on the reader's next channel not used yet, if any.

    Nothing is queued once the warning no longer waits for its addressee's
    acknowledgement (acknowledged, closed, withdrawn).
    """
    warning = session.get(Warning, failed.warning_id) if failed.warning_id else None
    if warning is None or warning.status is not WarningStatus.ISSUED:
        return None
    if warning.person_id != person.id:
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
    channel = _next_unused(person, Channel(failed.channel), used)
    if channel is None:
        return None
    return queue_warning_message(
        session,
        warning=warning,
        reader=person,
        channel=channel,
        now=now,
        settings=settings,
        replaces=failed,
    )


def _next_unused(person: Person, after: Channel, used: set[str]) -> Channel | None:
    """The reader's next reachable channel after ``after`` that no message used yet."""
    preference = person.reachable_channels()
    later = preference[preference.index(after) + 1 :] if after in preference else preference
    return next((c for c in later if c.value not in used and c is not after), None)


def warning_deliveries(session: Session, *, warning_id: int) -> list[Delivery]:
    """The deliveries of a warning, in the order they were queued."""
    return list(
        session.exec(
            select(Delivery)
            .where(col(Delivery.warning_id) == warning_id)
            .order_by(col(Delivery.id))
        ).all()
    )
