"""PostgreSQL drops the service's connections mid-run: it reconnects and loses nothing.

The shared PostgreSQL server is not restarted (other sessions use it): the
test terminates every connection to its own scratch database with
``pg_terminate_backend``, which is what the service sees of a restart.  The
dispatcher's loop (:meth:`Dispatcher.run`, as ``riskprompt run`` drives it)
sends to a slow Bot API stand-in.  The connections are cut once while idle,
then twice while sends are in flight.  Passes that fail run again at the next
interval, outcomes whose recording fails are recorded on a new connection, and
what still could not be recorded comes back after the lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from riskprompt.config.settings import Settings
from riskprompt.models.db import make_engine
from riskprompt.models.prompts import DeliveryStatus
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import LEASE, Dispatcher
from tests.conftest import BACKENDS
from tests.faults.conftest import (
    Figures,
    NoJitter,
    SlowTelegram,
    backend_of,
    queue_prompts,
    settle,
    tally,
)
from tests.standins.fixtures import standin_overrides

PEOPLE = 32
KILL_AT = (4, 12)  # messages arrived when the connections are cut


def terminate_connections(url: str) -> int:
    """End every other connection to the database at ``url``; how many were ended."""
    admin = make_engine(url)
    try:
        with admin.begin() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    finally:
        admin.dispose()


@pytest.mark.parametrize("database", [b for b in BACKENDS if b == "postgres"], indirect=True)
async def test_connections_dropped_mid_run_are_replaced_and_nothing_is_lost(
    database: str, engine, session, clock, tmp_path: Path, caplog, figures
) -> None:
    caplog.set_level(logging.INFO, logger="riskprompt.notifications.dispatcher")
    async with SlowTelegram(delay=0.1) as api:
        addresses = queue_prompts(session, clock, PEOPLE, "telegram")
        session.close()
        settings = Settings(
            DATABASE_URL=database,
            OUTBOX_DIR=tmp_path / "outbox",
            DISPATCH_BATCH_SIZE=8,
            DISPATCH_INTERVAL_SECONDS=0.05,
            **standin_overrides(telegram=api),
        )
        stop = asyncio.Event()
        terminated = 0
        adapters = build_adapters(settings)
        async with Dispatcher(engine, settings, clock, adapters, "w1", rng=NoJitter()) as d:
            # Cut once before the loop starts: the pooled connection is dead when the
            # first pass takes it, so that pass fails and the next one reconnects.
            terminated += await asyncio.to_thread(terminate_connections, database)
            running = asyncio.create_task(d.run(stop))
            for count in KILL_AT:
                await api.wait_until(lambda n=count: api.counts["sendmessage"] >= n, timeout=20)
                terminated += await asyncio.to_thread(terminate_connections, database)
            # Stop right after the last cut: the sends in flight finish and are recorded
            # on new connections; what was not claimed yet waits in the outbox.
            stop.set()
            first = await asyncio.wait_for(running, timeout=30)

        # The next worker finishes the outbox; what could not be recorded (or was
        # claimed by a pass that then failed) is still claimed: the lease brings it back.
        clock.advance(LEASE + timedelta(minutes=1))
        async with Dispatcher(engine, settings, clock, adapters, "w2", rng=NoJitter()) as d:
            second = await settle(d, engine, clock)

    received = Counter(str(c.chat_id) for c in api.sent() if c.ok)
    counted = tally(engine, addresses, received)
    failed_passes = caplog.text.count("dispatch pass failed")
    record_retries = caplog.text.count("failed; retrying")
    in_flight = first.unrecorded
    found = figures(
        Figures(
            scenario="PostgreSQL connections terminated 3 times (idle, twice mid-run)",
            backend=backend_of(engine),
            prompts=counted.prompts,
            lost=counted.lost,
            duplicates=counted.duplicates,
            in_flight=in_flight,
            retries=first.retried + second.retried,
            recovered=second.recovered,
            extra=(
                f"connections cut: {terminated}, failed passes run again: {failed_passes}, "
                f"outcomes recorded on a second try: {record_retries}"
            ),
        )
    )
    assert terminated >= len(KILL_AT) + 1
    assert failed_passes >= 1  # the first pass met the dead connection, the next went on
    assert found.lost == 0
    assert found.duplicates <= in_flight
    assert counted.statuses == {DeliveryStatus.SENT: PEOPLE}
