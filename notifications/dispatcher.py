"""The outbox dispatcher: claim due deliveries, send them concurrently, record each outcome.

One pass:

0. **Expand** the notices that are due (:mod:`riskprompt.notifications.notices`):
   what the domain's decisions must tell becomes rendered deliveries here, so
   ``dispatch``, ``tick`` and ``run`` all send them.
1. **Recover** deliveries stuck in ``sending`` longer than the lease: their
   worker died between claim and record.  They go back to ``pending`` (or, once
   their attempts are spent, to ``failed`` with a fallback).
2. **Claim** up to ``DISPATCH_BATCH_SIZE`` due deliveries in one short
   transaction: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that workers on
   several machines never claim the same row; one ``UPDATE ... RETURNING`` on
   SQLite, whose single writer makes it atomic.
3. **Send** them concurrently, per channel at most ``max_concurrency`` at once,
   paced to the channel's ``rate_per_sec`` and ``per_address_interval``.
4. **Record** each outcome as soon as it is known, in its own short transaction
   with its audit record: sent; retry later with exponential backoff and jitter;
   failed for good, with a fallback delivery on the person's next channel.

Nothing is lost: a claim whose outcome could not be recorded stays ``sending``
and the lease brings it back.  The price is at-least-once delivery: a message
whose send was in flight when its worker died is sent again.

Every "when" (due, backoff, lease) comes from the injected clock; only the
physical pacing of sends uses the event loop's monotonic time.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.audit import record
from riskprompt.models.clock import Clock
from riskprompt.models.notices import Notice
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt, PromptStatus
from riskprompt.models.warnings import Warning, WarningColour, WarningStatus
from riskprompt.notifications.channels.base import ChannelAdapter, Message, Outcome, SendResult
from riskprompt.notifications.fallback import fallback_delivery
from riskprompt.notifications.notices import STATE_BOUND, expand_all
from riskprompt.notifications.outbox import message_for
from riskprompt.notifications.quiet import held_until, reader_zone
from riskprompt.notifications.ratelimit import AddressPacer, RatePacer, StopRequested

log = logging.getLogger(__name__)

#: How long a claim may stay unrecorded before another pass takes it back.  Long
#: enough for any send (adapters time out well within it) and renewed while a
#: pass is still working through a slowly paced batch.
LEASE = timedelta(minutes=10)
#: A send that has not answered by then counts as a transient failure.
SEND_TIMEOUT_SECONDS = 120.0
#: Tries to record one outcome before leaving it to the lease (seconds between tries).
RECORD_RETRY_DELAYS = (0.2, 1.0)

MISSING_ADDRESS = "missing address"


@dataclass
class DispatchStats:
    """What one or more passes did.

    Attributes:
        claimed: deliveries claimed.
        sent: accepted by the provider.
        retried: transient failures put back with a later ``due_at``.
        failed: failed for good (permanent error, missing address, attempts exhausted).
        fell_back: failures for which the next channel's delivery was queued.
        recovered: claims of a stopped worker taken back after the lease.
        expanded: notices turned into deliveries.
        cancelled: not sent because their prompt (or warning) was withdrawn.
        released: claimed but given back unsent because the dispatcher was stopping.
        held: not urgent, claimed in the reader's quiet hours: due again at their end.
        unrecorded: outcomes that could not be written (the lease brings them back).
    """

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    fell_back: int = 0
    recovered: int = 0
    expanded: int = 0
    cancelled: int = 0
    released: int = 0
    held: int = 0
    unrecorded: int = 0

    def __iadd__(self, other: DispatchStats) -> Self:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)

    @property
    def busy(self) -> bool:
        """Whether the pass did anything at all."""
        return any(asdict(self).values())


class _Kind(enum.StrEnum):
    SENT = "sent"
    RETRIED = "retried"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RELEASED = "released"
    HELD = "held"
    UNRECORDED = "unrecorded"
    LOST = "lost"  # the claim was no longer ours when the outcome came in


@dataclass(frozen=True, slots=True)
class _Job:
    """A claimed delivery, ready to send (plain values: it crosses threads)."""

    delivery_id: int
    channel: Channel
    attempts: int
    message: Message | None
    cancelled: bool = False
    broken: str | None = None  # why no message could be built from the row
    held_until: datetime | None = None  # quiet hours: send at this moment instead


@dataclass(frozen=True, slots=True)
class _Recorded:
    kind: _Kind
    fell_back: bool = False


@dataclass
class _Lane:
    """One channel's adapter with its concurrency and pacing."""

    adapter: ChannelAdapter
    semaphore: asyncio.Semaphore
    rate: RatePacer
    per_address: AddressPacer


