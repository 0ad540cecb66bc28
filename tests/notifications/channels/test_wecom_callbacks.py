"""WeCom's callbacks into the web app: verified, decrypted, carried out once.

The stand-in encrypts and signs each callback with its own implementation of
WeCom's scheme and posts it to the app (in this test's loop, over ASGI), so the
card updates and answers the app sends back reach the same stand-in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, select

from riskprompt.config.i18n import translator
from riskprompt.config.settings import Settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import InboundMessage
from riskprompt.models.people import Person, Role
from riskprompt.models.prompts import Prompt, PromptStatus
from riskprompt.models.warnings import Warning
from riskprompt.notifications.channels.base import Button, Message, Outcome
from riskprompt.notifications.channels.wecom import WeComChannel
from riskprompt.notifications.rendering import warning_buttons
from riskprompt.web import create_app
from riskprompt.web.wecom import UNKNOWN_ACCOUNT, parse_xml
from tests.builders import make_person, make_prompt_with_delivery, make_unit, make_warning
from tests.standins.wecom import WeComStandin, settings_values

PUBLIC_URL = "https://riskprompt.example.gov.cn"
USERID = "zhangsan"
#: The callbacks' checks do not depend on the database: SQLite only keeps them fast.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
def settings(wecom_api: WeComStandin, database: str, tmp_path: Path) -> Settings:
    return Settings(
        DATABASE_URL=database,
        PUBLIC_URL=PUBLIC_URL,
        SECRET_KEY="a-secret-key-for-the-wecom-tests",
        OUTBOX_DIR=tmp_path / "outbox",
        DATA_DIR=tmp_path / "data",
        RATE_LIMITS=False,
        **settings_values(wecom_api),
    )


@pytest_asyncio.fixture
async def client(
    settings: Settings, engine: Engine, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings=settings, engine=engine, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as test:
        yield test


@pytest.fixture
def person(session: Session) -> Person:
    unit = make_unit(session)
    person = make_person(session, unit=unit, channels="wecom,sms", locale="zh_CN")
    person.wecom_userid = USERID
    session.add(person)
    session.commit()
    return person


async def card_for(
    settings: Settings, engine: Engine, clock: FixedClock, buttons: tuple[Button, ...]
) -> None:
    """Send a card with ``buttons`` to the member through the real channel."""
    message = Message(
        delivery_id=1,
        channel="wecom",
        address=USERID,
        subject="特别提示",
        text="请阅读",
        parts=("### 特别提示\n请注意本岗位风险点。",),
        buttons=buttons,
        idempotency_key=f"test-{buttons[0].data}",
    )
    async with WeComChannel.from_settings(settings, engine=engine, clock=clock) as channel:
        assert (await channel.send(message)).outcome is Outcome.SENT


def audit(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def prompt_status(engine: Engine, prompt_id: int | None) -> PromptStatus:
    with Session(engine) as s:
        prompt = s.get(Prompt, prompt_id)
        assert prompt is not None
        return prompt.status


# -- URL verification ------------------------------------------------------------------------


@sqlite_only
async def test_the_callback_url_is_verified_by_decrypting_echostr(
    client: httpx.AsyncClient, wecom_api: WeComStandin
) -> None:
    echo, answer = await wecom_api.verify_url(client)
    assert answer.status_code == 200 and answer.text == echo
    wrong = await client.get(
        "/wecom/callback", params={**dict(answer.request.url.params), "msg_signature": "0" * 40}
    )
    assert wrong.status_code == 403
    assert (await client.get("/wecom/callback")).status_code == 400


@sqlite_only
async def test_without_the_callback_settings_the_route_does_not_exist(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    app = create_app(settings=Settings(OUTBOX_DIR=tmp_path), engine=engine, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as bare:
        assert (await bare.get("/wecom/callback")).status_code == 404
        assert (await bare.post("/wecom/callback", content=b"<xml/>")).status_code == 404


# -- buttons ---------------------------------------------------------------------------------


@sqlite_only
async def test_the_card_button_acknowledges_once_and_the_card_says_confirmed(
    client: httpx.AsyncClient,
    wecom_api: WeComStandin,
    settings: Settings,
    engine: Engine,
    session: Session,
    clock: FixedClock,
    person: Person,
) -> None:
    prompt, _ = make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    await card_for(settings, engine, clock, (Button("已阅", f"ack:p:{prompt.id}"),))
    [card] = wecom_api.cards(USERID)
    event = wecom_api.card_event(card, f"ack:p:{prompt.id}")

    answer = await wecom_api.post_callback(client, event)

    assert answer.status_code == 200 and answer.text == ""
    assert prompt_status(engine, prompt.id) is PromptStatus.ACKNOWLEDGED
    [acked] = audit(engine, "prompt.acknowledged")
    assert acked.data["via"] == "wecom"
    # the card's buttons are greyed out with "已确认", through update_template_card
    assert card.updated_to == "已确认"
    [update] = wecom_api.updates
    assert update["userids"] == [USERID] and update["agentid"] == wecom_api.agent_id

    # WeCom re-sends the same event: nothing changes, no second update
    again = await wecom_api.post_callback(client, event)
    assert again.status_code == 200
    assert len(audit(engine, "prompt.acknowledged")) == 1 and len(wecom_api.updates) == 1


@sqlite_only
async def test_a_callback_with_a_bad_signature_changes_nothing(
    client: httpx.AsyncClient,
    wecom_api: WeComStandin,
    settings: Settings,
    engine: Engine,
    session: Session,
    clock: FixedClock,
    person: Person,
) -> None:
    prompt, _ = make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    await card_for(settings, engine, clock, (Button("已阅", f"ack:p:{prompt.id}"),))
    [card] = wecom_api.cards(USERID)
    event = wecom_api.card_event(card, f"ack:p:{prompt.id}")

    refused = await wecom_api.post_callback(client, event, bad_signature=True)

    assert refused.status_code == 403
    assert prompt_status(engine, prompt.id) is PromptStatus.OPEN
    assert wecom_api.updates == []
    with Session(engine) as s:
        assert s.exec(select(InboundMessage)).all() == []
    # a body that is not WeCom's XML, or declares entities, is refused too
    bomb = b'<!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    assert (await client.post("/wecom/callback", content=bomb)).status_code == 400
    assert (await client.post("/wecom/callback", content=b"x" * 70_000)).status_code == 413


@sqlite_only
async def test_someone_elses_prompt_is_refused_in_their_language(
    client: httpx.AsyncClient,
    wecom_api: WeComStandin,
    settings: Settings,
    engine: Engine,
    session: Session,
    clock: FixedClock,
    person: Person,
) -> None:
    other = make_person(session, unit=make_unit(session))
    theirs, _ = make_prompt_with_delivery(session, person=other, at=clock.now())
    session.commit()
    await card_for(settings, engine, clock, (Button("已阅", f"ack:p:{theirs.id}"),))
    [card] = wecom_api.cards(USERID)

    await wecom_api.post_callback(client, wecom_api.card_event(card, f"ack:p:{theirs.id}"))

    assert prompt_status(engine, theirs.id) is PromptStatus.OPEN
    assert wecom_api.updates == []
    [refusal] = [m for m in wecom_api.sent_to(USERID) if m.msgtype == "text"]
    assert f"P{theirs.id}" in refusal.content


@sqlite_only
async def test_report_a_correction_answers_with_the_signed_page(
    client: httpx.AsyncClient,
    wecom_api: WeComStandin,
    settings: Settings,
    engine: Engine,
    session: Session,
    clock: FixedClock,
    person: Person,
) -> None:
    officer = make_person(session, unit=make_unit(session), role=Role.OFFICER)
    warning = make_warning(session, person=person, officer=officer, at=clock.now())
    session.commit()
    buttons = warning_buttons(warning_id=warning.id or 0, correction=True, locale="zh_CN")
    assert [b.label for b in buttons] == [f"已阅 W{warning.id}", f"反馈整改情况（W{warning.id}）"]
    await card_for(settings, engine, clock, buttons)
    [card] = wecom_api.cards(USERID)

    await wecom_api.post_callback(client, wecom_api.card_event(card, buttons[1].data))

    [link] = [m for m in wecom_api.sent_to(USERID) if m.msgtype == "text"]
    assert f"W{warning.id}" in link.content and f"{PUBLIC_URL}/ack/" in link.content
    page = link.content.split(PUBLIC_URL, 1)[1].split()[0]
    assert (await client.get(page)).status_code == 200
    # then the acknowledgement on the same card
    await wecom_api.post_callback(client, wecom_api.card_event(card, buttons[0].data))
    with Session(engine) as s:
        assert (s.get(Warning, warning.id) or warning).acknowledged_at is not None
    assert card.updated_to == "已确认"


# -- text replies ----------------------------------------------------------------------------


@sqlite_only
async def test_a_text_reply_acknowledges_like_an_sms_and_is_answered_in_place(
    client: httpx.AsyncClient,
    wecom_api: WeComStandin,
    engine: Engine,
    session: Session,
    clock: FixedClock,
    person: Person,
) -> None:
    prompt, _ = make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    message = wecom_api.text_message(USERID.upper(), "已阅")  # WeCom ignores the case

    answer = await wecom_api.post_callback(client, message)

    reply = wecom_api.open_reply(answer.text)
    assert reply["MsgType"] == "text" and reply["ToUserName"] == USERID.upper()
    assert reply["FromUserName"] == wecom_api.corp_id
    assert f"P{prompt.id}" in reply["Content"]
    assert prompt_status(engine, prompt.id) is PromptStatus.ACKNOWLEDGED
    [acked] = audit(engine, "prompt.acknowledged")
    assert acked.data["via"] == "wecom"

    # the same MsgId again: no answer, nothing changes
    replayed = await wecom_api.post_callback(client, message)
    assert replayed.status_code == 200 and replayed.text == ""
    assert len(audit(engine, "prompt.acknowledged")) == 1

    # anything else is answered with what the chat understands
    help_ = wecom_api.open_reply(
        (await wecom_api.post_callback(client, wecom_api.text_message(USERID, "你好"))).text
    )
    assert "P12" in help_["Content"]


@sqlite_only
async def test_an_unknown_member_is_told_to_ask_for_an_account(
    client: httpx.AsyncClient, wecom_api: WeComStandin, person: Person
) -> None:
    answer = await wecom_api.post_callback(client, wecom_api.text_message("stranger", "1"))
    reply = wecom_api.open_reply(answer.text)
    assert reply["Content"] == translator("zh_CN").gettext(UNKNOWN_ACCOUNT)


@sqlite_only
async def test_events_and_messages_of_other_kinds_are_taken_quietly(
    client: httpx.AsyncClient, wecom_api: WeComStandin, person: Person
) -> None:
    enter = wecom_api._xml(FromUserName=USERID, MsgType="event", Event="enter_agent")
    assert (await wecom_api.post_callback(client, enter)).text == ""
    other_app = wecom_api.text_message(USERID, "1").replace(
        f"<AgentID><![CDATA[{wecom_api.agent_id}]]>", "<AgentID><![CDATA[42]]>"
    )
    assert (await wecom_api.post_callback(client, other_app)).text == ""


def test_the_xml_reader_refuses_declarations() -> None:
    assert parse_xml("<xml><A><![CDATA[<b>]]></A></xml>") == {"A": "<b>"}
    with pytest.raises(ValueError):
        parse_xml('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>')
    with pytest.raises(ValueError):
        parse_xml("not xml")
