"""The file channel's outbox folder cannot be written: retried, or fallen back; nothing lost.

The tests run as any user, root included, so "unwritable" is made in a way
permissions cannot override: a plain file sits where the outbox folder should
be (``mkdir`` fails with ``FileExistsError``, as with a full or read-only disk
the channel gets an ``OSError``).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

from riskprompt.config.settings import Settings
from riskprompt.models.people import Channel
from riskprompt.models.prompts import DeliveryStatus
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from tests.faults.conftest import Figures, NoJitter, backend_of, queue_prompts, settle, tally
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin

PEOPLE = 12


def outbox_received(folder: Path) -> Counter[str]:
    """The messages written to the outbox folder, by address."""
    if not folder.is_dir():
        return Counter()
    return Counter(json.loads(path.read_text("utf-8"))["address"] for path in folder.glob("*.json"))


async def test_an_unwritable_outbox_is_retried_until_it_is_writable_again(
    database: str, engine, session, clock, tmp_path: Path, figures
) -> None:
    outbox = tmp_path / "outbox"
    outbox.write_text("not a folder")  # the outbox cannot be made or written
    addresses = queue_prompts(session, clock, PEOPLE, "telegram")
    settings = Settings(
        DATABASE_URL=database,
        OUTBOX_DIR=outbox,
        RETRY_BASE_SECONDS=10.0,
        RATE_LIMITS=False,
    )
    began = clock.now()
    broken_for = timedelta(minutes=2)

    async def repair(elapsed: timedelta) -> None:
        if elapsed >= broken_for and outbox.is_file():
            outbox.unlink()  # the operator frees the path

    async with Dispatcher(
        engine, settings, clock, build_adapters(settings), "w", rng=NoJitter()
    ) as d:
        stats = await settle(d, engine, clock, before_pass=repair)

    counted = tally(engine, addresses, outbox_received(outbox))
    found = figures(
        Figures(
            scenario="Outbox folder unwritable 2 min (file channel)",
            backend=backend_of(engine),
            prompts=counted.prompts,
            lost=counted.lost,
            duplicates=counted.duplicates,
            in_flight=0,
            retries=stats.retried,
            fell_back=stats.fell_back,
            simulated=clock.now() - began,
        )
    )
    assert found.lost == 0 and found.duplicates == 0
    assert counted.statuses == {DeliveryStatus.SENT: PEOPLE}
    assert stats.retried >= PEOPLE * 3 and stats.failed == 0
    assert clock.now() - began >= broken_for
    assert list(outbox.glob(".*.tmp")) == []  # no half-written file left behind


async def test_an_outbox_that_stays_unwritable_falls_back_to_the_next_channel(
    database: str,
    engine,
    session,
    clock,
    tmp_path: Path,
    smtp_server: SmtpStandin,
    figures,
) -> None:
    outbox = tmp_path / "outbox"
    outbox.write_text("not a folder")
    # Telegram has no token, so it goes to the (broken) file channel; email to SMTP.
    addresses = queue_prompts(session, clock, PEOPLE, "telegram,email")
    settings = Settings(
        DATABASE_URL=database,
        OUTBOX_DIR=outbox,
        RETRY_BASE_SECONDS=10.0,
        DELIVERY_MAX_ATTEMPTS=3,
        **standin_overrides(smtp=smtp_server),
    )
    began = clock.now()

    async with Dispatcher(
        engine, settings, clock, build_adapters(settings), "w", rng=NoJitter()
    ) as d:
        stats = await settle(d, engine, clock)

    received = Counter(r for m in smtp_server.messages for r in m.rcpt_tos)
    counted = tally(engine, addresses, received)
    found = figures(
        Figures(
            scenario="Outbox folder unwritable for good, email fallback",
            backend=backend_of(engine),
            prompts=counted.prompts,
            lost=counted.lost,
            duplicates=counted.duplicates,
            in_flight=0,
            retries=stats.retried,
            fell_back=stats.fell_back,
            simulated=clock.now() - began,
        )
    )
    assert found.lost == 0 and found.duplicates == 0
    assert stats.fell_back == PEOPLE and stats.failed == PEOPLE
    assert counted.statuses == {DeliveryStatus.FAILED: PEOPLE, DeliveryStatus.SENT: PEOPLE}
    assert set(received) == {a[Channel.EMAIL] for a in addresses.values()}
