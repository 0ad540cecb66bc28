"""``riskprompt tokens``, ``ack``, ``review``, ``web`` and ``run`` serving the web app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psutil
import pytest
from sqlmodel import Session, select

from riskprompt.cli.app import app
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import ApiToken, authenticate_token
from riskprompt.models.db import make_engine
from riskprompt.models.errors import PermissionDenied
from riskprompt.models.people import Role
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningColour,
    WarningForm,
    WarningStatus,
    issue_warning,
    submit_rectification,
)
from tests.builders import make_person, make_prompt_with_delivery, make_unit

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
NOW = datetime.now(UTC)  # the CLI runs on the real clock


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def org(database: str) -> dict[str, Any]:
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        unit = make_unit(session)
        boss = make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER)
        clerk = make_person(session, unit=unit, staff_id="CW001")
        clock = FixedClock(NOW)
        prompt, _ = make_prompt_with_delivery(session, person=clerk, at=NOW, title="节前提醒")
        warnings = [
            issue_warning(
                session,
                actor=boss,
                person=clerk,
                colour=WarningColour.YELLOW,
                form=WarningForm.CORRECT,
                reason="请整改",
                deadline=NOW + timedelta(days=7),
                clock=clock,
            )
            for _ in range(3)
        ]
        corrections = [
            submit_rectification(
                session, warning=w, actor=clerk, description=f"整改{i}", evidence=[], clock=clock
            )
            for i, w in enumerate(warnings[:2])
        ]
        session.commit()
    yield {
        "engine": engine,
        "prompt": prompt,
        "warnings": warnings,
        "corrections": corrections,
    }
    engine.dispose()


def run(cli, *args: str):
    return cli.invoke(app, ["--locale", "en", *args])


def test_tokens_create_list_revoke(cli, org):
    created = run(cli, "tokens", "create", "JJ001", "--label", "dashboard")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("rp_")
    engine = org["engine"]
    clock = FixedClock(NOW)
    with Session(engine) as s:
        assert authenticate_token(s, token=token, clock=clock).staff_id == "JJ001"
        row = s.exec(select(ApiToken)).one()
        assert row.token_hash != token  # only the hash is kept

    listed = run(cli, "tokens", "list")
    assert "dashboard" in listed.output and token not in listed.output

    revoked = run(cli, "tokens", "revoke", str(row.id))
    assert revoked.exit_code == 0, revoked.output
    with Session(engine) as s, pytest.raises(PermissionDenied):
        authenticate_token(s, token=token, clock=clock)

    staff = run(cli, "tokens", "create", "CW001")
    assert staff.exit_code == 1 and "not an officer" in staff.output


def test_ack_a_prompt_and_a_warning(cli, org):
    prompt_id = str(org["prompt"].id)
    first = run(cli, "ack", "--as", "CW001", prompt_id)
    assert first.exit_code == 0, first.output
    assert "acknowledged" in first.output
    again = run(cli, "ack", "--as", "CW001", prompt_id)
    assert "already acknowledged" in again.output
    other = run(cli, "ack", "--as", "JJ001", prompt_id)
    assert other.exit_code == 1 and "No prompt of yours has the number" in other.output

    warning = run(cli, "ack", "--as", "CW001", "--warning", str(org["warnings"][2].id))
    assert warning.exit_code == 0, warning.output
    with Session(org["engine"]) as s:
        assert s.get(Prompt, org["prompt"].id).status is PromptStatus.ACKNOWLEDGED
        assert s.get(Prompt, org["prompt"].id).acknowledged_via == "cli"
        assert s.get(Warning, org["warnings"][2].id).status is WarningStatus.ACKNOWLEDGED
    both = run(cli, "ack", "--as", "CW001")
    assert both.exit_code == 1


def test_review_list_accept_reject(cli, org):
    listed = run(cli, "review", "list")
    assert listed.exit_code == 0, listed.output
    assert "整改0" in listed.output and "整改1" in listed.output and "2 waiting" in listed.output

    first, second = (str(c.id) for c in org["corrections"])
    accepted = run(cli, "review", first, "--as", "JJ001", "--accept")
    assert accepted.exit_code == 0, accepted.output
    assert "is closed" in accepted.output
    missing_reason = run(cli, "review", second, "--as", "JJ001", "--reject")
    assert missing_reason.exit_code == 1
    deadline = (NOW + timedelta(days=10)).date().isoformat()
    rejected = run(
        cli,
        "review",
        second,
        "--as",
        "JJ001",
        "--reject",
        "--reason",
        "证据不足",
        "--deadline",
        deadline,
    )
    assert rejected.exit_code == 0, rejected.output
    own = run(cli, "review", second, "--as", "CW001", "--accept")
    assert own.exit_code == 1
    with Session(org["engine"]) as s:
        statuses = [s.get(Rectification, c.id).status for c in org["corrections"]]
        assert statuses == [RectificationStatus.ACCEPTED, RectificationStatus.REJECTED]
    assert run(cli, "review", "list").output.count("整改") == 0


def _started(process: subprocess.Popen, pattern: str, timeout: float = 20) -> str:
    """The first match of ``pattern`` in the process's stderr (read line by line)."""
    deadline = time.monotonic() + timeout
    seen = []
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match.group(1)
    raise AssertionError("".join(seen))


@pytest.mark.parametrize(
    "command", [["web", "--port", "0"], ["web", "--port", "0", "--workers", "2"], ["run"]]
)
def test_web_and_run_serve_the_app_and_stop_on_sigterm(database, tmp_path, org, command):
    env = {
        **os.environ,
        "RISKPROMPT_DATABASE_URL": database,
        "RISKPROMPT_WEB_PORT": "0",
        "RISKPROMPT_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from riskprompt.cli import main; main()", *command],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _started(process, r"web app at (http://\S+)")
        for _ in range(50):
            try:
                response = httpx.get(url + "/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert response.json() == {"status": "ok", "database": "ok"}
        assert httpx.get(url + "/api/v1/prompts").status_code == 401
        if "--workers" in command:
            assert len(psutil.Process(process.pid).children()) == 2
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, log
