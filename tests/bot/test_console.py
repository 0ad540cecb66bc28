"""The console chat: the bot's handlers through the in-process Bot API emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from riskprompt.bot.console import (
    CONSOLE_CHAT_BASE,
    ConsoleBot,
    ConsoleError,
    scripted_conversation,
    write_sample_evidence,
)
from riskprompt.cli.chat import register
from riskprompt.config.settings import Settings, load_settings
from riskprompt.context import AppContext
from riskprompt.models.clock import FixedClock
from riskprompt.models.db import make_engine
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Delivery, Prompt, PromptStatus
from riskprompt.models.warnings import Rectification, RectificationStatus, Warning, WarningStatus
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.standins.telegram import TelegramStandin

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def people(database: str, clock: FixedClock) -> Iterator[Engine]:
    """An officer (JJ001) and a clerk (CW001) with one open prompt; English readers."""
    engine = make_engine(database)
    with Session(engine, expire_on_commit=False) as session:
        unit = make_unit(session, name="财政局")
        make_person(
            session, unit=unit, staff_id="JJ001", name="王纪检", role=Role.OFFICER, locale="en"
        )
        clerk = make_person(session, unit=unit, staff_id="CW001", name="张出纳", locale="en")
        make_prompt_with_delivery(session, person=clerk, at=clock.now(), title="特别提示")
        session.commit()
    yield engine
    engine.dispose()


async def test_the_scripted_conversation(
    people: Engine, database: str, clock: FixedClock, tmp_path: Path
) -> None:
    settings = Settings(DATABASE_URL=database, DATA_DIR=tmp_path / "data")
    evidence = write_sample_evidence(tmp_path / "会议记录.pdf")
    seen = []
    transcript = await scripted_conversation(
        settings=settings,
        engine=people,
        clock=clock,
        staff_id="CW001",
        officer_id="JJ001",
        evidence=evidence,
        echo=seen.append,
    )
    assert seen == transcript
    said = {(e.who, e.action): e.replies for e in transcript}
    assert "✓ P1 acknowledged by 张出纳" in said[("张出纳", "[已阅 / Acknowledge]")]
    assert "Received 会议记录.pdf" in said[("张出纳", "📎 会议记录.pdf")]
    assert "✓ Submitted at" in said[("张出纳", "[Submit]")]
    assert "张出纳 (CW001) reported a correction" in said[("王纪检", "(opens the chat)")]
    assert "✓ Accepted by 王纪检" in said[("王纪检", "[Accept]")]
    assert "was accepted by 王纪检" in said[("张出纳", "(opens the chat)")]
    with Session(people) as session:
        assert session.exec(select(Prompt)).one().status is PromptStatus.ACKNOWLEDGED
        assert session.exec(select(Warning)).one().status is WarningStatus.CLOSED
        report = session.exec(select(Rectification)).one()
        assert report.status is RectificationStatus.ACCEPTED
        assert report.evidence[0]["name"] == "会议记录.pdf"
        # the console unbound the chats it bound
        assert all(p.telegram_chat_id is None for p in session.exec(select(Person)).all())


async def test_buttons_by_number_and_a_bound_person_keeps_their_chat(
    people: Engine, database: str, clock: FixedClock, tmp_path: Path
) -> None:
    with Session(people) as session:
        officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
        officer.telegram_chat_id = 4242
        session.commit()
    settings = Settings(DATABASE_URL=database, DATA_DIR=tmp_path)
    async with ConsoleBot(settings=settings, engine=people, clock=clock) as console:
        officer_chat = await console.chat_as("JJ001")
        assert officer_chat.chat_id == 4242
        assert "You are 王纪检 (JJ001)" in officer_chat.greeting
        clerk = await console.chat_as("CW001")
        assert clerk.chat_id > CONSOLE_CHAT_BASE
        out = await clerk.send("/prompts")
        assert "[1] Acknowledge P1" in out
        assert "acknowledged by 张出纳" in await clerk.tap(1)
        with pytest.raises(ConsoleError):
            await clerk.tap(1)  # the button is gone
        with pytest.raises(ConsoleError):
            await clerk.upload(tmp_path / "missing.pdf")
        assert "Which language?" in await clerk.send("/language")
        assert "From now on I write in" in await clerk.tap("lang:en")
    with Session(people) as session:
        rows = {p.staff_id: p.telegram_chat_id for p in session.exec(select(Person)).all()}
    assert rows == {"JJ001": 4242, "CW001": None}


def _cli(clock: FixedClock) -> typer.Typer:
    app = typer.Typer()
    people_app = typer.Typer()
    app.add_typer(people_app, name="people")

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = AppContext(settings=load_settings(), clock=clock)

    register(app, people_app)
    return app


def test_riskprompt_chat_reads_lines_from_the_terminal(
    people: Engine, cli: CliRunner, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKPROMPT_DATA_DIR", "data")
    result = cli.invoke(
        _cli(clock),
        ["chat", "--as", "CW001"],
        input="/prompts\n/tap 1\n/tap 9\n/help\n/quit\n",
    )
    assert result.exit_code == 0, result.output
    assert "正以张出纳的身份在终端对话" in result.output  # zh_CN, the default
    assert "[1] Acknowledge P1" in result.output
    assert "✓ P1 acknowledged by 张出纳" in result.output
    # the edited message has no button left: the console says so, in zh_CN
    assert "! 没有可点击的按钮" in result.output
    assert "/warnings" in result.output
    unknown = cli.invoke(_cli(clock), ["chat", "--as", "NOBODY"], input="")
    assert unknown.exit_code == 1
    assert "NOBODY" in unknown.output


async def test_people_invite_prints_the_link_and_queues_it(
    people: Engine,
    cli: CliRunner,
    clock: FixedClock,
    telegram_api: TelegramStandin,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = await asyncio.to_thread(cli.invoke, _cli(clock), ["people", "invite", "CW001"])
    assert result.exit_code == 0, result.output
    assert "/start " in result.output  # no bot configured: the code only
    with Session(people) as session:
        assert session.exec(select(Delivery).where(Delivery.prompt_id.is_(None))).all() == []  # type: ignore[union-attr]

    monkeypatch.setenv("RISKPROMPT_TELEGRAM_TOKEN", telegram_api.token)
    monkeypatch.setenv("RISKPROMPT_TELEGRAM_API_URL", telegram_api.url)
    # in a thread: the stand-in answers getMe on this test's event loop
    result = await asyncio.to_thread(
        cli.invoke, _cli(clock), ["people", "invite", "CW001", "--days", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "https://t.me/riskprompt_standin_bot?start=" in result.output
    assert "sms" in result.output and "https://t.me/" in result.output
    with Session(people) as session:
        queued = session.exec(select(Delivery).where(Delivery.prompt_id.is_(None))).one()  # type: ignore[union-attr]
    assert queued.channel == "sms"
    assert "https://t.me/riskprompt_standin_bot?start=" in queued.body
    assert queued.due_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
