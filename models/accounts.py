"""Officers' console accounts: passwords, TOTP, sessions and throttled sign-in.

Only officers and admins sign in to the web console (纪检监察工作台).  Each has at
most one :class:`ConsoleAccount`: an argon2 password hash (pwdlib) and, when
enrolled, a TOTP secret (pyotp).  A sign-in opens a :class:`ConsoleSession` kept in
the database (every worker sees the same ones): a random token handed to the
browser, stored only as its SHA-256, ended by signing out, by
:attr:`AccountPolicy.idle` without a request, or at :attr:`AccountPolicy.lifetime`
after it was opened, whichever comes first.

Sign-in attempts are remembered (:class:`SignInAttempt`) per staff ID and per client
address; too many failures lock that staff ID or that address for a while
(:class:`SignInLock`), in the database, so that every worker agrees.  A request
refused by a lock writes nothing (a locked-out attacker cannot grow the tables).
Successes, failures, locks, sign-outs and timeouts are audited in the chain.

Sign-in never raises for wrong credentials: a failure must be recorded, and an
exception would roll the caller's transaction back with the record.  It returns a
:class:`SignInOutcome` instead; the caller commits either way.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, ClassVar

import pyotp
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import Index, func
from sqlmodel import Field, Session, SQLModel, col, select

from riskprompt.config.i18n import N_
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.errors import InvalidInput, PermissionDenied
from riskprompt.models.people import Person
from riskprompt.models.types import UTCDateTime

if TYPE_CHECKING:
    from riskprompt.config.settings import Settings

#: Longest password accepted: hashing a megabyte would be a cheap denial of service.
MAX_PASSWORD_LENGTH = 256
#: Staff IDs and client addresses are kept up to this many characters.
KEY_LENGTH = 64
#: The last-seen moment of a session is written at most this often (one write a minute,
#: not one per request); the idle timeout is therefore exact to within this much.
TOUCH_INTERVAL = timedelta(seconds=60)
#: TOTP codes one step (30 s) early or late still count: phones' clocks drift.
TOTP_WINDOW = 1
#: The issuer authenticator apps show beside the staff ID.
TOTP_ISSUER = "riskprompt"

#: argon2id with pwdlib's recommended parameters; a hash made with other parameters
#: still verifies, and is replaced by one with these at the next sign-in.
PASSWORDS = PasswordHash((Argon2Hasher(),))


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    """How long sessions last and how sign-in is throttled (from the settings).

    Attributes:
        idle: a session without a request for this long is ended.
        lifetime: a session is ended this long after it was opened, however busy.
        max_failures: failed sign-ins of one staff ID within ``window`` that lock it.
        max_failures_per_address: failed sign-ins from one client address (any staff
            ID) within ``window`` that lock the address (higher: an office's proxy or
            NAT puts many officers behind one address).
        window: how far back failures are counted.
        lock: how long a lock lasts.
        min_password_length: the shortest password accepted.
    """

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    max_failures: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    lock: timedelta = timedelta(minutes=15)
    min_password_length: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> AccountPolicy:
        """The policy the ``CONSOLE_*`` settings describe."""
        return cls(
            idle=timedelta(minutes=settings.CONSOLE_IDLE_MINUTES),
            lifetime=timedelta(hours=settings.CONSOLE_SESSION_HOURS),
            max_failures=settings.CONSOLE_MAX_FAILURES,
            max_failures_per_address=settings.CONSOLE_MAX_FAILURES_PER_ADDRESS,
            window=timedelta(minutes=settings.CONSOLE_FAILURE_WINDOW_MINUTES),
            lock=timedelta(minutes=settings.CONSOLE_LOCK_MINUTES),
            min_password_length=settings.CONSOLE_PASSWORD_MIN_LENGTH,
        )


DEFAULT_POLICY = AccountPolicy()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# -- tables ------------------------------------------------------------------------------------


class ConsoleAccount(SQLModel, table=True):
    """An officer's console credentials: a password hash and, when enrolled, a TOTP secret.

    The TOTP secret is kept as it is (the server must compute the codes); the
    database is protected as the rest of the personal data is.
    """

    __tablename__: ClassVar[str] = "console_account"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", unique=True)
    password_hash: str = Field(max_length=255)
    password_set_at: datetime = Field(sa_type=UTCDateTime)
    totp_secret: str | None = Field(default=None, max_length=64)
    totp_enrolled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: The last TOTP time step used: a code is accepted once (no replay).
    totp_last_step: int | None = Field(default=None)

    @property
    def totp_enabled(self) -> bool:
        """Whether signing in asks for a TOTP code too."""
        return self.totp_secret is not None


class SessionEnd(enum.StrEnum):
    """Why a console session ended."""

    SIGNED_OUT = "signed_out"
    IDLE = "idle"
    EXPIRED = "expired"
    #: A new password was set, or the person was deactivated or is no longer an officer.
    REVOKED = "revoked"


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: its token (hashed), its person, when it was used and ends."""

    __tablename__: ClassVar[str] = "console_session"  # type: ignore[misc]

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    #: The token every form and htmx request of this session carries (CSRF).
    csrf_token: str = Field(max_length=64)
    client: str = Field(default="", max_length=KEY_LENGTH)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: str | None = Field(default=None, max_length=16)


