"""The append-only, hash-chained audit record."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, func, insert, select
from sqlmodel import Field, Session, SQLModel

from models.types import UTCDateTime, dump

GENESIS_HASH = "0" * 64
#: PostgreSQL advisory lock that makes concurrent appends take turns (any fixed number).
CHAIN_LOCK_KEY = 0x52504155  # "RPAU"


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, when; each record carries the previous one's hash."""

    __tablename__: ClassVar[str] = "audit_event"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=64, index=True)
    subject_type: str = Field(max_length=32)
    subject_id: int | None = Field(default=None)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """The SHA-256 over the previous hash and this record's content."""
    payload = json.dumps(
        {
            "prev": prev_hash,
            "at": dump(event.at),
            "actor": event.actor_id,
            "action": event.action,
            "subject": [event.subject_type, event.subject_id],
            "data": dump(event.data),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def record(
    session: Session,
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int | None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit record in the caller's transaction and return it.

    The caller's pending changes are flushed first; the record itself is written
    with one ``INSERT`` (no ORM unit of work) and is not added to the session.
    """
    session.flush()
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Two transactions reading the same last hash would fork the chain (several
        # dispatch workers, the scheduler's jobs): appends take turns until commit.
        # The lock is taken by a statement of its own: the next one's snapshot, taken
        # after the lock is held, sees the last record committed before it.
        connection.execute(_CHAIN_LOCK)
    prev_hash = connection.execute(_LAST_HASH).scalar() or GENESIS_HASH
    event = AuditEvent(
        at=at,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        data=dump(data or {}),
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(prev_hash, event)
    event.id = connection.execute(
        _INSERT,
        {
            "at": event.at,
            "actor_id": actor_id,
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "data": event.data,
            "prev_hash": prev_hash,
            "hash": event.hash,
        },
    ).scalar_one()
    return event


_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: constructing a statement costs more than running a cached one.
_CHAIN_LOCK = select(func.pg_advisory_xact_lock(CHAIN_LOCK_KEY))
_LAST_HASH = select(_TABLE.c.hash).order_by(_TABLE.c.id.desc()).limit(1)
_INSERT = insert(_TABLE).returning(_TABLE.c.id)
