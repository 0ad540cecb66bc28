"""The outbox: a delivery row per message to send, created in the planner's transaction.

The planner calls :func:`create_delivery` for a prompt's first channel; the
dispatcher calls :func:`fallback_delivery` when a channel fails for good, and
:func:`message_for` to turn a claimed row into what a channel adapter sends.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt
from riskprompt.notifications.channels.base import Button, Message
from riskprompt.notifications.links import AckLinks, public_base
from riskprompt.notifications.rendering import render_prompt


def delivery_key_for(prompt_id: int | None, channel: Channel, replaces_id: int | None) -> str:
    """The idempotency key: one delivery per prompt and channel (and per fallback step)."""
    suffix = f"-r{replaces_id}" if replaces_id is not None else ""
    return f"p{prompt_id}-{channel.value}{suffix}"


def delivery_key(prompt: Prompt, channel: Channel, attempt_of: Delivery | None) -> str:
    """:func:`delivery_key_for` a prompt and the delivery it replaces, if any."""
    return delivery_key_for(prompt.id, channel, attempt_of.id if attempt_of is not None else None)


def create_delivery(
    session: Session,
    *,
    prompt: Prompt,
    person: Person,
    channel: Channel,
    due_at: datetime,
    settings: Settings,
    replaces: Delivery | None = None,
) -> Delivery:
    """Render ``prompt`` for ``channel`` in the person's locale and add it to the outbox.

    The caller's transaction commits it together with the prompt.
    """
    url = None
    if channel is Channel.EMAIL and prompt.requires_ack:
        url = ack_links(settings, prompt.created_at).for_prompt(prompt.id or 0, person.id or 0)
    rendered = render_prompt(
        prompt=prompt, person=person, channel=channel, settings=settings, ack_url=url
    )
    delivery = Delivery(
        prompt_id=prompt.id,
        person_id=person.id or 0,
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
        due_at=due_at,
        idempotency_key=delivery_key(prompt, channel, replaces),
        created_at=due_at,
    )
    session.add(delivery)
    return delivery


def ack_links(settings: Settings, now: datetime) -> AckLinks:
    """The signer of acknowledgement links for messages created at ``now``."""
    base = public_base(settings.PUBLIC_URL, settings.WEB_HOST, settings.WEB_PORT)
    return AckLinks(secret_key=settings.SECRET_KEY, base=base, now=now)


def first_channel(person: Person) -> Channel | None:
    """The person's first preferred channel that can reach them, or None."""
    reachable = person.reachable_channels()
    return reachable[0] if reachable else None


def next_channel(person: Person, after: Channel) -> Channel | None:
    """The next preferred, reachable channel after ``after``, or None when none is left."""
    preference = person.channel_preference
    later = preference[preference.index(after) + 1 :] if after in preference else preference
    return next((c for c in later if person.address_for(c) and c is not after), None)


def fallback_delivery(
    session: Session, *, failed: Delivery, person: Person, now: datetime, settings: Settings
) -> Delivery | None:
    """Queue the prompt (or warning) of a failed delivery on the person's next channel, if any."""
    if failed.prompt_id is None:
        if failed.warning_id is None:
            return None
        # Imported here: notifications.warnings builds its deliveries on this module.
        from riskprompt.notifications.warnings import warning_fallback

        return warning_fallback(session, failed=failed, person=person, now=now, settings=settings)
    prompt = session.get(Prompt, failed.prompt_id)
    if prompt is None:
        return None
    channel = next_channel(person, Channel(failed.channel))
    if channel is None:
        return None
    return create_delivery(
        session,
        prompt=prompt,
        person=person,
        channel=channel,
        due_at=now,
        settings=settings,
        replaces=failed,
    )


def message_for(delivery: Delivery, person: Person) -> Message | None:
    """The message a channel adapter sends for ``delivery``; None when no address is left."""
    channel = Channel(delivery.channel)
    address = person.address_for(channel)
    if not address:
        return None
    return Message(
        delivery_id=delivery.id or 0,
        channel=delivery.channel,
        address=address,
        subject=delivery.subject,
        text=delivery.body,
        html=delivery.html,
        parts=tuple(delivery.extra.get("parts") or ()),
        buttons=tuple(Button(label, data) for label, data in delivery.extra.get("buttons") or ()),
        idempotency_key=delivery.idempotency_key,
        locale=person.locale,
    )
