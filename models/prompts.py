"""Risk prompts (风险提示) and their deliveries (the outbox).

The rules here are the ones every front end shares (acknowledge).  The other rules
on prompts are beside it: key work and the cycle's period
(:mod:`riskprompt.models.monthly`), special prompts (:mod:`riskprompt.models.special`,
targets in :mod:`riskprompt.models.targets`) and cancelling
(:mod:`riskprompt.models.cancel`); ``notifications/planning.py`` decides only *when*.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, Session, SQLModel, col, select

from riskprompt.config.i18n import N_, format_month, translator
from riskprompt.models.audit import record_guarded
from riskprompt.models.clock import Clock
from riskprompt.models.errors import IllegalTransition, PermissionDenied
from riskprompt.models.people import Person
from riskprompt.models.types import UTCDateTime, str_enum


class PromptKind(enum.StrEnum):
    """Monthly prompt (月度提示) or special prompt (特别提示)."""

    MONTHLY = "monthly"
    SPECIAL = "special"

    @property
    def label(self) -> str:
        """The msgid of the kind's name."""
        return PROMPT_KIND_LABELS[self]


PROMPT_KIND_LABELS: dict[PromptKind, str] = {
    PromptKind.MONTHLY: N_("monthly"),
    PromptKind.SPECIAL: N_("special"),
}


class BroadcastStatus(enum.StrEnum):
    """Where a special prompt stands: waiting for its time, turned into prompts, or stopped."""

    SCHEDULED = "scheduled"
    EXPANDED = "expanded"
    CANCELLED = "cancelled"  # stopped before its time (riskprompt.models.cancel)