class SignInAttempt(SQLModel, table=True):
    """One sign-in tried: with which staff ID, from where, and whether it succeeded."""

    __tablename__: ClassVar[str] = "sign_in_attempt"  # type: ignore[misc]
    __table_args__ = (
        Index("ix_sign_in_attempt_staff_id_at", "staff_id", "at"),
        Index("ix_sign_in_attempt_client_at", "client", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    staff_id: str = Field(max_length=KEY_LENGTH)
    client: str = Field(max_length=KEY_LENGTH)
    ok: bool = Field(default=False)


class LockKind(enum.StrEnum):
    """What a sign-in lock holds: one staff ID, or one client address."""

    STAFF_ID = "staff_id"
    CLIENT = "client"


class SignInLock(SQLModel, table=True):
    """Sign-in refused for a staff ID or a client address until ``until``."""

    __tablename__: ClassVar[str] = "sign_in_lock"  # type: ignore[misc]
    __table_args__ = (Index("ix_sign_in_lock_kind_key_until", "kind", "key", "until"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    key: str = Field(max_length=KEY_LENGTH)
    at: datetime = Field(sa_type=UTCDateTime)
    until: datetime = Field(sa_type=UTCDateTime)


# -- passwords ---------------------------------------------------------------------------------


def require_console_user(person: Person) -> None:
    """Refuse console credentials to anyone who is not an active officer or admin.

    Raises:
        PermissionDenied: the person is staff or inactive.
    """
    if not person.active or not person.is_officer:
        raise PermissionDenied(
            N_(
                "%(name)s (%(staff_id)s) is not an active officer or admin: "
                "only they sign in to the console"
            ),
            name=person.name,
            staff_id=person.staff_id,
        )


def check_password(password: str, *, person: Person, policy: AccountPolicy) -> None:
    """Refuse a password that is too short, too long, blank or the staff ID itself.

    Raises:
        InvalidInput: naming the password and why.
    """
    if len(password) < policy.min_password_length:
        raise InvalidInput(
            N_("password: at least %(n)s characters, please"), n=policy.min_password_length
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(N_("password: at most %(n)s characters"), n=MAX_PASSWORD_LENGTH)
    if not password.strip():
        raise InvalidInput(N_("password: not only spaces"))
    if password.strip().casefold() == person.staff_id.casefold():
        raise InvalidInput(N_("password: not the staff ID"))


def account_of(session: Session, *, person: Person) -> ConsoleAccount | None:
    """The console account of ``person``, or None when no password was ever set."""
    return session.exec(
        select(ConsoleAccount).where(col(ConsoleAccount.person_id) == person.id)
    ).first()


def set_password(
    session: Session,
    *,
    person: Person,
    password: str,
    clock: Clock,
    policy: AccountPolicy = DEFAULT_POLICY,
    actor: Person | None = None,
    via: str = "cli",
) -> ConsoleAccount:
    """Set (or replace) an officer's console password; their open sessions end.

    Args:
        session: the open session; the caller commits.
        person: whose password it is (an active officer or admin).
        password: the new password, as typed.
        clock: the clock.
        policy: for the minimum length.
        actor: who sets it (None: the operator at the CLI).
        via: the front end, for the audit record.

    Raises:
        PermissionDenied: the person is not an active officer or admin.
        InvalidInput: the password is refused (see :func:`check_password`).
    """
    require_console_user(person)
    check_password(password, person=person, policy=policy)
    now = clock.now()
    account = account_of(session, person=person)
    hashed = PASSWORDS.hash(password)
    if account is None:
        account = ConsoleAccount(
            person_id=person.id or 0, password_hash=hashed, password_set_at=now
        )
    else:
        account.password_hash = hashed
        account.password_set_at = now
    session.add(account)
    ended = end_sessions(session, person=person, clock=clock, reason=SessionEnd.REVOKED)
    record(
        session,
        at=now,
        actor_id=actor.id if actor else None,
        action="console.password_set",
        subject_type="person",
        subject_id=person.id,
        data={"via": via, "sessions_ended": ended},
    )
    return account


# -- TOTP --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """A new TOTP secret and the ``otpauth://`` URI an authenticator app scans."""

    secret: str
    uri: str


def enrol_totp(
    session: Session,
    *,
    person: Person,
    clock: Clock,
    actor: Person | None = None,
    via: str = "cli",
) -> TotpEnrolment:
    """Give an officer a new TOTP secret (replacing any earlier one): sign-in then asks a code.

    Raises:
        PermissionDenied: the person is not an active officer or admin.
        InvalidInput: no password has been set yet.
    """
    require_console_user(person)
    account = account_of(session, person=person)
    if account is None:
        raise InvalidInput(
            N_("%(staff_id)s has no console password yet: set one first"),
            staff_id=person.staff_id,
        )
    secret = pyotp.random_base32()
    now = clock.now()
    account.totp_secret = secret
    account.totp_enrolled_at = now
    account.totp_last_step = None
    session.add(account)
    record(
        session,
        at=now,
        actor_id=actor.id if actor else None,
        action="console.totp_enrolled",
        subject_type="person",
        subject_id=person.id,
        data={"via": via},
    )
    uri = pyotp.TOTP(secret).provisioning_uri(name=person.staff_id, issuer_name=TOTP_ISSUER)
    return TotpEnrolment(secret=secret, uri=uri)


def _normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "")


def verify_totp(session: Session, *, account: ConsoleAccount, code: str, clock: Clock) -> bool:
    """Whether ``code`` is the account's current TOTP code (one step either side).

    A code is accepted once: its time step is remembered, and a code of that step or
    an earlier one is refused afterwards (a code seen over a shoulder cannot be
    replayed).  An account without TOTP accepts nothing.
    """
    if account.totp_secret is None:
        return False
    typed = _normalise_code(code)
    totp = pyotp.TOTP(account.totp_secret)
    if len(typed) != totp.digits or not typed.isdigit():
        return False
    current = totp.timecode(clock.now())
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if account.totp_last_step is not None and step <= account.totp_last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), typed):
            account.totp_last_step = step
            session.add(account)
            return True
    return False


# -- sessions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A session just opened: the token for the browser (shown once) and its row."""

    token: str
    session: ConsoleSession


def start_session(
    session: Session,
    *,
    person: Person,
    clock: Clock,
    client: str = "",
    policy: AccountPolicy = DEFAULT_POLICY,
    data: dict[str, object] | None = None,
) -> OpenedSession:
    """Open a console session for ``person`` and audit it (``console.signed_in``).

    :func:`sign_in` calls it once the credentials are right; it checks nothing
    itself (the console refuses a session whose person is not an officer).
    """
    now = clock.now()
    token = secrets.token_urlsafe(32)
    row = ConsoleSession(
        token_hash=_digest(token),
        person_id=person.id or 0,
        csrf_token=secrets.token_urlsafe(32),
        client=client[:KEY_LENGTH],
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.lifetime,
    )
    session.add(row)
    session.flush()
    record(
        session,
        at=now,
        actor_id=person.id,
        action="console.signed_in",
        subject_type="person",
        subject_id=person.id,
        data={"session": row.id, "client": row.client, **(data or {})},
    )
    return OpenedSession(token=token, session=row)


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """A valid console session and the person it belongs to."""

    session: ConsoleSession
    person: Person


def _end(
    session: Session,
    row: ConsoleSession,
    *,
    now: datetime,
    reason: SessionEnd,
    actor_id: int | None,
) -> None:
    row.ended_at = now
    row.end_reason = reason.value
    session.add(row)
    record(
        session,
        at=now,
        actor_id=actor_id,
        action="console.signed_out" if reason is SessionEnd.SIGNED_OUT else "console.session_ended",
        subject_type="person",
        subject_id=row.person_id,
        data={"session": row.id, "reason": reason.value},
    )


def session_for(
    session: Session, *, token: str, clock: Clock, policy: AccountPolicy = DEFAULT_POLICY
) -> ActiveSession | None:
    """The session a browser's token opens, or None: unknown, ended, idle or expired.

    A session found idle or past its lifetime, or whose person is no longer an
    active officer, is ended here (audited once: ``console.session_ended``).  A
    valid one has its last-seen moment moved to now (at most once a
    :data:`TOUCH_INTERVAL`).
    """
    if not token or len(token) > 128:
        return None
    row = session.exec(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == _digest(token))
    ).first()
    if row is None or row.ended_at is not None:
        return None
    now = clock.now()
    person = session.get(Person, row.person_id)
    reason: SessionEnd | None = None
    if now >= row.expires_at:
        reason = SessionEnd.EXPIRED
    elif now >= row.last_seen_at + policy.idle:
        reason = SessionEnd.IDLE
    elif person is None or not person.active:
        reason = SessionEnd.REVOKED
    if reason is not None:
        _end(session, row, now=now, reason=reason, actor_id=None)
        return None
    assert person is not None
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        row.last_seen_at = now
        session.add(row)
    return ActiveSession(session=row, person=person)


def sign_out(session: Session, *, token: str, clock: Clock) -> bool:
    """End the session of ``token`` (``console.signed_out``); False when it was not open."""
    row = session.exec(
        select(ConsoleSession).where(col(ConsoleSession.token_hash) == _digest(token))
    ).first()
    if row is None or row.ended_at is not None:
        return False
    _end(session, row, now=clock.now(), reason=SessionEnd.SIGNED_OUT, actor_id=row.person_id)
    return True


def end_sessions(session: Session, *, person: Person, clock: Clock, reason: SessionEnd) -> int:
    """End every open session of ``person``; returns how many."""
    rows = session.exec(
        select(ConsoleSession).where(
            col(ConsoleSession.person_id) == person.id, col(ConsoleSession.ended_at).is_(None)
        )
    ).all()
    now = clock.now()
    for row in rows:
        _end(session, row, now=now, reason=reason, actor_id=None)
    return len(rows)


# -- signing in --------------------------------------------------------------------------------


class SignInStatus(enum.StrEnum):
    """How a sign-in went."""

    SIGNED_IN = "signed_in"
    #: Unknown staff ID, wrong password or TOTP code, no password set, inactive person:
    #: one answer for all, so that the page does not tell which.
    REFUSED = "refused"
    #: The credentials are right but the person is not an officer or admin.
    NOT_OFFICER = "not_officer"
    #: Too many failures: this staff ID or this address is locked until ``locked_until``.
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class SignInOutcome:
    """What :func:`sign_in` found; ``opened`` is set only when it signed in."""

    status: SignInStatus
    person: Person | None = None
    opened: OpenedSession | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        """Whether a session was opened."""
        return self.status is SignInStatus.SIGNED_IN


@cache
def _dummy_hash() -> str:
    """A hash to verify against when there is none, so that every refusal costs the same."""
    return PASSWORDS.hash(secrets.token_urlsafe(16))


def locked_until(session: Session, *, staff_id: str, client: str, clock: Clock) -> datetime | None:
    """When the lock on this staff ID or this client address ends (the later), or None."""
    now = clock.now()
    keys = [(LockKind.STAFF_ID, staff_id[:KEY_LENGTH]), (LockKind.CLIENT, client[:KEY_LENGTH])]
    ends = [
        session.exec(
            select(func.max(SignInLock.until)).where(
                col(SignInLock.kind) == kind.value,
                col(SignInLock.key) == key,
                col(SignInLock.until) > now,
            )
        ).one()
        for kind, key in keys
    ]
    found = [end for end in ends if end is not None]
    if not found:
        return None
    # func.max does not go through the column type: SQLite gives back naive UTC.
    return max(_aware(end) for end in found)


def _aware(moment: datetime) -> datetime:
    # An aggregate of a UTCDateTime column comes back as the column does; be sure anyway.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _failures_since(
    session: Session, *, kind: LockKind, key: str, now: datetime, policy: AccountPolicy
) -> int:
    """Failures of ``key`` within the window and after its last lock ended; for a staff
    ID, also after its last success."""
    field = SignInAttempt.staff_id if kind is LockKind.STAFF_ID else SignInAttempt.client
    since = now - policy.window
    last_lock = session.exec(
        select(func.max(SignInLock.until)).where(
            col(SignInLock.kind) == kind.value, col(SignInLock.key) == key
        )
    ).one()
    if last_lock is not None:
        since = max(since, _aware(last_lock))
    conditions = [
        col(field) == key,
        col(SignInAttempt.ok).is_(False),
        col(SignInAttempt.at) >= since,
    ]
    if kind is LockKind.STAFF_ID:
        # By id, not time: a success and failures can share a moment (a fixed clock).
        last_ok = session.exec(
            select(func.max(SignInAttempt.id)).where(
                col(SignInAttempt.staff_id) == key, col(SignInAttempt.ok).is_(True)
            )
        ).one()
        if last_ok is not None:
            conditions.append(col(SignInAttempt.id) > last_ok)
    return int(session.exec(select(func.count()).where(*conditions)).one())


