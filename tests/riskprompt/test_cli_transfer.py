"""``riskprompt import`` and ``riskprompt export`` through the command line."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from sqlalchemy import func
from sqlmodel import Session, select

from riskprompt.cli.app import app
from riskprompt.cli.transfer import progress_bar
from riskprompt.models.catalog import RiskPoint
from riskprompt.models.db import make_engine
from riskprompt.models.people import Person
from riskprompt.models.tabular import open_table
from tests.fixtures.files import (
    CATALOG_HEADER,
    CATALOG_ROWS,
    PEOPLE_HEADER,
    PEOPLE_ROWS,
    write_csv,
    write_xlsx,
)


def count(database: str, model: type) -> int:
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            return session.exec(select(func.count()).select_from(model)).one()
    finally:
        engine.dispose()


def run(cli, *args: str, **kwargs):
    return cli.invoke(app, ["--locale", "en", *args], **kwargs)


@pytest.fixture
def migrated(cli):
    result = cli.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return cli


def test_import_reimport_and_dry_run(migrated, database, tmp_path) -> None:
    path = write_csv(tmp_path / "catalog.csv", CATALOG_HEADER, CATALOG_ROWS)
    first = run(migrated, "import", "catalog", str(path))
    assert first.exit_code == 0, first.output
    assert f"Imported {path} (5 rows)." in first.stdout
    assert "│ Risk points │ 3       │ 0       │ 0         │" in first.stdout

    again = run(migrated, "import", "catalog", str(path))
    assert again.exit_code == 0
    assert f"Imported {path} (5 rows): nothing to change." in again.stdout
    assert "│ Risk points │ 0       │ 0       │ 3         │" in again.stdout

    rows = [list(r) for r in CATALOG_ROWS]
    rows[1][7] = "低"
    changed = write_csv(tmp_path / "v2.csv", CATALOG_HEADER, rows)
    dry = run(migrated, "import", "catalog", str(changed), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"Dry run of {changed} (5 rows): nothing was written." in dry.stdout
    assert "│ Risk points │ 0       │ 1       │ 2         │" in dry.stdout
    assert "~ Risk points: 财务科 / 会计岗 / 违规审批资金支付 (level)  row 3" in dry.stdout
    level = run(migrated, "posts", "list", "--level", "low")
    assert "会计岗" not in level.stdout  # the dry run changed nothing


def test_the_counts_are_headed_as_counts_not_times(migrated, tmp_path) -> None:
    path = write_csv(tmp_path / "catalog.csv", CATALOG_HEADER, CATALOG_ROWS)
    result = migrated.invoke(app, ["import", "catalog", str(path)])  # zh_CN, the default
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "记录" in line)
    assert ["记录", "新增", "更新", "未变"] == [c.strip() for c in header.split("┃") if c.strip()]
    assert "创建时间" not in result.stdout  # "Created" as a time, elsewhere


def test_a_bad_file_is_refused_whole(migrated, database, tmp_path) -> None:
    good = write_csv(tmp_path / "people-ok.csv", PEOPLE_HEADER, PEOPLE_ROWS)
    assert (
        run(
            migrated,
            "import",
            "catalog",
            str(write_csv(tmp_path / "c.csv", CATALOG_HEADER, CATALOG_ROWS)),
        ).exit_code
        == 0
    )
    assert run(migrated, "import", "people", str(good)).exit_code == 0
    rows = [list(r) for r in PEOPLE_ROWS] + [["新人", "E004", "财务科", "", "", "", "", "", "", ""]]
    rows[0][4] = "12345"
    rows[1][1] = "E001"
    rows[2][8] = "klingon"
    path = write_csv(tmp_path / "people.csv", PEOPLE_HEADER, rows)
    result = run(migrated, "import", "people", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:2:手机: not a valid phone number: '12345'",
        f"{path}:3:工号: duplicate staff id 'E001': already on row 2",
        f"{path}:4:语言: unsupported language 'klingon': use zh_CN or en",
        f"3 problems in {path}: nothing was imported.",
    ]
    assert result.stdout == ""
    assert count(database, Person) == 3  # E004 was not added


def test_xlsx_sheet_and_export(migrated, database, tmp_path) -> None:
    catalog = write_xlsx(
        tmp_path / "c.xlsx", CATALOG_HEADER, CATALOG_ROWS, sheet="目录", before=["说明"]
    )
    result = run(migrated, "import", "catalog", str(catalog), "--sheet", "目录")
    assert result.exit_code == 0, result.output
    wrong = run(migrated, "import", "catalog", str(catalog), "--sheet", "Sheet9")
    assert wrong.exit_code == 1
    assert f"{catalog}: no sheet 'Sheet9'; the sheets are: 说明, 目录" in wrong.stderr
    people = write_xlsx(tmp_path / "p.xlsx", PEOPLE_HEADER, PEOPLE_ROWS)
    assert run(migrated, "import", "people", str(people)).exit_code == 0

    for name, kind, n in (("out.xlsx", "catalog", 5), ("people.csv", "people", 3)):
        out = tmp_path / name
        result = run(migrated, "export", kind, str(out))
        assert result.exit_code == 0, result.output
        assert f"Wrote {n} rows to {out}." in result.stdout
        again = run(migrated, "import", kind, str(out))
        assert "nothing to change" in again.stdout, again.output
    # Without --locale the headers are Chinese (zh_CN is the default).
    assert migrated.invoke(app, ["export", "people", str(tmp_path / "zh.csv")]).exit_code == 0
    with open_table(tmp_path / "zh.csv") as table:
        assert table.headers[:3] == ["姓名", "工号", "单位"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_unreadable_files_are_one_line(migrated, tmp_path) -> None:
    result = run(migrated, "import", "people", str(tmp_path / "missing.csv"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"{tmp_path / 'missing.csv'}: no such file"
    result = run(migrated, "export", "catalog", str(tmp_path / "out.pdf"))
    assert result.exit_code == 1
    assert f"{tmp_path / 'out.pdf'}: unsupported file type '.pdf'" in result.stderr


def test_progress_bar_on_a_terminal_only(migrated, database, tmp_path) -> None:
    rows = [
        [f"单位{i // 100}", "", f"岗位{i // 10}", "", "", "", f"风险点{i}", "中", "措施"]
        for i in range(1000)
    ]
    path = write_csv(tmp_path / "big.csv", CATALOG_HEADER, rows)
    piped = run(migrated, "import", "catalog", str(path), "--dry-run")
    assert "Checking" not in piped.output  # logs and pipes get the summary alone
    assert "Changes (the first 20 of 1,110):" in piped.stdout
    shown = run(migrated, "import", "catalog", str(path), env={"TTY_COMPATIBLE": "1"})
    assert shown.exit_code == 0, shown.output
    # the bar is drawn on stderr: stdout keeps the summary alone
    assert "Checking" in shown.stderr and "Writing" in shown.stderr
    assert "1000/1000" in shown.stderr and "Checking" not in shown.stdout
    assert count(database, RiskPoint) == 1000


def test_progress_bar_draws_each_phase() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_bar(console) as report:
        report("check", 500, 1000)
        report("check", 1000, 1000)
        report("write", 200, 400)
    text = out.getvalue()
    assert "校验中" in text and "1000/1000" in text
    assert "写入中" in text and "200/400" in text
    quiet = Console(file=io.StringIO(), force_terminal=False)
    with progress_bar(quiet) as report:
        report("check", 1, None)
    assert quiet.file.getvalue() == ""  # type: ignore[attr-defined]
