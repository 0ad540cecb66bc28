"""The Telegram conversations, end to end through the Bot API stand-in."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from riskprompt.models.conversations import create_binding_code
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Broadcast, Prompt, PromptStatus
from riskprompt.models.warnings import Rectification, RectificationStatus, Warning, WarningStatus
from tests.bot.conftest import (
    CLERK_CHAT,
    COLLEAGUE_CHAT,
    JPEG,
    OFFICER_CHAT,
    STRANGER_CHAT,
    World,
    buttons,
)
from tests.builders import make_prompt_with_delivery, make_warning

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def _prompt_for(world: World, staff_id: str) -> int:
    with world.session() as session:
        person = session.exec(select(Person).where(Person.staff_id == staff_id)).one()
        prompt, _delivery = make_prompt_with_delivery(
            session, person=person, at=world.clock.now(), title="特别提示", body="请注意。"
        )
        session.commit()
        return prompt.id or 0


def _warning_for(world: World, staff_id: str, officer_id: str = "JJ001") -> int:
    with world.session() as session:
        person = session.exec(select(Person).where(Person.staff_id == staff_id)).one()
        officer = session.exec(select(Person).where(Person.staff_id == officer_id)).one()
        warning = make_warning(session, person=person, officer=officer, at=world.clock.now())
        session.commit()
        return warning.id or 0


def _files(world: World) -> list[Path]:
    folder = Path(world.settings.DATA_DIR) / "evidence"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# -- binding ----------------------------------------------------------------------------------


@sqlite_only
async def test_binding_by_code_and_its_refusals(world: World) -> None:
    with world.session() as session:
        clerk = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
        colleague = session.exec(select(Person).where(Person.staff_id == "CW002")).one()
        code = create_binding_code(session, person=clerk, clock=world.clock)
        late = create_binding_code(session, person=clerk, clock=world.clock, ttl=timedelta(hours=1))
        other = create_binding_code(session, person=colleague, clock=world.clock)
        session.commit()

    await world.send(CLERK_CHAT, "/prompts")
    assert "本会话尚未绑定人员" in world.last_text(CLERK_CHAT)  # zh_CN, the default

    await world.send(CLERK_CHAT, f"/start {code}")
    assert "Welcome, 张出纳" in world.last_text(CLERK_CHAT)  # the clerk reads English
    assert world.person("CW001").telegram_chat_id == CLERK_CHAT

    await world.send(STRANGER_CHAT, f"/start {code}")
    assert "已被使用" in world.last_text(STRANGER_CHAT)  # unbound chats read zh_CN
    await world.send(STRANGER_CHAT, "/start NOSUCHCODE")
    assert "邀请码无效" in world.last_text(STRANGER_CHAT)
    world.clock.advance(timedelta(hours=2))
    await world.send(STRANGER_CHAT, f"/start {late}")
    assert "过期" in world.last_text(STRANGER_CHAT)
    # one person per chat: the clerk's chat cannot take the colleague's code
    await world.send(CLERK_CHAT, f"/start {other}")
    assert "already bound to someone else" in world.last_text(CLERK_CHAT)
    assert world.person("CW002").telegram_chat_id is None

    await world.send(CLERK_CHAT, "/unbind")
    assert "no longer linked to 张出纳" in world.last_text(CLERK_CHAT)
    assert world.person("CW001").telegram_chat_id is None
    assert world.actions().count("binding.bound") == 1
    assert "binding.unbound" in world.actions()


# -- the whole routine, on both databases -------------------------------------------------


async def test_acknowledge_report_and_accept(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    await world.bind("JJ001", OFFICER_CHAT)
    prompt_id = _prompt_for(world, "CW001")
    warning_id = _warning_for(world, "CW001")

    # acknowledge a prompt from /prompts; the message is edited and the button goes
    await world.send(CLERK_CHAT, "/prompts")
    # the title in the reader's language (English), not as stored when it was made
    assert f"P{prompt_id} · Special risk prompt" in world.last_text(CLERK_CHAT)
    await world.tap(CLERK_CHAT, f"ack:p:{prompt_id}")
    edit = world.edits()[-1]
    assert f"✓ P{prompt_id} acknowledged by 张出纳 at" in edit.params["text"]
    assert edit.params["parse_mode"] == "HTML"
    assert f"ack:p:{prompt_id}" not in str(edit.params.get("reply_markup"))
    assert world.answers()[-1].params["text"] == "Acknowledged. Thank you."
    # a second tap changes nothing
    await world.tap(CLERK_CHAT, f"ack:p:{prompt_id}", message_id=edit.params["message_id"])
    assert world.answers()[-1].params["text"] == "Already acknowledged."
    assert len(world.edits()) == 1
    with world.session() as session:
        prompt = session.get(Prompt, prompt_id)
        assert prompt is not None
        assert prompt.status is PromptStatus.ACKNOWLEDGED
        assert prompt.acknowledged_via == "telegram"
    assert world.actions().count("prompt.acknowledged") == 1

    # report a correction with two photos
    await world.send(CLERK_CHAT, "/warnings")
    assert f"W{warning_id} · yellow warning · ordered correction" in world.last_text(CLERK_CHAT)
    await world.tap(CLERK_CHAT, f"rc:{warning_id}")
    assert "Describe in one message" in world.last_text(CLERK_CHAT)
    await world.send(CLERK_CHAT, "已组织集体研究，补齐会议记录。")
    assert "Now send the evidence" in world.last_text(CLERK_CHAT)
    await world.photo(CLERK_CHAT)
    assert "1 file so far" in world.last_text(CLERK_CHAT)
    await world.photo(CLERK_CHAT, JPEG + b"second")
    assert "2 files so far" in world.last_text(CLERK_CHAT)
    await world.tap(CLERK_CHAT, "rc:done")
    preview = world.last_text(CLERK_CHAT)
    assert "Evidence: 2 files" in preview
    assert "已组织集体研究" in preview
    await world.tap(CLERK_CHAT, "rc:ok")
    assert "✓ Submitted at" in world.edits()[-1].params["text"]

    with world.session() as session:
        warning = session.get(Warning, warning_id)
        assert warning is not None
        assert warning.status is WarningStatus.SUBMITTED
        report = session.exec(select(Rectification)).one()
    assert [e["mime"] for e in report.evidence] == ["image/jpeg", "image/jpeg"]
    stored = _files(world)
    assert len(stored) == 2
    for item in report.evidence:
        path = Path(world.settings.DATA_DIR) / item["path"]
        assert path in stored
        assert item["path"].startswith(f"evidence/{warning_id}/")
        assert item["size"] == path.stat().st_size
    assert world.state(CLERK_CHAT).flow is None  # type: ignore[union-attr]

    # the officer is told (by the outbox), opens the report from the notice and accepts it
    await world.dispatch()
    notice = world.api.sent(OFFICER_CHAT)[-1]
    assert f"张出纳 (CW001) reported a correction on W{warning_id}" in notice.params["text"]
    assert buttons(notice) == [("Review it", f"rv:s:{report.id}")]
    await world.tap(OFFICER_CHAT, f"rv:s:{report.id}")
    assert f"Correction R{report.id} on W{warning_id}" in world.last_text(OFFICER_CHAT)
    await world.tap(OFFICER_CHAT, f"rv:a:{report.id}")
    assert "✓ Accepted by 王纪检" in world.edits()[-1].params["text"]
    assert world.last_text(OFFICER_CHAT) == "No correction is waiting for your review."
    await world.dispatch()
    assert "was accepted by 王纪检" in world.last_text(CLERK_CHAT)
    with world.session() as session:
        warning = session.get(Warning, warning_id)
        assert warning is not None
        assert warning.status is WarningStatus.CLOSED
        report = session.exec(select(Rectification)).one()
        assert report.status is RectificationStatus.ACCEPTED
    actions = world.actions()
    assert actions.index("warning.submitted") < actions.index("warning.accepted")
    # every button press was answered
    assert len(world.answers()) == len(world.api.calls_of("answerCallbackQuery", ok=True))


# -- refusals ----------------------------------------------------------------------------------


@sqlite_only
async def test_a_strangers_tap_is_refused(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    await world.bind("CW002", COLLEAGUE_CHAT)
    prompt_id = _prompt_for(world, "CW001")
    warning_id = _warning_for(world, "CW001")

    # the colleague's client sends a button press carrying the clerk's prompt
    await world.tap(COLLEAGUE_CHAT, f"ack:p:{prompt_id}", message_id=1)
    refusal = world.answers()[-1].params
    assert refusal["text"].startswith("No prompt of yours has the number P")  # as a missing one
    assert refusal["show_alert"] is True
    await world.tap(COLLEAGUE_CHAT, f"ack:w:{warning_id}", message_id=1)
    assert world.answers()[-1].params["text"].startswith("No warning of yours has the number W")
    await world.tap(COLLEAGUE_CHAT, f"rc:{warning_id}", message_id=1)
    assert f"No warning of yours has the number W{warning_id}" in world.answers()[-1].params["text"]
    await world.tap(STRANGER_CHAT, f"ack:p:{prompt_id}", message_id=1)
    assert "尚未绑定" in world.answers()[-1].params["text"]

    # guided conversations and binding happen in private chats only
    group = -1001234567890
    await world.tap(group, f"rc:{warning_id}", message_id=1)
    # nobody bound: zh_CN
    assert world.answers()[-1].params["text"] == "请在与我的私聊中进行此操作。"
    await world.send(group, "/start ABCDEFGHJK")
    assert "私聊" in world.last_text(group)

    assert world.edits() == []
    with world.session() as session:
        assert session.get(Prompt, prompt_id).status is PromptStatus.OPEN  # type: ignore[union-attr]
        assert session.get(Warning, warning_id).status is WarningStatus.ISSUED  # type: ignore[union-attr]
    assert "prompt.acknowledged" not in world.actions()


@sqlite_only
async def test_a_non_officer_cannot_use_officer_commands(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    for command in ("/remind", "/review", "/status"):
        await world.send(CLERK_CHAT, command)
        assert world.last_text(CLERK_CHAT) == (
            "张出纳 (CW001) is not an officer and may not do this"
        )
    assert world.state(CLERK_CHAT).flow is None  # type: ignore[union-attr]
    await world.tap(CLERK_CHAT, "rv:a:1", message_id=1)
    assert "is not an officer" in world.answers()[-1].params["text"]

    # the role is checked on every step: an officer demoted mid-flow is stopped
    await world.bind("JJ001", OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "/remind")
    with world.session() as session:
        officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
        officer.role = Role.STAFF
        session.commit()
    await world.send(OFFICER_CHAT, "all")
    assert "王纪检 (JJ001) is not an officer" in world.last_text(OFFICER_CHAT)
    with world.session() as session:
        assert session.exec(select(Broadcast)).all() == []


# -- corrections: cancel, restart, evidence checks -------------------------------------------


@sqlite_only
async def test_cancel_drops_the_report_and_its_files(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    warning_id = _warning_for(world, "CW001")
    await world.send(CLERK_CHAT, "/warnings")
    await world.tap(CLERK_CHAT, f"rc:{warning_id}")
    await world.send(CLERK_CHAT, "已整改")
    await world.document(CLERK_CHAT)
    assert "Received 整改报告.pdf" in world.last_text(CLERK_CHAT)
    assert len(_files(world)) == 1

    await world.send(CLERK_CHAT, "/cancel")
    assert world.last_text(CLERK_CHAT) == "Cancelled."
    assert _files(world) == []
    state = world.state(CLERK_CHAT)
    assert state is not None
    assert (state.flow, state.step, state.data) == (None, None, {})
    await world.send(CLERK_CHAT, "/cancel")
    assert world.last_text(CLERK_CHAT) == "There is nothing to cancel."
    # the old preview's buttons are stale now
    await world.tap(CLERK_CHAT, "rc:done")
    assert world.answers()[-1].params["text"] == "This button is no longer valid."
    with world.session() as session:
        assert session.exec(select(Rectification)).all() == []
        assert session.get(Warning, warning_id).status is WarningStatus.ISSUED  # type: ignore[union-attr]


@sqlite_only
async def test_a_restart_in_the_middle_of_a_report_carries_on(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    warning_id = _warning_for(world, "CW001")
    await world.send(CLERK_CHAT, "/warnings")
    await world.tap(CLERK_CHAT, f"rc:{warning_id}")
    await world.send(CLERK_CHAT, "更换了审批流程")
    await world.photo(CLERK_CHAT)

    await world.restart()  # a new process: new engine, new application

    state = world.state(CLERK_CHAT)
    assert state is not None
    assert (state.flow, state.step) == ("correction", "evidence")
    await world.photo(CLERK_CHAT, JPEG + b"after the restart")
    assert "2 files so far" in world.last_text(CLERK_CHAT)
    await world.send(CLERK_CHAT, "/done")
    assert "Evidence: 2 files" in world.last_text(CLERK_CHAT)
    await world.tap(CLERK_CHAT, "rc:ok")
    with world.session() as session:
        report = session.exec(select(Rectification)).one()
    assert report.description == "更换了审批流程"
    assert len(report.evidence) == 2


@sqlite_only
@pytest.mark.parametrize(
    ("name", "mime", "content", "size", "refusal"),
    [
        ("notes.txt", "text/plain", b"hello", None, "This type of file is not accepted"),
        ("scan.exe", "application/pdf", b"%PDF-1.4", None, "does not match its type"),
        ("big.pdf", "application/pdf", b"%PDF-1.4", 11 * 1024 * 1024, "too large"),
        ("fake.pdf", "application/pdf", b"MZ\x90\x00", None, "content does not match"),
    ],
)
async def test_evidence_is_checked(
    world: World, name: str, mime: str, content: bytes, size: int | None, refusal: str
) -> None:
    await world.bind("CW001", CLERK_CHAT)
    warning_id = _warning_for(world, "CW001")
    await world.send(CLERK_CHAT, "/warnings")
    await world.tap(CLERK_CHAT, f"rc:{warning_id}")
    await world.send(CLERK_CHAT, "已整改")
    await world.document(CLERK_CHAT, content, name=name, mime=mime, size=size)
    assert refusal in world.last_text(CLERK_CHAT)
    assert _files(world) == []
    assert world.state(CLERK_CHAT).data["evidence"] == []  # type: ignore[union-attr]


# -- officers ----------------------------------------------------------------------------------


@sqlite_only
async def test_review_rejects_with_a_reason_and_the_warning_reopens(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    await world.bind("JJ001", OFFICER_CHAT)
    warning_id = _warning_for(world, "CW001")
    await world.send(CLERK_CHAT, "/warnings")
    await world.tap(CLERK_CHAT, f"rc:{warning_id}")
    await world.send(CLERK_CHAT, "已整改")
    await world.document(CLERK_CHAT)
    await world.tap(CLERK_CHAT, "rc:done")
    await world.tap(CLERK_CHAT, "rc:ok")
    await world.dispatch()

    await world.send(OFFICER_CHAT, "/review")
    review = world.api.sent(OFFICER_CHAT)[-1]
    report_id = buttons(review)[0][1].removeprefix("rv:a:")
    assert [d for _l, d in buttons(review)] == [
        f"rv:a:{report_id}",
        f"rv:r:{report_id}",
        f"rv:n:{report_id}",
    ]
    assert "整改报告.pdf" in review.params["text"]
    await world.tap(OFFICER_CHAT, f"rv:r:{report_id}")
    assert f"Why is R{report_id} rejected?" in world.last_text(OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "缺少会议记录")
    rejected = world.texts(OFFICER_CHAT)[-2]
    assert f"R{report_id} rejected: W{warning_id} is returned for a new correction by" in rejected

    await world.dispatch()
    told = world.api.sent(CLERK_CHAT)[-1]
    assert "was rejected by 王纪检: 缺少会议记录" in told.params["text"]
    assert buttons(told) == [(f"Report a correction on W{warning_id}", f"rc:{warning_id}")]
    with world.session() as session:
        warning = session.get(Warning, warning_id)
        assert warning is not None
        assert warning.status is WarningStatus.RETURNED
        report = session.exec(select(Rectification)).one()
        assert report.status is RectificationStatus.REJECTED
        assert report.review_note == "缺少会议记录"
    assert world.state(OFFICER_CHAT).flow is None  # type: ignore[union-attr]
    # the clerk can report again straight from the notice
    await world.tap(CLERK_CHAT, f"rc:{warning_id}")
    assert world.state(CLERK_CHAT).step == "describe"  # type: ignore[union-attr]


@sqlite_only
async def test_officer_issues_a_special_prompt(world: World) -> None:
    await world.bind("JJ001", OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "/remind")
    assert [d for _l, d in buttons(world.api.sent(OFFICER_CHAT)[-1])] == [
        "rm:t:unit",
        "rm:t:high",
        "rm:t:all",
    ]
    await world.send(OFFICER_CHAT, "person:NOBODY")
    assert "NOBODY" in world.last_text(OFFICER_CHAT)  # refused, still at the target step
    assert world.state(OFFICER_CHAT).step == "target"  # type: ignore[union-attr]
    await world.tap(OFFICER_CHAT, "rm:t:unit")
    assert "unit 财政局 and its sub-units: 3 people" in world.last_text(OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "节前请严守廉洁纪律。")
    preview = world.api.sent(OFFICER_CHAT)[-1]
    assert "节前请严守廉洁纪律。" in preview.params["text"]
    assert [d for _l, d in buttons(preview)] == ["rm:ok", "x"]
    await world.tap(OFFICER_CHAT, "rm:ok")
    assert "✓ Sent to 3 people" in world.edits()[-1].params["text"]
    with world.session() as session:
        broadcast = session.exec(select(Broadcast)).one()
        prompts = session.exec(select(Prompt)).all()
    assert broadcast.target.startswith("unit:")
    assert broadcast.text == "节前请严守廉洁纪律。"
    assert len(prompts) == 3
    assert world.state(OFFICER_CHAT).flow is None  # type: ignore[union-attr]
    # the preview's button does not send twice
    await world.tap(OFFICER_CHAT, "rm:ok", message_id=preview.result["message_id"])
    assert world.answers()[-1].params["text"] == "This button is no longer valid."


@sqlite_only
async def test_status_counts_the_officers_units(world: World) -> None:
    await world.bind("JJ001", OFFICER_CHAT)
    await world.bind("CW001", CLERK_CHAT)
    first = _prompt_for(world, "CW001")
    _prompt_for(world, "CW002")
    _warning_for(world, "CW001")
    await world.tap(CLERK_CHAT, f"ack:p:{first}", message_id=1)
    world.clock.advance(timedelta(days=8))  # the warning is overdue now
    await world.send(OFFICER_CHAT, "/status")
    text = world.last_text(OFFICER_CHAT)
    assert "Supervision scope: every unit, 3 people" in text
    assert "People prompted since" in text
    assert ": 2, acknowledged 1 (50%), waiting 1" in text
    assert "Open warnings: 1, overdue: 1" in text
    assert "Corrections waiting for review: 0" in text


# -- people's commands -------------------------------------------------------------------------


@sqlite_only
async def test_prompts_are_paged_and_language_stop_resume(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    ids = [_prompt_for(world, "CW001") for _ in range(7)]
    await world.send(CLERK_CHAT, "/prompts")
    first = world.api.sent(CLERK_CHAT)[-1]
    assert "7 (page 1 of 2)" in first.params["text"]
    assert ("Older ▶", "pg:2") in buttons(first)
    await world.tap(CLERK_CHAT, "pg:2")
    page_two = world.edits()[-1].params["text"]
    assert "page 2 of 2" in page_two
    assert f"P{ids[0]} ·" in page_two
    # short replies work in chat as by SMS
    await world.send(CLERK_CHAT, f"P{ids[1]}")
    assert "Acknowledged" in world.last_text(CLERK_CHAT)

    await world.send(CLERK_CHAT, "/stop")
    assert world.person("CW001").chat_paused
    await world.send(CLERK_CHAT, "/resume")
    assert not world.person("CW001").chat_paused
    await world.send(CLERK_CHAT, "/language")
    assert [d for _l, d in buttons(world.api.sent(CLERK_CHAT)[-1])] == ["lang:zh_CN", "lang:en"]
    await world.tap(CLERK_CHAT, "lang:zh_CN")
    assert world.person("CW001").locale == "zh_CN"
    await world.send(CLERK_CHAT, "/language klingon")
    assert "klingon" in world.last_text(CLERK_CHAT)
    assert world.actions().count("person.language") == 1
    await world.send(CLERK_CHAT, "/frobnicate")
    assert "/help" in world.last_text(CLERK_CHAT)
