"""IDs as people see them on the command line, and ``review show`` before deciding.

``P3``/``W2``/``R1``/``C1`` wherever a number is taken; people by staff ID or unique
name; units by a short form only one name fits; states and levels in either
language; periods as ``2026年12月``.  A value that cannot be read is one line naming
the option, exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.clock import FixedClock
from riskprompt.models.db import make_engine
from riskprompt.models.evidence import KINDS, store
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningStatus,
    issue_warning,
    submit_rectification,
)
from tests.builders import (
    assign,
    make_person,
    make_post,
    make_prompt_with_delivery,
    make_risk_point,
    make_unit,
)

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
NOW = datetime.now(UTC)  # the CLI runs on the real clock
SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = next(kind for kind in KINDS if kind.mime == "application/pdf")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def org(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Two units with short forms, two people called 王芳, a warning with two reports."""
    data = tmp_path / "data"
    monkeypatch.setenv("RISKPROMPT_DATA_DIR", str(data))
    engine = make_engine(database)
    clock = FixedClock(NOW)
    with Session(engine, expire_on_commit=False) as session:
        zjj = make_unit(session, name="滨江市住房和城乡建设局")
        czj = make_unit(session, name="滨江市财政局")
        gk = make_unit(session, name="滨江市财政局国库支付中心", parent=czj)
        post = make_post(session, unit=zjj, name="施工许可岗")
        make_risk_point(session, post=post, description="超时限审批")
        officer = make_person(session, unit=czj, staff_id="JJ001", name="王纪检", role=Role.OFFICER)
        clerk = make_person(session, unit=zjj, staff_id="ZJ010", name="李建")
        make_person(session, unit=czj, staff_id="CW001", name="王芳")
        make_person(session, unit=gk, staff_id="GK007", name="王芳")
        assign(session, person=clerk, post=post)
        prompt, _ = make_prompt_with_delivery(session, person=clerk, at=NOW, title="节前提醒")
        warning = issue_warning(
            session,
            actor=officer,
            person=clerk,
            colour="yellow",
            form="correct",
            reason="施工许可审批超时",
            deadline=NOW + timedelta(days=7),
            clock=clock,
        )
        first = submit_rectification(
            session, warning=warning, actor=clerk, description="已整改", evidence=[], clock=clock
        )
        session.commit()
        yield {
            "engine": engine,
            "data": data,
            "clock": clock,
            "prompt": prompt,
            "warning": warning,
            "first": first,
            "units": {"zjj": zjj.id, "czj": czj.id, "gk": gk.id},
        }
    engine.dispose()


def run(cli: CliRunner, *args: str) -> Any:
    return cli.invoke(app, ["--locale", "en", *args])


def get(org: dict[str, Any], model: type, id: int) -> Any:
    with Session(org["engine"]) as session:
        return session.get(model, id)


def test_codes_are_taken_wherever_a_number_is(cli: CliRunner, org: dict[str, Any]) -> None:
    prompt, warning, first = org["prompt"], org["warning"], org["first"]
    acked = run(cli, "ack", f"P{prompt.id}", "--as", "李建")
    assert acked.exit_code == 0, acked.output
    assert get(org, Prompt, prompt.id).status is PromptStatus.ACKNOWLEDGED

    rejected = run(
        cli, "review", f"C{first.id}", "--as", "王纪检", "--reject", "--reason", "证据不足",
        "--deadline", "2099年12月24日",
    )  # fmt: skip
    assert rejected.exit_code == 0, rejected.output
    assert f"Correction R{first.id} rejected: warning W{warning.id} is returned" in rejected.output
    returned = get(org, Warning, warning.id)
    assert returned.status is WarningStatus.RETURNED
    # the whole day: 23:59:59 of 24 December in the office's zone
    assert returned.deadline == datetime(2099, 12, 24, 23, 59, 59, tzinfo=SHANGHAI)
    listed = run(cli, "warnings", "list", "--status", "已退回", "--format", "tsv")
    assert listed.exit_code == 0, listed.output
    assert f"W{warning.id}\t" in listed.output and "returned for correction" in listed.output
    assert f"W{warning.id}" in run(cli, "warnings", "list", "--status", "待整改").output

    withdrawn = run(cli, "withdraw", f"w{warning.id}", "--as", "JJ001", "--reason", "误发")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert get(org, Warning, warning.id).status is WarningStatus.WITHDRAWN


def test_ack_takes_a_warnings_code_too(cli: CliRunner, org: dict[str, Any]) -> None:
    with Session(org["engine"], expire_on_commit=False) as session:
        warning = issue_warning(
            session,
            actor=_person(session, "JJ001"),
            person=_person(session, "ZJ010"),
            colour="red",
            form="prompt",
            reason="再次提醒",
            deadline=NOW + timedelta(days=3),
            clock=org["clock"],
        )
        session.commit()
    done = run(cli, "ack", f"W{warning.id}", "--as", "ZJ010")
    assert done.exit_code == 0, done.output
    assert f"Warning {warning.id} acknowledged." in done.output
    assert get(org, Warning, warning.id).acknowledged_at is not None


def _person(session: Session, staff_id: str) -> Person:
    return session.exec(select(Person).where(Person.staff_id == staff_id)).one()


