"""``riskprompt warn``, ``warnings list`` and ``withdraw``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.db import make_engine
from riskprompt.models.people import Role
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.warnings import Warning, WarningColour, WarningForm, WarningStatus
from tests.builders import make_person, make_post, make_risk_point, make_unit

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def org(database: str) -> Iterator[dict[str, Any]]:
    """An officer; a unit headed by its director, whose clerk she supervises."""
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        unit = make_unit(session, name="财政局")
        empty = make_unit(session, name="空单位")
        post = make_post(session, unit=unit, name="出纳岗")
        point = make_risk_point(session, post=post, description="资金支付审核不严")
        officer = make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER)
        director = make_person(
            session, unit=unit, staff_id="CZ001", name="张局长", mobile=None, channels="email"
        )
        clerk = make_person(
            session, unit=unit, staff_id="CW001", name="王出纳", supervisor=director
        )
        officer.supervisor_id = director.id
        session.add(officer)
        session.commit()
        yield {
            "engine": engine,
            "unit": unit,
            "empty": empty,
            "point": point,
            "director": director,
            "clerk": clerk,
        }
    engine.dispose()


def run(cli: CliRunner, *args: str):
    return cli.invoke(app, ["--locale", "en", *args])


def rows(org: dict[str, Any], model: type) -> list[Any]:
    with Session(org["engine"]) as session:
        return list(session.exec(select(model).order_by(col(model.id))).all())


WARN = ("warn", "--as", "JJ001", "--reason", "采购审批未经集体研究")


def test_warn_red_queues_every_channel_and_the_supervisor(
    cli: CliRunner, org: dict[str, Any]
) -> None:
    result = run(
        cli, *WARN, "--person", "CW001", "--colour", "red", "--form", "correct",
        "--deadline", "2099-12-31", "--risk-point", str(org["point"].id),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Warning W1 issued to 王出纳 (CW001): red, ordered correction." in result.output
    assert "Deadline: December 31, 2099" in result.output
    assert "3 deliveries queued: SMS, Email, and Email (supervisor)" in result.output
    [warning] = rows(org, Warning)
    assert (warning.colour, warning.form) == (WarningColour.RED, WarningForm.CORRECT)
    assert warning.risk_point_id == org["point"].id
    # the end of that day in Shanghai
    assert warning.deadline == datetime(2099, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert [d.idempotency_key for d in rows(org, Delivery)] == [
        "w1-sms",
        "w1-email",
        "w1-email-sup",
    ]


def test_warn_a_unit_reaches_its_head(cli: CliRunner, org: dict[str, Any]) -> None:
    result = run(cli, *WARN, "--unit", "财政局", "--colour", "yellow", "--form", "prompt")
    assert result.exit_code == 0, result.output
    assert "张局长 (CZ001)" in result.output
    assert "1 delivery queued: Email" in result.output
    [warning] = rows(org, Warning)
    assert warning.person_id == org["director"].id
    headless = run(cli, *WARN, "--unit", "空单位", "--colour", "yellow", "--form", "prompt")
    assert headless.exit_code == 1
    assert "has no head" in headless.output


# A value that cannot be read, or names nobody, is a usage error (exit code 2) naming
# its option; what the rules refuse is a domain error (exit code 1).
USAGE = [
    (("--person", "CW001", "--colour", "purple", "--form", "prompt"), "--colour: unknown colour"),
    (("--person", "CW001", "--colour", "red", "--form", "scold"), "--form: unknown form"),
    (
        ("--person", "CW001", "--colour", "red", "--form", "prompt", "--deadline", "31/12"),
        "--deadline: not a date",
    ),
    (("--person", "NOBODY", "--colour", "red", "--form", "prompt"), "--person: no person"),
    (("--unit", "9999", "--colour", "red", "--form", "prompt"), "--unit: no unit"),
]


@SQLITE_ONLY
@pytest.mark.parametrize(("args", "message"), USAGE)
def test_warn_names_the_option_of_a_bad_value(
    cli: CliRunner, org: dict[str, Any], args: tuple[str, ...], message: str
) -> None:
    result = run(cli, *WARN, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert rows(org, Warning) == [] and rows(org, Delivery) == []


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "--person",
                "CW001",
                "--colour",
                "red",
                "--form",
                "prompt",
                "--deadline",
                "2020-01-01",
            ),
            "the deadline must be in the future",
        ),
        (("--colour", "red", "--form", "prompt"), "--person or --unit"),
        (("--person", "CW001", "--unit", "1", "--colour", "red", "--form", "prompt"), "one of"),
        (
            ("--person", "CW001", "--colour", "red", "--form", "prompt", "--risk-point", "999"),
            "no risk point",
        ),
    ],
)
def test_warn_refuses_bad_input_clearly(
    cli: CliRunner, org: dict[str, Any], args: tuple[str, ...], message: str
) -> None:
    result = run(cli, *WARN, *args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert rows(org, Warning) == [] and rows(org, Delivery) == []


@SQLITE_ONLY
def test_staff_may_not_warn(cli: CliRunner, org: dict[str, Any]) -> None:
    result = run(
        cli, "warn", "--as", "CW001", "--person", "CZ001", "--colour", "red",
        "--form", "prompt", "--reason", "越权",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "not an officer" in result.output
    assert rows(org, Warning) == []


@SQLITE_ONLY
def test_chinese_colour_and_form_words_are_accepted(cli: CliRunner, org: dict[str, Any]) -> None:
    result = run(cli, *WARN, "--person", "CW001", "--colour", "橙色", "--form", "诫勉警示")
    assert result.exit_code == 0, result.output
    [warning] = rows(org, Warning)
    assert (warning.colour, warning.form) == (WarningColour.ORANGE, WarningForm.ADMONISH)


@SQLITE_ONLY
def test_list_filters_and_withdraw(cli: CliRunner, org: dict[str, Any]) -> None:
    for colour, person in (("yellow", "CW001"), ("red", "CW001"), ("orange", "CZ001")):
        done = run(cli, *WARN, "--person", person, "--colour", colour, "--form", "prompt")
        assert done.exit_code == 0, done.output
    listed = run(cli, "warnings", "list")
    assert listed.exit_code == 0, listed.output
    assert "3 warnings" in listed.output
    assert all(code in listed.output for code in ("W1", "W2", "W3"))
    red = run(cli, "warnings", "list", "--colour", "red")
    assert "1 warning" in red.output and "W2" in red.output and "W1" not in red.output
    mine = run(cli, "warnings", "list", "--person", "CZ001")
    assert "1 warning" in mine.output and "W3" in mine.output
    bad = run(cli, "warnings", "list", "--status", "sleeping")
    assert bad.exit_code == 2 and "--status: unknown status" in bad.output

    refused = run(cli, "withdraw", "W2", "--as", "CW001", "--reason", "误发")
    assert refused.exit_code == 1 and "not an officer" in refused.output
    withdrawn = run(cli, "withdraw", "W2", "--as", "JJ001", "--reason", "误发")
    assert withdrawn.exit_code == 0, withdrawn.output
    assert "Warning W2 withdrawn; 3 messages not sent yet were cancelled." in withdrawn.output
    again = run(cli, "withdraw", "2", "--as", "JJ001", "--reason", "误发")
    assert again.exit_code == 1 and "withdrawn" in again.output
    missing = run(cli, "withdraw", "W99", "--as", "JJ001", "--reason", "误发")
    assert missing.exit_code == 1 and "no warning 99" in missing.output
    status = {w.id: w.status for w in rows(org, Warning)}
    assert status == {
        1: WarningStatus.ISSUED,
        2: WarningStatus.WITHDRAWN,
        3: WarningStatus.ISSUED,
    }
    cancelled = [d for d in rows(org, Delivery) if d.warning_id == 2]
    assert {d.status for d in cancelled} == {DeliveryStatus.CANCELLED}
    filtered = run(cli, "warnings", "list", "--status", "withdrawn")
    assert "1 warning" in filtered.output and "W2" in filtered.output
