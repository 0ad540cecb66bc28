"""``riskprompt report``: every format writes a readable file, in both languages."""

from __future__ import annotations

import csv
import re
import warnings as pywarnings
from collections.abc import Iterator
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
from riskprompt.reporting import render_png
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


def test_csv_has_a_bom_and_the_numbers(cli: CliRunner, org: dict[str, Any], tmp_path: Path) -> None:
    result = run(cli, "--format", "csv")
    assert result.exit_code == 0, result.output
    path = tmp_path / "report-2026-12.csv"
    assert str(path.name) in result.output
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["Unit", "People"]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["Unit"] == "财政局"
    assert first["Prompts issued"] == "5"
    assert float(first["Acknowledged (%)"]) == 0.5
    assert rows[-1][0] == "Total"


def test_xlsx_opens(cli: CliRunner, org: dict[str, Any], tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "r.xlsx"
    result = run(cli, "--format", "xlsx", "--out", str(out), locale="zh_CN")
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    assert sheet["A1"].value == "单位"
    assert sheet["A2"].value == "财政局"
    assert sheet["E2"].value == 0.5
    assert sheet["E2"].number_format == "0.0%"


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
    assert "<td>财政局</td>" in html
    assert re.search(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}">', html)


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
    assert bad_period.exit_code == 1
    assert "not a period '2026-13': write it as YYYY-MM" in bad_period.output
    bad_format = run(cli, "--format", "pdf")
    assert bad_format.exit_code == 1
    assert "unknown format" in bad_format.output
    weights = tmp_path / "w.toml"
    weights.write_text("[weights]\nspeed = 1\n", encoding="utf-8")
    bad_weights = run(cli, "--weights", str(weights))
    assert bad_weights.exit_code == 1
    assert "unknown weight" in bad_weights.output
    weights.write_text("[weights]\non_time = 1.0\nacknowledged = 0\n", encoding="utf-8")
    good = run(cli, "--weights", str(weights))
    assert good.exit_code == 0, good.output
    assert "on_time=1" in good.output
