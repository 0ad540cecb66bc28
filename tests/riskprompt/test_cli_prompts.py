"""``riskprompt focus``, ``cycle run``, ``remind`` and ``prompts list``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.db import make_engine
from riskprompt.models.people import Role
from riskprompt.models.prompts import Broadcast, FocusWork, Prompt
from tests.builders import assign, make_person, make_post, make_risk_point, make_unit


@pytest.fixture
def org(database: str) -> Iterator[dict[str, Any]]:
    """An officer, a staff member holding a post with a high risk, and a colleague."""
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        unit = make_unit(session, name="财政局")
        post = make_post(session, unit=unit, name="出纳岗")
        make_risk_point(session, post=post, description="资金支付审核不严")
        boss = make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER)
        clerk = make_person(session, unit=unit, staff_id="CW001")
        colleague = make_person(session, unit=unit, staff_id="CW002", mobile=None, email=None)
        assign(session, person=clerk, post=post)
        assign(session, person=colleague, post=post)
        session.commit()
        yield {"unit": unit, "post": post, "boss": boss, "clerk": clerk, "engine": engine}
    engine.dispose()


def run(cli: CliRunner, *args: str):
    return cli.invoke(app, ["--locale", "en", *args])


def rows(org: dict[str, Any], model: type) -> list[Any]:
    with Session(org["engine"]) as session:
        return list(session.exec(select(model)).all())


def test_cycle_run_prints_counts_and_is_idempotent(cli: CliRunner, org: dict[str, Any]) -> None:
    first = run(cli, "cycle", "run", "--period", "2026-12")
    assert first.exit_code == 0, first.output
    assert "Monthly cycle 2026-12" in first.output
    assert "prompts created: 2" in first.output
    assert "deliveries queued: 1" in first.output
    assert "people with no reachable channel: 1" in first.output
    second = run(cli, "cycle", "run", "--period", "2026-12")
    assert second.exit_code == 0, second.output
    assert "prompts created: 0" in second.output
    assert "already there: 2" in second.output
    assert len(rows(org, Prompt)) == 2


def test_cycle_run_refuses_a_malformed_period(cli: CliRunner, org: dict[str, Any]) -> None:
    result = run(cli, "cycle", "run", "--period", "2026-13")
    assert result.exit_code == 1
    assert "YYYY-MM" in result.output
    assert rows(org, Prompt) == []


def test_focus_set_needs_an_officer_and_shows_in_the_list(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    refused = run(cli, "focus", "set", "2026-12", "年底集中采购", "--as", "CW001")
    assert refused.exit_code == 1
    assert "not an officer" in refused.output
    missing = run(cli, "focus", "set", "2026-12", "年底集中采购")
    assert missing.exit_code != 0  # --as is required
    done = run(cli, "focus", "set", "2026-12", "年底集中采购和资金拨付", "--as", "JJ001")
    assert done.exit_code == 0, done.output
    unit = run(cli, "focus", "set", "2026-12", "专项资金清理", "--as", "JJ001", "--unit", "财政局")
    assert unit.exit_code == 0, unit.output
    assert [(f.unit_id, f.text) for f in rows(org, FocusWork)] == [
        (None, "年底集中采购和资金拨付"),
        (org["unit"].id, "专项资金清理"),
    ]
    listed = run(cli, "focus", "list", "--period", "2026-12")
    assert listed.exit_code == 0, listed.output
    assert "专项资金清理" in listed.output
    assert "every unit" in listed.output
    run(cli, "cycle", "run", "--period", "2026-12")
    assert {p.content["focus"] for p in rows(org, Prompt)} == {"专项资金清理"}


def test_remind_now_at_a_time_and_refusals(cli: CliRunner, org: dict[str, Any]) -> None:
    now = run(
        cli, "remind", "--as", "JJ001", "--to", f"post:{org['post'].id}", "--text", "节前提醒"
    )
    assert now.exit_code == 0, now.output
    assert "2 prompts" in now.output
    later = run(
        cli,
        "remind",
        *("--as", "JJ001", "--to", "level:high", "--text", "注意"),
        *("--at", "2099-01-01 09:00", "--no-ack"),
    )
    assert later.exit_code == 0, later.output
    assert "scheduled" in later.output
    broadcasts = sorted(rows(org, Broadcast), key=lambda b: b.id)
    assert [b.status for b in broadcasts] == ["expanded", "scheduled"]
    assert broadcasts[1].due_at.isoformat() == "2099-01-01T01:00:00+00:00"  # Shanghai time
    assert broadcasts[1].requires_ack is False

    staff = run(cli, "remind", "--as", "CW001", "--to", "all", "--text", "x")
    assert staff.exit_code == 1
    assert "not an officer" in staff.output
    unknown = run(cli, "remind", "--as", "JJ001", "--to", "person:NOBODY", "--text", "x")
    assert unknown.exit_code == 1
    assert "NOBODY" in unknown.output
    bad_target = run(cli, "remind", "--as", "JJ001", "--to", "team:1", "--text", "x")
    assert bad_target.exit_code == 1
    assert "team:1" in bad_target.output
    bad_time = run(cli, "remind", "--as", "JJ001", "--to", "all", "--text", "x", "--at", "soon")
    assert bad_time.exit_code == 1
    assert "YYYY-MM-DD HH:MM" in bad_time.output
    assert len(rows(org, Broadcast)) == 2


def test_prompts_list_shows_rows_and_counts(cli: CliRunner, org: dict[str, Any]) -> None:
    run(cli, "cycle", "run", "--period", "2026-12")
    listed = run(cli, "prompts", "list", "--period", "2026-12", "--unit", "财政局")
    assert listed.exit_code == 0, listed.output
    assert "CW001" in listed.output
    assert "出纳岗" in listed.output
    assert "2 prompts (open 2, acknowledged 0, cancelled 0)" in listed.output
    none = run(cli, "prompts", "list", "--status", "acknowledged")
    assert none.exit_code == 0, none.output
    assert "0 prompts" in none.output
    bad = run(cli, "prompts", "list", "--status", "read")
    assert bad.exit_code == 1
    assert "open, acknowledged or cancelled" in bad.output


def test_a_database_out_of_reach_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", "postgresql+psycopg://rp:s3cret@127.0.0.1:1/x")
    result = CliRunner().invoke(app, ["--locale", "en", "prompts", "list"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: the database cannot be used: ")
    assert "Traceback" not in result.output and "s3cret" not in result.output
