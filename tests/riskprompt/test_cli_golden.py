"""Golden snapshots of every list command at 80 and 160 columns, in zh_CN and en.

A snapshot is the whole screen a reader sees; a change to one is reviewed as a
change to what people read.  ``RISKPROMPT_UPDATE_GOLDEN=1 pytest
tests/riskprompt/test_cli_golden.py`` rewrites them after a deliberate change.
Beyond the snapshot, every screen is checked to fit its width and to cut nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from sqlmodel import Session
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.clock import FixedClock
from riskprompt.models.db import make_engine
from riskprompt.models.people import Role
from riskprompt.models.warnings import submit_rectification
from tests.builders import (
    assign,
    make_person,
    make_post,
    make_prompt_with_delivery,
    make_risk_point,
    make_unit,
    make_warning,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RISKPROMPT_UPDATE_GOLDEN") == "1"
AT = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)

LISTS: dict[str, tuple[str, ...]] = {
    "units": ("units", "list"),
    "posts": ("posts", "list"),
    "people": ("people", "list"),
    "prompts": ("prompts", "list"),
    "warnings": ("warnings", "list"),
    "deliveries": ("deliveries", "list"),
    "review": ("review", "list"),
    "tokens": ("tokens", "list"),
    "focus": ("focus", "list"),
}


@pytest.fixture
def office(database: str) -> Iterator[str]:
    """Two units with long names, people with long names, prompts and warnings."""
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        city = make_unit(session, name="滨江市住房和城乡建设局")
        office = make_unit(session, name="滨江市住房和城乡建设局建筑市场监管科", parent=city)
        post = make_post(session, unit=office, name="建筑工程施工许可审批岗")
        make_risk_point(session, post=post, description="施工许可审批把关不严")
        officer = make_person(
            session, unit=city, staff_id="JJ0001", name="欧阳振国", role=Role.OFFICER
        )
        people = [
            make_person(session, unit=office, staff_id="ZJ0101", name="司马晓梅"),
            make_person(session, unit=office, staff_id="ZJ0102", name="王伟", channels="sms"),
        ]
        for person in people:
            assign(session, person=person, post=post)
        for person in people:
            make_prompt_with_delivery(session, person=person, at=AT, title="特别提示")
        make_warning(session, person=people[0], officer=officer, at=AT)
        second = make_warning(session, person=people[1], officer=officer, at=AT)
        submit_rectification(
            session,
            warning=second,
            actor=people[1],
            description="已暂停审批，重新组织集体研究并形成会议纪要。",
            evidence=[],
            clock=FixedClock(AT + timedelta(days=1)),
        )
        session.commit()
    engine.dispose()
    yield database


def screen(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, locale: str, width: int, *args: str
) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli.invoke(app, ["--locale", locale, *args, "--format", "table"])
    assert result.exit_code == 0, result.output
    return result.output


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"wrote the missing snapshot {path.name}: review it and run again")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("width", [80, 160])
@pytest.mark.parametrize("name", list(LISTS))
def test_list_screens(
    cli: CliRunner,
    office: str,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    width: int,
    locale: str,
) -> None:
    text = screen(cli, monkeypatch, locale, width, *LISTS[name])
    for line in text.splitlines():
        assert cell_len(line) <= width, line
    assert "…" not in text
    check_golden(f"{name}-{locale}-{width}", text)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_narrow_columns_say_what_is_hidden_and_wide_shows_all(
    cli: CliRunner, office: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow = screen(cli, monkeypatch, "en", 60, "warnings", "list")
    assert "--wide" in narrow
    assert "Created" not in narrow.split("\n1 more")[0].splitlines()[2]
    wide = screen(cli, monkeypatch, "en", 60, "warnings", "list", "--wide")
    assert "Created" in wide and "--wide" not in wide
    assert "司马晓梅 (ZJ0101)" in wide


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_terminal_too_narrow_for_the_essentials_gets_one_block_per_record(
    cli: CliRunner, office: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = screen(cli, monkeypatch, "zh_CN", 20, "people", "list")
    assert "┃" not in text and "│" not in text
    assert re.search(r"姓名\s+司马晓梅", text)
    assert re.search(r"单位\s+滨江市住房和城乡建设局建筑市场监管科", text)


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_piped_output_is_plain_rows(cli: CliRunner, office: str) -> None:
    tsv = cli.invoke(app, ["--locale", "en", "people", "list"])
    assert tsv.exit_code == 0, tsv.output
    lines = tsv.stdout.splitlines()
    assert lines[0].split("\t") == ["Staff ID", "Name", "Unit", "Role", "Channels", "Language"]
    assert lines[1].split("\t")[:2] == ["JJ0001", "欧阳振国"]
    assert "people" not in tsv.stdout  # the total goes to standard error
    as_json = cli.invoke(app, ["--locale", "en", "warnings", "list", "--format", "json"])
    record = json.loads(as_json.stdout)[-1]
    assert record["id"] == "W1"
    assert record["person"] == "司马晓梅 (ZJ0101)"
    assert record["created"] == "2026-12-01T09:30:00+08:00"
    as_csv = cli.invoke(app, ["--locale", "zh_CN", "prompts", "list", "--format", "csv"])
    assert as_csv.stdout.splitlines()[0].startswith("ID,人员,状态")
    bad = cli.invoke(app, ["prompts", "list", "--format", "xml"])
    assert bad.exit_code == 1
    assert "xml" in bad.output and "csv" in bad.output
