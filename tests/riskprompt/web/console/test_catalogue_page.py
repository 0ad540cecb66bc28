"""``/catalogue``: browsing within the scope, importing by upload, exporting as a download.

Officer A sees the people, posts and units of A only; an import with problems lists
them (file, row, column, message) and writes nothing; a clean one writes what
``riskprompt import`` writes; the export is the file ``riskprompt export`` writes.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import Post, RiskLevel, RiskPoint, Unit
from riskprompt.models.people import Assignment, Person
from tests.builders import assign, make_person, make_post, make_risk_point
from tests.riskprompt.web.console.conftest import ConsoleClients, Office

CATALOG_HEADER = "单位,上级单位,岗位,风险点,风险等级,防控措施\n"
CLEAN_CATALOG = CATALOG_HEADER + (
    "财政局,,会计岗,会计凭证审核不严,中,双人复核；定期抽查\n"
    "统计局,,统计岗,统计数据造假,高,数据留痕；交叉核对\n"
)
BAD_CATALOG = CATALOG_HEADER + (
    "统计局,,统计岗,统计数据造假,超高,数据留痕\n统计局,,统计岗,漏报瞒报,低,\n"
)


@pytest.fixture
def posts(engine: Engine, office: Office) -> dict[str, int]:
    """A cashier post in A's sub-unit (high and low risk, held by CW001), an audit post in B."""
    with Session(engine, expire_on_commit=False) as session:
        cashier = make_post(session, unit=office.unit_a_sub, name="出纳岗")
        make_risk_point(session, post=cashier, level=RiskLevel.HIGH, description="资金支付审核不严")
        make_risk_point(
            session,
            post=cashier,
            level=RiskLevel.LOW,
            description="票据保管不善",
            measures=["专柜保管"],
        )
        budget = make_post(session, unit=office.unit_a, name="预算岗")
        make_risk_point(session, post=budget, level=RiskLevel.MEDIUM, description="预算编制随意")
        auditor = make_post(session, unit=office.unit_b, name="审计岗")
        make_risk_point(session, post=auditor, level=RiskLevel.HIGH, description="审计报告失实")
        staff = session.get(Person, office.staff.id)
        staff_b = session.get(Person, office.staff_b.id)
        assert staff is not None and staff_b is not None
        assign(session, person=staff, post=cashier)
        assign(session, person=staff_b, post=auditor)
        session.commit()
        return {"cashier": cashier.id or 0, "budget": budget.id or 0, "auditor": auditor.id or 0}


def stored(engine: Engine) -> dict[str, int]:
    """How many units, posts, risk points, people, assignments and audit records there are."""
    with Session(engine) as session:
        return {
            model.__name__: int(session.exec(select(func.count()).select_from(model)).one())
            for model in (Unit, Post, RiskPoint, Person, Assignment, AuditEvent)
        }


B_MARKERS = ("审计局", "陈审计", "SJ001", "审计岗", "审计报告失实")


@pytest.mark.parametrize("tab", ["people", "posts", "units"])
def test_officer_a_sees_only_unit_a(
    console: ConsoleClients, posts: dict[str, int], tab: str
) -> None:
    page = console.as_role("officer_a").get(f"/catalogue?tab={tab}")
    assert page.status_code == 200
    assert [m for m in B_MARKERS if m in page.text] == []
    assert "目录与人员" in page.text
    admin = console.as_role("admin").get(f"/catalogue?tab={tab}").text
    assert "审计" in admin


def test_people_show_unit_posts_and_risk_levels(
    console: ConsoleClients, posts: dict[str, int]
) -> None:
    html = console.as_role("officer_a").get("/catalogue").text
    for words in ("CW001", "张出纳", "国库科", "出纳岗", "工号", "所任岗位", "风险等级"):
        assert words in html, words
    assert (
        '<span class="badge high">高</span>' in html and '<span class="badge low">低</span>' in html
    )
    assert "/special?to=person:CW001" in html


def test_search_unit_and_level_filters(console: ConsoleClients, posts: dict[str, int]) -> None:
    client = console.as_role("admin")
    office = console.office
    by_name = client.get("/catalogue?q=张出").text
    assert "CW001" in by_name and "SJ001" not in by_name
    by_post = client.get("/catalogue?q=审计岗").text
    assert "SJ001" in by_post and "CW001" not in by_post
    by_id = client.get("/catalogue?q=cw00").text
    assert "CW001" in by_id
    unit_a = client.get(f"/catalogue?unit={office.unit_a.id}").text  # with its sub-unit
    assert "CW001" in unit_a and "JJA01" in unit_a and "SJ001" not in unit_a
    low = client.get("/catalogue?level=低").text
    assert "CW001" in low and "SJ001" not in low
    medium_posts = client.get("/catalogue?tab=posts&level=medium").text
    assert "预算岗" in medium_posts and "出纳岗" not in medium_posts
    posts_page = client.get("/catalogue?tab=posts&q=出纳").text
    assert "资金支付审核不严" in posts_page and "专柜保管" in posts_page
    assert posts_page.index("资金支付审核不严") < posts_page.index("票据保管不善")  # high first
    units = client.get("/catalogue?tab=units&q=国库").text
    assert "国库科" in units and "审计局" not in units
    nothing = client.get("/catalogue?q=%25").text  # a LIKE wildcard is searched as itself
    assert "没有符合条件的记录" in nothing


