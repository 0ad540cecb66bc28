"""Exporting the catalogue and people: the importers read the files back as a no-op."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import select

from riskprompt.models.catalog import RiskLevel
from riskprompt.models.exporting import (
    catalog_rows,
    export_catalog,
    export_people,
    people_header,
    people_rows,
)
from riskprompt.models.importing import import_catalog, import_people
from riskprompt.models.people import DEFAULT_CHANNELS, Role
from riskprompt.models.scope import Supervision
from riskprompt.models.tabular import TableError, open_table
from tests.builders import assign, make_person, make_post, make_power, make_risk_point, make_unit
from tests.fixtures.files import (
    CATALOG_HEADER,
    CATALOG_ROWS,
    PEOPLE_HEADER,
    PEOPLE_ROWS,
    write_csv,
)
from tests.models.test_importing import TABLES, summary

TODAY = date(2026, 12, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def snapshot(session) -> dict[str, int]:
    return {m.__name__: session.exec(select(func.count()).select_from(m)).one() for m in TABLES}


def read_back(path) -> tuple[list[str], list[list[str]]]:
    with open_table(path) as table:
        return table.headers, [cells for _, cells in table.rows()]


@pytest.fixture
def imported(session, clock, tmp_path):
    """The sample catalogue and people, imported."""
    catalog_csv = write_csv(tmp_path / "catalog.csv", CATALOG_HEADER, CATALOG_ROWS)
    assert import_catalog(session, path=catalog_csv, clock=clock).ok
    people_csv = write_csv(tmp_path / "people.csv", PEOPLE_HEADER, PEOPLE_ROWS)
    assert import_people(session, path=people_csv, clock=clock, zone=SHANGHAI).ok
    session.commit()


def test_catalogue_export_in_chinese(session, imported) -> None:
    rows = list(catalog_rows(session, locale="zh_CN"))
    assert rows == [
        ["市纪委监委", "", "办公室", "", "", "", "", "", "", "", ""],
        [
            "财务科",
            "市纪委监委",
            "会计岗",
            "资金支付审批",
            "审核资金支付申请",
            "《会计法》第二十七条",
            "",
            "违规审批资金支付",
            "高",
            "",
            "双人审核；集体研究决定",
        ],
        [
            "财务科",
            "市纪委监委",
            "会计岗",
            "资金支付审批",
            "审核资金支付申请",
            "《会计法》第二十七条",
            "",
            "虚报冒领",
            "中",
            "",
            "核对原始凭证；全程留痕",
        ],
        [
            "财务科",
            "市纪委监委",
            "出纳岗",
            "",
            "",
            "",
            "",
            "现金管理不当",
            "低",
            "",
            "日清月结；定期盘点",
        ],
        ["审计科", "", "审计岗", "审计监督", "开展内部审计", "《审计法》", "", "", "", "", ""],
    ]


def test_people_export_in_english(session, imported) -> None:
    rows = list(people_rows(session, locale="en", today=TODAY))
    assert rows == [
        [
            "张三",
            "E001",
            "财务科",
            "会计岗；出纳岗",
            "+8613800138001",
            "Zhang.San@example.org",
            "",
            "",
            "staff",
            "E003",
            "zh_CN",
            DEFAULT_CHANNELS,
            "Asia/Shanghai",
            "",
        ],
        [
            "李四",
            "E002",
            "财务科",
            "出纳岗",
            "+8613800138002",
            "",
            "",
            "",
            "staff",
            "E003",
            "en",
            "sms,email",
            "Asia/Shanghai",
            "",
        ],
        [
            "王五",
            "E003",
            "市纪委监委",
            "办公室",
            "",
            "wang@example.org",
            "",
            "",
            "officer",
            "",
            "zh_CN",
            "email",
            "Asia/Shanghai",
            "",
        ],
    ]
    # Only the posts held on the given day are exported (these start on TODAY).
    assert next(people_rows(session, locale="en", today=date(2025, 1, 1)))[3] == ""


def test_import_export_import_is_a_no_op(session, clock, imported, tmp_path, subtests) -> None:
    before = snapshot(session)
    for suffix, locale in ((".csv", "zh_CN"), (".xlsx", "zh_CN"), (".csv", "en"), (".xlsx", "en")):
        with subtests.test(suffix=suffix, locale=locale):
            catalog_file = tmp_path / f"catalog-{locale}{suffix}"
            people_file = tmp_path / f"people-{locale}{suffix}"
            assert export_catalog(session, path=catalog_file, locale=locale) == 5
            assert export_people(session, path=people_file, locale=locale, today=TODAY) == 3
            headers = read_back(catalog_file)[0]
            assert headers[0] == ("单位" if locale == "zh_CN" else "unit")
            again = import_catalog(session, path=catalog_file, clock=clock)
            assert again.ok and not again.changed, summary(again)
            again = import_people(session, path=people_file, clock=clock, zone=SHANGHAI)
            assert again.ok and not again.changed, summary(again)
            session.commit()
    assert snapshot(session) == before


def test_data_made_elsewhere_round_trips(session, clock, tmp_path, subtests) -> None:
    # Units without posts, posts without risk points, powers no risk point uses,
    # a risk point without a power: every shape survives export and import.
    top = make_unit(session, name="市纪委监委")
    unit = make_unit(session, name="财务科", parent=top)
    make_unit(session, name="空单位")
    post = make_post(session, unit=unit, name="会计岗")
    make_post(session, unit=unit, name="空岗位")
    power = make_power(session, post=post, name="审批")
    make_power(session, post=post, name="备用职权")
    make_risk_point(session, post=post, power=power, description="甲", level=RiskLevel.MEDIUM)
    make_risk_point(session, post=post, description="乙", measures=["一", "二"])
    boss = make_person(session, unit=top, staff_id="B1", role=Role.ADMIN, mobile=None)
    person = make_person(session, unit=unit, staff_id="P1", supervisor=boss, email=None)
    assign(session, person=person, post=post)
    session.commit()
    before = snapshot(session)
    for suffix in (".csv", ".xlsx"):
        with subtests.test(suffix=suffix):
            catalog_file, people_file = tmp_path / f"c{suffix}", tmp_path / f"p{suffix}"
            export_catalog(session, path=catalog_file, locale="zh_CN")
            export_people(session, path=people_file, locale="zh_CN", today=TODAY)
            again = import_catalog(session, path=catalog_file, clock=clock)
            assert again.ok and not again.changed, (summary(again), again.problems)
            again = import_people(session, path=people_file, clock=clock, zone=SHANGHAI)
            assert again.ok and not again.changed, (summary(again), again.problems)
            session.commit()
    assert snapshot(session) == before
    assert ["空单位", "", "", "", "", "", "", "", "", "", ""] in read_back(tmp_path / "c.csv")[1]


def test_an_unknown_extension_is_refused(session, tmp_path) -> None:
    with pytest.raises(TableError) as caught:
        export_catalog(session, path=tmp_path / "out.json", locale="zh_CN", source="out.json")
    assert str(caught.value.problem) == "out.json: unsupported file type '.json': use .csv or .xlsx"
    assert not (tmp_path / "out.json").exists()


def test_the_supervision_scope_round_trips(session, clock, tmp_path, subtests) -> None:
    top = make_unit(session, name="市纪委监委")
    finance = make_unit(session, name="市财政局", parent=top)
    make_unit(session, name="国库科", parent=finance)
    tax = make_unit(session, name="市税务局", parent=top)
    officer = make_person(session, unit=top, staff_id="J1", role=Role.OFFICER)
    make_person(session, unit=top, staff_id="J2", role=Role.OFFICER)  # no scope: every unit
    for unit in (finance, tax):
        session.add(Supervision(officer_id=officer.id or 0, unit_id=unit.id or 0))
    session.commit()
    rows = {row[1]: row for row in people_rows(session, locale="zh_CN", today=TODAY)}
    assert rows["J1"][-1] == "市税务局；市财政局"
    assert rows["J2"][-1] == ""
    assert people_header("zh_CN")[-1] == "监督范围" and people_header("en")[-1] == "scope"
    before = snapshot(session), _scopes(session)
    for suffix in (".csv", ".xlsx"):
        with subtests.test(suffix=suffix):
            people_file = tmp_path / f"p{suffix}"
            export_people(session, path=people_file, locale="en", today=TODAY)
            again = import_people(session, path=people_file, clock=clock, zone=SHANGHAI)
            assert again.ok and not again.changed, (summary(again), again.problems)
            assert summary(again)["supervision"] == (0, 0, 1)
            session.commit()
    assert (snapshot(session), _scopes(session)) == before


def _scopes(session) -> set[tuple[int, int]]:
    return {(s.officer_id, s.unit_id) for s in session.exec(select(Supervision)).all()}
