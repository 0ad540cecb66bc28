"""The outbox: one :func:`enqueue` for every delivery row, one :class:`DeliveryKey` for its key.

The planner writes a prompt's first delivery with :func:`create_delivery` (its
bulk insert takes :func:`delivery_values` rows); reminders, officers' lists,
expanded notices (:mod:`riskprompt.notifications.notices`), invitations and the
fallbacks all add theirs with :func:`enqueue`.  The dispatcher turns a claimed row
into what a channel adapter sends with :func:`message_for`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt
from riskprompt.notifications.channels.base import Button, Message
from riskprompt.notifications.links import AckLinks, AckTarget, public_base
from riskprompt.notifications.rendering import Rendered, render_prompt

#: The idempotency key column's width.
KEY_MAX_CHARS = 64


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """The idempotency key of one outbox row; ``str(key)`` is what the column holds.

    Built with the class methods, one per kind of row, so that every writer spells
    its keys alike: ``p12-sms`` (a prompt), ``p12-sms-rem1`` (its reminder),
    ``w7-email-esc1-sup`` (a warning message: tag, then the reader's role),
    ``n40-telegram`` (a notice), ``ua3-p12`` (an officer's list), ``invite-…``,
    ``doctor-…``, and ``-r<id>`` on the fallback of delivery ``<id>``.

    Attributes:
        head: what the row is for (``p12``, ``w7``, ``n40``, ``ua3``, ``invite``).
        parts: what follows, in order (the channel, a tag, a role, ``p12``).
        replaces: the failed delivery this one falls back from.
    """

    head: str
    parts: tuple[str, ...] = ()
    replaces: int | None = None

    def __str__(self) -> str:
        key = "-".join((self.head, *(part for part in self.parts if part)))
        if self.replaces is not None:
            key += f"-r{self.replaces}"
        if len(key) > KEY_MAX_CHARS:  # pragma: no cover - ids of 20 digits
            raise ValueError(f"delivery key longer than {KEY_MAX_CHARS} characters: {key}")
        return key

    def falling_back(self, failed_id: int | None) -> DeliveryKey:
        """The same key for the fallback of delivery ``failed_id`` (None: unchanged)."""
        return replace(self, replaces=failed_id)

    @classmethod
    def prompt(
        cls, prompt_id: int | None, channel: Channel, replaces: int | None = None
    ) -> DeliveryKey:
        """A prompt on a channel: one per prompt and channel (and fallback step)."""
        return cls(f"p{prompt_id}", (channel.value,), replaces)

    @classmethod
    def prompt_reminder(cls, prompt_id: int | None, channel: Channel, step: int) -> DeliveryKey:
        """The ``step``-th reminder of an unacknowledged prompt."""
        return cls(f"p{prompt_id}", (channel.value, f"rem{step}"))

    @classmethod
    def warning(
        cls,
        warning_id: int | None,
        channel: Channel,
        *,
        tag: str = "",
        role: str = "",
        replaces: int | None = None,
    ) -> DeliveryKey:
        """A warning's message: ``tag`` says which (``rm0.1``, ``esc1``, ``flag``), ``role``
        the reader when not the addressee (``sup``, ``off``)."""
        return cls(f"w{warning_id}", (channel.value, tag, role), replaces)

    @classmethod
    def notice(
        cls, notice_id: int | None, channel: Channel, replaces: int | None = None
    ) -> DeliveryKey:
        """A notice (:mod:`riskprompt.models.notices`) on one of its reader's channels."""
        return cls(f"n{notice_id}", (channel.value,), replaces)

    @classmethod
    def officer_list(cls, officer_id: int | None, first_prompt_id: int | None) -> DeliveryKey:
        """An officer's list of people who have not acknowledged (by its first prompt)."""
        return cls(f"ua{officer_id}", (f"p{first_prompt_id}",))

    @classmethod
    def invite(cls) -> DeliveryKey:
        """A chat invitation: each is new."""
        return cls("invite", (uuid.uuid4().hex,))

    @classmethod
    def doctor(cls) -> DeliveryKey:
        """A ``riskprompt doctor`` test message: each is new."""
        return cls("doctor", (uuid.uuid4().hex,))


def delivery_values(
    *,
    person_id: int,
    channel: Channel,
    rendered: Rendered,
    key: DeliveryKey,
    due_at: datetime,
    prompt_id: int | None = None,
    warning_id: int | None = None,
    notice_id: int | None = None,
    replaces_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one pending delivery (for :func:`enqueue` and bulk inserts)."""
    return {
        "prompt_id": prompt_id,
        "warning_id": warning_id,
        "notice_id": notice_id,
        "person_id": person_id,
        "channel": channel.value,
        "replaces_id": replaces_id,
        "subject": rendered.subject,
        "body": rendered.text,
        "html": rendered.html,
        "extra": {
            "parts": list(rendered.parts),
            "buttons": [[b.label, b.data] for b in rendered.buttons],
            **(extra or {}),
        },
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "due_at": due_at,
        "idempotency_key": str(key),
        "created_at": due_at,
    }


def enqueue(
    session: Session,
    *,
    person: Person,
    channel: Channel,
    rendered: Rendered,
    key: DeliveryKey,
    due_at: datetime,
    prompt_id: int | None = None,
    warning_id: int | None = None,
    notice_id: int | None = None,
    replaces: Delivery | None = None,
    extra: dict[str, Any] | None = None,
) -> Delivery:
    """Add one rendered message to the outbox, in the caller's transaction.

    Args:
        session: the open session; the caller commits the row with what caused it.
        person: the reader.
        channel: a channel that reaches them.
        rendered: the message, rendered for that channel and the reader's locale.
        key: its idempotency key (a second row with the same key is refused).
        due_at: when it may go (and when it was created).
        prompt_id / warning_id / notice_id: what the message is about.
        replaces: the failed delivery this one falls back from.
        extra: more to keep in ``extra`` (beside parts and buttons).

    Returns:
        The delivery (added, not flushed).
    """
    delivery = Delivery(
        **delivery_values(
            person_id=person.id or 0,
            channel=channel,
            rendered=rendered,
            key=key,
            due_at=due_at,
            prompt_id=prompt_id,
            warning_id=warning_id,
            notice_id=notice_id,
            replaces_id=replaces.id if replaces is not None else None,
            extra=extra,
        )
    )
    session.add(delivery)
    return delivery


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
    if channel is Channel.SMS:
        target = AckTarget(kind="prompt", id=prompt.id or 0, person_id=person.id or 0)
        rendered = with_links(rendered, ack_links(settings, prompt.created_at), target)
    return enqueue(
        session,
        person=person,
        channel=channel,
        rendered=rendered,
        key=DeliveryKey.prompt(prompt.id, channel, replaces.id if replaces is not None else None),
        due_at=due_at,
        prompt_id=prompt.id,
        replaces=replaces,
    )


def with_links(rendered: Rendered, links: AckLinks, target: AckTarget) -> Rendered:
    """``rendered`` with its link placeholders (email, SMS) replaced by ``target``'s links."""
    fill = links.filler(target)
    return replace(
        rendered,
        text=fill(rendered.text) or "",
        html=fill(rendered.html),
        parts=tuple(fill(part) or "" for part in rendered.parts),
    )


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


def prompt_fallback(
    session: Session, *, failed: Delivery, person: Person, now: datetime, settings: Settings
) -> Delivery | None:
    """Queue the prompt of a failed delivery on the person's next channel, if any."""
    prompt = session.get(Prompt, failed.prompt_id) if failed.prompt_id is not None else None
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
