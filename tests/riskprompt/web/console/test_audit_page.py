"""``/audit``: the audit log for administrators: filters, pages, the chain check, the export.

Officers are refused (the log is the whole office's, beyond any scope); the chain check
finds a record edited behind the service's back; the export is the CLI's.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.audit import AuditEvent
from riskprompt.models.people import Person
from tests.builders import make_warning
from tests.riskprompt.web.conftest import audit_count
from tests.riskprompt.web.console.conftest import ConsoleClients, Office
from tests.riskprompt.web.console.test_assessment_page import Tables


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def history(engine: Engine, office: Office) -> Office:
    """Warnings to staff of A (on 2 and 10 December) and of B (on 20 December)."""
    with Session(engine, expire_on_commit=False) as session:
        staff = session.get(Person, office.staff.id)
        staff_b = session.get(Person, office.staff_b.id)
        officer_a = session.get(Person, office.officer_a.id)
        officer_b = session.get(Person, office.officer_b.id)
        assert staff and staff_b and officer_a and officer_b
        make_warning(session, person=staff, officer=officer_a, at=utc(2026, 12, 2, 2))
        make_warning(session, person=staff, officer=officer_a, at=utc(2026, 12, 10, 2))
        make_warning(session, person=staff_b, officer=officer_b, at=utc(2026, 12, 20, 2))
        session.commit()
    return office


def log_rows(html: str) -> list[dict[str, str]]:
    """The rows of the log's table, each by its header."""
    parser = Tables()
    parser.feed(html)
    header, *rows = parser.tables[0]
    return [dict(zip(header, row, strict=True)) for row in rows]


def ids_of(html: str) -> list[int]:
    return [int(row["#"]) for row in log_rows(html)]


def event_ids(engine: Engine, **where: object) -> list[int]:
    with Session(engine) as session:
        query = select(AuditEvent.id).order_by(AuditEvent.id.desc())  # type: ignore[union-attr]
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        return [i for i in session.exec(query).all() if i is not None]


@pytest.mark.parametrize("role", ["officer_a", "officer_b", "staff"])
def test_only_administrators_read_the_log(
    console: ConsoleClients, history: Office, role: str
) -> None:
    client = console.as_role(role)
    for path in ("/audit", "/audit?action=warning.issued", "/audit/export.csv"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "<html" in response.text and "<table" not in response.text
        assert "下发预警" not in response.text and "JJB01" not in response.text
    before = audit_count(console.engine)
    refused = client.post_form("/audit/verify")
    assert refused.status_code == 403
    assert "审计日志完好" not in refused.text
    assert audit_count(console.engine) == before
    assert console.anonymous().get("/audit").status_code == 302


def test_officers_are_told_why(console: ConsoleClients, history: Office) -> None:
    page = console.as_role("officer_a").get("/audit")
    assert "审计日志仅供管理员查阅" in page.text


def test_the_admin_reads_the_log_newest_first(console: ConsoleClients, history: Office) -> None:
    page = console.as_role("admin").get("/audit")
    assert page.status_code == 200
    rows = log_rows(page.text)
    assert ids_of(page.text) == event_ids(console.engine)
    issued = [row for row in rows if "warning.issued" in row["操作"]]
    assert len(issued) == 3
    assert issued[-1]["操作人"] == "王纪检 JJA01"
    assert issued[-1]["涉及人员"] == "张出纳 CW001"
    assert issued[-1]["对象"].startswith("预警 W")
    assert "下发预警" in issued[-1]["操作"]
    assert "日志共" in page.text and "条记录" in page.text


def test_filters_by_person_action_and_days(console: ConsoleClients, history: Office) -> None:
    admin = console.as_role("admin")
    engine = console.engine
    about_b = admin.get("/audit", params={"person": "SJ001"})
    assert about_b.status_code == 200
    rows = log_rows(about_b.text)
    assert rows and all("陈审计" in row["涉及人员"] for row in rows)
    assert "由陈审计 (SJ001)操作或与其有关" in about_b.text
    by_name = admin.get("/audit", params={"person": "陈审计"})
    assert ids_of(by_name.text) == ids_of(about_b.text)
    # the officer who issued: records they made
    by_officer = log_rows(admin.get("/audit", params={"person": "JJA01"}).text)
    assert by_officer and all(row["操作人"] == "王纪检 JJA01" for row in by_officer)

    issued = admin.get("/audit", params={"action": "warning.issued"})
    assert ids_of(issued.text) == event_ids(engine, action="warning.issued")
    assert '<option value="warning.issued" selected>' in issued.text

    days = admin.get("/audit", params={"from": "2026-12-09", "to": "2026-12-10"})
    rows = log_rows(days.text)
    assert len(rows) >= 1 and all("12月10日" in row["时间"] for row in rows)
    both = admin.get(
        "/audit", params={"person": "CW001", "action": "warning.issued", "from": "2026-12-05"}
    )
    assert len(log_rows(both.text)) == 1
    nothing = admin.get("/audit", params={"from": "2027-01-01"})
    assert "没有符合条件的记录" in nothing.text


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"from": "2026-13-01"}, 422, "起始日期"),
        ({"to": "yesterday"}, 422, "截止日期"),
        ({"from": "2026-12-10", "to": "2026-12-01"}, 422, "截止日期"),
        ({"person": "NOBODY"}, 404, "人员"),
        ({"action": "<script>"}, 422, "操作"),
        ({"page": "0"}, 422, "页码"),
    ],
)
def test_bad_filters_answer_a_page_naming_them(
    console: ConsoleClients, history: Office, params: dict[str, str], status: int, field: str
) -> None:
    admin = console.as_role("admin")
    paths = ("/audit",) if "page" in params else ("/audit", "/audit/export.csv")
    for path in paths:
        response = admin.get(path, params=params)
        assert response.status_code == status, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert f"{field}：" in response.text
        assert "Traceback" not in response.text and "<script>" not in response.text


