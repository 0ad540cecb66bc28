"""DingTalk's HTTP event callbacks into the web app: verified, decrypted, answered, once.

The stand-in encrypts and signs each event with its own implementation of
DingTalk's scheme and posts it to the app over ASGI; it checks and opens the
app's encrypted answer the same way.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, select

from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import InboundMessage
from riskprompt.models.people import Person
from riskprompt.web import create_app
from tests.builders import make_person, make_unit
from tests.standins.dingtalk import DingTalkStandin, settings_values

USERID = "manager4711"
#: The callbacks' checks do not depend on the database: SQLite only keeps them fast.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def make_settings(tmp_path: Path, database: str, **values: object) -> Settings:
    return Settings(
        DATABASE_URL=database,
        PUBLIC_URL="https://riskprompt.example.gov.cn",
        SECRET_KEY="a-secret-key-for-the-dingtalk-tests",
        OUTBOX_DIR=tmp_path / "outbox",
        DATA_DIR=tmp_path / "data",
        RATE_LIMITS=False,
        **values,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(dingtalk_api: DingTalkStandin, database: str, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, database, **settings_values(dingtalk_api))


async def _client(settings: Settings, engine: Engine, clock: FixedClock) -> httpx.AsyncClient:
    app = create_app(settings=settings, engine=engine, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest_asyncio.fixture
async def client(
    settings: Settings, engine: Engine, clock: FixedClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(settings, engine, clock) as test:
        yield test


@pytest.fixture
def person(session: Session) -> Person:
    person = make_person(session, unit=make_unit(session), channels="dingtalk,sms")
    person.dingtalk_userid = USERID
    session.add(person)
    session.commit()
    return person


def inbound(engine: Engine) -> list[InboundMessage]:
    with Session(engine) as s:
        return list(s.exec(select(InboundMessage)).all())


@sqlite_only
async def test_the_url_check_is_answered_with_the_encrypted_success(
    client: httpx.AsyncClient, dingtalk_api: DingTalkStandin, engine: Engine
) -> None:
    answer = await dingtalk_api.post_callback(client, {"EventType": "check_url"})

    assert answer.status_code == 200
    assert set(answer.json()) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert dingtalk_api.open_answer(answer) == "success"
    assert inbound(engine) == []


@sqlite_only
async def test_a_bad_signature_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, dingtalk_api: DingTalkStandin, engine: Engine, person: Person
) -> None:
    event = {"EventType": "user_modify_org", "EventId": "ev-bad-1", "UserId": [USERID]}

    refused = await dingtalk_api.post_callback(client, event, bad_signature=True)

    assert refused.status_code == 403
    assert inbound(engine) == []
    # a body that is not DingTalk's JSON, or lacks the ciphertext, is refused too
    bad = await client.post("/dingtalk/callback", content=b"<xml/>")
    assert bad.status_code == 400
    empty = await client.post("/dingtalk/callback", json={"other": 1})
    assert empty.status_code == 400
    assert (await client.post("/dingtalk/callback", content=b"x" * 70_000)).status_code == 413


@sqlite_only
async def test_a_replayed_event_is_answered_and_changes_nothing(
    client: httpx.AsyncClient, dingtalk_api: DingTalkStandin, engine: Engine, person: Person
) -> None:
    event = {"EventType": "user_modify_org", "EventId": "ev-42", "UserId": [USERID]}

    first = await dingtalk_api.post_callback(client, event)
    [seen] = inbound(engine)
    assert dingtalk_api.open_answer(first) == "success"
    assert seen.message_sid == "dingtalk:ev-42" and seen.person_id == person.id

    replayed = await dingtalk_api.post_callback(client, event)  # new nonce and signature
    assert replayed.status_code == 200 and dingtalk_api.open_answer(replayed) == "success"
    assert [m.message_sid for m in inbound(engine)] == ["dingtalk:ev-42"]

    # an event without an id is remembered by its content; one naming nobody is only taken
    no_id = {"EventType": "bpms_task_change", "staffId": USERID, "processInstanceId": "p1"}
    for _ in range(2):
        assert dingtalk_api.open_answer(await dingtalk_api.post_callback(client, no_id)) == (
            "success"
        )
    stranger = {"EventType": "user_add_org", "EventId": "ev-43", "UserId": ["stranger"]}
    assert dingtalk_api.open_answer(await dingtalk_api.post_callback(client, stranger)) == (
        "success"
    )
    assert len(inbound(engine)) == 2


@sqlite_only
async def test_without_the_callback_settings_the_route_does_not_exist(
    dingtalk_api: DingTalkStandin,
    database: str,
    tmp_path: Path,
    engine: Engine,
    clock: FixedClock,
) -> None:
    values = settings_values(dingtalk_api)
    del values["DINGTALK_TOKEN"], values["DINGTALK_AES_KEY"]
    settings = make_settings(tmp_path, database, **values)
    async with await _client(settings, engine, clock) as client:
        answer = await dingtalk_api.post_callback(client, {"EventType": "check_url"})
    assert answer.status_code == 404
    assert json.loads(answer.text)["detail"]
