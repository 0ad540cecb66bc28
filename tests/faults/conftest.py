"""The fault suite's harness: recipients, a clock-driven drain, the tally and the figures.

Each fault test queues one prompt per person, breaks something (a provider, the
database, the outbox folder, the worker), lets the dispatcher work through it on
the injected clock and then counts, per prompt, what arrived at the stand-ins:

- **lost**: prompts with no sent delivery, or whose message never arrived;
- **duplicates**: messages that arrived more than once for one prompt; allowed
  only up to the number of sends that were in flight when the fault struck
  (at-least-once delivery);
- **retries**, **fallbacks**, **recovered** claims: what the dispatcher did about it.

The figures are printed under "fault figures" at the end of the run (the README
quotes them).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Channel
from riskprompt.models.prompts import Delivery, DeliveryStatus, Prompt
from riskprompt.notifications.dispatcher import Dispatcher, DispatchStats
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.standins.telegram import TelegramFault, TelegramStandin

FIRST_CHAT = 9000


class SlowTelegram(TelegramStandin):
    """The Bot API stand-in, answering each sendMessage after ``delay`` seconds.

    Slow answers keep sends in flight long enough to break something under them.
    """

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any] | TelegramFault:
        await asyncio.sleep(self.delay)
        return await super()._send_message(params)


class NoJitter(random.Random):
    """Backoff without jitter (the middle of the 0.8-1.2 range): figures that repeat."""

    def uniform(self, a: float, b: float) -> float:
        return (a + b) / 2


@dataclass(frozen=True, slots=True)
class Figures:
    """What one fault scenario came to."""

    scenario: str
    backend: str
    prompts: int
    lost: int
    duplicates: int
    in_flight: int
    retries: int
    fell_back: int = 0
    recovered: int = 0
    simulated: timedelta = timedelta(0)
    extra: str = ""

    def line(self) -> str:
        """One line for the summary and the README."""
        seconds = self.simulated.total_seconds()
        return (
            f"{self.scenario} [{self.backend}]: {self.prompts} prompts, {self.lost} lost, "
            f"{self.duplicates} duplicates ({self.in_flight} in flight), {self.retries} retries, "
            f"{self.fell_back} fallbacks, {self.recovered} recovered claims"
            + (f", {seconds:g} s simulated" if seconds else "")
            + (f"; {self.extra}" if self.extra else "")
        )


_FIGURES: list[Figures] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the fault figures of this run."""
    if _FIGURES:
        terminalreporter.section("fault figures")
        for figures in _FIGURES:
            terminalreporter.write_line(figures.line())


@pytest.fixture
def figures() -> Callable[[Figures], Figures]:
    """Record a scenario's figures (printed at the end of the run and now)."""

    def keep(found: Figures) -> Figures:
        _FIGURES.append(found)
        print(found.line())
        return found

    return keep


def backend_of(engine: Engine) -> str:
    """``sqlite`` or ``postgresql``."""
    return engine.dialect.name


# -- recipients -------------------------------------------------------------------------------


def address(channel: Channel, n: int) -> str:
    """The ``n``-th recipient's address on ``channel`` (distinct per person)."""
    if channel is Channel.TELEGRAM:
        return str(FIRST_CHAT + n)
    if channel is Channel.SMS:
        return f"+86139{n:08d}"
    return f"p{n}@example.org"


def queue_prompts(
    session: Session,
    clock: FixedClock,
    count: int,
    channels: str,
    *,
    at: datetime | None = None,
) -> dict[int, dict[Channel, str]]:
    """``count`` people reachable on ``channels``, each with one prompt due now.

    Returns:
        The addresses of each prompt's person, by prompt id and channel.
    """
    unit = make_unit(session)
    found: dict[int, dict[Channel, str]] = {}
    for n in range(count):
        person = make_person(
            session,
            unit=unit,
            channels=channels,
            mobile=address(Channel.SMS, n),
            email=address(Channel.EMAIL, n),
        )
        person.telegram_chat_id = FIRST_CHAT + n
        session.add(person)
        session.flush()
        prompt, _delivery = make_prompt_with_delivery(session, person=person, at=at or clock.now())
        found[prompt.id or 0] = {
            c: address(c, n) for c in Channel if c.value in channels.split(",")
        }
    session.commit()
    return found


# -- driving the dispatcher on the clock --------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def next_due(engine: Engine) -> datetime | None:
    """When the earliest pending delivery is due (None: nothing pending)."""
    with Session(engine) as session:
        due = session.exec(
            select(func.min(Delivery.due_at)).where(col(Delivery.status) == DeliveryStatus.PENDING)
        ).one()
    return _aware(due) if due is not None else None


Step = Callable[[timedelta], Awaitable[None]]


async def settle(
    dispatcher: Dispatcher,
    engine: Engine,
    clock: FixedClock,
    *,
    before_pass: Step | None = None,
    max_passes: int = 200,
) -> DispatchStats:
    """Run passes until nothing is pending, moving the clock to each next due time.

    ``before_pass(elapsed)`` runs before every pass with the simulated time since
    the start: it breaks and mends things on schedule.  The clock is never slept
    on: it jumps to the next ``due_at`` (a backoff or a provider's retry_after).

    Raises:
        AssertionError: still not settled after ``max_passes``.
    """
    start = clock.now()
    total = DispatchStats()
    for _ in range(max_passes):
        if before_pass is not None:
            await before_pass(clock.now() - start)
        stats = await dispatcher.run_once()
        total += stats
        if stats.claimed or stats.recovered:
            continue  # more may be due at this moment
        due = next_due(engine)
        if due is None:
            return total
        clock.current = max(clock.now(), due)
    raise AssertionError(f"not settled after {max_passes} passes: {total}")


# -- counting ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    """Per prompt: lost or not; over all: duplicates at the stand-ins."""

    prompts: int
    lost: int
    duplicates: int
    statuses: Counter[DeliveryStatus]


def tally(
    engine: Engine, addresses: dict[int, dict[Channel, str]], received: Counter[str]
) -> Tally:
    """Count lost prompts and duplicate messages.

    A prompt is lost when none of its deliveries is ``sent``, or when no message
    reached any of its person's addresses.  Every message beyond the first for
    one address is a duplicate (each person has one prompt).

    Args:
        engine: the database.
        addresses: by prompt id, its person's addresses (from :func:`queue_prompts`).
        received: messages the stand-ins accepted, by address.
    """
    with Session(engine) as session:
        prompt_ids = set(session.exec(select(Prompt.id)).all())
        sent = set(
            session.exec(
                select(Delivery.prompt_id).where(col(Delivery.status) == DeliveryStatus.SENT)
            ).all()
        )
        statuses = Counter(session.exec(select(Delivery.status)).all())
    assert prompt_ids == set(addresses), "a prompt appeared or vanished"
    lost = 0
    for prompt_id, by_channel in addresses.items():
        arrived = sum(received[a] for a in by_channel.values())
        if prompt_id not in sent or arrived == 0:
            lost += 1
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    return Tally(len(prompt_ids), lost, duplicates, statuses)
