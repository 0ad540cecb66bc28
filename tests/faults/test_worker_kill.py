"""A dispatch worker killed between claim and record loses nothing.

A ``riskprompt dispatch --until-idle`` process sends to a slow Telegram
stand-in and is killed with SIGKILL half-way.  A second dispatcher, started
after the lease has passed (its clock moved forward), takes the dead worker's
claims back and finishes the job.  Every prompt ends with a sent delivery, and a
message reaches a chat twice only if its send was in flight at the kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from riskprompt.config.settings import load_settings
from riskprompt.models import Delivery, DeliveryStatus
from riskprompt.models.clock import FixedClock
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import LEASE, Dispatcher
from tests.faults.conftest import Figures, SlowTelegram, backend_of, queue_prompts, tally

PEOPLE = 30


def statuses(engine) -> Counter[DeliveryStatus]:
    with Session(engine) as s:
        return Counter(s.exec(select(Delivery.status)).all())


async def test_a_killed_worker_loses_no_prompt(database, engine, session, tmp_path: Path, figures):
    async with SlowTelegram(delay=0.15) as api:
        due = datetime.now(UTC) - timedelta(minutes=1)  # the CLI runs on the real clock
        addresses = queue_prompts(session, FixedClock(due), PEOPLE, "telegram")
        env = {
            **os.environ,
            "RISKPROMPT_DATABASE_URL": database,
            "RISKPROMPT_TELEGRAM_TOKEN": api.token,
            "RISKPROMPT_TELEGRAM_API_URL": api.url,
            "RISKPROMPT_RATE_LIMITS": "false",
            "RISKPROMPT_DISPATCH_BATCH_SIZE": "10",
            "RISKPROMPT_OUTBOX_DIR": str(tmp_path / "outbox"),
            "RISKPROMPT_QUIET_HOURS": "",  # the real clock may be in anyone's night
        }
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from riskprompt.cli import main; main()",
            "dispatch",
            "--until-idle",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        # Kill it once some messages have arrived (or fail at once if it stopped by itself).
        some_arrived = asyncio.create_task(
            api.wait_until(lambda: api.counts["sendmessage"] >= 8, timeout=30)
        )
        exited = asyncio.create_task(worker.wait())
        await asyncio.wait({some_arrived, exited}, return_when=asyncio.FIRST_COMPLETED)
        if worker.returncode is None:
            worker.send_signal(signal.SIGKILL)
        stderr = await worker.stderr.read() if worker.stderr else b""
        await exited
        assert worker.returncode == -signal.SIGKILL, stderr.decode(errors="replace")
        await some_arrived  # raises TimeoutError when nothing arrived in time

        at_kill = statuses(engine)
        in_flight = at_kill[DeliveryStatus.SENDING]  # claimed, outcome never recorded
        assert at_kill[DeliveryStatus.SENT] < PEOPLE, "the worker finished before the kill"

        settings = load_settings(
            DATABASE_URL=database,
            TELEGRAM_TOKEN=api.token,
            TELEGRAM_API_URL=api.url,
            RATE_LIMITS=False,
            OUTBOX_DIR=tmp_path / "outbox",
            QUIET_HOURS="",
        )
        clock = FixedClock(datetime.now(UTC) + LEASE + timedelta(minutes=1))
        async with Dispatcher(engine, settings, clock, build_adapters(settings), "restarted") as d:
            stats = await d.drain()

        assert stats.recovered == in_flight
        assert statuses(engine) == {DeliveryStatus.SENT: PEOPLE}
        counted = tally(engine, addresses, Counter(str(c.chat_id) for c in api.sent() if c.ok))
        found = figures(
            Figures(
                scenario="Worker killed with SIGKILL mid-dispatch",
                backend=backend_of(engine),
                prompts=counted.prompts,
                lost=counted.lost,
                duplicates=counted.duplicates,
                in_flight=in_flight,
                retries=stats.retried,
                recovered=stats.recovered,
            )
        )
        assert found.lost == 0
        assert found.duplicates <= in_flight