def test_pages_of_fifty(console: ConsoleClients, engine: Engine) -> None:
    with Session(engine) as session:
        for n in range(60):
            make_person(session, unit=console.office.unit_a, staff_id=f"P{n:03d}", name=f"人员{n}")
        session.commit()
    client = console.as_role("officer_a")
    first = client.get("/catalogue").text
    # AD001, CW001 and JJA01 come first: 50 a page
    assert "P000" in first and "P046" in first and "P047" not in first
    assert "第 1 / 2 页" in first and "page=2" in first
    second = client.get("/catalogue?page=2").text
    assert "P047" in second and "P059" in second and "P046" not in second
    assert "共 63 条" in second


def test_a_unit_of_another_scope_is_not_found_and_not_named(
    console: ConsoleClients, posts: dict[str, int]
) -> None:
    page = console.as_role("officer_a").get(f"/catalogue?unit={console.office.unit_b.id}")
    assert page.status_code == 404
    assert [m for m in B_MARKERS if m in page.text] == []
    by_name = console.as_role("officer_a").get("/catalogue?unit=审计局")
    assert by_name.status_code == 404


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("tab=secrets", 422, "tab"),
        ("page=0", 422, "page"),
        ("page=abc", 422, "page"),
        ("level=extreme", 422, "extreme"),
        ("unit=99999", 404, "99999"),
    ],
)
def test_bad_filters_are_4xx_pages(
    console: ConsoleClients, query: str, status: int, words: str
) -> None:
    page = console.as_role("officer_a").get(f"/catalogue?{query}")
    assert page.status_code == status
    assert words in page.text and "Traceback" not in page.text


def upload(client: object, name: str, content: str | bytes, **fields: str) -> object:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return client.post_form(  # type: ignore[attr-defined]
        "/catalogue/import",
        {"kind": "catalog", **fields},
        files={"file": (name, io.BytesIO(data), "text/csv")},
    )


def test_an_import_with_problems_lists_them_and_writes_nothing(
    console: ConsoleClients, engine: Engine
) -> None:
    admin = console.as_role("admin")
    before = stored(engine)
    page = upload(admin, "目录.csv", BAD_CATALOG)
    assert page.status_code == 422  # type: ignore[attr-defined]
    html = page.text  # type: ignore[attr-defined]
    assert "目录.csv中有2处问题，未导入任何数据" in html
    assert '<td>目录.csv</td><td class="num">2</td><td>风险等级</td>' in html
    assert "超高" in html
    assert '<td>目录.csv</td><td class="num">3</td><td>防控措施</td>' in html
    assert stored(engine) == before


def test_a_clean_import_writes_and_is_audited_as_the_admins(
    console: ConsoleClients, engine: Engine
) -> None:
    admin = console.as_role("admin")
    before = stored(engine)
    check = upload(admin, "catalog.csv", CLEAN_CATALOG, check="1")
    assert check.status_code == 200  # type: ignore[attr-defined]
    assert "未发现问题，未写入任何数据" in check.text  # type: ignore[attr-defined]
    assert stored(engine) == before
    page = upload(admin, "catalog.csv", CLEAN_CATALOG)
    assert page.status_code == 200  # type: ignore[attr-defined]
    assert "已导入catalog.csv" in page.text  # type: ignore[attr-defined]
    after = stored(engine)
    assert after["Unit"] == before["Unit"] + 1
    assert after["RiskPoint"] == before["RiskPoint"] + 2
    with Session(engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "catalog.imported")
        ).one()
        assert event.actor_id == console.office.admin.id
        assert event.data["file"] == "catalog.csv"
        point = session.exec(select(RiskPoint).where(RiskPoint.description == "统计数据造假")).one()
        assert point.level is RiskLevel.HIGH and point.measures == ["数据留痕", "交叉核对"]


def test_a_people_file_imports_too(console: ConsoleClients, engine: Engine) -> None:
    content = "姓名,工号,单位\n新同志,CW100,国库科\n"
    page = upload(console.as_role("admin"), "people.csv", content, kind="people")
    assert page.status_code == 200, page.text[:800]  # type: ignore[attr-defined]
    with Session(engine) as session:
        person = session.exec(select(Person).where(Person.staff_id == "CW100")).one()
        assert person.name == "新同志" and person.unit_id == console.office.unit_a_sub.id


