"""The WeCom channel against its loopback stand-in: every documented errcode, the token, pacing.

One table maps each errcode WeCom answers (HTTP 200 always) to the outcome:
sent, retry later (after WeCom's wait) or failed for good (the dispatcher then
falls back to the person's next channel).  The token is fetched once and shared
through the database, replaced once when WeCom refuses it, fetched anew before it
expires, and by one worker at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, select

from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Channel
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.tokens import ProviderToken, provider_token
from riskprompt.notifications.channels import FileChannel, build_adapters
from riskprompt.notifications.channels.base import Button, Message, Outcome
from riskprompt.notifications.channels.wecom import Answer, WeComChannel, outcome_of
from riskprompt.notifications.dispatcher import Dispatcher
from tests.builders import make_person, make_prompt_with_delivery, make_unit
from tests.standins.wecom import WeComStandin, settings_values

USERID = "zhangsan"
#: The table's checks do not depend on the database; the token's tests run on both.
sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def make_message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "delivery_id": 7,
        "channel": "wecom",
        "address": USERID,
        "subject": "2026年12月岗位廉政风险提示",
        "text": "岗位：会计岗（财务科）",
        "parts": ("### 2026年12月岗位廉政风险提示\n**本月重点工作**",),
        "buttons": (Button("已阅", "ack:p:7"),),
        "idempotency_key": "p7-wecom",
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


def wecom_settings(api: WeComStandin, database: str, **more: object) -> Settings:
    return Settings(DATABASE_URL=database, RATE_LIMITS=False, **settings_values(api), **more)


@pytest_asyncio.fixture
async def channel(
    wecom_api: WeComStandin, engine: Engine, database: str, clock: FixedClock
) -> AsyncIterator[WeComChannel]:
    adapter = WeComChannel.from_settings(
        wecom_settings(wecom_api, database), engine=engine, clock=clock
    )
    async with adapter:
        yield adapter


# -- the table ------------------------------------------------------------------------------

#: errcode (and extra answer fields) → outcome, and WeCom's wait for a retry.
CASES: list[tuple[int, dict[str, str], Outcome, float | None]] = [
    # partial failures WeCom reports with errcode 0
    (0, {"invaliduser": USERID}, Outcome.FAILED, None),
    (0, {"unlicenseduser": USERID}, Outcome.FAILED, None),
    # the recipient cannot be reached through this app
    (40003, {}, Outcome.FAILED, None),
    (40031, {}, Outcome.FAILED, None),
    (43004, {}, Outcome.FAILED, None),
    (60011, {}, Outcome.FAILED, None),
    (60111, {"invaliduser": USERID}, Outcome.FAILED, None),
    (81013, {"invaliduser": USERID}, Outcome.FAILED, None),
    (82001, {}, Outcome.FAILED, None),
    (301002, {}, Outcome.FAILED, None),
    # the message itself is refused
    (40008, {}, Outcome.FAILED, None),
    (40058, {}, Outcome.FAILED, None),
    (44004, {}, Outcome.FAILED, None),
    (45002, {}, Outcome.FAILED, None),
    # rate and frequency limits: after WeCom's wait
    (45009, {}, Outcome.RETRY, 60.0),
    (45011, {}, Outcome.RETRY, 60.0),
    (45033, {}, Outcome.RETRY, 2.0),
    (-1, {}, Outcome.RETRY, 5.0),
    # the operator's settings, and anything unknown: not the recipient's fault
    (40001, {}, Outcome.RETRY, None),
    (40013, {}, Outcome.RETRY, None),
    (40056, {}, Outcome.RETRY, None),
    (48002, {}, Outcome.RETRY, None),
    (60020, {}, Outcome.RETRY, None),
    (654321, {}, Outcome.RETRY, None),
]


@sqlite_only
@pytest.mark.parametrize(("errcode", "extra", "outcome", "wait"), CASES)
async def test_each_errcode_has_its_outcome(
    channel: WeComChannel,
    wecom_api: WeComStandin,
    errcode: int,
    extra: dict[str, str],
    outcome: Outcome,
    wait: float | None,
) -> None:
    if errcode == 0:
        wecom_api.partly_invalid(USERID, next(iter(extra)))
    else:
        wecom_api.fail_next(errcode, **extra)
    result = await channel.send(make_message(buttons=()))
    assert result.outcome is outcome, result
    assert result.retry_after == wait
    if errcode:
        assert str(errcode) in (result.error or "")
    assert wecom_api.count == 0  # nothing reached the member


def test_outcome_of_reads_the_errcode_not_the_http_status() -> None:
    # HTTP 200 with errcode != 0 is never "sent"
    assert outcome_of(Answer({"errcode": 45009, "errmsg": "freq"}), USERID).outcome is Outcome.RETRY
    assert outcome_of(Answer({"errcode": "oops"}), USERID).outcome is Outcome.RETRY
    sent = outcome_of(Answer({"errcode": 0, "msgid": "m1", "invaliduser": "other"}), USERID)
    assert sent.outcome is Outcome.SENT and sent.provider_id == "m1"
    # WeCom lower-cases the ids it lists
    failed = outcome_of(Answer({"errcode": 0, "invaliduser": "a|zhangsan"}), "ZhangSan")
    assert failed.outcome is Outcome.FAILED


@sqlite_only
async def test_a_prompt_is_markdown_then_a_card_with_its_buttons(
    channel: WeComChannel, wecom_api: WeComStandin
) -> None:
    buttons = (Button("已阅 W7", "ack:w:7"), Button("反馈整改情况（W7）", "rc:7"))
    result = await channel.send(make_message(buttons=buttons, idempotency_key="w7-wecom-rm0.1"))
    assert result.outcome is Outcome.SENT
    markdown, card = wecom_api.sent_to(USERID)
    assert result.provider_id == f"{markdown.msgid},{card.msgid}"
    assert markdown.msgtype == "markdown" and markdown.content.startswith("### 2026年12月")
    assert card.msgtype == "template_card"
    assert card.card["card_type"] == "button_interaction"
    assert card.card["main_title"]["title"] == "2026年12月岗位廉政风险提示"
    assert card.card["sub_title_text"] == "岗位：会计岗（财务科）"
    assert card.button_keys == ["ack:w:7", "rc:7"]
    # task ids: unique, and only the characters WeCom allows
    assert card.card["task_id"].startswith("w7-wecom-rm0_1-")
    again = await channel.send(make_message(buttons=buttons, idempotency_key="w7-wecom-rm0.1"))
    assert again.outcome is Outcome.SENT


@sqlite_only
async def test_without_parts_the_text_goes_as_a_text_message_within_2048_bytes(
    channel: WeComChannel, wecom_api: WeComStandin
) -> None:
    result = await channel.send(make_message(parts=(), buttons=(), text="测" * 1000))
    assert result.outcome is Outcome.SENT
    [message] = wecom_api.messages
    assert message.msgtype == "text"
    assert len(message.content.encode()) <= 2048 and message.content == "测" * 682


@sqlite_only
async def test_a_retry_continues_after_the_pieces_already_sent(
    channel: WeComChannel, wecom_api: WeComStandin
) -> None:
    message = make_message(parts=("第一部分", "第二部分"))
    wecom_api.fail_next(45033, after=1)  # the first markdown goes, the second is refused
    assert (await channel.send(message)).outcome is Outcome.RETRY
    assert [m.content for m in wecom_api.messages] == ["第一部分"]
    result = await channel.send(message)
    assert result.outcome is Outcome.SENT
    assert [m.msgtype for m in wecom_api.messages] == ["markdown", "markdown", "template_card"]
    assert len(result.provider_id.split(",")) == 3


@sqlite_only
async def test_no_userid_and_no_answer_are_outcomes_too(
    channel: WeComChannel, wecom_api: WeComStandin
) -> None:
    assert (await channel.send(make_message(address=" "))).outcome is Outcome.FAILED
    await wecom_api.down()
    try:
        result = await channel.send(make_message())
    finally:
        await wecom_api.up()
    assert result.outcome is Outcome.RETRY and "unreachable" in (result.error or "")


# -- the token --------------------------------------------------------------------------------


async def test_the_token_is_fetched_once_and_shared_by_every_worker(
    wecom_api: WeComStandin, engine: Engine, database: str, clock: FixedClock
) -> None:
    settings = wecom_settings(wecom_api, database)
    first = WeComChannel.from_settings(settings, engine=engine, clock=clock)
    second = WeComChannel.from_settings(settings, engine=engine, clock=clock)
    async with first, second:
        assert (await first.send(make_message())).outcome is Outcome.SENT
        assert (await second.send(make_message(idempotency_key="p8-wecom"))).outcome is Outcome.SENT
    assert wecom_api.token_fetches == 1
    with Session(engine) as session:
        [row] = session.exec(select(ProviderToken)).all()
    assert row.key == f"wecom:{wecom_api.corp_id}:{wecom_api.agent_id}" and row.fetches == 1
    assert row.expires_at == clock.now() + timedelta(seconds=7200)


async def test_an_expired_token_mid_run_is_replaced_once(
    wecom_api: WeComStandin, engine: Engine, database: str, clock: FixedClock
) -> None:
    settings = wecom_settings(wecom_api, database)
    async with WeComChannel.from_settings(settings, engine=engine, clock=clock) as channel:
        assert (await channel.send(make_message())).outcome is Outcome.SENT
        wecom_api.expire_tokens()  # WeCom invalidated it early: 42001
        result = await channel.send(make_message(idempotency_key="p8-wecom"))
        assert result.outcome is Outcome.SENT
        assert wecom_api.token_fetches == 2
        # another worker that still holds the old token replaces it by the shared new one
        stale = WeComChannel.from_settings(settings, engine=engine, clock=clock)
        async with stale:
            stale.client._token = channel.client._token.__class__(  # the refused token
                "refused-token", clock.now() + timedelta(hours=1)
            )
            assert (await stale.send(make_message(idempotency_key="p9-wecom"))).outcome is (
                Outcome.SENT
            )
        assert wecom_api.token_fetches == 2
        # a token refused again right after its replacement: one refresh, then retry
        wecom_api.fail_next(42001, count=2)
        result = await channel.send(make_message(idempotency_key="p10-wecom"))
        assert result.outcome is Outcome.RETRY and "42001" in (result.error or "")
        assert wecom_api.token_fetches == 3


async def test_the_token_is_renewed_before_it_expires(
    wecom_api: WeComStandin, engine: Engine, database: str, clock: FixedClock
) -> None:
    settings = wecom_settings(wecom_api, database)
    async with WeComChannel.from_settings(settings, engine=engine, clock=clock) as channel:
        assert (await channel.send(make_message())).outcome is Outcome.SENT
        clock.advance(timedelta(seconds=7200 - 600))
        assert (await channel.send(make_message(idempotency_key="p8"))).outcome is Outcome.SENT
        assert wecom_api.token_fetches == 1
        clock.advance(timedelta(seconds=360))  # within 5 minutes of the expiry
        assert (await channel.send(make_message(idempotency_key="p9"))).outcome is Outcome.SENT
        assert wecom_api.token_fetches == 2
    # the refresh never went through a refused call
    assert not [c for c in wecom_api.calls if c.answer["errcode"] in (40014, 42001)]


async def test_gettoken_refused_is_a_retry_naming_wecom_not_the_secret(
    wecom_api: WeComStandin, engine: Engine, database: str, clock: FixedClock
) -> None:
    settings = wecom_settings(wecom_api, database).model_copy(
        update={"WECOM_SECRET": "wrong-secret-value-123"}
    )
    async with WeComChannel.from_settings(settings, engine=engine, clock=clock) as channel:
        result = await channel.send(make_message())
    assert result.outcome is Outcome.RETRY and "40001" in (result.error or "")
    assert "wrong-secret-value-123" not in (result.error or "")


def test_one_fetch_at_a_time_across_workers(engine: Engine, clock: FixedClock) -> None:
    fetches: list[int] = []
    started = threading.Event()

    def slow_fetch() -> tuple[str, float]:
        fetches.append(1)
        started.set()
        time.sleep(0.3)  # a slow gettoken: the others wait for the row, then read it
        return f"token-{len(fetches)}", 7200.0

    results: list[str] = []

    def worker() -> None:
        results.append(provider_token(engine, key="k", clock=clock, fetch=slow_fetch).token)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    threads[0].start()
    started.wait(5)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(fetches) == 1 and results == ["token-1"] * 4


# -- pacing, wiring, fallback -----------------------------------------------------------------


def test_pacing_is_declared_on_the_class(tmp_path: Path) -> None:
    assert WeComChannel.member_messages_per_minute == 30
    assert WeComChannel.member_messages_per_hour == 1000
    # a markdown message and a card per send, 1,000 an hour: 7.2 s between two sends
    assert WeComChannel.default_per_address_interval == pytest.approx(7.2)
    api = WeComStandin()
    values = {**settings_values(api), "WECOM_API_URL": "http://127.0.0.1:9"}
    limited = build_adapters(Settings(OUTBOX_DIR=tmp_path, **values))[Channel.WECOM]
    assert isinstance(limited, WeComChannel)
    assert limited.per_address_interval == pytest.approx(7.2)
    assert limited.rate_per_sec == pytest.approx(10_000 / 60 / 2)
    free = build_adapters(Settings(OUTBOX_DIR=tmp_path, RATE_LIMITS=False, **values))
    assert free[Channel.WECOM].per_address_interval is None
    # without its settings WeCom goes to the outbox folder, like DingTalk for now
    local = build_adapters(Settings(OUTBOX_DIR=tmp_path))
    assert isinstance(local[Channel.WECOM], FileChannel)
    assert local[Channel.DINGTALK] is local[Channel.WECOM]


async def test_an_unknown_member_falls_back_to_the_next_channel(
    wecom_api: WeComStandin,
    engine: Engine,
    database: str,
    session: Session,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit, channels="wecom,sms")
    person.wecom_userid = "ghost"
    session.add(person)
    make_prompt_with_delivery(session, person=person, at=clock.now())
    session.commit()
    wecom_api.fail_user("ghost", 60111)
    settings = wecom_settings(wecom_api, database, OUTBOX_DIR=tmp_path, QUIET_HOURS="")
    adapters = {
        Channel.WECOM: WeComChannel.from_settings(settings, engine=engine, clock=clock),
        Channel.SMS: FileChannel(tmp_path),
    }
    async with Dispatcher(engine, settings, clock, adapters, "w") as dispatcher:
        stats = await dispatcher.drain()
    assert (stats.failed, stats.fell_back, stats.sent) == (1, 1, 1)
    with Session(engine) as check:
        rows = check.exec(select(Delivery).order_by(Delivery.id)).all()
    assert [(d.channel, d.status) for d in rows] == [
        ("wecom", DeliveryStatus.FAILED),
        ("sms", DeliveryStatus.SENT),
    ]
    assert "60111" in (rows[0].last_error or "")
