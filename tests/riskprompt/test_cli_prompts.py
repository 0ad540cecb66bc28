"""``riskprompt focus``, ``cycle run``, ``remind``, ``prompts list`` and ``prompts cancel``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.audit import AuditEvent
from riskprompt.models.db import make_engine
from riskprompt.models.notices import Notice
from riskprompt.models.people import Role
from riskprompt.models.prompts import (
    Broadcast,
    CycleRun,
    Delivery,
    FocusWork,
    Prompt,
    PromptStatus,
)
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
    assert result.exit_code == 2
    assert "--period: not a period '2026-13': write it as 2026-12" in result.output
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
    assert unknown.exit_code == 2
    assert "--to: " in unknown.output and "NOBODY" in unknown.output
    bad_target = run(cli, "remind", "--as", "JJ001", "--to", "team:1", "--text", "x")
    assert bad_target.exit_code == 2
    assert "--to: " in bad_target.output and "team:1" in bad_target.output
    bad_time = run(cli, "remind", "--as", "JJ001", "--to", "all", "--text", "x", "--at", "soon")
    assert bad_time.exit_code == 2
    assert "--at: " in bad_time.output and "YYYY-MM-DD HH:MM" in bad_time.output
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
    bad = run(cli, "prompts", "list", "--status", "sleeping")
    assert bad.exit_code == 2
    assert "--status: " in bad.output and "open, acknowledged or cancelled" in bad.output


def test_a_database_out_of_reach_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", "postgresql+psycopg://rp:s3cret@127.0.0.1:1/x")
    result = CliRunner().invoke(app, ["--locale", "en", "prompts", "list"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: the database cannot be used: ")
    assert "Traceback" not in result.output and "s3cret" not in result.output


def snapshot(org: dict[str, Any]) -> dict[str, int]:
    """Row counts of everything a command could write."""
    with Session(org["engine"]) as session:
        return {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in (Prompt, Delivery, Broadcast, CycleRun, AuditEvent, Notice)
        }


def test_cycle_dry_run_prints_recipients_by_channel_and_writes_nothing(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    before = snapshot(org)
    dry = run(cli, "cycle", "run", "--period", "2026-12", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert snapshot(org) == before
    assert "Dry run: nothing was written." in dry.output
    assert "2 people would get 2 prompt(s)" in dry.output
    assert "messages by channel: WeCom 0, DingTalk 0, Telegram 0, SMS 1, Email 0" in dry.output
    assert "people with no reachable channel: 1" in dry.output
    assert "CW001" in dry.output and "CW002" in dry.output  # few people: listed
    run(cli, "cycle", "run", "--period", "2026-12")
    again = run(cli, "cycle", "run", "--period", "2026-12", "--dry-run")
    assert "0 people would get 0 prompt(s)" in again.output
    assert "already there: 2" in again.output


def test_a_far_period_and_a_past_time_need_force(cli: CliRunner, org: dict[str, Any]) -> None:
    before = snapshot(org)
    far = run(cli, "cycle", "run", "--period", "2099-01")
    assert far.exit_code == 1
    assert "more than one month after the current period" in far.output
    assert "--force" in far.output
    past = run(
        cli, "remind", "--as", "JJ001", "--to", "all", "--text", "x", "--at", "2020-01-01 09:00"
    )
    assert past.exit_code == 1
    assert "is in the past" in past.output and "--force" in past.output
    assert snapshot(org) == before
    forced = run(cli, "cycle", "run", "--period", "2099-01", "--force")
    assert forced.exit_code == 0, forced.output
    assert "prompts created: 2" in forced.output
    sent = run(
        cli,
        "remind",
        *("--as", "JJ001", "--to", "all", "--text", "x"),
        *("--at", "2020-01-01 09:00", "--force"),
    )
    assert sent.exit_code == 0, sent.output
    assert "3 prompts" in sent.output  # sent now


def test_remind_dry_run_lists_the_recipients_and_writes_nothing(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    before = snapshot(org)
    dry = run(cli, "remind", "--as", "JJ001", "--to", "all", "--text", "节前提醒", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert snapshot(org) == before
    assert "3 people would get 3 prompt(s)" in dry.output
    assert "messages by channel: WeCom 0, DingTalk 0, Telegram 0, SMS 2, Email 0" in dry.output
    assert all(staff in dry.output for staff in ("JJ001", "CW001", "CW002"))
    refused = run(cli, "remind", "--as", "CW001", "--to", "all", "--text", "x", "--dry-run")
    assert refused.exit_code == 1 and "not an officer" in refused.output


def test_many_recipients_are_counted_and_listed_only_with_wide(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    with Session(org["engine"]) as session:
        for n in range(25):
            make_person(session, unit=org["unit"], staff_id=f"X{n:03d}")
        session.commit()
    short = run(cli, "remind", "--as", "JJ001", "--to", "all", "--text", "x", "--dry-run")
    assert "28 people would get 28 prompt(s)" in short.output
    assert "8 more not listed: add --wide to list everyone." in short.output
    assert "X024" not in short.output
    wide = run(cli, "remind", "--as", "JJ001", "--to", "all", "--text", "x", "--dry-run", "--wide")
    assert "X024" in wide.output and "not listed" not in wide.output


def test_prompts_cancel_asks_for_yes_off_a_terminal_then_cancels(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    run(cli, "cycle", "run", "--period", "2026-12")
    before = snapshot(org)
    cancel = ("prompts", "cancel", "--period", "2026-12", "--as", "JJ001", "--reason", "误发")
    asked = run(cli, *cancel)
    assert asked.exit_code == 1
    assert "2 prompts not yet acknowledged, of 2 people" in asked.output
    assert "add --yes" in asked.output
    assert snapshot(org) == before
    done = run(cli, *cancel, "--yes")
    assert done.exit_code == 0, done.output
    assert "Cancelled:" in done.output
    assert "pending deliveries: 1" in done.output
    assert "people already sent it, to be told: 0" in done.output
    with Session(org["engine"]) as session:
        statuses = set(session.exec(select(Prompt.status)).all())
        audited = session.exec(
            select(AuditEvent).where(AuditEvent.action == "prompts.cancelled")
        ).one()
    assert statuses == {PromptStatus.CANCELLED}
    assert len(audited.data["prompt_ids"]) == 2
    nothing = run(cli, *cancel, "--yes")
    assert nothing.exit_code == 0 and "Nothing to cancel" in nothing.output
    staff = run(cli, "prompts", "cancel", "--period", "2026-12", "--as", "CW001", "--reason", "x")
    assert staff.exit_code == 1 and "not an officer" in staff.output
    neither = run(cli, "prompts", "cancel", "--as", "JJ001", "--reason", "x", "--yes")
    assert neither.exit_code == 1 and "either a period or a special prompt" in neither.output
