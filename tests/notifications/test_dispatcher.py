"""The outbox dispatcher: claim, send, record; retries, fallbacks, leases, pacing.

Most tests use a scripted test double (:class:`ScriptedAdapter`): it records
what it was given and answers what the test scripted.  The last ones go through
the real adapters to the loopback stand-ins (fallback, flood control, Telegram's
rate limits measured where the messages arrive); ``tests/faults/`` kills a
dispatching process half-way.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings, load_settings
from riskprompt.models import AuditEvent, Delivery, DeliveryStatus, Prompt, PromptStatus
from riskprompt.models.clock import FixedClock
from riskprompt.models.listings import count_deliveries, page_deliveries
from riskprompt.models.people import Channel, Person
from riskprompt.notifications import dispatcher as dispatcher_module
from riskprompt.notifications.channels import TelegramChannel, build_adapters
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult
from riskprompt.notifications.dispatcher import LEASE, Dispatcher, DispatchStats
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.conftest import BACKENDS
from tests.standins.telegram import TelegramFault
from tests.standins.twilio import TwilioFault


class NoJitter(random.Random):
    """Backoff without jitter: the middle of the 0.8-1.2 range."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


class ScriptedAdapter(ChannelAdapter):
    """A channel that records each message and answers from a script per address."""

    name: ClassVar[str] = "scripted"

    def __init__(
        self,
        channel: str,
        *,
        rate_per_sec: float | None = None,
        per_address_interval: float | None = None,
        max_concurrency: int = 8,
        delay: float = 0.0,
    ) -> None:
        self.channel = channel
        self.rate_per_sec = rate_per_sec
        self.per_address_interval = per_address_interval
        self.max_concurrency = max_concurrency  # type: ignore[misc]
        self.delay = delay
        self.script: dict[str, list[SendResult | Exception]] = defaultdict(list)
        self.sent: list[tuple[float, Message]] = []
        self.opened = 0
        self.closed = 0
        self.in_flight = 0
        self.most_in_flight = 0

    def answer(self, address: str, *results: SendResult | Exception) -> None:
        """The next answers for ``address`` (then: sent)."""
        self.script[address].extend(results)

    async def open(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1

    async def send(self, message: Message) -> SendResult:
        self.sent.append((asyncio.get_running_loop().time(), message))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            queue = self.script.get(message.address)
            if queue:
                answer = queue.pop(0)
                if isinstance(answer, Exception):
                    raise answer
                return answer
            return SendResult.sent(f"{self.channel}-{len(self.sent)}")
        finally:
            self.in_flight -= 1

    @property
    def addresses(self) -> list[str]:
        return [message.address for _, message in self.sent]


#: For tests of timing, arithmetic or the adapters' plumbing rather than of the
#: database (whose paths the other tests run on every backend): one is enough.
ONE_BACKEND = pytest.mark.parametrize("database", BACKENDS[:1], indirect=True)

CHAT = "1001"
MOBILE = "+8613800000001"
EMAIL = "li@example.org"


@pytest.fixture
def settings(database: str) -> Settings:
    return load_settings(
        DATABASE_URL=database,
        DELIVERY_MAX_ATTEMPTS=3,
        RETRY_BASE_SECONDS=60,
        RETRY_MAX_SECONDS=3600,
        DISPATCH_BATCH_SIZE=50,
    )


@pytest.fixture
def adapters() -> dict[Channel, ScriptedAdapter]:
    return {channel: ScriptedAdapter(channel.value) for channel in Channel}


@pytest.fixture
def person(session: Session) -> Person:
    unit = make_unit(session)
    person = make_person(
        session, unit=unit, mobile=MOBILE, email=EMAIL, channels="telegram,sms,email"
    )
    person.telegram_chat_id = int(CHAT)
    session.add(person)
    session.commit()
    return person


def prompt_for(
    session: Session, person: Person, clock: FixedClock, channel: Channel | None = None
) -> tuple[Prompt, Delivery]:
    prompt, delivery = make_prompt_with_delivery(
        session, person=person, at=clock.now(), channel=channel
    )
    session.commit()
    return prompt, delivery


def drain(
    engine: Engine,
    settings: Settings,
    clock: FixedClock,
    adapters: dict[Channel, ScriptedAdapter],
    *,
    until_idle: bool = True,
    worker: str = "worker-1",
) -> DispatchStats:
    async def go() -> DispatchStats:
        async with Dispatcher(engine, settings, clock, adapters, worker, rng=NoJitter()) as d:
            return await d.drain(until_idle=until_idle)

    return asyncio.run(go())


def rows(engine: Engine) -> list[Delivery]:
    with Session(engine) as s:
        return list(s.exec(select(Delivery).order_by(col(Delivery.id))).all())


def audit_actions(engine: Engine) -> list[tuple[str, int | None]]:
    with Session(engine) as s:
        found = s.exec(
            select(AuditEvent.action, AuditEvent.subject_id).order_by(col(AuditEvent.id))
        ).all()
        return [(action, subject) for action, subject in found]


# -- claiming ---------------------------------------------------------------------------


def test_two_workers_claiming_at_once_never_share_a_row(engine, settings, clock, session, person):
    due = clock.now()
    batch = [
        Delivery(
            person_id=person.id or 0,
            channel="email",
            body="x",
            due_at=due - timedelta(seconds=i % 7),
            idempotency_key=f"bulk-{i}",
            created_at=due,
        )
        for i in range(500)
    ]
    session.add_all(batch)
    session.commit()
    workers = [
        Dispatcher(engine, settings, clock, {Channel.EMAIL: ScriptedAdapter("email")}, f"w{i}")
        for i in range(2)
    ]
    barrier = threading.Barrier(2)

    def claim_all(worker: Dispatcher) -> list[int]:
        barrier.wait()
        claimed: list[int] = []
        while ids := worker.claim(37):
            claimed += ids
        return claimed

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(claim_all, workers)

    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(d.id for d in batch)
    owner = {d.id: d.claimed_by for d in rows(engine)}
    assert all(owner[i] == "w0" for i in first)
    assert all(owner[i] == "w1" for i in second)
    assert {d.status for d in rows(engine)} == {DeliveryStatus.SENDING}
    assert {d.attempts for d in rows(engine)} == {1}


def test_claim_takes_only_due_rows_on_its_own_channels(engine, settings, clock, session, person):
    _, now_email = prompt_for(session, person, clock, Channel.EMAIL)
    _, later = make_prompt_with_delivery(
        session, person=person, at=clock.now() + timedelta(seconds=1), channel=Channel.EMAIL
    )
    _, sms = prompt_for(session, person, clock, Channel.SMS)
    session.commit()
    worker = Dispatcher(engine, settings, clock, {Channel.EMAIL: ScriptedAdapter("email")}, "w")

    assert worker.claim(10) == [now_email.id]
    assert worker.claim(10) == []
    clock.advance(timedelta(seconds=1))
    assert worker.claim(10) == [later.id]
    by_id = {d.id: d for d in rows(engine)}
    assert by_id[sms.id].status is DeliveryStatus.PENDING
    assert by_id[later.id].claimed_at == clock.now()


# -- outcomes ---------------------------------------------------------------------------


def test_sent_records_the_provider_id_address_and_audit(
    engine, settings, clock, session, person, adapters
):
    _, delivery = prompt_for(session, person, clock)

    stats = drain(engine, settings, clock, adapters)

    assert stats.claimed == 1 and stats.sent == 1 and not stats.failed
    [row] = rows(engine)
    assert row.status is DeliveryStatus.SENT
    assert row.provider_message_id == "telegram-1"
    assert row.address == CHAT
    assert row.sent_at == clock.now()
    assert row.attempts == 1 and row.claimed_by == "worker-1"
    assert ("delivery.sent", delivery.id) in audit_actions(engine)
    [(_, message)] = adapters[Channel.TELEGRAM].sent
    assert message.delivery_id == delivery.id
    assert message.idempotency_key == delivery.idempotency_key
    assert adapters[Channel.TELEGRAM].opened == adapters[Channel.TELEGRAM].closed == 1


def test_transient_failure_retries_with_backoff_on_the_clock(
    engine, settings, clock, session, person, adapters
):
    _, delivery = prompt_for(session, person, clock)
    telegram = adapters[Channel.TELEGRAM]
    telegram.answer(CHAT, SendResult.retry("timed out"), SendResult.retry("timed out"))
    start = clock.now()

    first = drain(engine, settings, clock, adapters)
    [row] = rows(engine)
    assert first.retried == 1 and first.claimed == 1
    assert row.status is DeliveryStatus.PENDING
    assert row.due_at == start + timedelta(seconds=60)  # base, no jitter
    assert row.attempts == 1 and row.last_error == "timed out" and row.claimed_by is None
    assert ("delivery.retry", delivery.id) in audit_actions(engine)

    clock.advance(timedelta(seconds=59))
    assert drain(engine, settings, clock, adapters).claimed == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    second = drain(engine, settings, clock, adapters)
    [row] = rows(engine)
    assert second.retried == 1
    assert row.due_at == clock.now() + timedelta(seconds=120)  # doubled

    clock.advance(timedelta(seconds=120))
    third = drain(engine, settings, clock, adapters)
    [row] = rows(engine)
    assert third.sent == 1
    assert row.status is DeliveryStatus.SENT and row.attempts == 3
    assert len(telegram.sent) == 3


def test_retry_after_from_the_provider_wins_over_a_shorter_backoff(
    engine, settings, clock, session, person, adapters
):
    prompt_for(session, person, clock)
    adapters[Channel.TELEGRAM].answer(CHAT, SendResult.retry("429 Too Many Requests", 600.0))

    drain(engine, settings, clock, adapters)

    [row] = rows(engine)
    assert row.due_at == clock.now() + timedelta(seconds=600)


@ONE_BACKEND
def test_backoff_is_capped_and_jittered(engine, settings, clock):
    worker = Dispatcher(engine, settings, clock, {}, "w", rng=random.Random(7))
    delays = [worker.backoff_seconds(attempts) for attempts in range(1, 12)]
    assert 48 <= delays[0] <= 72
    assert all(0.8 * 3600 <= d <= 1.2 * 3600 for d in delays[7:])
    assert worker.backoff_seconds(1, retry_after=5000) == 5000


def test_attempts_exhausted_fail_and_fall_back(engine, settings, clock, session, person, adapters):
    _, delivery = prompt_for(session, person, clock)
    adapters[Channel.TELEGRAM].answer(CHAT, *[SendResult.retry("timed out")] * 3)

    for _ in range(3):
        stats = drain(engine, settings, clock, adapters)
        clock.advance(timedelta(hours=1))

    first, fallback = rows(engine)
    assert first.status is DeliveryStatus.FAILED and first.attempts == 3
    assert first.last_error == "attempts exhausted: timed out"
    assert fallback.channel == "sms" and fallback.replaces_id == first.id
    assert fallback.status is DeliveryStatus.SENT  # sent in the same drain
    assert stats.failed == 1 and stats.fell_back == 1 and stats.sent == 1
    assert ("delivery.failed", delivery.id) in audit_actions(engine)


def test_permanent_failure_falls_back_through_the_preference(
    engine, settings, clock, session, person, adapters
):
    prompt, _ = prompt_for(session, person, clock)
    adapters[Channel.TELEGRAM].answer(CHAT, SendResult.failed("Forbidden: bot was blocked"))
    adapters[Channel.SMS].answer(MOBILE, SendResult.failed("21610: unsubscribed recipient"))

    stats = drain(engine, settings, clock, adapters)

    telegram, sms, email = rows(engine)
    assert [d.channel for d in (telegram, sms, email)] == ["telegram", "sms", "email"]
    assert telegram.status is sms.status is DeliveryStatus.FAILED
    assert telegram.last_error == "Forbidden: bot was blocked"
    assert sms.replaces_id == telegram.id and email.replaces_id == sms.id
    assert email.status is DeliveryStatus.SENT and email.prompt_id == prompt.id
    assert email.attempts == 1  # a fallback is a new delivery with its own attempts
    assert stats.claimed == 3 and stats.failed == 2 and stats.fell_back == 2 and stats.sent == 1
    assert adapters[Channel.EMAIL].addresses == [EMAIL]
    actions = [a for a, _ in audit_actions(engine)]
    assert actions.count("delivery.failed") == 2 and actions.count("delivery.fallback") == 2


def test_fallback_skips_channels_that_cannot_reach_the_person(
    engine, settings, clock, session, person, adapters
):
    person.mobile = None
    session.add(person)
    session.commit()
    prompt_for(session, person, clock)
    adapters[Channel.TELEGRAM].answer(CHAT, SendResult.failed("Bad Request: chat not found"))

    drain(engine, settings, clock, adapters)

    assert [(d.channel, d.status) for d in rows(engine)] == [
        ("telegram", DeliveryStatus.FAILED),
        ("email", DeliveryStatus.SENT),
    ]
    assert adapters[Channel.SMS].sent == []


def test_no_channel_left_leaves_the_failure_visible(
    engine, settings, clock, session, person, adapters
):
    person.channels = "sms"
    session.add(person)
    session.commit()
    _, delivery = prompt_for(session, person, clock)
    adapters[Channel.SMS].answer(MOBILE, SendResult.failed("21211: invalid 'To' number"))

    stats = drain(engine, settings, clock, adapters)

    [row] = rows(engine)
    assert row.status is DeliveryStatus.FAILED
    assert stats.failed == 1 and stats.fell_back == 0
    with Session(engine) as s:
        [row] = page_deliveries(s, failed_only=True).rows
        listed, who = row.delivery, row.person
        counts = count_deliveries(s)
    assert listed.id == delivery.id and who.id == person.id
    assert listed.last_error == "21211: invalid 'To' number"
    assert counts == {("failed", "sms"): 1}


def test_missing_address_fails_without_sending_and_falls_back(
    engine, settings, clock, session, person, adapters
):
    prompt_for(session, person, clock, Channel.SMS)
    person.sms_opt_out = True  # replied STOP after the prompt was planned
    session.add(person)
    session.commit()

    stats = drain(engine, settings, clock, adapters)

    sms, email = rows(engine)
    assert sms.status is DeliveryStatus.FAILED and sms.last_error == "missing address"
    assert email.channel == "email" and email.status is DeliveryStatus.SENT
    assert adapters[Channel.SMS].sent == []
    assert stats.failed == 1 and stats.fell_back == 1 and stats.sent == 1


def test_an_adapter_that_raises_or_hangs_counts_as_transient(
    engine, settings, clock, session, person, adapters
):
    prompt_for(session, person, clock, Channel.EMAIL)
    adapters[Channel.EMAIL].answer(EMAIL, RuntimeError("bug in the adapter"))

    stats = drain(engine, settings, clock, adapters)

    [row] = rows(engine)
    assert stats.retried == 1
    assert row.status is DeliveryStatus.PENDING and "bug in the adapter" in (row.last_error or "")

    clock.advance(timedelta(hours=1))
    adapters[Channel.EMAIL].delay = 5.0

    async def go() -> DispatchStats:
        async with Dispatcher(
            engine, settings, clock, adapters, "w", rng=NoJitter(), send_timeout=0.05
        ) as d:
            return await d.run_once()

    assert asyncio.run(go()).retried == 1
    [row] = rows(engine)
    assert row.last_error == "no answer within 0.05 s" and row.attempts == 2


def test_a_row_that_cannot_become_a_message_fails_and_falls_back(
    engine, settings, clock, session, person, adapters
):
    _, delivery = prompt_for(session, person, clock)
    delivery.extra = {"parts": ["x"], "buttons": [["a label without its data"]]}
    session.add(delivery)
    session.commit()

    stats = drain(engine, settings, clock, adapters)

    broken, fallback = rows(engine)
    assert broken.status is DeliveryStatus.FAILED
    assert (broken.last_error or "").startswith("cannot build the message: ValueError")
    assert fallback.channel == "sms" and fallback.status is DeliveryStatus.SENT
    assert stats.failed == 1 and stats.sent == 1


def test_a_fallback_that_cannot_be_made_leaves_the_failure_visible(
    engine, settings, clock, session, person, adapters, monkeypatch
):
    prompt_for(session, person, clock)
    adapters[Channel.TELEGRAM].answer(CHAT, SendResult.failed("Forbidden: bot was blocked"))

    def unrenderable(*args: object, **kwargs: object) -> None:
        raise KeyError("period")

    monkeypatch.setattr(dispatcher_module, "fallback_delivery", unrenderable)
    stats = drain(engine, settings, clock, adapters)

    [row] = rows(engine)
    assert row.status is DeliveryStatus.FAILED and row.last_error == "Forbidden: bot was blocked"
    assert stats.failed == 1 and stats.fell_back == 0
    assert [a for a, _ in audit_actions(engine)] == ["delivery.failed"]


def test_a_withdrawn_prompt_is_not_sent(engine, settings, clock, session, person, adapters):
    prompt, _ = prompt_for(session, person, clock)
    prompt.status = PromptStatus.CANCELLED
    session.add(prompt)
    session.commit()

    stats = drain(engine, settings, clock, adapters)

    [row] = rows(engine)
    assert row.status is DeliveryStatus.CANCELLED and stats.cancelled == 1
    assert adapters[Channel.TELEGRAM].sent == []


# -- leases ---------------------------------------------------------------------------


def test_a_dead_workers_claims_come_back_after_the_lease(
    engine, settings, clock, session, person, adapters
):
    for _ in range(3):
        prompt_for(session, person, clock, Channel.EMAIL)
    dead = Dispatcher(engine, settings, clock, adapters, "dead-worker")
    claimed = dead.claim(10)  # ... and the process dies before sending or recording
    assert len(claimed) == 3

    assert drain(engine, settings, clock, adapters).claimed == 0  # still within the lease
    clock.advance(LEASE + timedelta(seconds=1))
    stats = drain(engine, settings, clock, adapters)

    assert stats.recovered == 3 and stats.sent == 3
    assert all(d.status is DeliveryStatus.SENT and d.attempts == 2 for d in rows(engine))
    recovered = [s for a, s in audit_actions(engine) if a == "delivery.recovered"]
    assert sorted(recovered) == sorted(claimed)


def test_a_delivery_that_keeps_killing_its_worker_ends_failed(
    engine, settings, clock, session, person, adapters
):
    _, delivery = prompt_for(session, person, clock)
    for attempt in range(settings.DELIVERY_MAX_ATTEMPTS):
        doomed = Dispatcher(engine, settings, clock, adapters, f"dead-{attempt}")
        doomed.recover_expired()  # as each pass does first
        assert doomed.claim(1) == [delivery.id]
        clock.advance(LEASE + timedelta(seconds=1))

    stats = drain(engine, settings, clock, adapters)

    first, fallback = rows(engine)
    assert first.status is DeliveryStatus.FAILED
    assert (first.last_error or "").startswith("attempts exhausted: lease expired")
    assert fallback.channel == "sms" and fallback.status is DeliveryStatus.SENT
    assert stats.recovered == 1 and stats.fell_back == 1


def test_a_live_worker_keeps_its_claims_while_a_send_is_slow(
    engine, settings, clock, session, person
):
    prompt_for(session, person, clock)
    slow = ScriptedAdapter("telegram", delay=10.0)
    lease = timedelta(seconds=0.15)  # renewed every 0.05 s of real time

    async def go() -> tuple[int, int]:
        adapters = {Channel.TELEGRAM: slow}
        async with Dispatcher(engine, settings, clock, adapters, "live", lease=lease) as live:
            task = asyncio.create_task(live.run_once())
            for _ in range(500):
                if slow.sent:
                    break
                await asyncio.sleep(0.01)
            clock.advance(timedelta(minutes=30))  # long past the lease...
            for _ in range(500):  # ... but the live worker renews its claim
                if rows(engine)[0].claimed_at == clock.now():
                    break
                await asyncio.sleep(0.01)
            other = Dispatcher(engine, settings, clock, adapters, "other", lease=lease)
            taken = await asyncio.to_thread(other.recover_expired)
            task.cancel()  # rather than wait 10 s for the send: the claim stays sending
            return taken

    taken = asyncio.run(go())

    assert taken == (0, 0)
    [row] = rows(engine)
    assert row.claimed_by == "live" and row.claimed_at == clock.now()


def test_an_outcome_that_cannot_be_recorded_stays_claimed(
    engine, settings, clock, session, person, adapters, monkeypatch
):
    prompt_for(session, person, clock)
    monkeypatch.setattr(dispatcher_module, "RECORD_RETRY_DELAYS", (0.0,))

    def broken(*args: object) -> None:
        raise OperationalError("UPDATE delivery", {}, Exception("database is gone"))

    monkeypatch.setattr(Dispatcher, "_record_sync", broken)
    stats = drain(engine, settings, clock, adapters)
    monkeypatch.undo()

    [row] = rows(engine)
    assert stats.unrecorded == 1 and stats.sent == 0
    assert row.status is DeliveryStatus.SENDING  # the lease will bring it back
    clock.advance(LEASE + timedelta(seconds=1))
    assert drain(engine, settings, clock, adapters).sent == 1


# -- running and stopping -------------------------------------------------------------------


@ONE_BACKEND
def test_the_dispatcher_must_be_open(engine, settings, clock, adapters):
    with pytest.raises(RuntimeError):
        asyncio.run(Dispatcher(engine, settings, clock, adapters, "w").run_once())


def test_a_shared_local_adapter_is_opened_once(engine, settings, clock, session, person):
    local = ScriptedAdapter("local")
    person.wecom_userid, person.dingtalk_userid = "wangwu", "manager4220"
    person.channels = ",".join(Channel)
    session.add(person)
    session.commit()
    for channel in Channel:
        prompt_for(session, person, clock, channel)

    stats = drain(engine, settings, clock, dict.fromkeys(Channel, local))

    assert stats.sent == len(Channel) and local.opened == local.closed == 1


def test_run_loops_until_stopped(engine, settings, clock, session, person, adapters):
    settings = settings.model_copy(update={"DISPATCH_INTERVAL_SECONDS": 0.01})
    prompt_for(session, person, clock)

    async def go() -> DispatchStats:
        stop = asyncio.Event()
        async with Dispatcher(engine, settings, clock, adapters, "w") as d:
            runner = asyncio.create_task(d.run(stop))
            for _ in range(500):
                if adapters[Channel.TELEGRAM].sent:
                    break
                await asyncio.sleep(0.01)
            stop.set()
            return await asyncio.wait_for(runner, 5)

    stats = asyncio.run(go())
    assert stats.sent == 1


def test_stopping_finishes_sends_in_flight_and_gives_back_the_rest(
    engine, settings, clock, session, person
):
    email = ScriptedAdapter("email", per_address_interval=30.0, delay=0.05)
    for _ in range(3):
        prompt_for(session, person, clock, Channel.EMAIL)

    async def go() -> DispatchStats:
        async with Dispatcher(engine, settings, clock, {Channel.EMAIL: email}, "w") as d:
            assert d.tick()
            assert not d.tick()  # one drain at a time
            for _ in range(500):
                if email.sent:
                    break
                await asyncio.sleep(0.01)
            d.request_stop()  # the first is in flight, two wait 30 s for their turn
            await asyncio.wait_for(d.wait_idle(), 5)
            task = d._background
            assert task is not None
            return task.result()

    stats = asyncio.run(go())

    assert stats.sent == 1 and stats.released == 2 and stats.claimed == 3
    statuses = sorted((d.status.value, d.attempts) for d in rows(engine))
    assert statuses == [("pending", 0), ("pending", 0), ("sent", 1)]


# -- pacing ---------------------------------------------------------------------------------


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@ONE_BACKEND
def test_sends_are_paced_per_channel_and_per_address(engine, settings, clock, session):
    unit = make_unit(session)
    people = []
    for n in range(21):
        p = make_person(session, unit=unit, channels="telegram")
        p.telegram_chat_id = 5000 + n
        people.append(p)
    session.commit()
    busy = people[0]
    for _ in range(5):
        prompt_for(session, busy, clock)
    for p in people[1:]:
        prompt_for(session, p, clock)
    telegram = ScriptedAdapter("telegram", rate_per_sec=50.0, per_address_interval=0.1)

    stats = drain(engine, settings, clock, {Channel.TELEGRAM: telegram})

    assert stats.sent == 25
    times = sorted(t for t, _ in telegram.sent)
    assert min(gaps(times)) >= 1 / 50 - 0.002
    busy_times = [t for t, m in telegram.sent if m.address == str(busy.telegram_chat_id)]
    assert len(busy_times) == 5 and min(gaps(busy_times)) >= 0.1 - 0.002


@ONE_BACKEND
def test_no_pacing_when_rate_limits_are_off(engine, settings, clock, session, person):
    settings = settings.model_copy(update={"RATE_LIMITS": False})
    for _ in range(4):
        prompt_for(session, person, clock)
    telegram = ScriptedAdapter("telegram", rate_per_sec=1.0, per_address_interval=60.0)

    async def go() -> DispatchStats:
        async with Dispatcher(engine, settings, clock, {Channel.TELEGRAM: telegram}, "w") as d:
            return await asyncio.wait_for(d.drain(), 5)

    assert asyncio.run(go()).sent == 4


@ONE_BACKEND
def test_concurrency_is_bounded_per_channel(engine, settings, clock, session, person):
    for _ in range(12):
        prompt_for(session, person, clock, Channel.EMAIL)
    email = ScriptedAdapter("email", max_concurrency=3, delay=0.02)

    stats = drain(engine, settings, clock, {Channel.EMAIL: email})

    assert stats.sent == 12 and email.most_in_flight == 3


# -- through the real adapters and the loopback stand-ins -------------------------------------


@ONE_BACKEND
async def test_fallback_through_the_real_channels(
    engine, clock, session, person, standin_settings, telegram_api, twilio_api, smtp_server
):
    settings = standin_settings.model_copy(update={"RETRY_BASE_SECONDS": 1.0})
    telegram_api.fail_chat(CHAT, TelegramFault.blocked())
    twilio_api.fail_number(MOBILE, TwilioFault.unsubscribed())
    _, flooded = prompt_for(session, person, clock, Channel.EMAIL)
    smtp_server.fail_next(451)  # the first mail: try again later
    prompt, _ = prompt_for(session, person, clock)

    async with Dispatcher(engine, settings, clock, build_adapters(settings), "w") as d:
        stats = await d.drain()

    assert stats.failed == 2 and stats.fell_back == 2 and stats.retried == 1 and stats.sent == 1
    by_channel = {(d.prompt_id, d.channel): d for d in rows(engine)}
    telegram = by_channel[(prompt.id, "telegram")]
    sms = by_channel[(prompt.id, "sms")]
    email = by_channel[(prompt.id, "email")]
    assert "blocked" in (telegram.last_error or "")
    assert "21610" in (sms.last_error or "")
    assert email.status is DeliveryStatus.SENT and email.provider_message_id
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == (EMAIL,)
    retried = by_channel[(flooded.prompt_id, "email")]
    assert retried.status is DeliveryStatus.PENDING and retried.last_error
    assert retried.due_at > clock.now()


@ONE_BACKEND
async def test_telegram_flood_control_retry_after_is_honoured(
    engine, clock, session, person, standin_settings, telegram_api
):
    settings = standin_settings.model_copy(update={"RETRY_BASE_SECONDS": 1.0})
    telegram_api.fail_next(TelegramFault.flood(retry_after=30))
    prompt_for(session, person, clock)

    async with Dispatcher(engine, settings, clock, build_adapters(settings), "w") as d:
        assert (await d.drain()).retried == 1
        [row] = rows(engine)
        assert row.due_at == clock.now() + timedelta(seconds=30)
        clock.advance(timedelta(seconds=30))
        assert (await d.drain()).sent == 1

    assert [str(c.chat_id) for c in telegram_api.sent()] == [CHAT]


@ONE_BACKEND
async def test_telegram_limits_hold_at_the_stand_in(engine, clock, session, telegram_api):
    """6 messages to one chat and 40 to others: <= 30/s for the bot, >= 0.2 s per chat."""
    settings = load_settings(RATE_LIMITS=True, DISPATCH_BATCH_SIZE=100)
    unit = make_unit(session)
    busy = make_person(session, unit=unit, channels="telegram")
    busy.telegram_chat_id = 7000
    others = []
    for n in range(40):
        other = make_person(session, unit=unit, channels="telegram")
        other.telegram_chat_id = 7001 + n
        others.append(other)
    session.commit()
    for _ in range(6):
        prompt_for(session, busy, clock)
    for other in others:
        prompt_for(session, other, clock)
    adapter = TelegramChannel(
        token=telegram_api.token,
        api_url=telegram_api.url,
        rate_per_sec=30.0,
        per_address_interval=0.2,
    )

    async with Dispatcher(engine, settings, clock, {Channel.TELEGRAM: adapter}, "w") as d:
        stats = await d.drain()

    assert stats.sent == 46
    calls = telegram_api.sent()
    times = sorted(c.monotonic for c in calls)
    # No window of (just under) a second holds more than 30; 50 ms for loopback jitter.
    assert max(sum(1 for t in times if start <= t < start + 0.95) for start in times) <= 30
    assert times[-1] - times[0] >= 45 / 30 - 0.05
    busy_times = sorted(c.monotonic for c in calls if str(c.chat_id) == "7000")
    assert len(busy_times) == 6 and min(gaps(busy_times)) >= 0.2 - 0.05
