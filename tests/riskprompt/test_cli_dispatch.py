"""``riskprompt dispatch``, ``riskprompt deliveries list`` and ``riskprompt run``.

Without credentials every channel is the file channel, so the commands run
end to end here and the messages land in ``./outbox``.  The CLI runs on the
real clock: the test data is due a minute ago.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from riskprompt.cli.app import app
from riskprompt.models import CycleRun, Delivery, DeliveryStatus
from tests.builders import (
    assign,
    make_person,
    make_post,
    make_prompt_with_delivery,
    make_risk_point,
    make_unit,
)
from tests.conftest import BACKENDS

DUE = datetime.now(UTC) - timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")  # rich would wrap the table's cells at 80


@pytest.fixture
def due_prompts(session: Session):
    unit = make_unit(session)
    person = make_person(
        session, unit=unit, name="李明", staff_id="S001", channels="email,sms", mobile=None
    )
    deliveries = [make_prompt_with_delivery(session, person=person, at=DUE)[1] for _ in range(3)]
    session.commit()
    return deliveries


def statuses(engine) -> list[DeliveryStatus]:
    with Session(engine) as s:
        return list(s.exec(select(Delivery.status).order_by(col(Delivery.id))).all())


def test_dispatch_until_idle_sends_what_is_due_and_says_so(cli, engine, due_prompts, tmp_path):
    result = cli.invoke(app, ["--locale", "en", "dispatch", "--until-idle"])

    assert result.exit_code == 0, result.output
    assert "Claimed 3: sent 3, retried 0, failed 0" in result.output
    assert statuses(engine) == [DeliveryStatus.SENT] * 3
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3


def test_dispatch_without_until_idle_runs_one_batch(cli, engine, due_prompts):
    result = cli.invoke(app, ["--locale", "en", "dispatch", "--batch", "2"])

    assert result.exit_code == 0, result.output
    assert "Claimed 2: sent 2" in result.output
    assert sorted(statuses(engine)) == [
        DeliveryStatus.PENDING,
        DeliveryStatus.SENT,
        DeliveryStatus.SENT,
    ]


def test_deliveries_list_shows_rows_and_counts(cli, engine, session, due_prompts):
    failed = due_prompts[0]
    failed.status = DeliveryStatus.FAILED
    failed.attempts = 6
    failed.last_error = "attempts exhausted: 451 try again later"
    session.add(failed)
    session.commit()

    result = cli.invoke(
        app, ["--locale", "en", "deliveries", "list", "--format", "table", "--wide"]
    )
    assert result.exit_code == 0, result.output
    assert "李明 (S001)" in result.output
    assert "attempts exhausted: 451 try again later" in result.output
    assert "Deliveries by status" in result.output
    assert "Listed 3 of 3 deliveries." in result.output

    only_failed = cli.invoke(
        app, ["--locale", "en", "deliveries", "list", "--failed", "--format", "table"]
    )
    assert only_failed.exit_code == 0, only_failed.output
    assert "Failed deliveries" in only_failed.output
    assert "Listed 1 of 1 delivery." in only_failed.output

    none = cli.invoke(app, ["--locale", "en", "deliveries", "list", "--channel", "短信"])
    assert none.exit_code == 0, none.output
    assert "Listed 0 of 0 deliveries." in none.output

    wrong = cli.invoke(app, ["--locale", "en", "deliveries", "list", "--channel", "fax"])
    assert wrong.exit_code == 2
    assert "unknown channel 'fax'" in wrong.output


def _month_start(months_back: int) -> date:
    today = datetime.now(UTC).date()
    month = today.year * 12 + today.month - 1 - months_back
    return date(month // 12, month % 12 + 1, 1)


@pytest.mark.parametrize("database", BACKENDS[:1], indirect=True)
def test_run_catches_up_dispatches_and_stops_on_sigterm(database, engine, session, tmp_path):
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    holder = make_person(session, unit=unit, channels="email")
    assign(session, person=holder, post=post, start_on=_month_start(2))
    make_prompt_with_delivery(
        session, person=make_person(session, unit=unit, channels="sms"), at=DUE
    )
    session.commit()
    env = {
        **os.environ,
        "RISKPROMPT_DATABASE_URL": database,
        "RISKPROMPT_DISPATCH_INTERVAL_SECONDS": "0.2",
        "RISKPROMPT_WEB_PORT": "0",  # any free port: never clash with a running instance
        "RISKPROMPT_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from riskprompt.cli import main; main()", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        # Two missed periods for the holder, plus the special prompt: three sent.
        while time.monotonic() < deadline:
            done = statuses(engine)
            if len(done) == 3 and set(done) == {DeliveryStatus.SENT}:
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, log
    assert statuses(engine) == [DeliveryStatus.SENT] * 3, log
    missed = _month_start(2).strftime("%Y-%m")
    assert f"catching up period {missed} (monthly cycle never ran)" in log
    assert "riskprompt running as" in log
    assert "riskprompt stopping: finishing the sends in flight" in log
    assert log.rstrip().endswith("riskprompt stopped")
    with Session(engine) as s:
        assert len(s.exec(select(CycleRun)).all()) == 2
    outbox = Path(tmp_path / "outbox")
    assert len(list(outbox.glob("*-email.eml"))) == 2 and len(list(outbox.glob("*-sms.json"))) == 1
