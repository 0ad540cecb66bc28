"""What people type to name a thing: codes, people, units, states, periods, days."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from riskprompt.config.settings import load_settings
from riskprompt.models import refs
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.errors import InvalidInput, NotFound
from riskprompt.models.prompts import PromptStatus
from riskprompt.models.warnings import RectificationStatus, WarningStatus
from tests.builders import make_person, make_post, make_unit

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "kind", "number"),
    [
        ("12", "prompt", 12),
        ("P12", "prompt", 12),
        ("p 12", "prompt", 12),
        ("Ｐ１２", "prompt", 12),
        ("１２", "prompt", 12),
        ("W7", "warning", 7),
        ("w7", "warning", 7),
        ("7", "warning", 7),
        ("R3", "correction", 3),
        ("C3", "correction", 3),
        ("c 3", "correction", 3),
    ],
)
def test_numbers_are_read_bare_or_as_their_code(text: str, kind: str, number: int) -> None:
    read = {
        "prompt": refs.prompt_number,
        "warning": refs.warning_number,
        "correction": refs.correction_number,
    }[kind]
    assert read(text) == number


@pytest.mark.parametrize(
    ("text", "read", "message"),
    [
        ("W7", refs.prompt_number, "not a prompt number 'W7': write 12 or P12"),
        ("P12", refs.warning_number, "not a warning number 'P12': write 7 or W7"),
        ("x", refs.correction_number, "not a correction number 'x'"),
        ("0", refs.prompt_number, "not a prompt number '0'"),
        ("99999999999", refs.warning_number, "not a warning number"),
        ("", refs.prompt_number, "not a prompt number"),
    ],
)
def test_another_kind_or_no_number_is_refused(text: str, read, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read(text)
    assert message in str(caught.value)


def test_an_acknowledgement_names_a_prompt_or_a_warning() -> None:
    assert refs.acknowledgeable("12") == "P12"
    assert refs.acknowledgeable("p12") == "P12"
    assert refs.acknowledgeable("W7") == "W7"
    with pytest.raises(InvalidInput):
        refs.acknowledgeable("R3")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("issued", WarningStatus.ISSUED),
        ("已下发", WarningStatus.ISSUED),
        ("acknowledged", WarningStatus.ACKNOWLEDGED),
        ("已阅", WarningStatus.ACKNOWLEDGED),
        ("returned", WarningStatus.RETURNED),
        ("已退回", WarningStatus.RETURNED),
        ("待整改", WarningStatus.RETURNED),
        ("已退回（待整改）", WarningStatus.RETURNED),  # as the lists print it
        ("Returned for correction", WarningStatus.RETURNED),
        ("correction submitted", WarningStatus.SUBMITTED),
        ("整改已反馈", WarningStatus.SUBMITTED),
        ("已办结", WarningStatus.CLOSED),
        (" WITHDRAWN ", WarningStatus.WITHDRAWN),
    ],
)
def test_warning_states_are_read_in_either_language(text: str, status: WarningStatus) -> None:
    assert refs.warning_status(text) is status


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("open", PromptStatus.OPEN),
        ("待阅", PromptStatus.OPEN),
        ("pending", PromptStatus.OPEN),
        ("已阅", PromptStatus.ACKNOWLEDGED),
        ("Acknowledged", PromptStatus.ACKNOWLEDGED),
        ("已撤回", PromptStatus.CANCELLED),
    ],
)
def test_prompt_states_are_read_in_either_language(text: str, status: PromptStatus) -> None:
    assert refs.prompt_status(text) is status


def test_other_states_levels_and_unknown_words() -> None:
    assert refs.correction_status("待审核") is RectificationStatus.SUBMITTED
    assert refs.correction_status("rejected") is RectificationStatus.REJECTED
    assert refs.risk_level("高") is RiskLevel.HIGH
    assert refs.risk_level("Medium") is RiskLevel.MEDIUM
    with pytest.raises(InvalidInput, match="use open, acknowledged or cancelled"):
        refs.prompt_status("sleeping")
    with pytest.raises(InvalidInput, match="returned"):
        refs.warning_status("睡着了")


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2026-12", "2026-12"),
        ("2026-1", "2026-01"),
        ("2026/12", "2026-12"),
        ("2026年12月", "2026-12"),
        ("2026年1月", "2026-01"),
        ("２０２６年１２月", "2026-12"),
        (" 2026 年 12 月 ", "2026-12"),
    ],
)
def test_periods_are_read_as_people_write_them(text: str, period: str) -> None:
    assert refs.parse_period(text) == period


@pytest.mark.parametrize("text", ["2026-13", "202612", "12月", "2026年", "2026-00", "next"])
def test_malformed_periods_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="2026年12月"):
        refs.parse_period(text)


def test_days_and_moments() -> None:
    assert refs.parse_day("2026-12-24") == date(2026, 12, 24)
    assert refs.parse_day("2026/1/2") == date(2026, 1, 2)
    assert refs.parse_day("2026年12月24日") == date(2026, 12, 24)
    for bad in ("2026-02-30", "24/12/2026", "tomorrow"):
        with pytest.raises(InvalidInput, match="2026年12月24日"):
            refs.parse_day(bad)
    settings = load_settings()
    at_nine = datetime(2026, 12, 24, 9, 0, tzinfo=SHANGHAI)
    for text in (
        "2026-12-24 09:00",
        "2026-12-24T09:00",
        "2026年12月24日 9:00",
        "2026年12月24日9时00分",
    ):
        assert refs.parse_moment(text, settings) == at_nine
    assert refs.parse_moment("2026-12-24 09:00:30", settings).second == 30
    for bad in ("2026-12-24 25:00", "2026-12-24", "09:00", "soon"):
        with pytest.raises(InvalidInput, match="YYYY-MM-DD HH:MM"):
            refs.parse_moment(bad, settings)


@pytest.fixture
def city(session: Session) -> dict[str, object]:
    fgw = make_unit(session, name="滨江市发展和改革委员会")
    zjj = make_unit(session, name="滨江市住房和城乡建设局")
    czj = make_unit(session, name="滨江市财政局")
    gk = make_unit(session, name="滨江市财政局国库支付中心", parent=czj)
    make_post(session, unit=zjj, name="施工许可岗")
    wang = make_person(session, unit=czj, staff_id="CW001", name="王芳")
    make_person(session, unit=gk, staff_id="GK007", name="王芳")
    li = make_person(session, unit=zjj, staff_id="ZJ010", name="李建")
    session.commit()
    return {"fgw": fgw, "zjj": zjj, "czj": czj, "gk": gk, "wang": wang, "li": li}


@SQLITE_ONLY
def test_people_by_staff_id_or_unique_name(session: Session, city: dict) -> None:
    assert refs.find_person(session, "CW001").id == city["wang"].id
    assert refs.find_person(session, "cw001").id == city["wang"].id
    assert refs.find_person(session, " ｃｗ００１ ").id == city["wang"].id
    assert refs.staff_id_of(session, "李建") == "ZJ010"
    with pytest.raises(InvalidInput) as caught:
        refs.find_person(session, "王芳")
    message = str(caught.value)
    assert "2 people are called 王芳" in message
    assert "王芳 (CW001, 滨江市财政局)" in message
    assert "王芳 (GK007, 滨江市财政局国库支付中心)" in message
    assert "give the staff ID" in message
    with pytest.raises(NotFound, match="no person with staff id or name 'NOBODY'"):
        refs.find_person(session, "NOBODY")


@SQLITE_ONLY
def test_units_by_id_full_name_or_a_short_form_only_one_fits(session: Session, city: dict) -> None:
    ids = {key: unit.id for key, unit in city.items() if key in ("fgw", "zjj", "czj", "gk")}
    assert refs.find_unit(session, str(ids["zjj"])).id == ids["zjj"]
    assert refs.find_unit(session, "滨江市财政局").id == ids["czj"]  # exact, though a prefix
    assert refs.find_unit(session, "财政局").id == ids["czj"]  # the end of the name
    assert refs.find_unit(session, "国库").id == ids["gk"]  # a part of it
    assert refs.find_unit(session, "住建局").id == ids["zjj"]  # an abbreviation
    assert refs.find_unit(session, "发改委").id == ids["fgw"]
    assert refs.unit_id_of(session, "住房和城乡建设局") == ids["zjj"]
    with pytest.raises(InvalidInput) as caught:
        refs.find_unit(session, "财政")
    message = str(caught.value)
    assert "财政 fits 2 units" in message
    assert f"滨江市财政局 ({ids['czj']})" in message
    assert f"滨江市财政局国库支付中心 ({ids['gk']})" in message
    for missing in ("教育局", "9999", "0"):
        with pytest.raises(NotFound, match="no unit"):
            refs.find_unit(session, missing)


@SQLITE_ONLY
def test_targets_name_people_and_units_the_canonical_way(session: Session, city: dict) -> None:
    zjj = city["zjj"].id
    assert refs.target_of(session, "person:李建") == "person:ZJ010"
    assert refs.target_of(session, "unit:住建局+") == f"unit:{zjj}+"
    assert refs.target_of(session, "unit：住建局") == f"unit:{zjj}"
    assert refs.target_of(session, "level:高") == "level:high"
    assert refs.target_of(session, "all") == "all"
    with pytest.raises(InvalidInput, match="unknown target"):
        refs.target_of(session, "team:1")
    with pytest.raises(InvalidInput, match="2 people are called"):
        refs.target_of(session, "person:王芳")