def _fail(
    session: Session,
    *,
    staff_id: str,
    client: str,
    person: Person | None,
    reason: str,
    now: datetime,
    policy: AccountPolicy,
) -> datetime | None:
    """Record and audit a failure; lock what had too many.  Returns the new lock's end."""
    session.add(SignInAttempt(at=now, staff_id=staff_id, client=client, ok=False))
    record(
        session,
        at=now,
        actor_id=None,
        action="console.sign_in_failed",
        subject_type="person",
        subject_id=person.id if person else None,
        data={"staff_id": staff_id, "client": client, "reason": reason},
    )
    until: datetime | None = None
    for kind, key, limit in (
        (LockKind.STAFF_ID, staff_id, policy.max_failures),
        (LockKind.CLIENT, client, policy.max_failures_per_address),
    ):
        if _failures_since(session, kind=kind, key=key, now=now, policy=policy) < limit:
            continue
        until = now + policy.lock
        session.add(SignInLock(kind=kind.value, key=key, at=now, until=until))
        record(
            session,
            at=now,
            actor_id=None,
            action="console.locked",
            subject_type="person",
            subject_id=person.id if person and kind is LockKind.STAFF_ID else None,
            data={"kind": kind.value, "key": key, "until": until, "failures": limit},
        )
    return until


