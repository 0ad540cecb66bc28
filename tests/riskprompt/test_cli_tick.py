"""``riskprompt tick --at``: everything due up to that moment, once."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.config.settings import load_settings
from riskprompt.models import Delivery, DeliveryStatus, Prompt, Role
from riskprompt.models.clock import FixedClock
from riskprompt.models.warnings import issue_warning
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit


def _count(session: Session, model: type) -> int:
    return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_tick_runs_what_is_due_at_the_given_moment_and_nothing_twice(
    cli: CliRunner, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKPROMPT_OUTBOX_DIR", str(tmp_path / "outbox"))
    unit = make_unit(session)
    post = make_post(session, unit=unit)
    make_risk_point(session, post=post)
    officer = make_person(session, unit=unit, role=Role.OFFICER, staff_id="JW001")
    staff = make_person(session, unit=unit, staff_id="ST001", channels="email")
    assign(session, person=staff, post=post, start_on=date(2026, 12, 1))
    session.commit()
    assert officer.id is not None

    def tick(at: str) -> str:
        result = cli.invoke(app, ["--locale", "en", "tick", "--at", at])
        assert result.exit_code == 0, result.output
        return result.output

    before = tick("2026-12-01 08:00")  # the monthly tick is at 09:00
    assert "Monthly cycle" not in before
    assert _count(session, Prompt) == 0

    after = tick("2026-12-01 09:30")
    assert "Monthly cycle 2026-12: 1 new prompts" in after
    again = tick("2026-12-01 10:00")
    assert "Monthly cycle 2026-12: 0 new prompts" in again
    session.expire_all()
    assert _count(session, Prompt) == 1
    sent = session.exec(select(Delivery).where(Delivery.status == DeliveryStatus.SENT)).all()
    assert len(sent) == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1

    scheduled = cli.invoke(
        app,
        [
            "remind",
            "--as",
            "JW001",
            "--to",
            "person:ST001",
            "--text",
            "节前提醒",
            "--at",
            "2031-01-02 09:00",
        ],
    )
    assert scheduled.exit_code == 0, scheduled.output
    early = tick("2031-01-02 08:59")
    assert "Special prompts fallen due: 0" in early
    due = tick("2031-01-02 09:01")
    assert "Special prompts fallen due: 1" in due
    assert "Special prompts fallen due: 0" in tick("2031-01-02 09:02")


def test_tick_refuses_a_malformed_moment(cli: CliRunner) -> None:
    result = cli.invoke(app, ["--locale", "en", "tick", "--at", "tomorrow"])
    assert result.exit_code == 2
    assert "--at: " in result.output and "YYYY-MM-DD HH:MM" in result.output


def test_tick_takes_reminders_and_escalations_once(
    cli: CliRunner,
    session: Session,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKPROMPT_OUTBOX_DIR", str(tmp_path / "outbox"))
    unit = make_unit(session)
    officer = make_person(session, unit=unit, role=Role.OFFICER, staff_id="JW001", channels="email")
    staff = make_person(session, unit=unit, staff_id="ST001", channels="email")
    issue_warning(  # on 2026-12-01 at 09:00, due on the 10th (at its end: a whole day)
        session,
        actor=officer,
        person=staff,
        colour="yellow",
        form="correct",
        reason="未按规定报销",
        deadline=clock.now() + timedelta(days=9),
        clock=clock,
        settings=load_settings(),
    )
    session.commit()

    def tick(at: str) -> str:
        result = cli.invoke(app, ["--locale", "en", "tick", "--at", at])
        assert result.exit_code == 0, result.output
        return result.output

    assert "0 warnings (0 overtaken)" in tick("2026-12-07 23:59")
    assert "1 warnings (0 overtaken)" in tick("2026-12-08 00:00")  # 3 days before
    # ten days later: the 1-day reminder is overtaken, the warning escalates, once
    late = tick("2026-12-20 09:00")
    assert "0 warnings (1 overtaken)" in late and "escalations: 1" in late
    assert "escalations: 0" in tick("2026-12-20 09:00")
