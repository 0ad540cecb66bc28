"""``/assessment``: the CLI's report in the console, within the officer's scope.

The figures on the page, in the CSV and in the XLSX are those of ``riskprompt report``
for the same period and units (the CLI is run on the same database); officer A sees
nothing of unit B; bad parameters answer a 4xx page that names the parameter.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.people import Person
from riskprompt.models.warnings import WarningColour, WarningStatus
from tests.builders import make_person
from tests.models.test_assessment import sent_prompt, warning
from tests.riskprompt.web.console.conftest import ConsoleClients, Office
from tests.riskprompt.web.console.test_access import UNIT_B_MARKERS

PERIOD = "2026-12"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def scenario(engine: Engine, office: Office) -> Office:
    """December 2026: prompts and warnings in unit A (and its sub-unit) and in unit B."""
    with Session(engine, expire_on_commit=False) as session:
        staff = session.get(Person, office.staff.id)
        staff_b = session.get(Person, office.staff_b.id)
        officer_a = session.get(Person, office.officer_a.id)
        officer_b = session.get(Person, office.officer_b.id)
        assert staff and staff_b and officer_a and officer_b
        clerk = make_person(session, unit=office.unit_a, staff_id="CW002", name="刘会计")
        sent_prompt(session, staff, utc(2026, 12, 2, 2), ack_after=timedelta(hours=2))
        sent_prompt(session, staff, utc(2026, 12, 9, 2))
        sent_prompt(session, clerk, utc(2026, 12, 3, 2), ack_after=timedelta(hours=5))
        sent_prompt(session, staff_b, utc(2026, 12, 4, 2), ack_after=timedelta(minutes=30))
        warning(
            session,
            staff,
            officer_a,
            utc(2026, 12, 2),
            status=WarningStatus.CLOSED,
            closed_at=utc(2026, 12, 4),
        )
        warning(session, clerk, officer_a, utc(2026, 12, 6), colour=WarningColour.ORANGE)
        warning(
            session, staff_b, officer_b, utc(2026, 12, 5), colour=WarningColour.RED, escalations=2
        )
        session.commit()
    return office


class Tables(HTMLParser):
    """The cells of every ``<table>`` of a page, as text, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_table(html: str) -> list[dict[str, str]]:
    """The report's rows on the page (the totals last), each by its header."""
    parser = Tables()
    parser.feed(html)
    header, *rows = parser.tables[0]
    return [dict(zip(header, row, strict=True)) for row in rows]


def banner(html: str) -> str:
    """The text of the page's error banner."""
    return html.split('<div class="banner bad" role="alert">', 1)[1].split("</div>", 1)[0]


def read_csv(text: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(text)))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def same(shown: str, written: str) -> bool:
    """A cell on the page (formatted: ``1,234``, ``75``) and in the CSV (``1234``, ``75.0``)."""
    if shown == written:
        return True
    try:
        return float(shown.replace(",", "").rstrip("%")) == float(written.rstrip("%"))
    except ValueError:
        return False


