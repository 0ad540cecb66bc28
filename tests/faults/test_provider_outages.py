"""Providers that break for a while and come back: nothing is lost, nothing is sent twice.

One table of outages, run the same way against the real adapters and the
loopback stand-ins: the SMTP server down and back, bursts of SMTP 451 and 421
(which closes the connection), the Bot API down and back, a storm of Telegram
429s with ``retry_after``, Twilio answering 500 for a while and a burst of
Twilio 500s.  The dispatcher works through each on the injected
clock (it jumps to the next due time, never sleeps), and the tally counts per
prompt what arrived.  No send is ever in flight when its worker stops here, so
the duplicates must be zero.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from riskprompt.config.settings import Settings
from riskprompt.models.people import Channel
from riskprompt.models.prompts import DeliveryStatus
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from tests.faults.conftest import (
    Figures,
    NoJitter,
    backend_of,
    queue_prompts,
    settle,
    tally,
)
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramFault, TelegramStandin
from tests.standins.twilio import TwilioFault, TwilioStandin

PEOPLE = 20
BATCH = 5


@dataclass
class Standins:
    """The three providers."""

    smtp: SmtpStandin
    telegram: TelegramStandin
    twilio: TwilioStandin

    def received(self, channel: Channel) -> Counter[str]:
        """Messages accepted on ``channel``, by address."""
        if channel is Channel.EMAIL:
            return Counter(r for m in self.smtp.messages for r in m.rcpt_tos)
        if channel is Channel.TELEGRAM:
            return Counter(str(c.chat_id) for c in self.telegram.sent() if c.ok)
        return Counter(m.to for m in self.twilio.messages)


Action = Callable[[Standins], Awaitable[None] | None]


@dataclass(frozen=True)
class Outage:
    """A fault: how it starts and ends, on which channel, for how long (simulated).

    Attributes:
        name: how the README names it.
        channel: the channel every prompt goes out on.
        start: breaks the provider; runs once ``after`` messages have arrived.
        end: mends it, ``lasts`` after it broke (None: it mends itself, e.g. a burst).
        retry_after: the provider's requested wait, which must be respected.
        faults: how many fault answers the provider gives (when known in advance).
    """

    name: str
    channel: Channel
    start: Action
    end: Action | None = None
    lasts: timedelta = timedelta(0)
    after: int = 0
    retry_after: int | None = None
    faults: int | None = None


async def _maybe(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


OUTAGES = [
    Outage(
        "SMTP server down 30 s",
        Channel.EMAIL,
        start=lambda s: s.smtp.down(),
        end=lambda s: s.smtp.up(),
        lasts=timedelta(seconds=30),
        after=BATCH,  # after the first batch: the pooled connections die with it
    ),
    Outage(
        "SMTP burst of 25 451s",
        Channel.EMAIL,
        start=lambda s: s.smtp.fail_next(451, count=25),
        faults=25,
    ),
    Outage(
        "SMTP burst of 10 421s (the server closes the connection)",
        Channel.EMAIL,
        start=lambda s: s.smtp.fail_next(421, count=10),
        faults=10,
    ),
    Outage(
        "Telegram Bot API down 30 s",
        Channel.TELEGRAM,
        start=lambda s: s.telegram.down(),
        end=lambda s: s.telegram.up(),
        lasts=timedelta(seconds=30),
        after=BATCH,
    ),
    Outage(
        "Telegram 429 storm 20 s (retry_after 7 s)",
        Channel.TELEGRAM,
        start=lambda s: s.telegram.storm(TelegramFault.flood(retry_after=7)),
        end=lambda s: s.telegram.clear_faults(),
        lasts=timedelta(seconds=20),
        retry_after=7,
    ),
    Outage(
        "Twilio 500s for 60 s",
        Channel.SMS,
        start=lambda s: s.twilio.fail_all(TwilioFault.server_error()),
        end=lambda s: s.twilio.clear_faults(),
        lasts=timedelta(seconds=60),
    ),
    Outage(
        "Twilio burst of 30 500s",
        Channel.SMS,
        start=lambda s: s.twilio.fail_next(TwilioFault.server_error(), count=30),
        faults=30,
    ),
]


@pytest.mark.parametrize("outage", OUTAGES, ids=lambda o: o.name)
async def test_an_outage_loses_nothing_and_sends_nothing_twice(
    outage: Outage,
    database: str,
    engine,
    session,
    clock,
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    tmp_path: Path,
    figures,
) -> None:
    standins = Standins(smtp_server, telegram_api, twilio_api)
    addresses = queue_prompts(session, clock, PEOPLE, outage.channel.value)
    settings = Settings(
        DATABASE_URL=database,
        OUTBOX_DIR=tmp_path / "outbox",
        DISPATCH_BATCH_SIZE=BATCH,
        RETRY_BASE_SECONDS=10.0 if outage.retry_after is None else 1.0,
        **standin_overrides(smtp=smtp_server, telegram=telegram_api, twilio=twilio_api),
    )
    began = clock.now()
    broke: list[timedelta] = []
    mended: list[timedelta] = []
    passes: list[tuple[int, timedelta]] = []  # (Bot API calls so far, simulated time)

    async def weather(elapsed: timedelta) -> None:
        passes.append((len(telegram_api.calls), elapsed))
        arrived = sum(standins.received(outage.channel).values())
        if not broke and arrived >= outage.after:
            await _maybe(outage.start(standins))
            broke.append(elapsed)
        elif broke and not mended and outage.end and elapsed >= broke[0] + outage.lasts:
            await _maybe(outage.end(standins))
            mended.append(elapsed)

    adapters = build_adapters(settings)
    async with Dispatcher(engine, settings, clock, adapters, "w", rng=NoJitter()) as dispatcher:
        stats = await settle(dispatcher, engine, clock, before_pass=weather)

    counted = tally(engine, addresses, standins.received(outage.channel))
    found = figures(
        Figures(
            scenario=outage.name,
            backend=backend_of(engine),
            prompts=counted.prompts,
            lost=counted.lost,
            duplicates=counted.duplicates,
            in_flight=0,
            retries=stats.retried,
            fell_back=stats.fell_back,
            recovered=stats.recovered,
            simulated=clock.now() - began,
        )
    )
    assert broke and (mended or outage.end is None), "the outage never happened"
    assert found.lost == 0
    assert found.duplicates == 0
    assert counted.statuses == {DeliveryStatus.SENT: PEOPLE}
    assert stats.failed == 0 and stats.retried > 0
    if outage.faults is not None:
        assert stats.retried == outage.faults  # one retry per fault answer, no more
    if outage.lasts:
        assert clock.now() - began >= outage.lasts  # nothing got through while it lasted
    if outage.retry_after is not None:
        assert_retry_after_respected(telegram_api, passes, outage.retry_after)


def assert_retry_after_respected(
    api: TelegramStandin, passes: list[tuple[int, timedelta]], retry_after: int
) -> None:
    """After a 429 to a chat, its next message came no sooner than ``retry_after`` later."""
    moment_of_call = [timedelta(0)] * passes[0][0]  # getMe, on opening
    for index, (first_call, elapsed) in enumerate(passes):
        last = passes[index + 1][0] if index + 1 < len(passes) else len(api.calls)
        moment_of_call += [elapsed] * (last - first_call)
    by_chat: defaultdict[str, list[tuple[timedelta, int]]] = defaultdict(list)
    for moment, call in zip(moment_of_call, api.calls, strict=True):
        if call.method.lower() == "sendmessage":
            by_chat[str(call.chat_id)].append((moment, call.status))
    assert by_chat
    for chat, calls in by_chat.items():
        assert calls[-1][1] == 200, f"chat {chat} never got its message"
        for (moment, status), (later, _status) in itertools.pairwise(calls):
            assert status == 429
            assert later - moment >= timedelta(seconds=retry_after), f"chat {chat} too early"
