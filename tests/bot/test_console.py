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
from riskprompt.cli.catalogue import people_app
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
    # Each tap is shown by the label its reader saw (English readers here); what the
    # demo's screen says itself is in the configured language (zh_CN).
    assert [e.action for e in transcript if e.action.startswith("[")] == [
        "[Acknowledge P1]",
        "[Report a correction on W1]",
        "[Done: preview the report]",
        "[Submit]",
        "[Accept]",
    ]
    assert "✓ P1 acknowledged by 张出纳" in said[("张出纳", "[Acknowledge P1]")]
    assert "Received 会议记录.pdf" in said[("张出纳", "📎 会议记录.pdf")]
    assert "✓ Submitted at" in said[("张出纳", "[Submit]")]
    assert "张出纳 (CW001) reported a correction" in said[("王纪检", "（打开会话）")]
    assert "✓ Accepted by 王纪检" in said[("王纪检", "[Accept]")]
    assert "was accepted by 王纪检" in said[("张出纳", "（打开会话）")]
    # the demo's own words (the description) follow the configured language too
    assert "已组织集体研究" in transcript[5].action
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


async def test_after_language_english_the_titles_and_buttons_are_english(
    people: Engine, database: str, clock: FixedClock, tmp_path: Path
) -> None:
    with Session(people) as session:
        clerk = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
        clerk.locale = "zh_CN"
        session.commit()
    settings = Settings(DATABASE_URL=database, DATA_DIR=tmp_path)
    async with ConsoleBot(settings=settings, engine=people, clock=clock) as console:
        chat = await console.chat_as("CW001")
        before = await chat.send("/prompts")
        assert "P1 · 特别提示" in before and "[1] 已阅 P1" in before
        await chat.send("/language")
        await chat.tap("lang:en")
        after = await chat.send("/prompts")
        assert "P1 · Special risk prompt" in after and "[1] Acknowledge P1" in after
        assert "特别提示" not in after
        assert chat.button(1)[1] == "Acknowledge P1"


def _cli(clock: FixedClock) -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = AppContext(settings=load_settings(), clock=clock)

    register(app)  # `chat`, and `invite` among the `people` commands
    app.add_typer(people_app, name="people")
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
    assert unknown.exit_code == 2  # a bad --as is a usage error, named
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
    assert "链接已加入短信发送队列" in result.output  # the channel by its name, not `sms`
    with Session(people) as session:
        queued = session.exec(select(Delivery).where(Delivery.prompt_id.is_(None))).one()  # type: ignore[union-attr]
    assert queued.channel == "sms"
    assert "https://t.me/riskprompt_standin_bot?start=" in queued.body
    assert queued.due_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