class Dispatcher:
    """Sends what is due in the outbox and records what happened.

    Use it as an async context manager: the adapters are opened once on entry and
    closed on exit.  Several dispatchers (threads, processes, machines) may share
    one database; each claims its own rows.

    Args:
        engine: the database.
        settings: DISPATCH_*, DELIVERY_MAX_ATTEMPTS, RETRY_*, RATE_LIMITS are read.
        clock: the clock for due checks, backoff and leases.
        adapters: the channel adapters; only deliveries on these channels are claimed.
        worker_id: who claims (``host:pid``), written to ``claimed_by``.
        lease: how long a claim may stay unrecorded before it is taken back.
        rng: the source of backoff jitter (tests pass a seeded one).
        send_timeout: seconds after which an unanswered send counts as transient.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        adapters: Mapping[Channel, ChannelAdapter],
        worker_id: str,
        *,
        lease: timedelta = LEASE,
        rng: random.Random | None = None,
        send_timeout: float = SEND_TIMEOUT_SECONDS,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.adapters = dict(adapters)
        self.worker_id = worker_id[:64]
        self.lease = lease
        self.rng = rng or random.Random()
        self.send_timeout = send_timeout
        self._stack: AsyncExitStack | None = None
        self._lanes: dict[Channel, _Lane] = {}
        self._stopping = asyncio.Event()
        self._record_lock: asyncio.Lock | None = None
        self._background: asyncio.Task[DispatchStats] | None = None
        self._inflight: set[int] = set()  # claimed by this worker, outcome not yet recorded

    # -- lifetime -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stack = AsyncExitStack()
        # One local adapter may stand in for several channels: open it, and pace
        # it, once.  Its limits are the adapter's, so its channels share one lane.
        lanes: dict[int, _Lane] = {}
        try:
            for channel, adapter in self.adapters.items():
                if id(adapter) not in lanes:
                    await stack.enter_async_context(adapter)
                    lanes[id(adapter)] = self._lane(adapter)
                self._lanes[channel] = lanes[id(adapter)]
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._stopping = asyncio.Event()
        self._record_lock = asyncio.Lock()
        log.info(
            "dispatcher %s open: %s",
            self.worker_id,
            "; ".join(f"{c.value}: {a.describe()}" for c, a in self.adapters.items()),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.request_stop()
        await self.wait_idle()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
        self._lanes.clear()

    def _lane(self, adapter: ChannelAdapter) -> _Lane:
        limited = self.settings.RATE_LIMITS
        return _Lane(
            adapter=adapter,
            semaphore=asyncio.Semaphore(max(1, adapter.max_concurrency)),
            rate=RatePacer(adapter.rate_per_sec if limited else None),
            per_address=AddressPacer(adapter.per_address_interval if limited else None),
        )

    def request_stop(self) -> None:
        """Stop claiming; sends already started finish, sends still waiting are given back."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`request_stop` was called."""
        return self._stopping.is_set()

    async def wait_idle(self) -> None:
        """Wait until the pass started by :meth:`tick` (if any) has finished."""
        task = self._background
        if task is not None and not task.done():
            await asyncio.wait({task})

    # -- the loops ----------------------------------------------------------------------

    async def run_once(self) -> DispatchStats:
        """Run one pass: recover expired claims, claim a batch, send it, record outcomes.

        Returns:
            What the pass did.

        Raises:
            RuntimeError: the dispatcher was not entered (``async with``).
            sqlalchemy.exc.SQLAlchemyError: the database failed while recovering or claiming.
        """
        if self._stack is None or self._record_lock is None:
            raise RuntimeError("use the Dispatcher with `async with` so its adapters are open")
        stats = DispatchStats()
        stats.expanded = await asyncio.to_thread(self.expand_notices)
        recovered, fell_back = await asyncio.to_thread(self.recover_expired)
        stats.recovered, stats.fell_back = recovered, fell_back
        if self.stopping:
            return stats
        ids = await asyncio.to_thread(self.claim, self.settings.DISPATCH_BATCH_SIZE)
        stats.claimed = len(ids)
        if not ids:
            return stats
        self._inflight.update(ids)
        heartbeat = asyncio.create_task(self._renew_leases())
        try:
            jobs = await asyncio.to_thread(self._load, ids)
            for lane in self._lanes.values():
                lane.per_address.prune()
            results = await asyncio.gather(*(self._deliver(job) for job in jobs))
        finally:
            heartbeat.cancel()
            self._inflight.difference_update(ids)
        for outcome in results:
            if outcome.kind is _Kind.LOST:
                continue
            setattr(stats, outcome.kind.value, getattr(stats, outcome.kind.value) + 1)
            stats.fell_back += outcome.fell_back
        if stats.busy:
            log.info("dispatch pass: %s", stats.as_dict())
        return stats

    async def drain(self, until_idle: bool = True) -> DispatchStats:
        """Run passes until nothing is due now (or just one pass).

        Deliveries put back for a retry are due later, so a drain ends even when
        some keep failing.

        Args:
            until_idle: keep passing while the last pass claimed something.

        Returns:
            The sum of the passes.

        Raises:
            RuntimeError: the dispatcher was not entered.
            sqlalchemy.exc.SQLAlchemyError: the database failed while recovering or claiming.
        """
        total = DispatchStats()
        while True:
            stats = await self.run_once()
            total += stats
            if not until_idle or self.stopping or (stats.claimed == 0 and stats.recovered == 0):
                return total

    async def run(self, stop: asyncio.Event) -> DispatchStats:
        """Drain every ``DISPATCH_INTERVAL_SECONDS`` until ``stop`` is set.

        When ``stop`` is set, sends already started finish and are recorded,
        sends still waiting for their turn are given back to the outbox.  A
        database error fails one pass, not the loop.

        Args:
            stop: set it to stop the loop.

        Returns:
            The sum of the passes.

        Raises:
            RuntimeError: the dispatcher was not entered.
        """
        total = DispatchStats()
        watcher = asyncio.create_task(self._stop_when(stop))
        try:
            while not stop.is_set() and not self.stopping:
                try:
                    total += await self.drain(until_idle=True)
                except SQLAlchemyError:
                    log.exception("dispatch pass failed; trying again in the next interval")
                try:
                    await asyncio.wait_for(stop.wait(), self.settings.DISPATCH_INTERVAL_SECONDS)
                except TimeoutError:
                    pass
        finally:
            watcher.cancel()
        return total

    async def _stop_when(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.request_stop()

    def tick(self) -> bool:
        """Start a drain in the background unless one is running (the scheduler's tick).

        The scheduler's job returns at once, so a long drain neither holds up the
        scheduler nor is cancelled when the scheduler shuts down; use
        :meth:`wait_idle` to wait for it.

        Returns:
            True when a drain was started.
        """
        if self.stopping or (self._background is not None and not self._background.done()):
            return False
        self._background = asyncio.create_task(self.drain(until_idle=True))
        self._background.add_done_callback(_log_failure)
        return True

    # -- database: claim, load, recover --------------------------------------------------

    def expand_notices(self) -> int:
        """Turn the notices due now into deliveries (each expanded once, by one worker).

        Returns:
            How many notices were expanded.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; batches committed stay.
        """
        return expand_all(
            lambda: Session(self.engine, expire_on_commit=False),
            now=self.clock.now(),
            settings=self.settings,
        )

    def _channels(self) -> list[str]:
        return [channel.value for channel in self.adapters]

    def claim(self, limit: int) -> list[int]:
        """Claim up to ``limit`` due deliveries for this worker, atomically.

        Claimed rows become ``sending`` with ``claimed_at``/``claimed_by`` set and
        one more attempt counted, all in one short transaction.  PostgreSQL skips
        rows another worker has locked (``FOR UPDATE SKIP LOCKED``); SQLite claims
        with one ``UPDATE ... RETURNING`` under its single writer lock.

        Args:
            limit: the most rows to claim.

        Returns:
            The ids claimed, oldest due first.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was claimed.
        """
        channels = self._channels()
        if not channels or limit <= 0:
            return []
        now = self.clock.now()
        due = (
            select(Delivery.id)
            .where(
                col(Delivery.status) == DeliveryStatus.PENDING,
                col(Delivery.due_at) <= now,
                col(Delivery.channel).in_(channels),
            )
            .order_by(col(Delivery.due_at), col(Delivery.id))
            .limit(limit)
        )
        values: dict[str, Any] = {
            "status": DeliveryStatus.SENDING,
            "claimed_at": now,
            "claimed_by": self.worker_id,
            "attempts": col(Delivery.attempts) + 1,
            "last_attempt_at": now,
        }
        with Session(self.engine) as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                ids = list(session.exec(due.with_for_update(skip_locked=True)).all())
                if ids:
                    session.exec(update(Delivery).where(col(Delivery.id).in_(ids)).values(**values))
            else:
                claimed = session.exec(
                    update(Delivery)
                    .where(col(Delivery.id).in_(due))
                    .values(**values)
                    .returning(col(Delivery.id))
                )
                ids = list(claimed.scalars().all())
        return [i for i in ids if i is not None]

    def _load(self, ids: list[int]) -> list[_Job]:
        """The claimed rows as messages (None where the channel cannot reach the person)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(
                    Delivery, Person, Prompt.status, Warning.status, Warning.colour, Notice.event
                )
                .join(Person, col(Person.id) == col(Delivery.person_id))
                .outerjoin(Prompt, col(Prompt.id) == col(Delivery.prompt_id))
                .outerjoin(Warning, col(Warning.id) == col(Delivery.warning_id))
                .outerjoin(Notice, col(Notice.id) == col(Delivery.notice_id))
                .where(col(Delivery.id).in_(ids))
                .order_by(col(Delivery.due_at), col(Delivery.id))
            ).all()
            now = self.clock.now()
            return [
                self._job(
                    delivery,
                    person,
                    prompt_status is PromptStatus.CANCELLED
                    # news of an outcome (a withdrawal, a review) goes even so
                    or (
                        warning_status is WarningStatus.WITHDRAWN
                        and (event is None or event in STATE_BOUND)
                    ),
                    # red warnings ignore quiet hours
                    None if colour is WarningColour.RED else self._quiet_until(person, now),
                )
                for delivery, person, prompt_status, warning_status, colour, event in rows
            ]

    def _quiet_until(self, person: Person, now: datetime) -> datetime | None:
        quiet = self.settings.quiet_hours
        if quiet is None:
            return None
        zone = reader_zone(person.timezone, self.settings.zone)
        return held_until(now, zone=zone, quiet=quiet)

    @staticmethod
    def _job(
        delivery: Delivery, person: Person, withdrawn: bool, held: datetime | None = None
    ) -> _Job:
        job = _Job(
            delivery_id=delivery.id or 0,
            channel=Channel(delivery.channel),
            attempts=delivery.attempts,
            message=None,
            cancelled=withdrawn,
            held_until=None if withdrawn else held,
        )
        try:
            return replace(job, message=message_for(delivery, person))
        except Exception as exc:  # one corrupt row must not stop every pass
            log.exception("delivery %s: cannot build its message", delivery.id)
            return replace(job, broken=f"cannot build the message: {type(exc).__name__}: {exc}")

    def recover_expired(self) -> tuple[int, int]:
        """Take back claims older than the lease: their worker stopped before recording.

        A recovered delivery goes back to ``pending`` (due at once), or to
        ``failed`` with a fallback when its attempts are spent, so that a message
        that crashes its worker every time cannot loop for ever.

        Returns:
            (deliveries recovered, fallbacks queued for the exhausted ones).

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed; nothing was changed.
        """
        now = self.clock.now()
        cutoff = now - self.lease
        expired = (
            select(Delivery.id, Delivery.claimed_by, Delivery.attempts)
            .where(
                col(Delivery.status) == DeliveryStatus.SENDING,
                col(Delivery.claimed_at) < cutoff,
                col(Delivery.channel).in_(self._channels()),
            )
            .order_by(col(Delivery.id))
        )
        recovered = fell_back = 0
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if self.engine.dialect.name == "postgresql":
                expired = expired.with_for_update(skip_locked=True)
            for delivery_id, claimed_by, attempts in session.exec(expired).all():
                exhausted = attempts >= self.settings.DELIVERY_MAX_ATTEMPTS
                error = f"lease expired: {claimed_by or '?'} stopped before recording"
                # Guarded: on SQLite the select above ran outside the write lock.
                changed = session.exec(
                    update(Delivery)
                    .where(
                        col(Delivery.id) == delivery_id,
                        col(Delivery.status) == DeliveryStatus.SENDING,
                        col(Delivery.claimed_at) < cutoff,
                    )
                    .values(
                        status=DeliveryStatus.FAILED if exhausted else DeliveryStatus.PENDING,
                        claimed_at=None,
                        claimed_by=None,
                        last_error=f"attempts exhausted: {error}" if exhausted else error,
                    )
                ).rowcount
                if not changed:
                    continue
                recovered += 1
                record(
                    session,
                    at=now,
                    actor_id=None,
                    action="delivery.recovered",
                    subject_type="delivery",
                    subject_id=delivery_id,
                    data={"worker": claimed_by, "attempts": attempts, "by": self.worker_id},
                )
                if exhausted:
                    fell_back += self._fall_back(
                        session, delivery_id, f"attempts exhausted: {error}"
                    )
        if recovered:
            log.warning(
                "recovered %d deliveries whose worker stopped between claim and record "
                "(lease of %s expired)",
                recovered,
                self.lease,
            )
        return recovered, fell_back

    async def _renew_leases(self) -> None:
        """Keep this pass's claims alive while a slowly paced batch is still going out."""
        period = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(period)
            ids = sorted(self._inflight)
            if not ids:
                continue
            try:
                await asyncio.to_thread(self._renew, ids)
            except SQLAlchemyError:
                log.exception("could not renew the lease of %d claims", len(ids))

    def _renew(self, ids: list[int]) -> None:
        with Session(self.engine) as session, session.begin():
            session.exec(
                update(Delivery)
                .where(
                    col(Delivery.id).in_(ids),
                    col(Delivery.status) == DeliveryStatus.SENDING,
                    col(Delivery.claimed_by) == self.worker_id,
                )
                .values(claimed_at=self.clock.now())
            )

    # -- sending ----------------------------------------------------------------------

    async def _deliver(self, job: _Job) -> _Recorded:
        """Send one claimed delivery (unless there is nothing to send) and record it."""
        try:
            return await self._send_and_record(job)
        except Exception:  # a bug must not take the rest of the batch down with it
            log.exception(
                "delivery %s: unexpected error; it stays claimed until the lease expires",
                job.delivery_id,
            )
            return _Recorded(_Kind.UNRECORDED)

    async def _send_and_record(self, job: _Job) -> _Recorded:
        if job.cancelled:
            return await self._record(job, None)
        if job.held_until is not None:
            return await self._record(job, None, release=True)
        if job.broken is not None:
            return await self._record(job, SendResult.failed(job.broken))
        if job.message is None:
            return await self._record(job, SendResult.failed(MISSING_ADDRESS))
        try:
            result = await self._send(job.channel, job.message)
        except StopRequested:
            return await self._record(job, None, release=True)
        return await self._record(job, result)

    async def _send(self, channel: Channel, message: Message) -> SendResult:
        """Wait for the address's and the channel's turn, then send.

        Raises:
            StopRequested: the dispatcher is stopping and this send had not started.
        """
        lane = self._lanes[channel]
        async with lane.per_address.turn(message.address, self._stopping):
            await lane.semaphore.acquire()
            try:
                await lane.rate.acquire(self._stopping)
            except BaseException:
                lane.semaphore.release()
                raise
        try:
            # asyncio.timeout runs the send in this task, right after its turn
            # (wait_for would start it a loop iteration later, blurring the pacing).
            async with asyncio.timeout(self.send_timeout):
                return await lane.adapter.send(message)
        except TimeoutError:
            return SendResult.retry(f"no answer within {self.send_timeout:g} s")
        except Exception as exc:  # an adapter bug must not lose the claim's outcome
            log.exception("%s adapter raised on delivery %s", channel.value, message.delivery_id)
            return SendResult.retry(f"{type(exc).__name__}: {exc}")
        finally:
            lane.semaphore.release()

    # -- recording ----------------------------------------------------------------------

    def backoff_seconds(self, attempts: int, retry_after: float | None = None) -> float:
        """How long to wait before the next attempt.

        ``RETRY_BASE_SECONDS * 2**(attempts-1)``, capped at ``RETRY_MAX_SECONDS``,
        times a jitter of 0.8-1.2 so that a burst of failures does not come back
        as a burst; never less than the provider's ``retry_after``.

        Args:
            attempts: the attempts made so far (1 after the first).
            retry_after: the seconds the provider asked us to wait, if it did.

        Returns:
            Seconds from now.
        """
        base = self.settings.RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
        delay = min(self.settings.RETRY_MAX_SECONDS, base) * self.rng.uniform(0.8, 1.2)
        return max(retry_after or 0.0, delay)

    async def _record(
        self, job: _Job, result: SendResult | None, *, release: bool = False
    ) -> _Recorded:
        """Write the outcome, retrying briefly; on failure leave the claim to the lease."""
        assert self._record_lock is not None  # set on entry; run_once checks
        delays = (*RECORD_RETRY_DELAYS, None)
        for delay in delays:
            try:
                # One writer per dispatcher: the audit chain reads the last hash and
                # appends, so two of our own transactions must not interleave.
                async with self._record_lock:
                    return await asyncio.to_thread(self._record_sync, job, result, release)
            except SQLAlchemyError:
                if delay is None:
                    log.exception(
                        "could not record delivery %s; it stays claimed until the lease expires",
                        job.delivery_id,
                    )
                    return _Recorded(_Kind.UNRECORDED)
                log.warning("recording delivery %s failed; retrying", job.delivery_id)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_sync(self, job: _Job, result: SendResult | None, release: bool) -> _Recorded:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            if release:
                return self._release(session, job)
            if result is None:
                return self._cancel(session, job)
            if result.outcome is Outcome.SENT:
                return self._sent(session, job, result)
            if result.outcome is Outcome.RETRY:
                if job.attempts >= self.settings.DELIVERY_MAX_ATTEMPTS:
                    return self._failed(session, job, f"attempts exhausted: {result.error}")
                return self._retry(session, job, result)
            return self._failed(session, job, result.error or "failed")

    def _ours(self, delivery_id: int) -> list[Any]:
        """The guard of an outcome update: the row is still claimed by this worker."""
        return [
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.claimed_by) == self.worker_id,
        ]

    def _audit(self, session: Session, now: datetime, action: str, job: _Job, **data: Any) -> None:
        record(
            session,
            at=now,
            actor_id=None,
            action=action,
            subject_type="delivery",
            subject_id=job.delivery_id,
            data={"channel": job.channel.value, "attempts": job.attempts, **data},
        )

    def _lost(self, job: _Job) -> _Recorded:
        log.warning(
            "delivery %s was taken back before its outcome came in (lease expired?)",
            job.delivery_id,
        )
        return _Recorded(_Kind.LOST)

    def _sent(self, session: Session, job: _Job, result: SendResult) -> _Recorded:
        now = self.clock.now()
        assert job.message is not None
        # Sent wins even when the lease already gave the row back: marking it sent
        # is what keeps it from going out a second time.
        changed = session.exec(
            update(Delivery)
            .where(
                col(Delivery.id) == job.delivery_id,
                col(Delivery.status).in_([DeliveryStatus.SENDING, DeliveryStatus.PENDING]),
            )
            .values(
                status=DeliveryStatus.SENT,
                sent_at=now,
                provider_message_id=(result.provider_id or None),
                address=job.message.address,
                last_error=None,
            )
        ).rowcount
        if not changed:
            return self._lost(job)
        self._audit(session, now, "delivery.sent", job, provider_id=result.provider_id)
        return _Recorded(_Kind.SENT)

    def _retry(self, session: Session, job: _Job, result: SendResult) -> _Recorded:
        now = self.clock.now()
        delay = self.backoff_seconds(job.attempts, result.retry_after)
        due_at = now + timedelta(seconds=delay)
        changed = session.exec(
            update(Delivery)
            .where(*self._ours(job.delivery_id))
            .values(
                status=DeliveryStatus.PENDING,
                due_at=due_at,
                claimed_at=None,
                claimed_by=None,
                last_error=result.error,
            )
        ).rowcount
        if not changed:
            return self._lost(job)
        self._audit(
            session,
            now,
            "delivery.retry",
            job,
            error=result.error,
            retry_after=result.retry_after,
            due_at=due_at,
        )
        log.info(
            "delivery %s (%s) will retry in %.0f s: %s",
            job.delivery_id,
            job.channel.value,
            delay,
            result.error,
        )
        return _Recorded(_Kind.RETRIED)

    def _failed(self, session: Session, job: _Job, error: str) -> _Recorded:
        changed = session.exec(
            update(Delivery)
            .where(*self._ours(job.delivery_id))
            .values(status=DeliveryStatus.FAILED, last_error=error)
        ).rowcount
        if not changed:
            return self._lost(job)
        self._audit(session, self.clock.now(), "delivery.failed", job, error=error)
        fell_back = self._fall_back(session, job.delivery_id, error, audited=True)
        return _Recorded(_Kind.FAILED, fell_back=bool(fell_back))

    def _fall_back(
        self, session: Session, delivery_id: int, error: str, audited: bool = False
    ) -> int:
        """Queue the fallback of a delivery just marked failed; returns 1 when one was queued."""
        failed = session.get(Delivery, delivery_id)
        person = session.get(Person, failed.person_id) if failed is not None else None
        if failed is None or person is None:
            return 0
        now = self.clock.now()
        if not audited:
            record(
                session,
                at=now,
                actor_id=None,
                action="delivery.failed",
                subject_type="delivery",
                subject_id=delivery_id,
                data={"channel": failed.channel, "attempts": failed.attempts, "error": error},
            )
        try:
            # A savepoint: a fallback that cannot be made (say, a prompt whose content
            # no longer renders) must not undo the failure, which officers must see.
            with session.begin_nested():
                fallback = fallback_delivery(
                    session, failed=failed, person=person, now=now, settings=self.settings
                )
                session.flush()
        except Exception:
            log.exception("delivery %s failed and its fallback could not be queued", delivery_id)
            return 0
        if fallback is None:
            log.warning(
                "delivery %s on %s failed and %s has no channel left: %s",
                delivery_id,
                failed.channel,
                person.staff_id,
                error,
            )
            return 0
        record(
            session,
            at=now,
            actor_id=None,
            action="delivery.fallback",
            subject_type="delivery",
            subject_id=fallback.id,
            data={"replaces": delivery_id, "channel": fallback.channel, "from": failed.channel},
        )
        log.info(
            "delivery %s on %s failed (%s); falling back to %s as delivery %s",
            delivery_id,
            failed.channel,
            error,
            fallback.channel,
            fallback.id,
        )
        return 1

    def _cancel(self, session: Session, job: _Job) -> _Recorded:
        changed = session.exec(
            update(Delivery)
            .where(*self._ours(job.delivery_id))
            .values(status=DeliveryStatus.CANCELLED, last_error="prompt or warning withdrawn")
        ).rowcount
        if not changed:
            return self._lost(job)
        self._audit(session, self.clock.now(), "delivery.cancelled", job)
        return _Recorded(_Kind.CANCELLED)

    def _release(self, session: Session, job: _Job) -> _Recorded:
        # Not an attempt: nothing left this process, so the count goes back down.
        # A delivery held for quiet hours is due again when they end.
        values: dict[str, Any] = {
            "status": DeliveryStatus.PENDING,
            "attempts": col(Delivery.attempts) - 1,
            "claimed_at": None,
            "claimed_by": None,
        }
        if job.held_until is not None:
            values["due_at"] = job.held_until
        changed = session.exec(
            update(Delivery).where(*self._ours(job.delivery_id)).values(**values)
        ).rowcount
        if not changed:
            return _Recorded(_Kind.LOST)
        if job.held_until is not None:
            log.debug("delivery %s held for quiet hours until %s", job.delivery_id, job.held_until)
            return _Recorded(_Kind.HELD)
        return _Recorded(_Kind.RELEASED)


def _log_failure(task: asyncio.Task[DispatchStats]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("dispatch pass failed", exc_info=exc)


__all__ = [
    "LEASE",
    "DispatchStats",
    "Dispatcher",
]