def test_pages_of_fifty(console: ConsoleClients, engine: Engine, office: Office) -> None:
    with Session(engine, expire_on_commit=False) as session:
        staff = session.get(Person, office.staff.id)
        officer = session.get(Person, office.officer_a.id)
        assert staff and officer
        for n in range(60):
            make_warning(
                session, person=staff, officer=officer, at=utc(2026, 11, 1) + timedelta(hours=n)
            )
        session.commit()
    admin = console.as_role("admin")
    params = {"action": "warning.issued"}
    first = admin.get("/audit", params=params)
    assert len(log_rows(first.text)) == 50
    assert "第 1 / 2 页" in first.text
    assert 'href="/audit?action=warning.issued&amp;page=2"' in first.text
    second = admin.get("/audit", params={**params, "page": "2"})
    assert len(log_rows(second.text)) == 10
    assert set(ids_of(first.text)).isdisjoint(ids_of(second.text))
    assert ids_of(admin.get("/audit", params={**params, "page": "7"}).text) == ids_of(second.text)


def test_verify_says_the_chain_is_intact(console: ConsoleClients, history: Office) -> None:
    admin = console.as_role("admin")
    total = audit_count(console.engine)
    page = admin.post_form("/audit/verify", {"action": "warning.issued"})
    assert page.status_code == 200
    assert 'class="banner ok"' in page.text
    assert f"审计日志完好：已校验 {total} 条记录。" in page.text
    # the page comes back with the filters it was sent from
    assert ids_of(page.text) == event_ids(console.engine, action="warning.issued")
    partial = admin.post_form("/audit/verify", headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert partial.text.lstrip().startswith('<div id="verify-result"')
    assert "<html" not in partial.text and "审计日志完好" in partial.text


def test_verify_finds_a_record_edited_behind_the_services_back(
    console: ConsoleClients, history: Office, engine: Engine
) -> None:
    target = event_ids(engine, action="warning.issued")[-1]  # the first warning's record
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET data = :data WHERE id = :id"),
            {"data": '{"reason": "nothing happened"}', "id": target},
        )
    admin = console.as_role("admin")
    page = admin.post_form("/audit/verify")
    assert page.status_code == 200
    assert 'class="banner bad"' in page.text
    assert f"审计记录 #{target} 被篡改：内容与其哈希值不符。" in page.text
    assert "哈希链已断裂" in page.text
    english = admin.post_form("/audit/verify?lang=en", headers={"HX-Request": "true"})
    assert f"Audit record #{target} was altered" in english.text


def test_verify_without_the_token_is_refused(console: ConsoleClients, history: Office) -> None:
    response = console.as_role("admin").post("/audit/verify")
    assert response.status_code == 403
    assert "审计日志完好" not in response.text


def test_the_export_is_the_cli_export(
    console: ConsoleClients, history: Office, cli: CliRunner, tmp_path: Path
) -> None:
    admin = console.as_role("admin")
    days = {"from": "2026-12-01", "to": "2026-12-15"}
    response = admin.get("/audit/export.csv", params=days)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-')
    out = tmp_path / "audit.csv"
    result = cli.invoke(
        cli_app, ["audit", "export", "--from", days["from"], "--to", days["to"], str(out)]
    )
    assert result.exit_code == 0, result.output
    assert response.content == out.read_bytes()
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["action"] for row in rows].count("warning.issued") == 2  # 2 and 10 December
    assert [int(row["id"]) for row in rows] == sorted(int(row["id"]) for row in rows)
    assert all(len(row["hash"]) == 64 for row in rows)
    # the filters narrow the export too
    only_b = admin.get("/audit/export.csv", params={"person": "SJ001"})
    rows = list(csv.DictReader(io.StringIO(only_b.content.decode("utf-8-sig"))))
    assert rows and all(row["at"].startswith("2026-12-20") for row in rows)
