"""Chat bindings, officer API tokens and conversation state, kept in the database.

Conversation state lives here, not in the bot process: after a restart, or on
another instance, a person carries on where they were (PTB's own persistence is
read once at start-up and never shared between processes).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field, Session, SQLModel, select

from riskprompt.config.i18n import N_
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.people import Person, require_officer
from riskprompt.models.types import UTCDateTime

BINDING_TTL = timedelta(days=7)
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class BindingCode(SQLModel, table=True):
    """A single-use, expiring code that binds a Telegram chat to a person (stored hashed)."""

    __tablename__: ClassVar[str] = "binding_code"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_by_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ApiToken(SQLModel, table=True):
    """An officer's bearer token for the REST API (stored hashed)."""

    __tablename__: ClassVar[str] = "api_token"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    label: str = Field(default="", max_length=100)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ChatState(SQLModel, table=True):
    """Where a chat stands in a guided conversation (flow, step and what was said so far)."""

    __tablename__: ClassVar[str] = "chat_state"  # type: ignore[misc]

    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    person_id: int | None = Field(default=None, foreign_key="person.id")
    flow: str | None = Field(default=None, max_length=32)
    step: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_type=UTCDateTime)


def create_binding_code(
    session: Session, *, person: Person, clock: Clock, ttl: timedelta = BINDING_TTL
) -> str:
    """A new single-use code for ``person``; only its hash is stored.

    Returns:
        The code to hand to the person (e.g. in a ``t.me/<bot>?start=<code>`` link).
    """
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))
    now = clock.now()
    session.add(
        BindingCode(
            person_id=person.id or 0, code_hash=_digest(code), created_at=now, expires_at=now + ttl
        )
    )
    record(
        session,
        at=now,
        actor_id=person.id,
        action="binding.invited",
        subject_type="person",
        subject_id=person.id,
        data={"expires_at": now + ttl},
    )
    return code


def bind_chat(session: Session, *, code: str, chat_id: int, clock: Clock) -> Person:
    """Bind ``chat_id`` to the person the code was made for, using the code up.

    One chat per person and one person per chat: a person's earlier chat is
    replaced; a chat already bound to someone else is refused.

    Raises:
        InvalidInput: unknown, used or expired code.
        PermissionDenied: the chat belongs to someone else.
    """
    now = clock.now()
    binding = session.exec(
        select(BindingCode).where(BindingCode.code_hash == _digest(code.strip().upper()))
    ).first()
    if binding is None:
        raise InvalidInput(N_("this invitation code is not known"))
    if binding.used_at is not None:
        raise InvalidInput(N_("this invitation code has already been used"))
    if binding.expires_at <= now:
        raise InvalidInput(N_("this invitation code has expired; ask for a new one"))
    person = session.get(Person, binding.person_id)
    if person is None or not person.active:
        raise InvalidInput(N_("this invitation code is not known"))
    holder = session.exec(select(Person).where(Person.telegram_chat_id == chat_id)).first()
    if holder is not None and holder.id != person.id:
        raise PermissionDenied(N_("this chat is already bound to someone else"))
    person.telegram_chat_id = chat_id
    person.chat_paused = False
    binding.used_at = now
    binding.used_by_chat_id = chat_id
    session.add(person)
    session.add(binding)
    record(
        session,
        at=now,
        actor_id=person.id,
        action="binding.bound",
        subject_type="person",
        subject_id=person.id,
        data={"chat_id": chat_id},
    )
    return person


def unbind_chat(session: Session, *, chat_id: int, clock: Clock) -> Person:
    """Forget the person bound to ``chat_id``.

    Raises:
        NotFound: the chat is not bound.
    """
    person = person_for_chat(session, chat_id=chat_id)
    person.telegram_chat_id = None
    session.add(person)
    record(
        session,
        at=clock.now(),
        actor_id=person.id,
        action="binding.unbound",
        subject_type="person",
        subject_id=person.id,
        data={"chat_id": chat_id},
    )
    return person


def person_for_chat(session: Session, *, chat_id: int) -> Person:
    """The active person bound to ``chat_id``.

    Raises:
        NotFound: nobody is bound to that chat.
    """
    person = session.exec(select(Person).where(Person.telegram_chat_id == chat_id)).first()
    if person is None or not person.active:
        raise NotFound(N_("this chat is not bound to anyone yet: open your invitation link"))
    return person


def create_api_token(session: Session, *, person: Person, clock: Clock, label: str = "") -> str:
    """A new bearer token for an officer; only its hash is stored.

    Raises:
        PermissionDenied: the person is not an officer.
    """
    require_officer(person)
    token = "rp_" + secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        ApiToken(
            person_id=person.id or 0, token_hash=_digest(token), label=label[:100], created_at=now
        )
    )
    record(
        session,
        at=now,
        actor_id=person.id,
        action="token.created",
        subject_type="person",
        subject_id=person.id,
        data={"label": label[:100]},
    )
    return token


def authenticate_token(session: Session, *, token: str, clock: Clock) -> Person:
    """The officer a bearer token belongs to.

    Raises:
        PermissionDenied: unknown or revoked token, or its holder is no longer an officer.
    """
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _digest(token))).first()
    if row is None or row.revoked_at is not None:
        raise PermissionDenied(N_("unknown or revoked token"))
    person = session.get(Person, row.person_id)
    if person is None:
        raise PermissionDenied(N_("unknown or revoked token"))
    require_officer(person)
    row.last_used_at = clock.now()
    session.add(row)
    return person


def revoke_api_token(session: Session, *, token_id: int, clock: Clock) -> ApiToken:
    """Revoke an officer's API token; revoking it again changes nothing.

    Raises:
        NotFound: no token has that id.
    """
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(N_("no API token %(id)s"), id=token_id)
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.add(row)
        record(
            session,
            at=row.revoked_at,
            actor_id=None,
            action="token.revoked",
            subject_type="person",
            subject_id=row.person_id,
            data={"token": row.id, "label": row.label},
        )
    return row


class InboundMessage(SQLModel, table=True):
    """An inbound SMS that changed a setting (STOP, START), by the provider's message id.

    Twilio's signatures carry no timestamp, so a captured request stays valid: an
    old STOP replayed after START would opt the person out again.  Remembering the
    ids of the messages that changed a setting makes a replay change nothing.
    """

    __tablename__: ClassVar[str] = "inbound_message"  # type: ignore[misc]

    message_sid: str = Field(primary_key=True, max_length=64)
    person_id: int = Field(foreign_key="person.id", index=True)
    received_at: datetime = Field(sa_type=UTCDateTime)


def first_time_seen(session: Session, *, message_sid: str, person: Person, clock: Clock) -> bool:
    """Remember an inbound message; False when it was seen before (a replay).

    Raises:
        sqlalchemy.exc.IntegrityError: the same message is being recorded at this
            very moment by another request (the caller's transaction fails; the
            provider retries and finds it seen).
    """
    if session.get(InboundMessage, message_sid) is not None:
        return False
    session.add(
        InboundMessage(message_sid=message_sid, person_id=person.id or 0, received_at=clock.now())
    )
    session.flush()
    return True
