"""The hash-chained audit log: appending, verifying the chain, exporting a span."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlmodel import Session

from riskprompt.models.audit import (
    GENESIS_HASH,
    AuditChainHead,
    AuditEvent,
    ChainProblem,
    count_events,
    event_hash,
    iter_events,
    record,
    record_guarded,
    verify_chain,
)
from riskprompt.models.clock import FixedClock
from riskprompt.models.prompts import _ACKNOWLEDGE, PromptStatus
from riskprompt.models.types import dump
from tests.builders import make_person, make_prompt_with_delivery, make_unit

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]


def original_event_hash(prev_hash: str, event: AuditEvent) -> str:
    """The hash as first defined (0001): one JSON document with sorted keys."""
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


def append(session: Session, clock: FixedClock, count: int, *, days: int = 0) -> list[AuditEvent]:
    """``count`` records, ``days`` apart, committed."""
    events = []
    for n in range(count):
        events.append(
            record(
                session,
                at=clock.now() + timedelta(days=days * n, seconds=n),
                actor_id=n or None,
                action="test.step",
                subject_type="test",
                subject_id=n,
                data={"n": n, "说明": "审计", "when": clock.now()},
            )
        )
    session.commit()
    return events


def stored(session: Session) -> list[AuditEvent]:
    rows = session.connection().execute(select(EVENTS).order_by(EVENTS.c.id)).all()
    return [AuditEvent(**row._mapping) for row in rows]


def test_hash_is_the_one_defined_at_first() -> None:
    clock = FixedClock()
    event = AuditEvent(
        at=clock.now(),
        actor_id=7,
        action="prompt.acknowledged",
        subject_type="prompt",
        subject_id=12,
        data={"via": "sms", "注": ["全角", 1, None], "z": {"b": 1, "a": 2}},
        prev_hash="ab" * 32,
        hash="",
    )
    assert event_hash("ab" * 32, event) == original_event_hash("ab" * 32, event)


def test_records_chain_in_id_order_and_the_head_names_the_last(
    session: Session, clock: FixedClock
) -> None:
    events = append(session, clock, 4)
    rows = stored(session)
    assert [e.id for e in rows] == [e.id for e in events]
    prev = GENESIS_HASH
    for row, event in zip(rows, events, strict=True):
        assert row.prev_hash == prev == event.prev_hash
        assert row.hash == event.hash == original_event_hash(prev, row)
        prev = row.hash
    head = session.connection().execute(select(HEAD)).one()
    assert (head.last_id, head.hash, head.prev_hash) == (rows[-1].id, rows[-1].hash, rows[-2].hash)
    report = verify_chain(session, batch_size=3)
    assert report.ok and report.checked == 4


def test_an_empty_log_verifies(session: Session) -> None:
    report = verify_chain(session)
    assert report.ok and report.checked == 0


def test_the_head_starts_again_when_the_tables_were_emptied(
    session: Session, clock: FixedClock
) -> None:
    append(session, clock, 2)
    session.connection().execute(delete(HEAD))
    session.connection().execute(delete(EVENTS))
    session.commit()
    events = append(session, clock, 2)
    assert events[0].prev_hash == GENESIS_HASH
    assert verify_chain(session).ok


def test_the_head_starts_from_the_last_record_when_it_is_missing(
    session: Session, clock: FixedClock
) -> None:
    first = append(session, clock, 2)
    session.connection().execute(delete(HEAD))
    session.commit()
    second = append(session, clock, 1)
    assert second[0].prev_hash == first[-1].hash
    assert verify_chain(session).checked == 3


def test_a_guarded_change_is_audited_once(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit)
    prompt, _delivery = make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    params = {"prompt_id": prompt.id, "now": clock.now(), "via": "sms"}
    audit = {
        "at": clock.now(),
        "actor_id": person.id,
        "action": "prompt.acknowledged",
        "subject_type": "prompt",
        "subject_id": prompt.id,
        "data": {"via": "sms"},
    }
    event = record_guarded(session, _ACKNOWLEDGE, params, **audit)
    again = record_guarded(session, _ACKNOWLEDGE, params, **audit)
    session.commit()
    assert event is not None and again is None
    rows = stored(session)
    assert [(r.id, r.action, r.subject_id, r.hash) for r in rows] == [
        (event.id, "prompt.acknowledged", prompt.id, event.hash)
    ]
    session.refresh(prompt)
    assert prompt.status is PromptStatus.ACKNOWLEDGED
    assert verify_chain(session).ok


def test_a_guarded_change_without_a_head_still_records(session: Session, clock: FixedClock) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit)
    prompt, _delivery = make_prompt_with_delivery(session, person=person, at=clock.now())
    session.connection().execute(delete(HEAD))
    session.commit()
    event = record_guarded(
        session,
        _ACKNOWLEDGE,
        {"prompt_id": prompt.id, "now": clock.now(), "via": "sms"},
        at=clock.now(),
        actor_id=person.id,
        action="prompt.acknowledged",
        subject_type="prompt",
        subject_id=prompt.id,
    )
    session.commit()
    assert event is not None and event.prev_hash == GENESIS_HASH
    assert verify_chain(session).checked == 1


# -- tampering, each through SQL that bypasses the domain ---------------------------------------


@pytest.fixture
def five(session: Session, clock: FixedClock) -> list[int]:
    """Five intact records; their ids."""
    return [e.id or 0 for e in append(session, clock, 5)]


def test_altered_action_is_named(session: Session, five: list[int]) -> None:
    session.connection().execute(
        text("UPDATE audit_event SET action = 'prompt.withdrawn' WHERE id = :id"), {"id": five[2]}
    )
    session.commit()
    report = verify_chain(session, batch_size=2)
    assert (report.problem, report.record_id, report.checked) == (
        ChainProblem.ALTERED,
        five[2],
        2,
    )


def test_altered_data_is_named(session: Session, five: list[int]) -> None:
    session.connection().execute(
        update(EVENTS).where(EVENTS.c.id == five[1]).values(data={"n": 99})
    )
    session.commit()
    report = verify_chain(session)
    assert (report.problem, report.record_id) == (ChainProblem.ALTERED, five[1])


def test_altered_record_with_a_recomputed_hash_is_named(session: Session, five: list[int]) -> None:
    # The forger rehashes the record; the next one still carries the old hash.
    rows = stored(session)
    forged = rows[3].model_copy(update={"action": "forged"})
    new_hash = original_event_hash(forged.prev_hash, forged)
    session.connection().execute(
        update(EVENTS).where(EVENTS.c.id == five[3]).values(action="forged", hash=new_hash)
    )
    session.commit()
    report = verify_chain(session)
    assert report.problem is ChainProblem.REMOVED
    assert (report.other_id, report.record_id) == (five[3], five[4])


def test_rehashed_last_record_is_caught_by_the_head(session: Session, five: list[int]) -> None:
    rows = stored(session)
    forged = rows[4].model_copy(update={"action": "forged"})
    new_hash = original_event_hash(forged.prev_hash, forged)
    session.connection().execute(
        update(EVENTS).where(EVENTS.c.id == five[4]).values(action="forged", hash=new_hash)
    )
    session.commit()
    report = verify_chain(session)
    assert (report.problem, report.record_id) == (ChainProblem.ALTERED, five[4])


def test_altered_prev_hash_is_named(session: Session, five: list[int]) -> None:
    session.connection().execute(
        update(EVENTS).where(EVENTS.c.id == five[2]).values(prev_hash="f" * 64)
    )
    session.commit()
    report = verify_chain(session)
    assert (report.problem, report.record_id) == (ChainProblem.ALTERED, five[2])


def test_removed_record_is_named_with_its_neighbours(session: Session, five: list[int]) -> None:
    session.connection().execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": five[2]})
    session.commit()
    report = verify_chain(session, batch_size=2)
    assert (report.problem, report.other_id, report.record_id, report.checked) == (
        ChainProblem.REMOVED,
        five[1],
        five[3],
        2,
    )


def test_removed_first_record_is_named(session: Session, five: list[int]) -> None:
    session.connection().execute(text("DELETE FROM audit_event WHERE id = :id"), {"id": five[0]})
    session.commit()
    report = verify_chain(session)
    assert (report.problem, report.other_id, report.record_id) == (
        ChainProblem.REMOVED,
        None,
        five[1],
    )


def test_removed_last_records_are_named(session: Session, five: list[int]) -> None:
    session.connection().execute(text("DELETE FROM audit_event WHERE id >= :id"), {"id": five[3]})
    session.commit()
    report = verify_chain(session)
    assert (report.problem, report.other_id, report.record_id, report.checked) == (
        ChainProblem.TAIL_REMOVED,
        five[2],
        five[4],
        3,
    )


def _swap(session: Session, a: int, b: int) -> None:
    """Exchange the contents of two records (their ids stay)."""
    columns = [c for c in EVENTS.c if c.name != "id"]
    rows = {
        row.id: row
        for row in session.connection().execute(select(EVENTS).where(EVENTS.c.id.in_([a, b])))
    }
    for target, source in ((a, b), (b, a)):
        session.connection().execute(
            update(EVENTS)
            .where(EVENTS.c.id == target)
            .values({c.name: getattr(rows[source], c.name) for c in columns})
        )
    session.commit()


def test_swapped_records_are_named(session: Session, five: list[int]) -> None:
    _swap(session, five[1], five[2])
    report = verify_chain(session)
    assert (report.problem, report.record_id, report.other_id) == (
        ChainProblem.REORDERED,
        five[1],
        five[2],
    )


def test_records_swapped_far_apart_are_named(session: Session, five: list[int]) -> None:
    _swap(session, five[0], five[3])
    report = verify_chain(session, batch_size=1)
    assert (report.problem, report.record_id, report.checked) == (
        ChainProblem.REORDERED,
        five[0],
        0,
    )


def test_progress_is_reported_per_batch(session: Session, five: list[int]) -> None:
    seen: list[tuple[int, int]] = []
    verify_chain(session, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


# -- export -------------------------------------------------------------------------------------


def test_export_reads_a_span_in_batches(engine: Engine, clock: FixedClock) -> None:
    with Session(engine) as session:
        events = append(session, clock, 6, days=1)
    with Session(engine) as session:
        start, end = clock.now() + timedelta(days=1), clock.now() + timedelta(days=4)
        assert count_events(session, start=start, end=end) == 3
        exported = list(iter_events(session, start=start, end=end, batch_size=2))
    assert [r["id"] for r in exported] == [e.id for e in events[1:4]]
    first = exported[0]
    assert first["at"] == dump(events[1].at)
    assert first["data"] == dump(events[1].data)
    rebuilt = AuditEvent(**{**first, "at": events[1].at})
    assert event_hash(first["prev_hash"], rebuilt) == first["hash"]