class Broadcast(SQLModel, table=True):
    """A special prompt (特别提示) as issued: a target, a text and when to send it.

    It is expanded into one :class:`Prompt` per person targeted when it falls due,
    so that a scheduled one reaches whoever holds the targeted posts on that day.
    """

    __tablename__: ClassVar[str] = "broadcast"  # type: ignore[misc]
    __table_args__ = (Index("ix_broadcast_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    issued_by_id: int = Field(foreign_key="person.id")
    target: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    requires_ack: bool = Field(default=True)
    status: str = Field(default="scheduled", max_length=16)
    due_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expanded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    prompt_count: int = Field(default=0)


class FocusWork(SQLModel, table=True):
    """The month's key work (重点工作) set by an officer, for every unit or for one."""

    __tablename__: ClassVar[str] = "focus_work"  # type: ignore[misc]
    __table_args__ = (UniqueConstraint("period", "unit_id", name="uq_focus_work_period_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=7, index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    set_by_id: int = Field(foreign_key="person.id")
    updated_at: datetime = Field(sa_type=UTCDateTime)


class CycleRun(SQLModel, table=True):
    """One run of a period's monthly cycle: lets the scheduler catch up on missed ones."""

    __tablename__: ClassVar[str] = "cycle_run"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=7, unique=True)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    prompts_created: int = Field(default=0)


class PromptStatus(enum.StrEnum):
    """Where a prompt stands."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The msgid of the state's name (待阅, 已阅, 已撤回)."""
        return PROMPT_STATUS_LABELS[self]


PROMPT_STATUS_LABELS: dict[PromptStatus, str] = {
    PromptStatus.OPEN: N_("open"),
    PromptStatus.ACKNOWLEDGED: N_("acknowledged"),
    PromptStatus.CANCELLED: N_("cancelled"),
}


class Prompt(SQLModel, table=True):
    """A risk prompt to one person; monthly ones are unique per (person, post, period)."""

    __tablename__: ClassVar[str] = "prompt"  # type: ignore[misc]
    __table_args__ = (
        UniqueConstraint("person_id", "post_id", "period", "kind", name="uq_prompt_once"),
        UniqueConstraint("broadcast_id", "person_id", name="uq_prompt_broadcast_person"),
        Index("ix_prompt_status_remind", "status", "remind_at"),
        # The console's counts per unit of a period's prompts (the overview, 未阅) read
        # this index alone, not the table.
        Index("ix_prompt_person_period", "person_id", "period", "status", "requires_ack", "kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: PromptKind = Field(sa_type=str_enum(PromptKind))
    person_id: int = Field(foreign_key="person.id", index=True)
    post_id: int | None = Field(default=None, foreign_key="post.id")
    period: str | None = Field(default=None, max_length=7, index=True)
    issued_by_id: int | None = Field(default=None, foreign_key="person.id")
    broadcast_id: int | None = Field(default=None, foreign_key="broadcast.id", index=True)
    title: str = Field(default="", max_length=200)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    content: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    requires_ack: bool = Field(default=True)
    status: PromptStatus = Field(default=PromptStatus.OPEN, sa_type=str_enum(PromptStatus))
    created_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_via: str | None = Field(default=None, max_length=16)
    # Follow-up while unacknowledged (notifications/escalation.py): when the next
    # reminder falls due (None: no more), and how many steps were taken.
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminders: int = Field(default=0)

    def title_in(self, locale: str) -> str:
        """The title in the reader's ``locale``, from the prompt's kind and period.

        ``title`` holds it in the language of the reader when it was made; a reader
        who has changed language since reads it in the new one.
        """
        period = self.period or str(self.content.get("period") or "")
        if self.kind is PromptKind.MONTHLY and not period:
            return self.title
        return prompt_title(kind=self.kind, period=period, locale=locale)


def prompt_title(*, kind: PromptKind | str, period: str | None, locale: str) -> str:
    """A prompt's title in ``locale``: ``2026年12月岗位廉政风险提示`` or ``特别提示``.

    Args:
        kind: monthly or special.
        period: the period (``YYYY-MM``) of a monthly prompt.
        locale: the reader's locale.

    Returns:
        The title, at most 200 characters.
    """
    gettext = translator(locale).gettext
    if PromptKind(kind) is PromptKind.SPECIAL:
        title = gettext("Special risk prompt")
    else:
        title = gettext("%(month)s post integrity risk prompt") % {
            "month": format_month(str(period), locale)
        }
    return title[:200]


class DeliveryStatus(enum.StrEnum):
    """Where a delivery stands in the outbox."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The msgid of the state's name (待发送, 已发送...)."""
        return DELIVERY_STATUS_LABELS[self]


DELIVERY_STATUS_LABELS: dict[DeliveryStatus, str] = {
    DeliveryStatus.PENDING: N_("pending"),
    DeliveryStatus.SENDING: N_("sending"),
    DeliveryStatus.SENT: N_("sent"),
    DeliveryStatus.FAILED: N_("failed"),
    DeliveryStatus.CANCELLED: N_("cancelled"),
}


class Delivery(SQLModel, table=True):
    """One message to send on one channel; a row with ``due_at`` in the outbox."""

    __tablename__: ClassVar[str] = "delivery"  # type: ignore[misc]
    __table_args__ = (Index("ix_delivery_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int | None = Field(default=None, foreign_key="prompt.id", index=True)
    warning_id: int | None = Field(default=None, foreign_key="warning.id", index=True)
    # A notice (models/notices.py) expanded into this delivery.
    notice_id: int | None = Field(default=None, foreign_key="notice.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(max_length=16)
    replaces_id: int | None = Field(default=None, foreign_key="delivery.id")
    subject: str = Field(default="", max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    address: str | None = Field(default=None, max_length=254)
    status: DeliveryStatus = Field(default=DeliveryStatus.PENDING, sa_type=str_enum(DeliveryStatus))
    attempts: int = Field(default=0)
    due_at: datetime = Field(sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # status callbacks find the delivery by the provider's id
    provider_message_id: str | None = Field(default=None, max_length=128, index=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    idempotency_key: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


def latest_open_prompt(session: Session, *, person: Person) -> Prompt | None:
    """The person's most recent prompt still waiting for an acknowledgement."""
    return session.exec(_LATEST_OPEN, params={"person_id": person.id}).first()


def acknowledge_prompt(
    session: Session, *, prompt: Prompt, actor: Person, clock: Clock, via: str
) -> bool:
    """Record that ``actor`` has read ``prompt`` (已阅).

    Only the addressee may acknowledge; a second acknowledgement changes nothing.
    The change is one ``UPDATE ... WHERE status = 'open'``: of two acknowledgements
    at once (two workers, two channels) only one finds the prompt open, so the
    acknowledgement and its audit record are written once (see
    :func:`riskprompt.models.audit.record_guarded`).

    Args:
        session: the open session; the caller commits.
        prompt: the prompt acknowledged.
        actor: who acknowledges.
        clock: the clock.
        via: the front end (``telegram``, ``sms``, ``email``, ``cli``, ``api``).

    Returns:
        True when this call recorded the acknowledgement, False when it was already there.

    Raises:
        PermissionDenied: the actor is not the addressee.
        IllegalTransition: the prompt was cancelled.
    """
    if prompt.person_id != actor.id:
        raise PermissionDenied(N_("this prompt is addressed to someone else"))
    if prompt.status is PromptStatus.ACKNOWLEDGED:
        return False
    if prompt.status is PromptStatus.CANCELLED:
        raise IllegalTransition(N_("this prompt was withdrawn"))
    now = clock.now()
    # The guarded UPDATE and its audit record go together (one statement on PostgreSQL).
    event = record_guarded(
        session,
        _ACKNOWLEDGE,
        {"prompt_id": prompt.id, "now": now, "via": via},
        at=now,
        actor_id=actor.id,
        action="prompt.acknowledged",
        subject_type="prompt",
        subject_id=prompt.id,
        data={"via": via},
    )
    if event is None:
        # Someone else changed it since it was loaded: go by what is stored now.
        session.refresh(prompt, ["status", "acknowledged_at", "acknowledged_via"])
        if prompt.status is PromptStatus.CANCELLED:
            raise IllegalTransition(N_("this prompt was withdrawn"))
        return False
    set_committed_value(prompt, "status", PromptStatus.ACKNOWLEDGED)
    set_committed_value(prompt, "acknowledged_at", now)
    set_committed_value(prompt, "acknowledged_via", via)
    return True


#: Prompts waiting for an acknowledgement (see :func:`latest_open_prompt`).
AWAITING_ACK = (
    col(Prompt.status) == PromptStatus.OPEN,
    col(Prompt.requires_ack).is_(True),
)
#: The order in which the latest prompt comes first.
LATEST_FIRST = (col(Prompt.created_at).desc(), col(Prompt.id).desc())

# Built once: constructing a statement costs more than running a cached one.
_LATEST_OPEN = (
    select(Prompt)
    .where(col(Prompt.person_id) == bindparam("person_id"), *AWAITING_ACK)
    .order_by(*LATEST_FIRST)
    .limit(1)
)
_ACKNOWLEDGE = (
    update(Prompt)
    .where(col(Prompt.id) == bindparam("prompt_id"), col(Prompt.status) == PromptStatus.OPEN)
    .values(
        status=PromptStatus.ACKNOWLEDGED,
        acknowledged_at=bindparam("now"),
        acknowledged_via=bindparam("via"),
    )
    .returning(col(Prompt.id))
)
