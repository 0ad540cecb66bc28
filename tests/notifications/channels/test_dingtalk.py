"""The DingTalk channel against its loopback stand-in: every errcode, the token, links, receipts.

One table maps each errcode DingTalk answers (HTTP 200 always) to the outcome:
sent, retry later (after DingTalk's wait) or failed for good (the dispatcher then
falls back to the person's next channel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, select

from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Channel
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.notifications.channels import FileChannel, build_adapters
from riskprompt.notifications.channels.base import Button, Message, Outcome
from riskprompt.notifications.channels.dingtalk import (
    Answer,
    DingTalkChannel,
    DingTalkClient,
    outcome_of,
    poll_dingtalk_receipts,
    until_next_day,
)
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.links import read_ack_token
from riskprompt.notifications.receipts import POLL_AFTER
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.standins.dingtalk import DingTalkStandin, settings_values

USERID = "manager4521"
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def make_message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "delivery_id": 7,
        "channel": "dingtalk",
        "address": USERID,
        "subject": "2026年12月岗位廉政风险提示",
        "text": "### 2026年12月岗位廉政风险提示\n**本月重点工作**",
        "parts": ("### 2026年12月岗位廉政风险提示\n**本月重点工作**",),
        "buttons": (),
        "idempotency_key": "p7-dingtalk",
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def ding_settings(api: DingTalkStandin, database: str, **more: object) -> Settings:
    return Settings(DATABASE_URL=database, RATE_LIMITS=False, **settings_values(api), **more)


@pytest_asyncio.fixture
async def channel(
    dingtalk_api: DingTalkStandin, engine: Engine, database: str, clock: FixedClock
) -> AsyncIterator[DingTalkChannel]:
    adapter = DingTalkChannel.from_settings(
        ding_settings(dingtalk_api, database), engine=engine, clock=clock
    )
    async with adapter:
        yield adapter


# -- the table ------------------------------------------------------------------------------

#: errcode → outcome, and DingTalk's wait for a retry ("day": until the next day in China).
CASES: list[tuple[int, Outcome, float | str | None]] = [
    # the recipient cannot be reached through this app
    (33012, Outcome.FAILED, None),
    (40103, Outcome.FAILED, None),
    (60121, Outcome.FAILED, None),
    (60011, Outcome.FAILED, None),
    # the message itself is refused
    (40035, Outcome.FAILED, None),
    (43008, Outcome.FAILED, None),
    # rate and frequency limits
    (130101, Outcome.RETRY, 60.0),
    (143104, Outcome.RETRY, 60.0),
    (143103, Outcome.RETRY, "day"),
    (143105, Outcome.RETRY, "day"),
    (143106, Outcome.RETRY, "day"),
    (143199, Outcome.RETRY, 60.0),
    (90018, Outcome.RETRY, 1.0),
    (-1, Outcome.RETRY, 5.0),
    # the operator's settings, and anything unknown
    (40089, Outcome.RETRY, None),
    (60020, Outcome.RETRY, None),
    (654321, Outcome.RETRY, None),
]


@sqlite_only
@pytest.mark.parametrize(("errcode", "outcome", "wait"), CASES)
async def test_each_errcode_has_its_outcome(
    channel: DingTalkChannel,
    dingtalk_api: DingTalkStandin,
    clock: FixedClock,
    errcode: int,
    outcome: Outcome,
    wait: float | str | None,
) -> None:
    dingtalk_api.fail_next(errcode)
    result = await channel.send(make_message())
    assert result.outcome is outcome, result
    expected = until_next_day(clock.now()) if wait == "day" else wait
    assert result.retry_after == expected
    assert str(errcode) in (result.error or "")
    assert dingtalk_api.count == 0


def test_outcome_reads_the_errcode_and_keeps_the_task_id() -> None:
    assert outcome_of(Answer({"errcode": 0, "task_id": 123}), now=NOW).provider_id == "123"
    # HTTP 200 with errcode 0 but no task: nothing says it was taken
    assert outcome_of(Answer({"errcode": 0}), now=NOW).outcome is Outcome.RETRY
    assert outcome_of(Answer({"errcode": "x"}), now=NOW).outcome is Outcome.RETRY
    # the daily quotas wait until midnight in Beijing: 14 hours after 10:00
    assert until_next_day(NOW) == 14 * 3600


@sqlite_only
async def test_buttons_become_signed_links_on_an_action_card(
    channel: DingTalkChannel,
    dingtalk_api: DingTalkStandin,
    session: Session,
    clock: FixedClock,
    database: str,
) -> None:
    person = make_person(session, unit=make_unit(session), channels="dingtalk,email")
    person.dingtalk_userid = USERID
    session.add(person)
    session.commit()
    buttons = (Button("已阅 W7", "ack:w:7"), Button("反馈整改情况（W7）", "rc:7"))
    parts = ("第一部分", "第二部分")
    result = await channel.send(make_message(buttons=buttons, parts=parts))
    assert result.outcome is Outcome.SENT
    first, card = dingtalk_api.sent_to(USERID)
    assert first.msgtype == "markdown" and first.text == "第一部分"
    assert card.msgtype == "action_card" and card.text == "第二部分"
    assert result.provider_id == str(card.task_id)  # the card's task: its read status counts
    labels = [label for label, _ in card.links]
    assert labels == ["已阅 W7", "反馈整改情况（W7）"]
    secret = ding_settings(dingtalk_api, database).SECRET_KEY
    for _, url in card.links:
        token = url.rsplit("/ack/", 1)[1]
        target = read_ack_token(secret, token, now=clock.now())
        assert (target.kind, target.id, target.person_id) == ("warning", 7, person.id)
    # one button: the card's single link
    single = await channel.send(
        make_message(buttons=(Button("已阅", "ack:p:9"),), idempotency_key="p9-dingtalk")
    )
    assert single.outcome is Outcome.SENT
    [(label, url)] = dingtalk_api.sent_to(USERID)[-1].links
    assert label == "已阅" and "/ack/" in url


@sqlite_only
async def test_a_retry_continues_after_the_pieces_already_sent(
    channel: DingTalkChannel, dingtalk_api: DingTalkStandin
) -> None:
    message = make_message(parts=("一", "二"))
    dingtalk_api.fail_next(130101)
    dingtalk_api._next.insert(0, ("asyncsend_v2", None))  # the first goes through
    assert (await channel.send(message)).outcome is Outcome.RETRY
    assert (await channel.send(message)).outcome is Outcome.SENT
    assert [m.text for m in dingtalk_api.sent_to(USERID)] == ["一", "二"]


@sqlite_only
async def test_no_userid_and_no_answer_are_outcomes_too(
    channel: DingTalkChannel, dingtalk_api: DingTalkStandin
) -> None:
    assert (await channel.send(make_message(address=" "))).outcome is Outcome.FAILED
    await dingtalk_api.down()
    try:
        result = await channel.send(make_message())
    finally:
        await dingtalk_api.up()
    assert result.outcome is Outcome.RETRY and "unreachable" in (result.error or "")


# -- the token --------------------------------------------------------------------------------


async def test_an_expired_token_mid_run_is_replaced_once(
    dingtalk_api: DingTalkStandin, engine: Engine, database: str, clock: FixedClock
) -> None:
    settings = ding_settings(dingtalk_api, database)
    async with DingTalkChannel.from_settings(settings, engine=engine, clock=clock) as channel:
        assert (await channel.send(make_message())).outcome is Outcome.SENT
        other = DingTalkChannel.from_settings(settings, engine=engine, clock=clock)
        async with other:  # another worker shares the token
            assert (await other.send(make_message(idempotency_key="p8"))).outcome is Outcome.SENT
        assert dingtalk_api.token_fetches == 1
        dingtalk_api.expire_tokens()  # 42001 from now on
        result = await channel.send(make_message(text="二", parts=("二",)))
        assert result.outcome is Outcome.SENT
        assert dingtalk_api.token_fetches == 2
        for code in (88, 40014):  # refused again: one refresh each time, then sent
            dingtalk_api.fail_next(code)
            again = await channel.send(make_message(parts=(f"{code}",)))
            assert again.outcome is Outcome.SENT
        dingtalk_api.fail_next(42001, count=2)  # refused twice: retry later
        result = await channel.send(make_message(parts=("三",)))
        assert result.outcome is Outcome.RETRY and "42001" in (result.error or "")


async def test_a_wrong_secret_is_a_retry_that_does_not_show_it(
    dingtalk_api: DingTalkStandin, engine: Engine, database: str, clock: FixedClock
) -> None:
    settings = ding_settings(dingtalk_api, database).model_copy(
        update={"DINGTALK_APP_SECRET": "wrong-ding-secret-987"}
    )
    async with DingTalkChannel.from_settings(settings, engine=engine, clock=clock) as channel:
        result = await channel.send(make_message())
    assert result.outcome is Outcome.RETRY and "40089" in (result.error or "")
    assert "wrong-ding-secret-987" not in (result.error or "")


# -- wiring, fallback, receipts --------------------------------------------------------------


def test_pacing_is_declared_on_the_class_and_wired(tmp_path: Path) -> None:
    assert DingTalkChannel.member_messages_per_day == 500
    assert DingTalkChannel.markdown_max_bytes == 1800
    api = DingTalkStandin()
    values = {**settings_values(api), "DINGTALK_API_URL": "http://127.0.0.1:9"}
    limited = build_adapters(Settings(OUTBOX_DIR=tmp_path, **values))[Channel.DINGTALK]
    assert isinstance(limited, DingTalkChannel)
    assert limited.per_address_interval == DingTalkChannel.default_per_address_interval
    free = build_adapters(Settings(OUTBOX_DIR=tmp_path, RATE_LIMITS=False, **values))
    assert free[Channel.DINGTALK].per_address_interval is None
    assert isinstance(build_adapters(Settings(OUTBOX_DIR=tmp_path))[Channel.DINGTALK], FileChannel)


async def _drain_one(
    dingtalk_api: DingTalkStandin,
    engine: Engine,
    database: str,
    session: Session,
    clock: FixedClock,
    tmp_path: Path,
    userid: str,
) -> Settings:
    unit = make_unit(session)
    person = make_person(session, unit=unit, channels="dingtalk,sms")
    person.dingtalk_userid = userid
    session.add(person)
    make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    settings = ding_settings(dingtalk_api, database, OUTBOX_DIR=tmp_path, QUIET_HOURS="")
    adapters = {
        Channel.DINGTALK: DingTalkChannel.from_settings(settings, engine=engine, clock=clock),
        Channel.SMS: FileChannel(tmp_path),
    }
    async with Dispatcher(engine, settings, clock, adapters, "w") as dispatcher:
        await dispatcher.drain()
    return settings


async def test_an_invalid_userid_falls_back_to_the_next_channel(
    dingtalk_api: DingTalkStandin,
    engine: Engine,
    database: str,
    session: Session,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    dingtalk_api.fail_next(33012)
    await _drain_one(dingtalk_api, engine, database, session, clock, tmp_path, "ghost")
    with Session(engine) as check:
        rows = check.exec(select(Delivery).order_by(Delivery.id)).all()
    assert [(d.channel, d.status) for d in rows] == [
        ("dingtalk", DeliveryStatus.FAILED),
        ("sms", DeliveryStatus.SENT),
    ]
    assert "33012" in (rows[0].last_error or "")


async def test_getsendresult_records_read_and_invalid_falls_back(
    dingtalk_api: DingTalkStandin,
    engine: Engine,
    database: str,
    session: Session,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    settings = await _drain_one(dingtalk_api, engine, database, session, clock, tmp_path, USERID)
    other = make_person(session, unit=make_unit(session), channels="dingtalk,sms")
    other.dingtalk_userid = "leftorg01"
    session.add(other)
    make_prompt_with_delivery(session, person=other, at=clock.now())
    session.commit()
    dingtalk_api.invalid_user("leftorg01")
    adapters = {
        Channel.DINGTALK: DingTalkChannel.from_settings(settings, engine=engine, clock=clock),
        Channel.SMS: FileChannel(tmp_path),
    }
    async with Dispatcher(engine, settings, clock, adapters, "w") as dispatcher:
        await dispatcher.drain()
    async with DingTalkClient.from_settings(settings, engine=engine, clock=clock) as client:
        clock.advance(POLL_AFTER[0])
        # unread: nothing final yet; asked again at the next step
        assert await poll_dingtalk_receipts(engine, client=client, clock=clock, settings=settings)
        dingtalk_api.read(USERID)
        clock.advance(POLL_AFTER[1])
        assert await poll_dingtalk_receipts(engine, client=client, clock=clock, settings=settings)
        clock.advance(POLL_AFTER[2])
        assert not await poll_dingtalk_receipts(
            engine, client=client, clock=clock, settings=settings
        )
    with Session(engine) as check:
        rows = check.exec(select(Delivery).order_by(Delivery.id)).all()
    by = {(d.channel, d.person_id): d for d in rows}
    read = by[("dingtalk", rows[0].person_id)]
    assert read.status is DeliveryStatus.SENT
    assert [r["status"] for r in read.extra["receipts"]] == ["read"]
    invalid = by[("dingtalk", other.id)]
    assert invalid.status is DeliveryStatus.FAILED
    assert invalid.extra["receipts"][-1] == {
        "status": "undelivered",
        "at": invalid.extra["receipts"][-1]["at"],
        "error": "invalid",
    }
    assert by[("sms", other.id)].status is DeliveryStatus.PENDING  # the fallback, queued


def test_a_reminder_never_repeats_the_prompts_text(session: Session, clock: FixedClock) -> None:
    """DingTalk drops the same content to a person on one day: each reminder differs."""
    from riskprompt.notifications.rendering import render_prompt, render_prompt_reminder

    person = make_person(session, unit=make_unit(session), channels="dingtalk")
    person.dingtalk_userid = USERID
    prompt, _ = make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    settings = Settings()
    texts = [
        render_prompt(prompt=prompt, person=person, channel=Channel.DINGTALK, settings=settings)
    ]
    texts += [
        render_prompt_reminder(
            prompt=prompt, person=person, channel=Channel.DINGTALK, settings=settings, number=n
        )
        for n in (1, 2)
    ]
    bodies = [r.parts for r in texts]
    assert len(set(bodies)) == 3
    assert "提醒 1" in bodies[1][0] and "提醒 2" in bodies[2][0]


async def test_doctor_fetches_a_token_and_reads_the_agent(dingtalk_api: DingTalkStandin) -> None:
    from riskprompt.doctor import Status, check_dingtalk

    settings = Settings(**settings_values(dingtalk_api))
    checks = await check_dingtalk(settings)
    assert checks[0].status is Status.OK and dingtalk_api.token_fetches == 1
    assert dingtalk_api.count == 0  # nothing sent
    wrong = settings.model_copy(update={"DINGTALK_APP_SECRET": "wrong-ding-secret-987"})
    [failed] = await check_dingtalk(wrong)
    assert failed.status is Status.FAIL and "40089" in failed.reason
    assert "wrong-ding-secret-987" not in failed.reason
