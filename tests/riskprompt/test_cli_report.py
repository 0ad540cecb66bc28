"""``riskprompt report``: every format writes a readable file, in both languages."""

from __future__ import annotations

import csv
import io
import re
import warnings as pywarnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.config.i18n import set_locale
from riskprompt.config.settings import Settings
from riskprompt.models.assessment import assess
from riskprompt.models.db import make_engine
from riskprompt.reporting import render_html, render_png, report_table
from riskprompt.reporting.chart import caption, chart_rows
from tests.models.test_assessment import build


@pytest.fixture
def org(database: str) -> Iterator[dict[str, Any]]:
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        yield build(session)
    engine.dispose()


def run(cli: CliRunner, *args: str, locale: str = "en"):
    return cli.invoke(app, ["--locale", locale, "report", "--period", "2026-12", *args])


def test_table_in_english_and_chinese(
    cli: CliRunner, org: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # fourteen columns: as wide as an officer's screen
    english = run(cli)
    assert english.exit_code == 0, english.output
    assert "Assessment by unit, 2026-12" in english.output
    assert "财政局" in english.output
    assert "50%" in english.output
    assert "2 hours" in english.output
    chinese = run(cli, locale="zh_CN")
    assert chinese.exit_code == 0, chinese.output
    assert "单位" in chinese.output
    assert "黄色" in chinese.output
    assert "2小时" in chinese.output
    people = run(cli, "--by", "person", "--unit", "审计科")
    assert people.exit_code == 0, people.output
    assert "B1" in people.output
    assert "A1" not in people.output


def written() -> list[Path]:
    """The report files in the working directory (the test database lives there too)."""
    return sorted(p for p in Path.cwd().iterdir() if p.name.startswith(("r.", "report")))


def read_csv(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_csv_without_out_prints_plain_csv(cli: CliRunner, org: dict[str, Any]) -> None:
    result = run(cli, "--format", "csv", locale="zh_CN")
    assert result.exit_code == 0, result.output
    assert not result.output.startswith("\ufeff")  # no BOM on the screen or a pipe
    assert "\x1b" not in result.output  # no colours, no table borders
    assert written() == []  # no file written
    rows = read_csv(result.output)
    assert list(rows[0])[:2] == ["单位", "人数"]
    finance, audit, education, total = rows
    # the rate as a percentage, with the counts it comes from beside it
    assert (finance["已阅"], finance["应阅"], finance["已阅率"]) == ("2", "4", "50%")
    assert (audit["已阅"], audit["应阅"], audit["已阅率"]) == ("1", "1", "100%")
    assert (total["已阅"], total["应阅"], total["已阅率"]) == ("3", "5", "60%")
    assert finance["已发提示"] == "5"
    assert finance["得分"] == "16.7"
    # a unit with no prompts: no rate and no score, not 100
    assert (education["已阅率"], education["得分"]) == ("—", "—")
    assert total["单位"] == "合计"


def test_csv_file_has_a_bom_and_a_suffix_chooses_the_format(
    cli: CliRunner, org: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "r.csv"
    result = run(cli, "--out", str(path))
    assert result.exit_code == 0, result.output
    assert str(path) in result.output
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = read_csv(data.decode("utf-8-sig"))
    first = rows[0]
    assert first["Unit"] == "财政局"
    assert first["Acknowledged (%)"] == "50%"
    assert (first["Prompts acknowledged"], first["Prompts requiring acknowledgement"]) == ("2", "4")


def test_an_empty_period_has_no_score(cli: CliRunner, org: dict[str, Any]) -> None:
    result = cli.invoke(
        app, ["--locale", "zh_CN", "report", "--period", "2027-06", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(result.output)
    assert [row["得分"] for row in rows] == ["—", "—", "—", "—"]
    assert [row["已阅率"] for row in rows] == ["—", "—", "—", "—"]
    table_ = cli.invoke(app, ["--locale", "zh_CN", "report", "--period", "2027-06"])
    assert table_.exit_code == 0, table_.output
    assert "100" not in table_.output
    assert "不评分、不排名" in table_.output


def test_a_person_with_no_prompts_is_not_ranked(cli: CliRunner, org: dict[str, Any]) -> None:
    result = run(cli, "--by", "person", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {row["Person"][-3:-1]: row for row in read_csv(result.output) if row["Unit"]}
    assert (rows["A0"]["Score"], rows["A0"]["Rank"]) == ("—", "—")
    assert [(k, rows[k]["Rank"]) for k in ("B1", "A1", "A2")] == [
        ("B1", "1"),
        ("A1", "2"),
        ("A2", "3"),
    ]


def test_xlsx_opens(cli: CliRunner, org: dict[str, Any], tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "r.xlsx"
    result = run(cli, "--format", "xlsx", "--out", str(out), locale="zh_CN")
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    headers = [cell.value for cell in sheet[1]]
    assert headers[:2] == ["单位", "人数"]
    assert sheet["A2"].value == "财政局"
    rate = headers.index("已阅率") + 1
    assert headers[rate - 3 : rate] == ["已阅", "应阅", "已阅率"]
    assert [sheet.cell(row=2, column=rate - k).value for k in (2, 1, 0)] == [2, 4, 0.5]
    assert sheet.cell(row=2, column=rate).number_format == "0.0%"
    assert sheet.cell(row=4, column=rate).value == "—"  # 教育局: no prompt, no rate
    assert sheet.cell(row=4, column=len(headers)).value == "—"  # and no score


def test_png_and_html(cli: CliRunner, org: dict[str, Any], tmp_path: Path) -> None:
    png = tmp_path / "r.png"
    result = run(cli, "--format", "png", "--out", str(png))
    assert result.exit_code == 0, result.output
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
    html_path = tmp_path / "r.html"
    result = run(cli, "--format", "html", "--out", str(html_path), locale="zh_CN")
    assert result.exit_code == 0, result.output
    html = html_path.read_text(encoding="utf-8")
    assert '<table class="report">' in html
    assert '<td class="text">财政局</td>' in html
    assert re.search(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}">', html)
    assert "@page { size: A4 landscape;" in html
    assert "th { background: #f3f4f6; white-space: nowrap;" in html  # headers on one line
    assert "单位：全部单位" in html
    assert "考核期间：2026年12月" in html
    assert "制表日期：" in html
    assert "审核人：" in html
    assert "日期：" in html
    assert "已阅率 50%、按期整改 50%、未办结预警 -25%、升级次数 -25%" in html
    assert "acknowledged=" not in html and "on_time" not in html


def test_html_names_the_unit_and_the_day_it_was_made(session: Session, org: dict[str, Any]) -> None:
    set_locale("zh_CN")
    assessment = assess(session, period="2026-12", settings=Settings(), unit_id=org["b"].id)
    html = render_html(
        report_table(assessment), assessment, chart_png=None, made_on=date(2026, 12, 4)
    )
    assert "单位：审计科（含下属单位）" in html
    assert "制表日期：2026年12月4日" in html
    assert "<img" not in html
    set_locale("en")
    english = render_html(
        report_table(assessment), assessment, chart_png=None, made_on=date(2026, 12, 4)
    )
    assert "Units: 审计科 and its sub-units" in english
    assert "Period: December 2026" in english
    assert "Made on: December 4, 2026" in english
    assert "Reviewed by:" in english


def test_chart_ranks_the_lowest_scores_first_and_leaves_out_who_received_nothing(
    session: Session, org: dict[str, Any]
) -> None:
    set_locale("en")
    assessment = assess(session, period="2026-12", settings=Settings(), by="person")
    assert [row.name[-3:-1] for row in chart_rows(assessment)] == ["A2", "A1", "B1"]
    assert [row.name[-3:-1] for row in chart_rows(assessment, top=2)] == ["A2", "A1"]
    assert caption(assessment, 2) == (
        "The 2 people with the lowest scores, of 3; 1 person with no prompt or warning is not shown"
    )


def test_chart_has_every_chinese_glyph(session: Session, org: dict[str, Any]) -> None:
    set_locale("zh_CN")
    assessment = assess(session, period="2026-12", settings=Settings())
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        render_png(assessment)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []


def test_bad_input_is_refused_clearly(cli: CliRunner, org: dict[str, Any], tmp_path: Path) -> None:
    bad_period = cli.invoke(app, ["--locale", "en", "report", "--period", "2026-13"])
    assert bad_period.exit_code == 2
    assert "--period: not a period '2026-13': write it as 2026-12" in bad_period.output
    bad_format = run(cli, "--format", "pdf")
    assert bad_format.exit_code == 2
    assert "unknown format 'pdf' for --format" in bad_format.output
    bad_view = run(cli, "--by", "post")
    assert bad_view.exit_code == 2
    assert "--by" in bad_view.output
    weights = tmp_path / "w.toml"
    weights.write_text("[weights]\nspeed = 1\n", encoding="utf-8")
    bad_weights = run(cli, "--weights", str(weights))
    assert bad_weights.exit_code == 1
    assert "unknown weight" in bad_weights.output
    weights.write_text("[weights]\non_time = 1.0\nacknowledged = 0\n", encoding="utf-8")
    good = run(cli, "--weights", str(weights))
    assert good.exit_code == 0, good.output
    assert "acknowledged rate 0%, corrections on time 100%" in good.output
    assert "on_time=" not in good.output and "acknowledged=" not in good.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--format", "csv", "--out", "r.png"], ["--format csv", "r.png", ".png"]),
        (["--format", "xlsx", "--out", "r.csv"], ["--format xlsx", "r.csv", ".csv"]),
        (["--out", "r.txt"], ["--out r.txt", "--format"]),
        (["--format", "table", "--out", "r.csv"], ["--format table", "r.csv"]),
    ],
)
def test_format_and_suffix_must_agree(
    cli: CliRunner, org: dict[str, Any], args: list[str], words: list[str]
) -> None:
    result = run(cli, *args)
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in result.output
    assert "Traceback" not in result.output
    assert written() == []  # nothing written


def test_a_file_without_a_suffix_takes_the_format(
    cli: CliRunner, org: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "report"
    result = run(cli, "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
