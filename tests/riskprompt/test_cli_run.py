"""``riskprompt run --role worker|scheduler``: each part alone, stopped cleanly by SIGTERM.

The worker sends to a slow Telegram stand-in and gets SIGTERM half-way: it
stops claiming, the sends under way finish and are recorded, the claimed sends
still waiting go back to the outbox with their attempt given back, and nothing
stays ``sending``; nothing reaches a chat twice.  Its log lines (JSON here) never
carry the bot token.  The scheduler catches up the missed monthly cycles and
sends nothing itself.  The CLI runs on the real clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from riskprompt.models import CycleRun, Delivery, DeliveryStatus
from tests.builders import (
    assign,
    make_person,
    make_post,
    make_prompt_with_delivery,
    make_risk_point,
    make_unit,
)
from tests.standins.telegram import TelegramFault, TelegramStandin

PEOPLE = 24
FIRST_CHAT = 7000
CLI = "from riskprompt.cli import main; main()"


class SlowTelegram(TelegramStandin):
    """The Bot API stand-in, answering each sendMessage after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any] | TelegramFault:
        await asyncio.sleep(self.delay)
        return await super()._send_message(params)


def deliveries(engine) -> list[Delivery]:
    with Session(engine) as s:
        return list(s.exec(select(Delivery)).all())


def environment(database: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("RISKPROMPT_")},
        "RISKPROMPT_DATABASE_URL": database,
        "RISKPROMPT_OUTBOX_DIR": str(tmp_path / "outbox"),
        "RISKPROMPT_DISPATCH_INTERVAL_SECONDS": "0.2",
        "RISKPROMPT_QUIET_HOURS": "",  # the real clock may be in anyone's night
        "RISKPROMPT_WEB_PORT": "0",
        **extra,
    }


async def test_a_worker_stopped_by_sigterm_finishes_or_gives_back_its_claims(
    database, engine, session, tmp_path: Path
):
    async with SlowTelegram(delay=0.3) as api:
        due = datetime.now(UTC) - timedelta(minutes=1)
        unit = make_unit(session)
        for n in range(PEOPLE):
            person = make_person(session, unit=unit, channels="telegram")
            person.telegram_chat_id = FIRST_CHAT + n
            make_prompt_with_delivery(session, person=person, at=due)
        session.commit()
        env = environment(
            database,
            tmp_path,
            RISKPROMPT_TELEGRAM_TOKEN=api.token,
            RISKPROMPT_TELEGRAM_API_URL=api.url,
            RISKPROMPT_RATE_LIMITS="false",
            # One batch holds them all; 8 go at once (the adapter's concurrency), the
            # rest wait for a slot: those are the claims a stop gives back.
            RISKPROMPT_DISPATCH_BATCH_SIZE=str(PEOPLE),
            RISKPROMPT_LOG_FORMAT="json",
        )
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CLI,
            "run",
            "--role",
            "worker",
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        exited = asyncio.create_task(worker.wait())
        some_arrived = asyncio.create_task(
            api.wait_until(lambda: api.counts["sendmessage"] >= 1, timeout=30)
        )
        await asyncio.wait({some_arrived, exited}, return_when=asyncio.FIRST_COMPLETED)
        assert worker.returncode is None, "the worker stopped by itself"
        worker.send_signal(signal.SIGTERM)
        stderr = await worker.stderr.read() if worker.stderr else b""
        await exited
        await some_arrived
    log = stderr.decode()
    assert worker.returncode == 0, log

    rows = deliveries(engine)
    by_status = Counter(d.status for d in rows)
    assert by_status[DeliveryStatus.SENDING] == 0, log
    assert 0 < by_status[DeliveryStatus.SENT] < PEOPLE, by_status
    assert by_status[DeliveryStatus.SENT] + by_status[DeliveryStatus.PENDING] == PEOPLE
    # Given back unsent: not an attempt, and free for the next worker.
    for d in rows:
        if d.status is DeliveryStatus.PENDING:
            assert d.attempts == 0 and d.claimed_by is None
    received = Counter(int(call.chat_id or 0) for call in api.sent())
    assert max(received.values()) == 1  # nobody got a message twice
    assert sum(received.values()) == by_status[DeliveryStatus.SENT]

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("role worker" in m for m in messages)
    assert "riskprompt stopping: finishing the sends in flight" in messages
    assert messages[-1] == "riskprompt stopped"
    assert api.token not in log and api.token.split(":")[1] not in log


def _month_start(months_back: int) -> date:
    today = datetime.now(UTC).date()
    month = today.year * 12 + today.month - 1 - months_back
    return date(month // 12, month % 12 + 1, 1)


async def test_the_scheduler_role_plans_and_leaves_sending_to_the_workers(
    database, engine, session, tmp_path: Path
):
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    holder = make_person(session, unit=unit, channels="email")
    assign(session, person=holder, post=post, start_on=_month_start(2))
    session.commit()
    scheduler = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        "run",
        "--role",
        "scheduler",
        env=environment(database, tmp_path),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert scheduler.stderr is not None
    # The line that says it runs comes after the catch-up.
    while True:
        line = await asyncio.wait_for(scheduler.stderr.readline(), timeout=30)
        assert line, "the scheduler stopped by itself"
        if b"riskprompt running as" in line:
            break
    scheduler.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(scheduler.stderr.read(), timeout=30)
    assert await scheduler.wait() == 0, rest.decode()

    assert b"(role scheduler)" in line
    with Session(engine) as s:
        periods = sorted(run.period for run in s.exec(select(CycleRun)).all())
    assert periods[:2] == [_month_start(2).strftime("%Y-%m"), _month_start(1).strftime("%Y-%m")]
    rows = deliveries(engine)
    assert rows and {d.status for d in rows} == {DeliveryStatus.PENDING}
    assert not (tmp_path / "outbox").exists()  # nothing was sent from here
    assert rest.decode().rstrip().endswith("riskprompt stopped")


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_run_refuses_an_unknown_role(cli):
    from riskprompt.cli.app import app

    result = cli.invoke(app, ["--locale", "en", "run", "--role", "janitor"])
    assert result.exit_code == 2
    assert "janitor" in result.output