def sign_in(
    session: Session,
    *,
    staff_id: str,
    password: str,
    clock: Clock,
    totp_code: str | None = None,
    client: str = "",
    policy: AccountPolicy = DEFAULT_POLICY,
) -> SignInOutcome:
    """Check an officer's staff ID, password (and TOTP code when enrolled); open a session.

    Every attempt not refused by a lock is recorded and audited
    (``console.signed_in`` or ``console.sign_in_failed``, with the reason); a failure
    that reaches a limit locks the staff ID or the address (``console.locked``).
    Wrong credentials do not raise: the caller commits the records either way.

    Args:
        session: the open session; the caller commits, whatever the outcome.
        staff_id: the staff ID as typed.
        password: the password as typed.
        clock: the clock.
        totp_code: the code from the authenticator app (needed when enrolled).
        client: the client's address (throttled separately).
        policy: the limits.
    """
    staff_id = staff_id.strip()[:KEY_LENGTH]
    client = client[:KEY_LENGTH]
    now = clock.now()
    until = locked_until(session, staff_id=staff_id, client=client, clock=clock)
    if until is not None:
        return SignInOutcome(SignInStatus.LOCKED, locked_until=until)
    person = session.exec(select(Person).where(col(Person.staff_id) == staff_id)).first()
    account = account_of(session, person=person) if person is not None else None
    too_long = len(password) > MAX_PASSWORD_LENGTH
    hashed = account.password_hash if account is not None else _dummy_hash()
    if too_long:
        matches, new_hash = False, None
    else:
        matches, new_hash = PASSWORDS.verify_and_update(password, hashed)
    reason: str | None = None
    if person is None:
        reason = "unknown_staff_id"
    elif account is None:
        reason = "no_password"
    elif not matches:
        reason = "password"
    elif not person.active:
        reason = "inactive"
    elif account.totp_enabled and not verify_totp(
        session, account=account, code=totp_code or "", clock=clock
    ):
        reason = "totp" if totp_code else "totp_missing"
    if reason is not None:
        lock = _fail(
            session,
            staff_id=staff_id,
            client=client,
            person=person,
            reason=reason,
            now=now,
            policy=policy,
        )
        if lock is not None:
            return SignInOutcome(SignInStatus.LOCKED, locked_until=lock)
        return SignInOutcome(SignInStatus.REFUSED)
    assert person is not None and account is not None
    if not person.is_officer:
        # The password is right, so saying why tells an attacker nothing.
        session.add(SignInAttempt(at=now, staff_id=staff_id, client=client, ok=False))
        record(
            session,
            at=now,
            actor_id=person.id,
            action="console.sign_in_failed",
            subject_type="person",
            subject_id=person.id,
            data={"staff_id": staff_id, "client": client, "reason": "not_officer"},
        )
        return SignInOutcome(SignInStatus.NOT_OFFICER, person=person)
    if new_hash is not None:
        account.password_hash = new_hash
        session.add(account)
    session.add(SignInAttempt(at=now, staff_id=staff_id, client=client, ok=True))
    opened = start_session(
        session,
        person=person,
        clock=clock,
        client=client,
        policy=policy,
        data={"totp": account.totp_enabled},
    )
    return SignInOutcome(SignInStatus.SIGNED_IN, person=person, opened=opened)
