"""Importing the catalogue and people: validation, upsert by natural key, one transaction."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import Post, Power, RiskLevel, RiskPoint, Unit
from riskprompt.models.importing import SAMPLE_CHANGES, import_catalog, import_people
from riskprompt.models.people import DEFAULT_CHANNELS, Assignment, Channel, Person, Role
from riskprompt.models.scope import Supervision, in_scope, scope_unit_ids
from tests.builders import assign, make_person, make_post, make_unit
from tests.fixtures.files import (
    CATALOG_HEADER,
    CATALOG_ROWS,
    PEOPLE_HEADER,
    PEOPLE_ROWS,
    write_csv,
    write_xlsx,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 12, 1)  # the clock fixture: 2026-12-01 09:00 in Shanghai
TABLES = (Unit, Post, Power, RiskPoint, Person, Assignment, AuditEvent)
# Checks that refuse a file before writing do not depend on the database: they run
# on SQLite only, which keeps the suite fast.  Every path that writes runs on both.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def counts(session: Session) -> dict[str, int]:
    """How many rows each table holds."""
    return {
        model.__name__: session.exec(select(func.count()).select_from(model)).one()
        for model in TABLES
    }


def summary(result) -> dict[str, tuple[int, int, int]]:
    return {k: (c.created, c.updated, c.unchanged) for k, c in result.counts.items()}


def problems(result) -> list[str]:
    return [str(p) for p in result.problems]


def catalog(session, clock, path, **kwargs):
    result = import_catalog(session, path=path, clock=clock, **kwargs)
    session.commit()
    return result


def people(session, clock, path, **kwargs):
    result = import_people(session, path=path, clock=clock, zone=SHANGHAI, **kwargs)
    session.commit()
    return result


@pytest.fixture
def catalog_csv(tmp_path):
    return write_csv(tmp_path / "catalog.csv", CATALOG_HEADER, CATALOG_ROWS)


@pytest.fixture
def people_csv(tmp_path):
    return write_csv(tmp_path / "people.csv", PEOPLE_HEADER, PEOPLE_ROWS)


@pytest.fixture
def with_catalog(session, clock, catalog_csv):
    """The sample catalogue, imported."""
    assert catalog(session, clock, catalog_csv).ok


# --------------------------------------------------------------------------- catalogue


def test_a_good_catalogue_is_imported(session, clock, catalog_csv) -> None:
    result = catalog(session, clock, catalog_csv)
    assert result.ok and result.applied and result.rows == 5
    assert summary(result) == {
        "units": (3, 0, 0),
        "posts": (4, 0, 0),
        "powers": (2, 0, 0),
        "risk_points": (3, 0, 0),
    }
    units = {u.name: u for u in session.exec(select(Unit)).all()}
    assert units["财务科"].parent_id == units["市纪委监委"].id
    assert units["审计科"].parent_id is None
    assert units["财务科"].created_at == clock.now()
    power = session.exec(select(Power).where(Power.name == "资金支付审批")).one()
    assert (power.content, power.legal_basis) == ("审核资金支付申请", "《会计法》第二十七条")
    points = {p.description: p for p in session.exec(select(RiskPoint)).all()}
    assert points["违规审批资金支付"].level is RiskLevel.HIGH
    assert points["违规审批资金支付"].measures == ["双人审核", "集体研究决定"]
    assert points["虚报冒领"].measures == ["核对原始凭证", "全程留痕"]
    assert points["虚报冒领"].power_id == power.id
    assert points["现金管理不当"].power_id is None
    assert points["现金管理不当"].measures == ["日清月结", "定期盘点"]
    post_names = set(session.exec(select(Post.name)).all())
    assert post_names == {"办公室", "会计岗", "出纳岗", "审计岗"}


def test_one_audit_record_per_applied_import(session, clock, catalog_csv) -> None:
    catalog(session, clock, catalog_csv)
    event = session.exec(select(AuditEvent)).one()
    assert event.action == "catalog.imported"
    assert event.data["file"] == "catalog.csv"
    assert event.data["counts"]["risk_points"] == {"created": 3, "updated": 0, "unchanged": 0}


def test_reimporting_the_same_file_changes_nothing(session, clock, catalog_csv) -> None:
    catalog(session, clock, catalog_csv)
    before = counts(session)
    result = catalog(session, clock, catalog_csv)
    assert result.ok and not result.changed
    assert summary(result) == {
        "units": (0, 0, 3),
        "posts": (0, 0, 4),
        "powers": (0, 0, 2),
        "risk_points": (0, 0, 3),
    }
    assert counts(session) == before  # not even an audit record


def test_a_changed_row_updates_its_record(session, clock, tmp_path, catalog_csv) -> None:
    catalog(session, clock, catalog_csv)
    rows = [list(r) for r in CATALOG_ROWS]
    rows[1][7], rows[1][8] = "低", "双人审核"  # level and measures of 违规审批资金支付
    rows[1][4] = "审核并签批资金支付申请"  # the power's content
    rows[3][1] = ""  # 出纳岗's row no longer states the parent; rows 3-4 still do
    result = catalog(session, clock, write_csv(tmp_path / "v2.csv", CATALOG_HEADER, rows))
    assert summary(result) == {
        "units": (0, 0, 3),
        "posts": (0, 0, 4),
        "powers": (0, 1, 1),
        "risk_points": (0, 1, 2),
    }
    point = session.exec(select(RiskPoint).where(RiskPoint.description == "违规审批资金支付")).one()
    session.refresh(point)
    assert (point.level, point.measures) == (RiskLevel.LOW, ["双人审核"])
    power = session.exec(select(Power).where(Power.name == "资金支付审批")).one()
    session.refresh(power)
    assert power.content == "审核并签批资金支付申请"
    assert power.legal_basis == "《会计法》第二十七条"


def test_columns_left_out_are_left_alone(session, clock, tmp_path, catalog_csv) -> None:
    catalog(session, clock, catalog_csv)
    header = ["单位", "岗位", "风险点", "风险等级", "防控措施"]
    rows = [["财务科", "会计岗", "违规审批资金支付", "高", "双人审核；集体研究决定"]]
    result = catalog(session, clock, write_csv(tmp_path / "slim.csv", header, rows))
    assert not result.changed
    point = session.exec(select(RiskPoint).where(RiskPoint.description == "违规审批资金支付")).one()
    assert point.power_id is not None  # no power column: the link stays
    unit = session.exec(select(Unit).where(Unit.name == "财务科")).one()
    assert unit.parent_id is not None  # no parent column: the nesting stays


def test_dry_run_writes_nothing(session, clock, tmp_path) -> None:
    rows = [["单位A", "", f"岗位{i}", "", "", "", f"风险{i}", "中", "措施"] for i in range(30)]
    path = write_csv(tmp_path / "many.csv", CATALOG_HEADER, rows)
    result = catalog(session, clock, path, dry_run=True)
    assert result.ok and result.dry_run and not result.applied
    assert summary(result)["risk_points"] == (30, 0, 0)
    assert len(result.changes) == SAMPLE_CHANGES
    assert (result.changes[0].action, result.changes[0].subject) == ("create", "单位A")
    assert set(counts(session).values()) == {0}


@sqlite_only
def test_english_and_chinese_headers_mixed_and_reordered(session, clock, tmp_path) -> None:
    header = [" Measures ", "风险等级", "RISK_POINT", "Post", "单位", "parent unit", "Cause"]
    rows = [["全程留痕", "High", "超范围审批", "审批岗", "行政审批科", "", "制度不健全"]]
    result = catalog(session, clock, write_csv(tmp_path / "en.csv", header, rows))
    assert result.ok, problems(result)
    point = session.exec(select(RiskPoint)).one()
    assert (point.description, point.level, point.cause) == (
        "超范围审批",
        RiskLevel.HIGH,
        "制度不健全",
    )


@sqlite_only
def test_every_encoding_imports_the_same_catalogue(session, clock, tmp_path, subtests) -> None:
    for n, encoding in enumerate(["gb18030", "utf-8", "utf-8-sig"]):
        with subtests.test(encoding=encoding):
            path = write_csv(tmp_path / f"{n}.csv", CATALOG_HEADER, CATALOG_ROWS, encoding=encoding)
            result = catalog(session, clock, path)
            assert result.ok, problems(result)
            # The first creates; the others read the very same text, so change nothing.
            assert summary(result)["risk_points"] == ((3, 0, 0) if n == 0 else (0, 0, 3))
    assert "违规审批资金支付" in session.exec(select(RiskPoint.description)).all()


@sqlite_only
def test_xlsx_on_a_named_sheet(session, clock, tmp_path) -> None:
    path = write_xlsx(
        tmp_path / "c.xlsx", CATALOG_HEADER, CATALOG_ROWS, sheet="职权目录", before=["填报说明"]
    )
    refused = catalog(session, clock, path)  # the first sheet holds notes
    assert problems(refused)[0].startswith(f"{path}:1:说明：本表为填报说明: unknown column")
    result = catalog(session, clock, path, sheet="职权目录")
    assert summary(result)["risk_points"] == (3, 0, 0)


def test_units_nest_through_the_database(session, clock, tmp_path) -> None:
    make_unit(session, name="省纪委监委")
    session.commit()
    header = ["单位", "上级单位", "岗位", "风险点", "风险等级", "防控措施"]
    rows = [["市纪委监委", "省纪委监委", "办公室", "", "", ""]]
    assert catalog(session, clock, write_csv(tmp_path / "n.csv", header, rows)).ok
    parent, child = session.exec(select(Unit).order_by(col(Unit.id))).all()
    assert child.parent_id == parent.id


CATALOG_PROBLEMS = [
    (1, 7, "极高", "3:风险等级: unknown risk level '极高': use 高/中/低 or high/medium/low"),
    (1, 7, "", "3:风险等级: the risk level is empty: use 高/中/低 or high/medium/low"),
    (1, 8, " ；", "3:防控措施: a risk point needs at least one control measure"),
    (1, 0, "", "3:单位: the unit is empty: write it on every row (merged cells are not read)"),
    (
        4,
        1,
        "市委",
        "6:上级单位: unknown parent unit '市委': it is neither in this file nor in the database",
    ),
    (1, 1, "财务科", "3:上级单位: a unit cannot be its own parent unit"),
    (2, 1, "审计科", "4:上级单位: unit '财务科' has parent unit '市纪委监委' on row 3"),
    (
        2,
        5,
        "《预算法》",
        "4:法律依据: power '资金支付审批' of this post has another value here on row 3",
    ),
    (
        2,
        6,
        "违规审批资金支付",
        "4:风险点: risk point '违规审批资金支付' of this post is already on row 3, differently",
    ),
    (4, 7, "高", "6:风险等级: this value needs a risk point on the same row"),
    (3, 4, "内容", "5:职权内容: this value needs a power name on the same row"),
    (0, 6, "x" * 501, "2:风险点: too long: at most 500 characters, not 501"),
]


@sqlite_only
def test_each_bad_catalogue_row_is_located(session, clock, tmp_path, subtests) -> None:
    # Refused files write nothing, so every case can share one database.
    for n, (index, column, value, expected) in enumerate(CATALOG_PROBLEMS):
        with subtests.test(expected=expected):
            rows = [list(r) for r in CATALOG_ROWS]
            rows[index][column] = value
            path = write_csv(tmp_path / f"bad{n}.csv", CATALOG_HEADER, rows)
            assert problems(catalog(session, clock, path)) == [f"{path}:{expected}"]
    assert set(counts(session).values()) == {0}


@sqlite_only
def test_a_parent_cycle_is_refused(session, clock, tmp_path) -> None:
    header = ["单位", "上级单位", "岗位", "风险点", "风险等级", "防控措施"]
    rows = [
        ["甲", "乙", "", "", "", ""],
        ["乙", "丙", "", "", "", ""],
        ["丙", "甲", "", "", "", ""],
    ]
    path = write_csv(tmp_path / "cycle.csv", header, rows)
    assert problems(catalog(session, clock, path)) == [
        f"{path}:2:上级单位: the parent units form a cycle: 甲 → 乙 → 丙 → 甲"
    ]


@sqlite_only
def test_missing_and_unknown_columns_are_listed(session, clock, tmp_path) -> None:
    header = ["单位", "岗位", "风险点", "风险等级", "防控措施 ", "备注"]
    path = write_csv(tmp_path / "cols.csv", header, [["a", "b", "c", "高", "d", "e"]])
    assert catalog(session, clock, path).ok is False
    header = ["单位", "岗位", "风险点", "防控措施"]
    path = write_csv(tmp_path / "missing.csv", header, [["a", "b", "c", "d"]])
    assert problems(catalog(session, clock, path)) == [
        f"{path}:1:风险等级: missing column 风险等级 (level)"
    ]


def test_three_bad_rows_are_all_listed_and_nothing_changes(
    session, clock, tmp_path, catalog_csv
) -> None:
    catalog(session, clock, catalog_csv)
    before = counts(session)
    rows = [list(r) for r in CATALOG_ROWS] + [
        ["新单位", "", "新岗位", "", "", "", "新风险点", "中", "新措施"]
    ]
    rows[1][7] = "很高"
    rows[2][8] = ""
    rows[3][1] = "不存在的单位"
    path = write_csv(tmp_path / "three.csv", CATALOG_HEADER, rows)
    result = catalog(session, clock, path)
    assert problems(result) == [
        f"{path}:3:风险等级: unknown risk level '很高': use 高/中/低 or high/medium/low",
        f"{path}:4:防控措施: a risk point needs at least one control measure",
        f"{path}:5:上级单位: unit '财务科' has parent unit '市纪委监委' on row 3",
    ]
    assert not result.applied
    assert counts(session) == before


def test_a_thousand_rows_report_progress(session, clock, tmp_path) -> None:
    rows = [
        [f"单位{i // 100}", "", f"岗位{i // 10}", "", "", "", f"风险点{i}", "低", "措施一；措施二"]
        for i in range(1000)
    ]
    path = write_csv(tmp_path / "big.csv", CATALOG_HEADER, rows)
    seen: list[tuple[str, int, int | None]] = []
    result = catalog(session, clock, path, progress=lambda *a: seen.append(a))
    assert summary(result) == {
        "units": (10, 0, 0),
        "posts": (100, 0, 0),
        "powers": (0, 0, 0),
        "risk_points": (1000, 0, 0),
    }
    checks = [s for s in seen if s[0] == "check"]
    assert checks[0] == ("check", 500, 1000) and checks[-1] == ("check", 1000, 1000)
    writes = [s for s in seen if s[0] == "write"]
    assert writes[-1] == ("write", 1110, 1110)
    assert counts(session)["RiskPoint"] == 1000


@sqlite_only
def test_file_level_problems_leave_the_database_alone(session, clock, tmp_path) -> None:
    result = catalog(session, clock, tmp_path / "nowhere.csv", source="nowhere.csv")
    assert problems(result) == ["nowhere.csv: no such file"]


# --------------------------------------------------------------------------- people


def test_good_people_file_is_imported(session, clock, with_catalog, people_csv) -> None:
    result = people(session, clock, people_csv, default_locale="zh_CN")
    assert result.ok, problems(result)
    assert summary(result) == {"people": (3, 0, 0), "assignments": (4, 0, 0)}
    found = {p.staff_id: p for p in session.exec(select(Person)).all()}
    zhang, li, wang = found["E001"], found["E002"], found["E003"]
    assert (zhang.mobile, zhang.email) == ("+8613800138001", "Zhang.San@example.org")
    assert (zhang.role, zhang.locale, zhang.channels) == (Role.STAFF, "zh_CN", DEFAULT_CHANNELS)
    assert zhang.supervisor_id == wang.id and li.supervisor_id == wang.id  # forward references
    assert (li.mobile, li.locale, li.channels, li.email) == (
        "+8613800138002",
        "en",
        "sms,email",
        None,
    )
    assert (wang.role, wang.mobile, wang.timezone) == (Role.OFFICER, None, "Asia/Shanghai")
    held = session.exec(
        select(Post.name)
        .join(Assignment, col(Assignment.post_id) == Post.id)
        .where(Assignment.person_id == zhang.id)
    ).all()
    assert sorted(held) == ["会计岗", "出纳岗"]
    starts = set(session.exec(select(Assignment.start_on)).all())
    assert starts == {TODAY}
    assert session.exec(select(AuditEvent.action).order_by(col(AuditEvent.id).desc())).first() == (
        "people.imported"
    )


@sqlite_only
def test_defaults_come_from_the_settings(session, clock, with_catalog, tmp_path) -> None:
    path = write_csv(tmp_path / "p.csv", ["name", "staff_id", "unit"], [["Ann", "A1", "财务科"]])
    result = people(session, clock, path, default_locale="en", default_timezone="Europe/Berlin")
    assert result.ok
    ann = session.exec(select(Person)).one()
    assert (ann.locale, ann.timezone, ann.role, ann.mobile) == (
        "en",
        "Europe/Berlin",
        Role.STAFF,
        None,
    )


def test_reimporting_people_changes_nothing(session, clock, with_catalog, people_csv) -> None:
    people(session, clock, people_csv)
    before = counts(session)
    result = people(session, clock, people_csv)
    assert not result.changed
    assert summary(result) == {"people": (0, 0, 3), "assignments": (0, 0, 4)}
    assert counts(session) == before


def test_moving_posts_ends_and_starts_assignments(
    session, clock, with_catalog, people_csv, tmp_path
) -> None:
    people(session, clock, people_csv)
    rows = [list(r) for r in PEOPLE_ROWS]
    rows[0][3] = "会计岗"  # 张三 leaves 出纳岗
    rows[1][3] = "会计岗"  # 李四 moves from 出纳岗 to 会计岗
    rows[1][4] = "13800138009"
    clock.current = clock.current.replace(day=15)
    result = people(session, clock, write_csv(tmp_path / "v2.csv", PEOPLE_HEADER, rows))
    assert summary(result) == {"people": (0, 1, 2), "assignments": (1, 2, 2)}
    li = session.exec(select(Person).where(Person.staff_id == "E002")).one()
    session.refresh(li)
    assert li.mobile == "+8613800138009"
    spans = session.exec(
        select(Post.name, Assignment.start_on, Assignment.end_on)
        .join(Post, col(Post.id) == Assignment.post_id)
        .where(Assignment.person_id == li.id)
        .order_by(col(Assignment.id))
    ).all()
    assert [tuple(s) for s in spans] == [
        ("出纳岗", TODAY, date(2026, 12, 15)),
        ("会计岗", date(2026, 12, 15), None),
    ]


def test_an_empty_post_cell_ends_every_post(session, clock, with_catalog, tmp_path) -> None:
    unit = session.exec(select(Unit).where(Unit.name == "财务科")).one()
    post = session.exec(select(Post).where(Post.name == "会计岗")).one()
    person = make_person(session, unit=unit, staff_id="E100")
    assign(session, person=person, post=post)
    session.commit()
    path = write_csv(
        tmp_path / "p.csv", ["姓名", "工号", "单位", "岗位"], [["某人", "E100", "财务科", ""]]
    )
    result = people(session, clock, path)
    assert summary(result) == {"people": (0, 1, 0), "assignments": (0, 1, 0)}
    assignment = session.exec(select(Assignment)).one()
    session.refresh(assignment)
    assert assignment.end_on == TODAY


@sqlite_only
def test_people_xlsx_with_numbers_in_cells(session, clock, with_catalog, tmp_path) -> None:
    rows = [["赵六", 1001, "财务科", "会计岗", 13800138005, "", "", "", "", "短信、邮件"]]
    path = write_xlsx(tmp_path / "p.xlsx", PEOPLE_HEADER, rows, sheet="人员")
    result = people(session, clock, path, sheet="人员")
    assert result.ok, problems(result)
    zhao = session.exec(select(Person)).one()
    assert (zhao.staff_id, zhao.mobile, zhao.channels) == ("1001", "+8613800138005", "sms,email")


def test_people_dry_run_writes_nothing(session, clock, with_catalog, people_csv) -> None:
    before = counts(session)
    result = people(session, clock, people_csv, dry_run=True)
    assert summary(result) == {"people": (3, 0, 0), "assignments": (4, 0, 0)}
    assert [c.subject for c in result.changes[:2]] == ["张三 (E001)", "张三 (E001) → 会计岗"]
    assert counts(session) == before


PEOPLE_PROBLEMS = [
    (
        0,
        2,
        "人事科",
        "2:单位: unknown unit '人事科': import the catalogue first or correct the name",
    ),
    (0, 3, "会计岗；保安岗", "2:岗位: unknown post '保安岗' in unit '财务科'"),
    (0, 3, "审计岗", "2:岗位: unknown post '审计岗' in unit '财务科'"),
    (0, 4, "1380013", "2:手机: not a valid phone number: '1380013'"),
    (0, 4, "call me", "2:手机: not a phone number: 'call me'"),
    (0, 5, "zhang@", "2:邮箱: not an email address: 'zhang@'"),
    (1, 1, "E001", "3:工号: duplicate staff id 'E001': already on row 2"),
    (
        0,
        7,
        "E999",
        "2:上级工号: unknown supervisor 'E999': no such staff id in this file or the database",
    ),
    (0, 7, "E001", "2:上级工号: a person cannot be their own supervisor"),
    (2, 7, "E001", "2:上级工号: the supervisors form a cycle: E001 → E003 → E001"),
    (
        0,
        6,
        "boss",
        "2:角色: unknown role 'boss': use staff/officer/admin or 工作人员/纪检监察/管理员",
    ),
    (0, 8, "fr", "2:语言: unsupported language 'fr': use zh_CN or en"),
    (
        0,
        9,
        "sms,fax",
        "2:渠道: unknown channel 'fax': use wecom, dingtalk, telegram, sms or email",
    ),
    (0, 1, "", "2:工号: the staff id is empty"),
    (0, 0, "", "2:姓名: the name is empty"),
]


@sqlite_only
def test_each_bad_people_row_is_located(session, clock, with_catalog, tmp_path, subtests) -> None:
    before = counts(session)
    for n, (index, column, value, expected) in enumerate(PEOPLE_PROBLEMS):
        with subtests.test(expected=expected):
            rows = [list(r) for r in PEOPLE_ROWS]
            rows[index][column] = value
            path = write_csv(tmp_path / f"bad{n}.csv", PEOPLE_HEADER, rows)
            assert problems(people(session, clock, path)) == [f"{path}:{expected}"]
    assert counts(session) == before


@sqlite_only
def test_unknown_time_zone(session, clock, with_catalog, tmp_path) -> None:
    path = write_csv(
        tmp_path / "tz.csv",
        ["姓名", "工号", "单位", "时区"],
        [["甲", "T1", "财务科", "Mars/Olympus"]],
    )
    assert problems(people(session, clock, path)) == [
        f"{path}:2:时区: unknown time zone 'Mars/Olympus': use a name such as Asia/Shanghai"
    ]


def test_supervisor_may_be_in_the_database(session, clock, with_catalog, tmp_path) -> None:
    unit = session.exec(select(Unit).where(Unit.name == "财务科")).one()
    boss = make_person(session, unit=unit, staff_id="B001")
    session.commit()
    path = write_csv(
        tmp_path / "p.csv", ["姓名", "工号", "单位", "上级工号"], [["甲", "T1", "财务科", "B001"]]
    )
    assert people(session, clock, path).ok
    assert (
        session.exec(select(Person).where(Person.staff_id == "T1")).one().supervisor_id == boss.id
    )


def test_a_cycle_through_the_database_is_refused(session, clock, with_catalog, tmp_path) -> None:
    unit = session.exec(select(Unit).where(Unit.name == "财务科")).one()
    top = make_person(session, unit=unit, staff_id="B001")
    make_person(session, unit=unit, staff_id="B002", supervisor=top)
    session.commit()
    path = write_csv(
        tmp_path / "p.csv", ["姓名", "工号", "单位", "上级工号"], [["甲", "B001", "财务科", "B002"]]
    )
    assert problems(people(session, clock, path)) == [
        f"{path}:2:上级工号: the supervisors form a cycle: B001 → B002 → B001"
    ]


def test_three_bad_people_rows_are_all_listed(
    session, clock, with_catalog, people_csv, tmp_path
) -> None:
    people(session, clock, people_csv)
    before = counts(session)
    rows = [list(r) for r in PEOPLE_ROWS] + [["新人", "E004", "财务科", "", "", "", "", "", "", ""]]
    rows[0][4] = "12345"
    rows[1][5] = "not-an-email"
    rows[2][2] = "不存在"
    path = write_csv(tmp_path / "three.csv", PEOPLE_HEADER, rows)
    result = people(session, clock, path)
    assert problems(result) == [
        f"{path}:2:手机: not a valid phone number: '12345'",
        f"{path}:3:邮箱: not an email address: 'not-an-email'",
        f"{path}:4:单位: unknown unit '不存在': import the catalogue first or correct the name",
    ]
    assert counts(session) == before


@sqlite_only
def test_supervisors_of_people_on_refused_rows_are_still_known(
    session, clock, with_catalog, people_csv, tmp_path
) -> None:
    rows = [list(r) for r in PEOPLE_ROWS]
    rows[2][4] = "bad"  # E003's own row is refused; rows pointing at E003 are not blamed
    path = write_csv(tmp_path / "p.csv", PEOPLE_HEADER, rows)
    assert problems(people(session, clock, path)) == [f"{path}:4:手机: not a phone number: 'bad'"]


def test_people_with_builders_data_update_by_staff_id(
    session, clock, with_catalog, tmp_path
) -> None:
    unit = session.exec(select(Unit).where(Unit.name == "财务科")).one()
    make_post(session, unit=unit, name="复核岗")
    make_person(session, unit=unit, staff_id="E001", name="张三", email="old@example.org")
    session.commit()
    path = write_csv(
        tmp_path / "p.csv",
        ["姓名", "工号", "单位", "邮箱"],
        [["张三", "E001", "财务科", "new@example.org"]],
    )
    result = people(session, clock, path)
    assert summary(result) == {"people": (0, 1, 0), "assignments": (0, 0, 0)}
    assert result.changes[0].fields == ("email",)
    person = session.exec(select(Person)).one()
    session.refresh(person)
    assert person.email == "new@example.org"
    assert person.mobile == "+8613800000000"  # no mobile column: unchanged


# --------------------------------------------------------------------------- supervision scope

SCOPE_HEADER = [*PEOPLE_HEADER, "监督范围"]


def _scope_rows(cell: str, *, staff_cell: str = "") -> list[list[str]]:
    """The sample people with the officer E003's 监督范围 cell (and E001's)."""
    rows = [[*row, ""] for row in PEOPLE_ROWS]
    rows[0][-1] = staff_cell
    rows[2][-1] = cell
    return rows


def _scope_of(session, staff_id: str) -> set[str]:
    person = session.exec(select(Person).where(Person.staff_id == staff_id)).one()
    query = (
        select(Unit.name)
        .join(Supervision, col(Supervision.unit_id) == Unit.id)
        .where(Supervision.officer_id == person.id)
    )
    return set(session.exec(query).all())


def test_the_scope_column_sets_replaces_and_keeps_an_officers_units(
    session, clock, with_catalog, tmp_path
) -> None:
    # Full names and a part naming one unit only, separated by ；/;
    path = write_csv(tmp_path / "s1.csv", SCOPE_HEADER, _scope_rows("审计科；财务"))
    result = people(session, clock, path)
    assert result.ok, problems(result)
    assert summary(result)["supervision"] == (1, 0, 0)
    assert _scope_of(session, "E003") == {"审计科", "财务科"}
    wang = session.exec(select(Person).where(Person.staff_id == "E003")).one()
    units = {u.name: u.id for u in session.exec(select(Unit)).all()}
    assert scope_unit_ids(session, officer=wang) == {units["审计科"], units["财务科"]}

    # The same file again changes nothing; another scope replaces the stored one.
    assert not people(session, clock, path).changed
    path = write_csv(tmp_path / "s2.csv", SCOPE_HEADER, _scope_rows("市纪委监委"))
    result = people(session, clock, path)
    assert summary(result)["supervision"] == (0, 1, 0)
    assert _scope_of(session, "E003") == {"市纪委监委"}
    # ...its subtree: the unit and the units below it.
    assert scope_unit_ids(session, officer=wang) == {units["市纪委监委"], units["财务科"]}

    # A file without the column keeps the stored scope.
    without = write_csv(tmp_path / "s3.csv", PEOPLE_HEADER, PEOPLE_ROWS)
    assert "supervision" not in summary(people(session, clock, without))
    assert _scope_of(session, "E003") == {"市纪委监委"}

    # An empty cell in a file with the column: every unit again.
    path = write_csv(tmp_path / "s4.csv", SCOPE_HEADER, _scope_rows(""))
    assert summary(people(session, clock, path))["supervision"] == (0, 1, 0)
    assert _scope_of(session, "E003") == set()
    assert scope_unit_ids(session, officer=wang) is None


SCOPE_PROBLEMS = [
    ("人事科", "", "4:监督范围: unknown unit '人事科' in the supervision scope"),
    (
        "科",
        "",
        "4:监督范围: unit '科' is ambiguous: it is part of 审计科、财务科; write the full name",
    ),
    ("", "审计科", "2:监督范围: only officers (纪检监察) have a supervision scope"),
]


@sqlite_only
@pytest.mark.parametrize(("cell", "staff_cell", "expected"), SCOPE_PROBLEMS)
def test_a_bad_scope_cell_is_located_and_nothing_is_imported(
    session, clock, with_catalog, tmp_path, cell, staff_cell, expected
) -> None:
    before = counts(session)
    path = write_csv(tmp_path / "bad.csv", SCOPE_HEADER, _scope_rows(cell, staff_cell=staff_cell))
    result = people(session, clock, path)
    assert problems(result) == [f"{path}:{expected}"]
    assert counts(session) == before
    assert session.exec(select(Supervision)).all() == []


def test_a_stationed_groups_officer_names_the_units_they_are_stationed_in(
    session, clock, with_catalog, tmp_path
) -> None:
    # 派驻纪检监察组: the officer belongs to 市纪委监委 and supervises 审计科 only.
    path = write_csv(tmp_path / "p.csv", SCOPE_HEADER, _scope_rows("审计科"))
    assert people(session, clock, path).ok
    wang = session.exec(select(Person).where(Person.staff_id == "E003")).one()
    zhang = session.exec(select(Person).where(Person.staff_id == "E001")).one()
    units = {u.name: u.id for u in session.exec(select(Unit)).all()}
    assert scope_unit_ids(session, officer=wang) == {units["审计科"]}
    assert wang.unit_id not in (scope_unit_ids(session, officer=wang) or set())
    assert not in_scope(session, officer=wang, person=zhang)  # 财务科 is not theirs


# --------------------------------------------------------------------------- chat accounts

ACCOUNT_HEADER = [*PEOPLE_HEADER, "企业微信账号", "钉钉账号"]


def _with_accounts(*accounts: tuple[str, str]) -> list[list[str]]:
    pairs = zip(PEOPLE_ROWS, accounts, strict=True)
    return [[*row, wecom, dingtalk] for row, (wecom, dingtalk) in pairs]


def test_wecom_and_dingtalk_accounts_are_imported_and_updated(
    session, clock, with_catalog, tmp_path
) -> None:
    rows = _with_accounts(("ZhangSan", "manager4220"), ("", "0123456789"), ("wangwu", ""))
    rows[0][9] = "企业微信、钉钉、短信"
    result = people(session, clock, write_csv(tmp_path / "a.csv", ACCOUNT_HEADER, rows))
    assert result.ok, problems(result)
    found = {p.staff_id: p for p in session.exec(select(Person)).all()}
    zhang, li, wang = found["E001"], found["E002"], found["E003"]
    # WeCom ignores the case of a userid: it is kept in lower case
    assert (zhang.wecom_userid, zhang.dingtalk_userid) == ("zhangsan", "manager4220")
    assert zhang.channel_preference == [Channel.WECOM, Channel.DINGTALK, Channel.SMS]
    assert zhang.reachable_channels()[:2] == [Channel.WECOM, Channel.DINGTALK]
    assert zhang.address_for(Channel.WECOM) == "zhangsan"
    assert (li.wecom_userid, li.dingtalk_userid) == (None, "0123456789")
    assert (wang.wecom_userid, wang.dingtalk_userid) == ("wangwu", None)

    rows[1][10] = "lisi"
    again = people(session, clock, write_csv(tmp_path / "b.csv", ACCOUNT_HEADER, rows))
    assert summary(again)["people"] == (0, 1, 2)
    session.refresh(li)
    assert li.wecom_userid == "lisi"
    # a file without the columns leaves the accounts alone
    without = [row[: len(PEOPLE_HEADER)] for row in rows]
    plain = people(session, clock, write_csv(tmp_path / "c.csv", PEOPLE_HEADER, without))
    assert plain.ok and not plain.changed
    session.refresh(zhang)
    assert zhang.wecom_userid == "zhangsan"


@sqlite_only
def test_bad_and_shared_accounts_are_located(session, clock, with_catalog, tmp_path) -> None:
    bad = _with_accounts(("张 三", ""), ("", "a,b"), ("", ""))
    result = people(session, clock, write_csv(tmp_path / "bad.csv", ACCOUNT_HEADER, bad))
    assert [p.split(": ", 1)[0].rsplit(":", 2)[-2:] for p in problems(result)] == [
        ["2", "企业微信账号"],
        ["3", "钉钉账号"],
    ]
    shared = _with_accounts(("wangwu", ""), ("WangWu", ""), ("", ""))
    result = people(session, clock, write_csv(tmp_path / "shared.csv", ACCOUNT_HEADER, shared))
    assert problems(result) == [
        f"{tmp_path / 'shared.csv'}:3:企业微信账号: account 'wangwu' already belongs to E001"
    ]
    assert counts(session)["Person"] == 0