def cli_report(cli: CliRunner, tmp_path: Path, name: str, *args: str) -> bytes:
    """The file ``riskprompt report`` writes for December (in Chinese)."""
    out = tmp_path / name
    result = cli.invoke(
        cli_app, ["--locale", "zh_CN", "report", "--period", PERIOD, "--out", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def test_the_page_shows_the_figures_of_the_cli_report(
    console: ConsoleClients, scenario: Office, cli: CliRunner, tmp_path: Path
) -> None:
    admin = console.as_role("admin")
    response = admin.get("/assessment", params={"period": PERIOD})
    assert response.status_code == 200
    page = page_table(response.text)
    expected = read_csv(cli_report(cli, tmp_path, "all.csv").decode("utf-8-sig"))
    assert [row["单位"] for row in page] == [row["单位"] for row in expected]
    assert [row["单位"] for row in page] == ["财政局", "国库科", "审计局", "合计"]
    for shown, written in zip(page, expected, strict=True):
        for header, value in shown.items():
            assert same(value, written[header]), (shown["单位"], header, value, written[header])
    assert "考核期间：2026年12月" in response.text
    assert 'src="/assessment/chart.png?period=2026-12&amp;by=unit&amp;lang=zh_CN"' in response.text

    people = page_table(admin.get("/assessment", params={"period": PERIOD, "by": "person"}).text)
    by_person = read_csv(
        cli_report(cli, tmp_path, "people.csv", "--by", "person").decode("utf-8-sig")
    )
    assert len(people) == len(by_person)
    for shown, written in zip(people, by_person, strict=True):
        for header, value in shown.items():
            assert same(value, written[header]), (shown["人员"], header, value, written[header])


def test_the_downloads_are_the_files_the_cli_writes(
    console: ConsoleClients, scenario: Office, cli: CliRunner, tmp_path: Path
) -> None:
    officer = console.as_role("officer_a")
    response = officer.get("/assessment/report.csv", params={"period": PERIOD})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="report-2026-12.csv"'
    assert response.content.startswith(b"\xef\xbb\xbf")
    # officer A's scope is 财政局 with its sub-unit: the CLI's --unit 财政局, byte for byte
    assert response.content == cli_report(cli, tmp_path, "a.csv", "--unit", "财政局")

    response = officer.get("/assessment/report.xlsx", params={"period": PERIOD, "by": "person"})
    assert response.status_code == 200
    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    web = load_workbook(io.BytesIO(response.content)).active
    mine = load_workbook(
        io.BytesIO(cli_report(cli, tmp_path, "a.xlsx", "--unit", "财政局", "--by", "person"))
    ).active
    assert web is not None and mine is not None
    assert web.title == mine.title
    assert list(web.values) == list(mine.values)
    names = [row[0] for row in web.values]
    assert "张出纳 (CW001)" in names and "陈审计 (SJ001)" not in names

    chart = officer.get("/assessment/chart.png", params={"period": PERIOD})
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_officer_a_sees_nothing_of_unit_b(console: ConsoleClients, scenario: Office) -> None:
    officer = console.as_role("officer_a")
    for view in ("unit", "person"):
        for path in ("/assessment", "/assessment/print"):
            page = officer.get(path, params={"period": PERIOD, "by": view})
            assert page.status_code == 200
            assert [m for m in UNIT_B_MARKERS if m in page.text] == [], (path, view)
        text = officer.get("/assessment/report.csv", params={"period": PERIOD, "by": view})
        assert [m for m in UNIT_B_MARKERS if m in text.content.decode("utf-8-sig")] == []
    rows = page_table(officer.get("/assessment", params={"period": PERIOD}).text)
    assert [row["单位"] for row in rows] == ["财政局", "国库科", "合计"]
    # the totals are A's: three prompts acknowledged of four... none of B's red warning
    assert rows[-1]["红色预警"] == "0" and rows[-1]["橙色预警"] == "1"
    unit_b = str(scenario.unit_b.id)
    for path in (
        "/assessment",
        "/assessment/print",
        "/assessment/chart.png",
        "/assessment/report.csv",
        "/assessment/report.xlsx",
    ):
        response = officer.get(path, params={"period": PERIOD, "unit": unit_b})
        assert response.status_code == 404, path
        assert [m for m in UNIT_B_MARKERS if m in response.text] == [], path
    # a unit that does not exist reads the same as one outside the scope
    missing = officer.get("/assessment", params={"period": PERIOD, "unit": "9999"})
    outside = officer.get("/assessment", params={"period": PERIOD, "unit": unit_b})
    assert missing.status_code == outside.status_code == 404
    assert "没有单位 &#39;9999&#39;" in missing.text
    assert banner(outside.text).replace(f"&#39;{unit_b}&#39;", "X") == banner(missing.text).replace(
        "&#39;9999&#39;", "X"
    )
    # the unit filter offers the scope only
    assert f'<option value="{scenario.unit_a_sub.id}"' in officer.get("/assessment").text
    assert f'<option value="{unit_b}"' not in officer.get("/assessment").text
    # officer B sees B and its red warning
    other = page_table(console.as_role("officer_b").get("/assessment").text)
    assert [row["单位"] for row in other] == ["审计局", "合计"]
    assert other[-1]["红色预警"] == "1"


def test_a_unit_row_leads_to_its_people(console: ConsoleClients, scenario: Office) -> None:
    officer = console.as_role("officer_a")
    page = officer.get("/assessment", params={"period": PERIOD})
    sub = scenario.unit_a_sub.id
    link = f'href="/assessment?period=2026-12&amp;by=person&amp;unit={sub}"'
    assert link in page.text
    people = page_table(
        officer.get("/assessment", params={"period": PERIOD, "by": "person", "unit": sub}).text
    )
    assert [row["人员"] for row in people] == ["张出纳 (CW001)", "合计"]
    assert people[0]["已阅率"] == "50%"


def test_the_print_sheet_has_every_row_the_heading_and_the_signature_line(
    console: ConsoleClients, scenario: Office, engine: Engine
) -> None:
    with Session(engine) as session:
        for n in range(60):
            make_person(session, unit=scenario.unit_a, staff_id=f"PX{n:03d}", name=f"人员{n:03d}")
        session.commit()
    officer = console.as_role("officer_a")
    first = officer.get("/assessment", params={"period": PERIOD, "by": "person"})
    rows = page_table(first.text)
    assert len(rows) == 50 + 1  # a page of 50, and the totals
    assert "第 1 / 2 页" in first.text
    second = page_table(
        officer.get("/assessment", params={"period": PERIOD, "by": "person", "page": "2"}).text
    )
    assert rows[-1] == second[-1]  # the totals on every page
    people = len(rows) - 1 + len(second) - 1
    sheet = officer.get("/assessment/print", params={"period": PERIOD, "by": "person"})
    assert sheet.status_code == 200
    printed = page_table(sheet.text)
    assert len(printed) == people + 1
    for text in ("制表日期：2026年12月1日", "审核人：", "考核期间：2026年12月", "单位：财政局"):
        assert text in sheet.text
    assert 'class="sheet landscape"' in sheet.text
    # a page past the end shows the last one
    assert (
        page_table(
            officer.get("/assessment", params={"period": PERIOD, "by": "person", "page": "9"}).text
        )
        == second
    )


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"period": "2026-13"}, 422, "期间 &#39;2026-13&#39;"),
        ({"period": "last month"}, 422, "期间 &#39;last month&#39;"),
        ({"by": "post"}, 422, "视图："),
        ({"unit": "财政局"}, 422, "单位："),
        ({"unit": "-1"}, 422, "单位："),
        ({"page": "0"}, 422, "页码："),
        ({"page": "x"}, 422, "页码："),
    ],
)
def test_bad_parameters_answer_a_page_naming_them(
    console: ConsoleClients, office: Office, params: dict[str, str], status: int, field: str
) -> None:
    officer = console.as_role("officer_a")
    for path in ("/assessment", "/assessment/report.csv", "/assessment/chart.png"):
        response = officer.get(path, params=params)
        assert response.status_code == status, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert field in response.text, path
        assert "Traceback" not in response.text


def test_the_page_reads_in_english(console: ConsoleClients, scenario: Office) -> None:
    officer = console.as_role("officer_a")
    page = officer.get("/assessment", params={"period": PERIOD, "lang": "en"})
    assert page.status_code == 200
    assert "Assessment by unit, 2026-12" in page.text
    assert "Download CSV" in page.text
    rows = page_table(page.text)
    assert rows[-1]["Unit"] == "Total"
    csv_en = officer.get("/assessment/report.csv", params={"period": PERIOD})
    assert read_csv(csv_en.content.decode("utf-8-sig"))[0]["Unit"] == "财政局"
    assert "Acknowledged (%)" in csv_en.content.decode("utf-8-sig")


def test_downloads_are_for_officers(console: ConsoleClients, office: Office) -> None:
    for path in ("/assessment/report.csv", "/assessment/report.xlsx", "/assessment/chart.png"):
        assert console.anonymous().get(path).status_code == 302
        assert console.as_role("staff").get(path).status_code == 403
        assert console.as_role("admin").get(path).status_code == 200