def test_the_file_type_and_an_unreadable_file_are_problems(
    console: ConsoleClients, engine: Engine
) -> None:
    admin = console.as_role("admin")
    before = stored(engine)
    page = upload(admin, "目录.xls", b"\xd0\xcf\x11\xe0")
    assert page.status_code == 422  # type: ignore[attr-defined]
    assert ".xlsx" in page.text  # type: ignore[attr-defined]
    broken = upload(admin, "目录.xlsx", b"not a zip")
    assert broken.status_code == 422  # type: ignore[attr-defined]
    assert stored(engine) == before


def test_only_admins_import(console: ConsoleClients, engine: Engine) -> None:
    officer_a, staff_client = console.as_role("officer_a"), console.signed_in(console.office.staff)
    before = stored(engine)
    officer = upload(officer_a, "catalog.csv", CLEAN_CATALOG)
    assert officer.status_code == 403  # type: ignore[attr-defined]
    assert "管理员" in officer.text  # type: ignore[attr-defined]
    own_page = officer_a.get("/catalogue").text
    assert 'enctype="multipart/form-data"' not in own_page
    staff = upload(staff_client, "catalog.csv", CLEAN_CATALOG)
    assert staff.status_code == 403  # type: ignore[attr-defined]
    assert stored(engine) == before


def test_an_import_without_the_csrf_token_is_refused(
    console: ConsoleClients, engine: Engine
) -> None:
    admin = console.as_role("admin")
    before = stored(engine)
    refused = admin.post(
        "/catalogue/import",
        data={"kind": "catalog"},
        files={"file": ("catalog.csv", io.BytesIO(CLEAN_CATALOG.encode()), "text/csv")},
    )
    assert refused.status_code == 403
    assert stored(engine) == before


def test_an_import_without_a_file_names_the_field(console: ConsoleClients) -> None:
    page = console.as_role("admin").post_form("/catalogue/import", {"kind": "catalog"})
    assert page.status_code == 422
    assert "file" in page.text
    wrong = console.as_role("admin").post_form(
        "/catalogue/import",
        {"kind": "secrets"},
        files={"file": ("a.csv", io.BytesIO(b"x"), "text/csv")},
    )
    assert wrong.status_code == 422 and "kind" in wrong.text


@pytest.mark.parametrize("what", ["catalog", "people"])
def test_the_export_is_the_file_riskprompt_export_writes(
    console: ConsoleClients,
    database: str,
    posts: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    what: str,
) -> None:
    download = console.as_role("admin").get(f"/catalogue/export?what={what}&format=csv")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", database)
    out = tmp_path / f"{what}.csv"
    cli = CliRunner().invoke(cli_app, ["export", what, str(out)])
    assert cli.exit_code == 0, cli.output
    assert download.content == out.read_bytes()
    assert "审计" in download.content.decode("utf-8-sig")


def test_the_xlsx_export_opens(console: ConsoleClients, posts: dict[str, int]) -> None:
    download = console.as_role("admin").get("/catalogue/export?what=people&format=xlsx")
    assert download.status_code == 200
    assert "spreadsheetml" in download.headers["content-type"]
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["姓名", "工号", "单位"]
    staff_ids = {row[1].value for row in sheet.iter_rows(min_row=2)}
    assert {"CW001", "SJ001"} <= staff_ids


def test_an_officer_with_a_scope_cannot_export(console: ConsoleClients) -> None:
    page = console.as_role("officer_a").get("/catalogue/export?what=people&format=csv")
    assert page.status_code == 403
    assert "<html" in page.text and "SJ001" not in page.text
    assert "/catalogue/export" not in console.as_role("officer_a").get("/catalogue").text
    bad = console.as_role("admin").get("/catalogue/export?what=secrets&format=pdf")
    assert bad.status_code == 422 and "what" in bad.text and "format" in bad.text


def test_english_on_the_switch(console: ConsoleClients, posts: dict[str, int]) -> None:
    page = console.as_role("officer_a").get("/catalogue?lang=en&tab=posts")
    assert page.status_code == 200
    assert "Catalogue and people" in page.text and "Risk points and control measures" in page.text


def test_the_unit_filter_keeps_the_sub_units_in_scope(
    console: ConsoleClients, engine: Engine, posts: dict[str, int]
) -> None:
    page = console.as_role("officer_a").get(f"/catalogue?tab=posts&unit={console.office.unit_a.id}")
    assert "出纳岗" in page.text and "预算岗" in page.text
    with Session(engine) as session:
        count = session.exec(
            select(func.count())
            .select_from(Post)
            .where(col(Post.unit_id) == console.office.unit_b.id)
        ).one()
    assert count == 1 and "审计岗" not in page.text