def test_people_units_states_levels_and_periods_in_peoples_words(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    units = org["units"]
    posts = run(cli, "posts", "list", "--unit", "住建局", "--level", "高", "--format", "tsv")
    assert posts.exit_code == 0, posts.output
    assert "施工许可岗" in posts.output
    people = run(cli, "people", "list", "--unit", "国库", "--format", "tsv")
    assert people.exit_code == 0, people.output
    assert "GK007" in people.output and "CW001" not in people.output
    shown = run(cli, "people", "show", "李建")
    assert shown.exit_code == 0, shown.output
    assert "李建 (ZJ010)" in shown.output
    prompts = run(cli, "prompts", "list", "--status", "待阅", "--unit", str(units["zjj"]))
    assert prompts.exit_code == 0, prompts.output
    assert "1 prompt (open 1" in prompts.output
    pending = run(cli, "prompts", "list", "--status", "pending", "--period", "2026年12月")
    assert pending.exit_code == 0, pending.output
    assert "0 prompts" in pending.output  # the special prompt has no period


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("warnings", "list", "--person", "王芳"), "--person: 2 people are called 王芳"),
        (("warnings", "list", "--as", "NOBODY"), "--as: no person with staff id or name 'NOBODY'"),
        (("posts", "list", "--unit", "财政"), "--unit: 财政 fits 2 units"),
        (("posts", "list", "--unit", "教育局"), "--unit: no unit '教育局'"),
        (("posts", "list", "--level", "极高"), "--level: unknown risk level '极高'"),
        (("warnings", "list", "--status", "睡着"), "--status: unknown status '睡着'"),
        (("prompts", "list", "--period", "2026年13月"), "--period: not a period '2026年13月'"),
        (("withdraw", "P1", "--as", "JJ001", "--reason", "x"), "WARNING_ID: not a warning number"),
        (("ack", "R1", "--as", "ZJ010"), "not a prompt number 'R1'"),
        (("review", "W1", "--as", "JJ001", "--accept"), "not a correction number 'W1'"),
        (("review", "show", "x"), "R3: not a correction number 'x'"),
        (("review", "1", "--as", "JJ001", "--reject", "--deadline", "someday"), "--deadline: "),
    ],
)
def test_a_bad_value_is_one_line_naming_the_option(
    cli: CliRunner, org: dict[str, Any], args: tuple[str, ...], message: str
) -> None:
    result = run(cli, *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: ")
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    if "2 people" in message:
        assert "王芳 (CW001, 滨江市财政局)" in result.output
        assert "王芳 (GK007, 滨江市财政局国库支付中心)" in result.output


def test_review_show_prints_the_correction_its_warning_history_and_files(
    cli: CliRunner, org: dict[str, Any], tmp_path: Path
) -> None:
    warning, first = org["warning"], org["first"]
    rejected = run(
        cli, "review", f"R{first.id}", "--as", "JJ001", "--reject", "--reason", "缺少会议记录"
    )
    assert rejected.exit_code == 0, rejected.output
    data = org["data"]
    files = [
        store(data, warning_id=warning.id, kind=PDF, content=b"%PDF-1.4 one", name="会议记录.pdf"),
        store(data, warning_id=warning.id, kind=PDF, content=b"%PDF-1.4 two", name="会议记录.pdf"),
        store(data, warning_id=warning.id, kind=PDF, content=b"%PDF-1.4 x", name="../../evil.pdf"),
    ]
    with Session(org["engine"], expire_on_commit=False) as session:
        second = submit_rectification(
            session,
            warning=session.get(Warning, warning.id),
            actor=_person(session, "ZJ010"),
            description="补齐会议记录并集体研究",
            evidence=files,
            clock=org["clock"],
        )
        session.commit()

    shown = run(cli, "review", "show", f"C{second.id}", "--as", "王纪检")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert f"Correction R{second.id} on warning W{warning.id}" in out
    assert "李建 (ZJ010)" in out and "补齐会议记录并集体研究" in out
    assert "waiting for review" in out
    assert "施工许可审批超时" in out and "王纪检 (JJ001)" in out
    assert "returned for correction" not in out  # submitted again: waiting for review
    for step in ("warning issued", "correction reported", "correction rejected"):
        assert step in out
    assert "reason: 缺少会议记录" in out
    assert out.count("会议记录.pdf") == 2 and "evil.pdf" in out and "PDF" in out

    folder = tmp_path / "look"
    folder.mkdir()
    (folder / "会议记录.pdf").write_bytes(b"already here")
    opened = run(cli, "review", "show", str(second.id), "--open", str(folder))
    assert opened.exit_code == 0, opened.output
    assert "Copied 3 files to" in opened.output
    assert sorted(p.name for p in folder.iterdir()) == [
        "evil.pdf",
        "会议记录 (2).pdf",
        "会议记录 (3).pdf",
        "会议记录.pdf",
    ]
    assert (folder / "会议记录.pdf").read_bytes() == b"already here"
    assert (folder / "会议记录 (2).pdf").read_bytes() == b"%PDF-1.4 one"
    assert not (tmp_path / "evil.pdf").exists()
    with Session(org["engine"]) as session:
        report = session.get(Rectification, second.id)
        assert report.status is RectificationStatus.SUBMITTED  # looking changes nothing

    missing = run(cli, "review", "show")
    assert missing.exit_code == 1 and "review show R3" in missing.output
    outside = run(cli, "review", "show", str(second.id), "--as", "CW001")
    assert outside.exit_code == 1 and "someone else's" in outside.output
