"""States, channels and titles reach people as words of their language, never raw values."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.demo import SAMPLE_DIR
from riskprompt.models.clock import FixedClock
from riskprompt.models.importing import import_catalog, import_people
from riskprompt.models.people import Person, Role
from tests.builders import make_person, make_unit

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def org(engine: Engine) -> Iterator[Engine]:
    """An officer, a clerk reached by SMS and email, and the clerk's director (email)."""
    with Session(engine) as session:
        unit = make_unit(session, name="财政局")
        make_person(session, unit=unit, staff_id="JJ001", role=Role.OFFICER)
        director = make_person(
            session, unit=unit, staff_id="CZ001", name="张局长", mobile=None, channels="email"
        )
        make_person(
            session,
            unit=unit,
            staff_id="CW001",
            name="王出纳",
            supervisor=director,
            channels="sms,email",
        )
        session.commit()
    yield engine


WARN = ("warn", "--as", "JJ001", "--person", "CW001", "--reason", "采购审批未经集体研究")


def test_the_channels_of_a_warning_are_named_in_the_readers_words(
    cli: CliRunner, org: Engine
) -> None:
    result = cli.invoke(app, [*WARN, "--colour", "red", "--form", "correct"])
    assert result.exit_code == 0, result.output
    assert "已排队发送 3 条：短信、电子邮件和电子邮件（上级）" in result.output
    english = cli.invoke(app, ["--locale", "en", *WARN, "--colour", "red", "--form", "prompt"])
    assert "3 deliveries queued: SMS, Email, and Email (supervisor)" in english.output


def test_a_refusal_names_the_state_and_the_action_in_the_readers_words(
    cli: CliRunner, org: Engine
) -> None:
    assert cli.invoke(app, [*WARN, "--colour", "yellow", "--form", "prompt"]).exit_code == 0
    withdraw = ("withdraw", "W1", "--as", "JJ001", "--reason", "误发")
    assert cli.invoke(app, list(withdraw)).exit_code == 0
    again = cli.invoke(app, list(withdraw))
    assert again.exit_code == 1
    assert "预警W1当前状态为“已撤回”，无法撤回" in again.output
    assert "withdraw" not in again.output
    english = cli.invoke(app, ["--locale", "en", *withdraw])
    assert "cannot withdraw warning W1: it is withdrawn" in english.output


def test_the_sample_people_take_the_configured_language(
    session: Session, clock: FixedClock
) -> None:
    """The demo's people have no language of their own: an English demo reads English."""
    assert import_catalog(session, path=SAMPLE_DIR / "catalog.csv", clock=clock).ok
    result = import_people(
        session,
        path=SAMPLE_DIR / "people.csv",
        clock=clock,
        zone=ZoneInfo("Asia/Shanghai"),
        default_locale="en",
    )
    assert result.ok
    assert set(session.exec(select(Person.locale)).all()) == {"en"}
