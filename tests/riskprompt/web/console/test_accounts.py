"""Console accounts (models/accounts.py): passwords, sign-in, throttling, sessions, TOTP."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from riskprompt.models.accounts import (
    AccountPolicy,
    ConsoleAccount,
    ConsoleSession,
    SignInAttempt,
    SignInStatus,
    enrol_totp,
    session_for,
    set_password,
    sign_in,
    sign_out,
    start_session,
)
from riskprompt.models.audit import AuditEvent, verify_chain
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import InvalidInput, PermissionDenied
from riskprompt.models.people import Person, Role
from tests.riskprompt.web.console.conftest import PASSWORD, Office, give_password


def audit(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        )


def attempt(engine: Engine, clock: FixedClock, staff_id: str, password: str, **kw):
    """One sign-in in its own transaction, committed whatever the outcome (as the web does)."""
    with Session(engine, expire_on_commit=False) as s:
        outcome = sign_in(s, staff_id=staff_id, password=password, clock=clock, **kw)
        s.commit()
    return outcome


def test_a_password_is_stored_as_an_argon2_hash_and_audited(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    with Session(engine) as s:
        account = s.exec(select(ConsoleAccount)).one()
        assert account.person_id == office.officer_a.id
        assert account.password_hash.startswith("$argon2id$")
        assert PASSWORD not in account.password_hash
    [event] = audit(engine, "console.password_set")
    assert event.subject_id == office.officer_a.id
    assert PASSWORD not in str(event.data)


@pytest.mark.parametrize(
    ("password", "word"), [("four", "at least"), (" " * 20, "spaces"), ("jja01", "staff ID")]
)
def test_a_weak_password_is_refused_naming_the_field(
    session: Session, office: Office, clock: FixedClock, password: str, word: str
) -> None:
    person = session.get(Person, office.officer_a.id)
    assert person is not None
    with pytest.raises(InvalidInput) as caught:
        set_password(
            session,
            person=person,
            password=password,
            clock=clock,
            policy=AccountPolicy(min_password_length=5),
        )
    assert caught.value.msgid.startswith("password:")
    assert word in caught.value.msgid
    assert session.exec(select(ConsoleAccount)).first() is None


def test_staff_get_no_console_password(session: Session, office: Office, clock: FixedClock) -> None:
    person = session.get(Person, office.staff.id)
    assert person is not None
    with pytest.raises(PermissionDenied):
        set_password(session, person=person, password=PASSWORD, clock=clock)


def test_sign_in_opens_a_session_whose_token_is_stored_hashed(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    outcome = attempt(engine, clock, " JJA01 ", PASSWORD, client="10.0.0.7")
    assert outcome.status is SignInStatus.SIGNED_IN and outcome.opened is not None
    token = outcome.opened.token
    with Session(engine) as s:
        row = s.exec(select(ConsoleSession)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
        assert row.expires_at == clock.now() + timedelta(hours=12)
        assert row.client == "10.0.0.7"
        active = session_for(s, token=token, clock=clock)
        assert active is not None and active.person.staff_id == "JJA01"
    [event] = audit(engine, "console.signed_in")
    assert event.actor_id == office.officer_a.id
    assert event.data["session"] == row.id and event.data["client"] == "10.0.0.7"


def test_a_wrong_password_and_an_unknown_staff_id_get_one_answer_and_are_audited(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    wrong = attempt(engine, clock, "JJA01", "not the password", client="10.0.0.7")
    unknown = attempt(engine, clock, "NOBODY", PASSWORD, client="10.0.0.7")
    no_password = attempt(engine, clock, "JJB01", PASSWORD, client="10.0.0.7")
    assert wrong.status is unknown.status is no_password.status is SignInStatus.REFUSED
    assert wrong.opened is None and wrong.person is None
    reasons = [e.data["reason"] for e in audit(engine, "console.sign_in_failed")]
    assert reasons == ["password", "unknown_staff_id", "no_password"]
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(ConsoleSession)).one() == 0
        assert s.exec(select(func.count()).select_from(SignInAttempt)).one() == 3


def test_five_failures_lock_the_staff_id_for_fifteen_minutes(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    outcomes = [
        attempt(engine, clock, "JJA01", f"wrong {i}", client=f"10.0.0.{i}") for i in range(5)
    ]
    assert [o.status for o in outcomes[:4]] == [SignInStatus.REFUSED] * 4
    assert outcomes[4].status is SignInStatus.LOCKED
    assert outcomes[4].locked_until == clock.now() + timedelta(minutes=15)
    [lock] = audit(engine, "console.locked")
    assert lock.data["kind"] == "staff_id" and lock.subject_id == office.officer_a.id
    # Locked: even the right password from another address is refused, and nothing is written.
    clock.advance(timedelta(minutes=14))
    assert attempt(engine, clock, "JJA01", PASSWORD, client="10.9.9.9").status is (
        SignInStatus.LOCKED
    )
    assert len(audit(engine, "console.sign_in_failed")) == 5
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(SignInAttempt)).one() == 5
    clock.advance(timedelta(minutes=1))
    assert attempt(engine, clock, "JJA01", PASSWORD, client="10.9.9.9").ok
    with Session(engine) as s:
        assert verify_chain(s).ok


def test_a_success_starts_the_count_of_a_staff_id_again(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    policy = AccountPolicy(max_failures=2)
    assert attempt(engine, clock, "JJA01", "wrong", policy=policy).status is SignInStatus.REFUSED
    assert attempt(engine, clock, "JJA01", PASSWORD, policy=policy).ok
    assert attempt(engine, clock, "JJA01", "wrong", policy=policy).status is SignInStatus.REFUSED
    assert attempt(engine, clock, "JJA01", "wrong", policy=policy).status is SignInStatus.LOCKED


def test_failures_from_one_address_lock_the_address_for_every_staff_id(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_b, clock)
    policy = AccountPolicy(max_failures_per_address=3)
    for staff_id in ("X1", "X2", "X3"):
        last = attempt(engine, clock, staff_id, "guess", client="10.6.6.6", policy=policy)
    assert last.status is SignInStatus.LOCKED
    [lock] = audit(engine, "console.locked")
    assert lock.data == {**lock.data, "kind": "client", "key": "10.6.6.6"}
    refused = attempt(engine, clock, "JJB01", PASSWORD, client="10.6.6.6", policy=policy)
    assert refused.status is SignInStatus.LOCKED
    assert attempt(engine, clock, "JJB01", PASSWORD, client="10.1.1.1", policy=policy).ok


def test_failures_older_than_the_window_do_not_count(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    policy = AccountPolicy(max_failures=2)
    assert attempt(engine, clock, "JJA01", "x", policy=policy).status is SignInStatus.REFUSED
    clock.advance(timedelta(minutes=16))
    assert attempt(engine, clock, "JJA01", "x", policy=policy).status is SignInStatus.REFUSED


def test_staff_with_the_right_password_are_told_the_console_is_not_for_them(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    with Session(engine) as s:
        person = s.get(Person, office.officer_a.id)
        assert person is not None
        person.role = Role.STAFF
        s.add(person)
        s.commit()
    outcome = attempt(engine, clock, "JJA01", PASSWORD)
    assert outcome.status is SignInStatus.NOT_OFFICER and outcome.opened is None
    assert audit(engine, "console.sign_in_failed")[-1].data["reason"] == "not_officer"


def test_a_session_ends_after_thirty_idle_minutes(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        token = start_session(s, person=office.officer_a, clock=clock).token
        s.commit()
    for _ in range(3):  # a request every 29 minutes keeps it open
        clock.advance(timedelta(minutes=29))
        with Session(engine) as s:
            assert session_for(s, token=token, clock=clock) is not None
            s.commit()
    clock.advance(timedelta(minutes=30))
    with Session(engine) as s:
        assert session_for(s, token=token, clock=clock) is None
        s.commit()
        row = s.exec(select(ConsoleSession)).one()
        assert row.end_reason == "idle" and row.ended_at == clock.now()
    clock.advance(timedelta(minutes=1))
    with Session(engine) as s:
        assert session_for(s, token=token, clock=clock) is None
    [ended] = audit(engine, "console.session_ended")  # audited once
    assert ended.data["reason"] == "idle"


def test_the_idle_timeout_is_a_setting(engine: Engine, office: Office, clock: FixedClock) -> None:
    policy = AccountPolicy(idle=timedelta(minutes=5))
    with Session(engine, expire_on_commit=False) as s:
        token = start_session(s, person=office.officer_a, clock=clock, policy=policy).token
        s.commit()
    clock.advance(timedelta(minutes=5))
    with Session(engine) as s:
        assert session_for(s, token=token, clock=clock, policy=policy) is None


def test_a_busy_session_still_ends_after_twelve_hours(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        token = start_session(s, person=office.officer_a, clock=clock).token
        s.commit()
    for _ in range(35):  # 11 h 40 min of requests every 20 minutes
        clock.advance(timedelta(minutes=20))
        with Session(engine) as s:
            assert session_for(s, token=token, clock=clock) is not None
            s.commit()
    clock.advance(timedelta(minutes=20))
    with Session(engine) as s:
        assert session_for(s, token=token, clock=clock) is None
        s.commit()
        assert s.exec(select(ConsoleSession)).one().end_reason == "expired"


def test_sign_out_ends_the_session_once(engine: Engine, office: Office, clock: FixedClock) -> None:
    with Session(engine, expire_on_commit=False) as s:
        token = start_session(s, person=office.officer_a, clock=clock).token
        s.commit()
    with Session(engine) as s:
        assert sign_out(s, token=token, clock=clock) is True
        s.commit()
    with Session(engine) as s:
        assert sign_out(s, token=token, clock=clock) is False
        assert session_for(s, token=token, clock=clock) is None
        assert session_for(s, token="", clock=clock) is None
        assert session_for(s, token="forged", clock=clock) is None
    [event] = audit(engine, "console.signed_out")
    assert event.actor_id == office.officer_a.id


def test_a_new_password_or_a_deactivation_ends_the_open_sessions(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    with Session(engine, expire_on_commit=False) as s:
        first = start_session(s, person=office.officer_a, clock=clock).token
        second = start_session(s, person=office.officer_b, clock=clock).token
        s.commit()
    give_password(engine, office.officer_a, clock)
    with Session(engine) as s:
        assert session_for(s, token=first, clock=clock) is None
        person = s.get(Person, office.officer_b.id)
        assert person is not None
        person.active = False
        s.add(person)
        s.commit()
    with Session(engine) as s:
        assert session_for(s, token=second, clock=clock) is None
        s.commit()
        reasons = s.exec(select(ConsoleSession.end_reason).order_by(col(ConsoleSession.id))).all()
    assert list(reasons) == ["revoked", "revoked"]


def test_totp_is_asked_once_enrolled_and_a_code_works_once(
    engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    with Session(engine, expire_on_commit=False) as s:
        enrolment = enrol_totp(s, person=office.officer_a, clock=clock)
        s.commit()
    assert enrolment.uri.startswith("otpauth://totp/riskprompt:JJA01?secret=")
    assert "issuer=riskprompt" in enrolment.uri
    totp = pyotp.TOTP(enrolment.secret)
    assert attempt(engine, clock, "JJA01", PASSWORD).status is SignInStatus.REFUSED
    assert attempt(engine, clock, "JJA01", PASSWORD, totp_code="000000").status is (
        SignInStatus.REFUSED
    )
    code = totp.at(clock.now())
    assert attempt(engine, clock, "JJA01", PASSWORD, totp_code=f" {code[:3]} {code[3:]} ").ok
    assert attempt(engine, clock, "JJA01", PASSWORD, totp_code=code).status is (
        SignInStatus.REFUSED  # the same code again: a replay
    )
    clock.advance(timedelta(seconds=60))
    late = totp.at(clock.now() - timedelta(seconds=30))  # one step late still counts
    assert attempt(engine, clock, "JJA01", PASSWORD, totp_code=late).ok
    reasons = [e.data["reason"] for e in audit(engine, "console.sign_in_failed")]
    assert reasons == ["totp_missing", "totp", "totp"]
    assert len(audit(engine, "console.totp_enrolled")) == 1


def test_totp_needs_a_password_first(session: Session, office: Office, clock: FixedClock) -> None:
    person = session.get(Person, office.officer_a.id)
    assert person is not None
    with pytest.raises(InvalidInput):
        enrol_totp(session, person=person, clock=clock)
