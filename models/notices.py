"""Notices: the outbox intents a decision writes for everyone who must hear of it.

A rule function in ``models/`` (issue, escalate, flag, withdraw a warning; submit,
accept, reject a correction; cancel a prompt) decides *who* must be told and
calls :func:`tell` in its own transaction: one :class:`Notice` row per reader.
``notifications/`` later decides *when* and *how*: it expands each pending
notice (``expanded_at`` is None) into rendered deliveries on the reader's
channels, with the same fallback as prompts, and marks it expanded.  So the
domain never imports the renderers, and a crash between the decision and the
send loses nothing: the notice is a row, committed with the decision.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, Session, SQLModel

from riskprompt.models.people import Person
from riskprompt.models.types import UTCDateTime, dump, str_enum


class NoticeEvent(enum.StrEnum):
    """What happened, that a reader must hear of."""

    WARNING_ISSUED = "warning.issued"
    WARNING_ESCALATED = "warning.escalated"
    WARNING_FLAGGED = "warning.flagged"
    WARNING_WITHDRAWN = "warning.withdrawn"
    CORRECTION_SUBMITTED = "correction.submitted"
    CORRECTION_ACCEPTED = "correction.accepted"
    CORRECTION_REJECTED = "correction.rejected"
    PROMPT_CANCELLED = "prompt.cancelled"


class NoticeRole(enum.StrEnum):
    """In which capacity the reader is told."""

    ADDRESSEE = "addressee"  # the person the warning or prompt is for
    SUPERVISOR = "supervisor"  # their supervisor (上级)
    OFFICER = "officer"  # the issuing officer
    REVIEWER = "reviewer"  # an officer who may review the correction


class NoticeReach(enum.StrEnum):
    """Which of the reader's channels a notice goes to."""

    FIRST = "first"  # the first reachable channel, falling back to the next on failure
    EVERY = "every"  # every reachable channel at once (orange and red warnings)


class Notice(SQLModel, table=True):
    """One reader to tell of one event; expanded into deliveries by ``notifications/``."""

    __tablename__: ClassVar[str] = "notice"  # type: ignore[misc]
    __table_args__ = (Index("ix_notice_pending", "expanded_at", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    event: NoticeEvent = Field(sa_type=str_enum(NoticeEvent, length=32))
    role: NoticeRole = Field(sa_type=str_enum(NoticeRole))
    reach: NoticeReach = Field(default=NoticeReach.FIRST, sa_type=str_enum(NoticeReach))
    reader_id: int = Field(foreign_key="person.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    warning_id: int | None = Field(default=None, foreign_key="warning.id", index=True)
    prompt_id: int | None = Field(default=None, foreign_key="prompt.id", index=True)
    rectification_id: int | None = Field(default=None, foreign_key="rectification.id")
    # What the message needs beyond the rows it names (a reason, the old colour).
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    expanded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


@dataclass(frozen=True, slots=True)
class Reader:
    """Someone :func:`tell` writes a notice for, and in which capacity."""

    person: Person
    role: NoticeRole
    reach: NoticeReach = NoticeReach.FIRST


def tell(
    session: Session,
    *,
    event: NoticeEvent,
    readers: Iterable[Reader],
    at: datetime,
    actor: Person | None = None,
    warning_id: int | None = None,
    prompt_id: int | None = None,
    rectification_id: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> list[Notice]:
    """Write a notice of ``event`` for each reader, in the caller's transaction.

    A person named twice (the officer who is also the supervisor) is told once,
    in the first capacity given; inactive people are skipped.

    Args:
        session: the open session; the caller commits the notices with the decision.
        event: what happened.
        readers: who must hear of it, each in a role and with a reach.
        at: when it happened (the notices are due at once).
        actor: who did it (None: the service).
        warning_id / prompt_id / rectification_id: the rows the notice is about.
        data: what the message needs beyond those rows (JSON-serialisable after
            :func:`riskprompt.models.types.dump`).

    Returns:
        The notices written (flushed, with ids).
    """
    seen: set[int] = set()
    notices: list[Notice] = []
    payload = {key: dump(value) for key, value in (data or {}).items()}
    for reader in readers:
        person = reader.person
        if person.id is None or person.id in seen or not person.active:
            continue
        seen.add(person.id)
        notice = Notice(
            event=event,
            role=reader.role,
            reach=reader.reach,
            reader_id=person.id,
            actor_id=actor.id if actor is not None else None,
            warning_id=warning_id,
            prompt_id=prompt_id,
            rectification_id=rectification_id,
            data=dict(payload),
            created_at=at,
            due_at=at,
        )
        session.add(notice)
        notices.append(notice)
    if notices:
        session.flush()
    return notices
