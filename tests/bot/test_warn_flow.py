"""``/warn``: an officer issues a warning in chat, through the Bot API stand-in."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from riskprompt.models.notices import Notice, NoticeReach
from riskprompt.models.warnings import Warning, WarningColour, WarningForm
from tests.bot.conftest import CLERK_CHAT, OFFICER_CHAT, World, buttons

sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def test_officer_issues_a_warning_step_by_step(world: World) -> None:
    await world.bind("JJ001", OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "/warn")
    assert "Whom is the warning for?" in world.last_text(OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "NOBODY")
    assert "NOBODY" in world.last_text(OFFICER_CHAT)  # refused, still at the subject step
    assert world.state(OFFICER_CHAT).step == "subject"  # type: ignore[union-attr]
    await world.send(OFFICER_CHAT, "JJ001")
    assert "do not warn themselves" in world.last_text(OFFICER_CHAT)
    await world.send(OFFICER_CHAT, "CW001")
    question = world.api.sent(OFFICER_CHAT)[-1]
    assert "张出纳 (CW001)" in question.params["text"]
    assert [d for _l, d in buttons(question)] == ["wn:c:yellow", "wn:c:orange", "wn:c:red"]
    await world.tap(OFFICER_CHAT, "wn:c:orange")
    assert [d for _l, d in buttons(world.api.sent(OFFICER_CHAT)[-1])] == [
        "wn:f:prompt",
        "wn:f:admonish",
        "wn:f:correct",
    ]
    # a button of a step already taken does nothing
    await world.tap(OFFICER_CHAT, "wn:c:red")
    assert world.answers()[-1].params["text"] == "This button is no longer valid."
    await world.tap(OFFICER_CHAT, "wn:f:correct")
    await world.send(OFFICER_CHAT, "采购审批未经集体研究")
    preview = world.api.sent(OFFICER_CHAT)[-1]
    assert "orange warning (ordered correction) to 张出纳 (CW001)" in preview.params["text"]
    assert "采购审批未经集体研究" in preview.params["text"]
    assert [d for _l, d in buttons(preview)] == ["wn:ok", "x"]
    await world.tap(OFFICER_CHAT, "wn:ok")
    with world.session() as session:
        warning = session.exec(select(Warning)).one()
        told = session.exec(select(Notice).where(col(Notice.warning_id) == warning.id)).all()
    assert f"✓ Issued as W{warning.id}." in world.edits()[-1].params["text"]
    assert (warning.colour, warning.form) == (WarningColour.ORANGE, WarningForm.CORRECT)
    assert warning.reason == "采购审批未经集体研究"
    # the domain tells the clerk on every channel (orange); the dispatcher sends it
    assert [(n.reader_id, n.reach) for n in told] == [(warning.person_id, NoticeReach.EVERY)]
    assert world.actions().count("warning.issued") == 1
    assert world.state(OFFICER_CHAT).flow is None  # type: ignore[union-attr]
    # the preview's button does not issue twice
    await world.tap(OFFICER_CHAT, "wn:ok", message_id=preview.result["message_id"])
    assert world.answers()[-1].params["text"] == "This button is no longer valid."
    with world.session() as session:
        assert len(session.exec(select(Warning)).all()) == 1


@sqlite_only
async def test_staff_cannot_warn(world: World) -> None:
    await world.bind("CW001", CLERK_CHAT)
    await world.send(CLERK_CHAT, "/warn")
    assert world.last_text(CLERK_CHAT) == "张出纳 (CW001) is not an officer and may not do this"
    await world.tap(CLERK_CHAT, "wn:ok", message_id=1)
    assert world.state(CLERK_CHAT).flow is None  # type: ignore[union-attr]
    with world.session() as session:
        assert session.exec(select(Warning)).all() == []


@sqlite_only
async def test_withdraw_says_how_when_misused_and_refuses_staff(world: World) -> None:
    await world.bind("JJ001", OFFICER_CHAT)
    await world.bind("CW001", CLERK_CHAT)
    for text in ("/withdraw", "/withdraw W1", "/withdraw 采购 W1"):
        await world.send(OFFICER_CHAT, text)
        assert "/withdraw W7 sent in error" in world.last_text(OFFICER_CHAT), text
    await world.send(OFFICER_CHAT, "/withdraw W999 误发")
    assert "There is no warning W999." in world.last_text(OFFICER_CHAT)
    await world.send(CLERK_CHAT, "/withdraw W1 误发")
    assert "is not an officer and may not do this" in world.last_text(CLERK_CHAT)
    assert "warning.withdrawn" not in world.actions()
