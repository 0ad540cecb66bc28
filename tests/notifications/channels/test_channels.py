"""Channel adapters against their loopback stand-ins.

One table of cases (sent, retried, refused, no address) runs against every
channel the same way; focused tests follow for what is particular to each.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
import pytest_asyncio
from rich.console import Console

from riskprompt.config.settings import Settings
from riskprompt.models.people import Channel
from riskprompt.notifications.channels import (
    ConsoleChannel,
    EmailChannel,
    FileChannel,
    SmsChannel,
    TelegramChannel,
    build_adapters,
    distinct_adapters,
)
from riskprompt.notifications.channels.base import Button, ChannelAdapter, Message, Outcome
from riskprompt.notifications.channels.email import build_email, message_id_for
from riskprompt.notifications.channels.sms_twilio import TwilioSmsProvider
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramFault, TelegramStandin
from tests.standins.twilio import TwilioFault, TwilioStandin

SUBJECT = "【风险提示】2026年12月 岗位权力风险防控提示"
TEXT = "张三同志：\n本月重点工作涉及以下风险点（高）：合同审批。\n防控措施：集体研究、全程留痕。"
HTML = "<p>张三同志：</p><p>风险点（<b>高</b>）：合同审批。</p>"
MOBILE = "+8613800138000"
CHAT_ID = "424242"
MAILBOX = "zhangsan@example.gov.cn"


def make_message(channel: str, address: str, **changes: object) -> Message:
    """A rendered message for ``channel``; ``changes`` replace fields."""
    fields: dict[str, object] = {
        "delivery_id": 7,
        "channel": channel,
        "address": address,
        "subject": SUBJECT,
        "text": TEXT,
        "idempotency_key": f"p7-{channel}",
    }
    if channel == "email":
        fields["html"] = HTML
    if channel == "telegram":
        fields["parts"] = ("<b>风险提示</b>\n合同审批（高）",)
        fields["buttons"] = (Button("已知悉", "ack:7"),)
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


# -- the table ----------------------------------------------------------------


@dataclass
class Rig:
    """A channel wired to its stand-in: how to break it and how to count what arrived."""

    channel: str
    adapter: ChannelAdapter
    address: str
    faults: dict[str, Callable[[], None]]
    delivered: Callable[[], int]


def _outbox_files(folder: Path) -> int:
    return len(list(folder.glob("*.*"))) if folder.is_dir() else 0


@pytest_asyncio.fixture
async def rigs(
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    standin_settings: Settings,
    tmp_path: Path,
) -> AsyncIterator[dict[str, Rig]]:
    """Every channel, opened, with its stand-in."""
    file_channel = FileChannel(tmp_path / "outbox")
    console_out = StringIO()

    def break_outbox() -> None:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the outbox should be")
        file_channel.outbox_dir = blocker / "outbox"

    rigs = {
        "email": Rig(
            "email",
            EmailChannel.from_settings(standin_settings),
            MAILBOX,
            {
                "transient": lambda: smtp_server.fail_next(451),
                "permanent": lambda: smtp_server.fail_address(MAILBOX, 550),
            },
            lambda: smtp_server.count,
        ),
        "sms": Rig(
            "sms",
            SmsChannel.from_settings(standin_settings),
            MOBILE,
            {
                "transient": lambda: twilio_api.fail_next(TwilioFault.server_error()),
                "permanent": lambda: twilio_api.fail_number(MOBILE, TwilioFault.invalid_number()),
            },
            lambda: twilio_api.count,
        ),
        "telegram": Rig(
            "telegram",
            TelegramChannel.from_settings(standin_settings),
            CHAT_ID,
            {
                "transient": lambda: telegram_api.fail_next(TelegramFault.flood(5)),
                "permanent": lambda: telegram_api.fail_chat(CHAT_ID, TelegramFault.blocked()),
            },
            lambda: len(telegram_api.sent()),
        ),
        "file": Rig(
            "sms",
            file_channel,
            MOBILE,
            {"transient": break_outbox},
            lambda: _outbox_files(tmp_path / "outbox"),
        ),
        "console": Rig(
            "telegram",
            ConsoleChannel(Console(file=console_out, width=100)),
            CHAT_ID,
            {},
            lambda: console_out.getvalue().count("╭"),  # one panel per message
        ),
    }
    for rig in rigs.values():
        await rig.adapter.open()
    yield rigs
    for rig in rigs.values():
        await rig.adapter.close()


@dataclass(frozen=True)
class Case:
    name: str
    fault: str | None
    expected: Outcome
    address: str | None = None  # None: the rig's address


CASES = [
    Case("sent", None, Outcome.SENT),
    Case("transient", "transient", Outcome.RETRY),
    Case("permanent", "permanent", Outcome.FAILED),
    Case("no address", None, Outcome.FAILED, address=""),
]
CHANNEL_FAULTS = {
    "email": {"transient", "permanent"},
    "sms": {"transient", "permanent"},
    "telegram": {"transient", "permanent"},
    "file": {"transient"},
    "console": set(),
}
TABLE = [
    pytest.param(channel, case, id=f"{channel}-{case.name}")
    for channel, faults in CHANNEL_FAULTS.items()
    for case in CASES
    if case.fault is None or case.fault in faults
]


@pytest.mark.parametrize(("channel", "case"), TABLE)
async def test_table(rigs: dict[str, Rig], channel: str, case: Case) -> None:
    rig = rigs[channel]
    if case.fault is not None:
        rig.faults[case.fault]()
    address = rig.address if case.address is None else case.address

    result = await rig.adapter.send(make_message(rig.channel, address))

    assert result.outcome == case.expected, result
    if case.expected is Outcome.SENT:
        assert result.provider_id
        assert result.error is None
        assert rig.delivered() == 1
    else:
        assert result.provider_id is None
        assert result.error
        assert rig.delivered() == 0


# -- email --------------------------------------------------------------------


async def test_email_chinese_subject_and_body_survive(smtp_server: SmtpStandin) -> None:
    channel = EmailChannel(
        host=smtp_server.host, port=smtp_server.port, sender="风险提示 <rp@example.gov.cn>"
    )
    message = make_message("email", MAILBOX)
    async with channel:
        result = await channel.send(message)

    assert result.outcome is Outcome.SENT
    [mail] = await smtp_server.wait_for_messages(1)
    assert mail.mail_from == "rp@example.gov.cn"
    assert mail.rcpt_tos == (MAILBOX,)
    assert mail.raw.isascii()  # RFC 2047 headers and base64 bodies: 7-bit clean
    headers = mail.raw.split(b"\r\n\r\n", 1)[0].decode()
    assert re.search(r"^Subject: =\?utf-8\?", headers, re.MULTILINE | re.IGNORECASE)
    parsed = mail.message
    assert parsed["Subject"] == SUBJECT
    assert parsed["From"].addresses[0].display_name == "风险提示"
    assert parsed["To"] == MAILBOX
    assert parsed["Message-ID"] == message_id_for("p7-email", "rp@example.gov.cn")
    assert parsed["Message-ID"] == result.provider_id
    assert parsed["Date"] is not None
    assert parsed["Content-Language"] == "zh-CN"
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == "utf-8"
    assert plain.get_content().rstrip("\n") == TEXT
    assert html.get_content().rstrip("\n") == HTML


async def test_email_without_html_is_one_text_part(smtp_server: SmtpStandin) -> None:
    async with EmailChannel(host=smtp_server.host, port=smtp_server.port) as channel:
        await channel.send(make_message("email", MAILBOX, html=None))
    [mail] = await smtp_server.wait_for_messages(1)
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content().rstrip("\n") == TEXT


def test_message_id_is_stable_and_safe() -> None:
    assert message_id_for("p7-email", "a@b.cn") == message_id_for("p7-email", "a@b.cn")
    assert message_id_for("p7-email", "a@b.cn") == "<riskprompt.p7-email@b.cn>"
    odd = message_id_for("p7 email/<x>", "a@b.cn")
    assert re.fullmatch(r"<riskprompt\.[A-Za-z0-9._-]+@b\.cn>", odd)
    assert odd != message_id_for("p7-email--x-", "a@b.cn")


@pytest.mark.parametrize(
    ("code", "expected"),
    [(421, Outcome.RETRY), (451, Outcome.RETRY), (550, Outcome.FAILED), (554, Outcome.FAILED)],
)
async def test_smtp_reply_codes(smtp_server: SmtpStandin, code: int, expected: Outcome) -> None:
    async with EmailChannel(host=smtp_server.host, port=smtp_server.port) as channel:
        smtp_server.fail_next(code)
        result = await channel.send(make_message("email", MAILBOX))
        assert result.outcome is expected
        assert str(code) in (result.error or "")
        # The pool recovers: the next message goes through (after 421, on a new connection).
        assert (await channel.send(make_message("email", MAILBOX))).outcome is Outcome.SENT
    assert smtp_server.count == 1
    assert smtp_server.connections == (2 if code == 421 else 1)


async def test_smtp_recipient_refused_4xx_is_retried(smtp_server: SmtpStandin) -> None:
    smtp_server.fail_address(MAILBOX, 450)
    async with EmailChannel(host=smtp_server.host, port=smtp_server.port) as channel:
        result = await channel.send(make_message("email", MAILBOX))
    assert result.outcome is Outcome.RETRY
    assert "450" in (result.error or "")


async def test_smtp_connections_are_pooled_and_reused(smtp_server: SmtpStandin) -> None:
    import asyncio

    channel = EmailChannel(host=smtp_server.host, port=smtp_server.port, pool_size=2)
    async with channel:
        messages = [
            make_message("email", f"user{i}@example.gov.cn", idempotency_key=f"p{i}-email")
            for i in range(20)
        ]
        results = await asyncio.gather(*(channel.send(m) for m in messages))
        assert {r.outcome for r in results} == {Outcome.SENT}
        for message in messages[:5]:
            await channel.send(message)
    assert smtp_server.count == 25
    assert 1 <= smtp_server.connections <= 2
    assert channel.max_concurrency == 2


async def test_smtp_reconnects_when_the_server_dropped_an_idle_connection(
    smtp_server: SmtpStandin,
) -> None:
    async with EmailChannel(host=smtp_server.host, port=smtp_server.port) as channel:
        assert (await channel.send(make_message("email", MAILBOX))).outcome is Outcome.SENT
        await smtp_server.wait_for_messages(1)
        assert smtp_server.drop_connections() == 1
        result = await channel.send(make_message("email", MAILBOX))
    assert result.outcome is Outcome.SENT
    assert smtp_server.count == 2
    assert smtp_server.connections == 2


async def test_email_starttls_with_login(smtp_tls: tuple) -> None:
    server_ctx, client_ctx = smtp_tls
    standin = SmtpStandin(
        tls_context=server_ctx, require_starttls=True, credentials=("officer", "密码s3cret")
    )
    async with standin:
        channel = EmailChannel(
            host="127.0.0.1",
            port=standin.port,
            starttls=True,
            username="officer",
            password="密码s3cret",
            tls_context=client_ctx,
        )
        async with channel:
            result = await channel.send(make_message("email", MAILBOX))
        assert result.outcome is Outcome.SENT, result
        [mail] = await standin.wait_for_messages(1)
    assert mail.tls
    assert mail.login == "officer"


async def test_email_implicit_tls(smtp_tls: tuple) -> None:
    server_ctx, client_ctx = smtp_tls
    async with SmtpStandin(tls_context=server_ctx, implicit_tls=True) as standin:
        channel = EmailChannel(
            host="127.0.0.1", port=standin.port, use_tls=True, tls_context=client_ctx
        )
        async with channel:
            result = await channel.send(make_message("email", MAILBOX))
        assert result.outcome is Outcome.SENT, result
        [mail] = await standin.wait_for_messages(1)
    assert mail.tls


async def test_email_wrong_password_is_retried_not_failed(smtp_server: SmtpStandin) -> None:
    # A bad password is the operator's to fix; the recipient's address is not at fault.
    async with SmtpStandin(credentials=("officer", "right")) as standin:
        channel = EmailChannel(
            host=standin.host, port=standin.port, username="officer", password="wrong"
        )
        async with channel:
            result = await channel.send(make_message("email", MAILBOX))
    assert result.outcome is Outcome.RETRY
    assert set(standin.failed_logins) == {"officer"}  # one try per AUTH mechanism
    assert standin.count == 0


async def test_email_refuses_an_address_with_a_line_break(smtp_server: SmtpStandin) -> None:
    async with EmailChannel(host=smtp_server.host, port=smtp_server.port) as channel:
        result = await channel.send(make_message("email", "a@b.cn\r\nBcc: x@y.cn"))
    assert result.outcome is Outcome.FAILED
    assert smtp_server.count == 0


# -- connection refused --------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms", "telegram"])
async def test_connection_refused_is_retried(channel: str, tmp_path: Path) -> None:
    smtp, telegram, twilio = SmtpStandin(), TelegramStandin(), TwilioStandin()
    for standin in (smtp, telegram, twilio):
        await standin.start()
        await standin.stop()  # the port is now closed
    settings = Settings(
        OUTBOX_DIR=tmp_path, **standin_overrides(smtp=smtp, telegram=telegram, twilio=twilio)
    )
    adapter = build_adapters(settings)[Channel(channel)]
    address = {"email": MAILBOX, "sms": MOBILE, "telegram": CHAT_ID}[channel]
    async with adapter:
        result = await adapter.send(make_message(channel, address))
    assert result.outcome is Outcome.RETRY
    assert result.error


# -- Telegram -------------------------------------------------------------------


@pytest_asyncio.fixture
async def telegram(telegram_api: TelegramStandin) -> AsyncIterator[TelegramChannel]:
    """A Telegram channel on the stand-in, opened."""
    channel = TelegramChannel(token=telegram_api.token, api_url=telegram_api.url)
    async with channel:
        yield channel


async def test_telegram_open_checks_the_bot(
    telegram: TelegramChannel, telegram_api: TelegramStandin
) -> None:
    [get_me] = telegram_api.calls_of("getMe")
    assert get_me.ok
    assert telegram.bot.username == "riskprompt_standin_bot"


async def test_telegram_parts_in_html_with_the_keyboard_on_the_last(
    telegram: TelegramChannel, telegram_api: TelegramStandin
) -> None:
    parts = ("<b>风险提示</b>（一）", "第二部分：<i>防控措施</i>", "第三部分 &amp; 完")
    buttons = (Button("已知悉", "ack:7"), Button("报告整改", "fix:7"))
    result = await telegram.send(make_message("telegram", CHAT_ID, parts=parts, buttons=buttons))

    assert result.outcome is Outcome.SENT
    assert result.provider_id == "1,2,3"
    calls = telegram_api.sent(CHAT_ID)
    assert [c.params["text"] for c in calls] == list(parts)
    assert {c.params["parse_mode"] for c in calls} == {"HTML"}
    assert all(c.params["chat_id"] == int(CHAT_ID) for c in calls)
    assert "reply_markup" not in calls[0].params
    assert "reply_markup" not in calls[1].params
    assert calls[2].params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "已知悉", "callback_data": "ack:7"}],
            [{"text": "报告整改", "callback_data": "fix:7"}],
        ]
    }
    assert calls[2].result["text"] == "第三部分 & 完"


async def test_telegram_without_parts_sends_the_text(
    telegram: TelegramChannel, telegram_api: TelegramStandin
) -> None:
    text = "合同金额 < 5万 & 无需招标"
    message = make_message("telegram", CHAT_ID, text=text, parts=(), buttons=())
    result = await telegram.send(message)
    assert result.outcome is Outcome.SENT
    [call] = telegram_api.sent()
    assert call.params["text"] == "合同金额 &lt; 5万 &amp; 无需招标"  # plain text, escaped for HTML
    assert call.result["text"] == text


async def test_telegram_flood_control_is_retried_after_its_delay(
    telegram: TelegramChannel, telegram_api: TelegramStandin
) -> None:
    telegram_api.fail_next(TelegramFault.flood(retry_after=7))
    result = await telegram.send(make_message("telegram", CHAT_ID))
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 7.0
    assert (await telegram.send(make_message("telegram", CHAT_ID))).outcome is Outcome.SENT


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (TelegramFault.blocked(), Outcome.FAILED),
        (TelegramFault.chat_not_found(), Outcome.FAILED),
        (TelegramFault.server_error(), Outcome.RETRY),
    ],
    ids=["blocked", "chat-not-found", "server-error"],
)
async def test_telegram_errors(
    telegram: TelegramChannel,
    telegram_api: TelegramStandin,
    fault: TelegramFault,
    expected: Outcome,
) -> None:
    telegram_api.fail_chat(CHAT_ID, fault)
    result = await telegram.send(make_message("telegram", CHAT_ID))
    assert result.outcome is expected
    # PTB drops the "Bad Request: " prefix and capitalises the rest.
    assert fault.description.lower().removeprefix("bad request: ") in (result.error or "").lower()


async def test_telegram_html_that_telegram_refuses_is_failed(
    telegram: TelegramChannel, telegram_api: TelegramStandin
) -> None:
    result = await telegram.send(make_message("telegram", CHAT_ID, parts=("<div>提示</div>",)))
    assert result.outcome is Outcome.FAILED
    assert "can't parse entities" in (result.error or "").lower()


async def test_telegram_retry_continues_after_the_parts_already_sent(
    telegram: TelegramChannel, telegram_api: TelegramStandin
) -> None:
    parts = ("一", "二", "三")
    message = make_message("telegram", CHAT_ID, parts=parts)
    telegram_api.fail_next(TelegramFault.flood(1), after=1)  # the second part hits flood control

    first = await telegram.send(message)
    second = await telegram.send(message)

    assert first.outcome is Outcome.RETRY
    assert second.outcome is Outcome.SENT
    assert second.provider_id == "1,2,3"
    assert [c.params["text"] for c in telegram_api.sent()] == ["一", "二", "三"]


async def test_telegram_error_text_never_shows_the_token(telegram_api: TelegramStandin) -> None:
    channel = TelegramChannel(token="999:not-the-right-token", api_url=telegram_api.url)
    async with channel:
        result = await channel.send(make_message("telegram", CHAT_ID))
    assert result.outcome is Outcome.RETRY
    assert "not-the-right-token" not in (result.error or "")


# -- Twilio ---------------------------------------------------------------------


def _twilio(twilio_api: TwilioStandin, **settings: object) -> SmsChannel:
    return SmsChannel.from_settings(Settings(**(standin_overrides(twilio=twilio_api) | settings)))


async def test_twilio_status_callback_and_base_url(twilio_api: TwilioStandin) -> None:
    async with _twilio(twilio_api, PUBLIC_URL="https://rp.example.gov.cn/") as channel:
        result = await channel.send(make_message("sms", MOBILE))

    assert result.outcome is Outcome.SENT
    [sms] = await twilio_api.wait_for_messages(1)
    assert result.provider_id == sms.sid
    assert re.fullmatch(r"SM[0-9a-f]{32}", sms.sid)
    assert (sms.to, sms.from_, sms.body) == (MOBILE, "+15005550006", TEXT)
    assert sms.status_callback == "https://rp.example.gov.cn/twilio/status"


async def test_twilio_without_public_url_sends_no_status_callback(
    twilio_api: TwilioStandin,
) -> None:
    async with _twilio(twilio_api) as channel:
        await channel.send(make_message("sms", MOBILE))
    [sms] = await twilio_api.wait_for_messages(1)
    assert "StatusCallback" not in sms.params


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (TwilioFault.invalid_number(), Outcome.FAILED),
        (TwilioFault.unsubscribed(), Outcome.FAILED),
        (TwilioFault.not_mobile(), Outcome.FAILED),
        (TwilioFault.too_many_requests(), Outcome.RETRY),
        (TwilioFault.server_error(), Outcome.RETRY),
    ],
    ids=["21211", "21610", "21614", "429", "500"],
)
async def test_twilio_errors(
    twilio_api: TwilioStandin, fault: TwilioFault, expected: Outcome
) -> None:
    twilio_api.fail_next(fault)
    async with _twilio(twilio_api) as channel:
        result = await channel.send(make_message("sms", MOBILE))
    assert result.outcome is expected
    assert str(fault.code) in (result.error or "")


async def test_twilio_wrong_credentials_are_retried(twilio_api: TwilioStandin) -> None:
    channel = _twilio(twilio_api, TWILIO_AUTH_TOKEN="wrong")
    async with channel:
        result = await channel.send(make_message("sms", MOBILE))
    assert result.outcome is Outcome.RETRY
    assert "401" in (result.error or "")
    assert twilio_api.count == 0


# -- file and console -----------------------------------------------------------


async def test_file_channel_writes_eml_and_json(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    channel = FileChannel(outbox, sender="风险提示 <rp@example.gov.cn>")
    mail = await channel.send(make_message("email", MAILBOX))
    sms = await channel.send(make_message("sms", MOBILE, delivery_id=8))
    chat = await channel.send(make_message("telegram", CHAT_ID, delivery_id=9))

    assert {mail.outcome, sms.outcome, chat.outcome} == {Outcome.SENT}
    assert re.fullmatch(r"\d{8}T\d{12}Z-7-email\.eml", mail.provider_id or "")
    assert re.fullmatch(r"\d{8}T\d{12}Z-8-sms\.json", sms.provider_id or "")
    assert sorted(p.name for p in outbox.iterdir()) == sorted(
        [mail.provider_id, sms.provider_id, chat.provider_id]
    )  # and no temporary file is left behind

    parsed = email.message_from_bytes(
        (outbox / (mail.provider_id or "")).read_bytes(), policy=email.policy.default
    )
    assert parsed["Subject"] == SUBJECT
    assert parsed["To"] == MAILBOX
    assert parsed["Message-ID"] == message_id_for("p7-email", "rp@example.gov.cn")
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content().rstrip("\n") == TEXT

    raw = (outbox / (chat.provider_id or "")).read_text(encoding="utf-8")
    assert "风险提示" in raw  # UTF-8, not \\u escapes
    record = json.loads(raw)
    assert record["channel"] == "telegram"
    assert record["address"] == CHAT_ID
    assert record["parts"] == ["<b>风险提示</b>\n合同审批（高）"]
    assert record["buttons"] == [{"label": "已知悉", "data": "ack:7"}]
    assert record["idempotency_key"] == "p7-telegram"
    assert json.loads((outbox / (sms.provider_id or "")).read_text())["text"] == TEXT


async def test_file_channel_eml_is_the_email_channels_message(tmp_path: Path) -> None:
    message = make_message("email", MAILBOX)
    channel = FileChannel(tmp_path, sender="rp@example.gov.cn")
    result = await channel.send(message)
    written = email.message_from_bytes(
        (tmp_path / (result.provider_id or "")).read_bytes(), policy=email.policy.default
    )
    built = build_email(message, sender="rp@example.gov.cn")
    for header in ("Subject", "From", "To", "Message-ID", "Content-Language"):
        assert written[header] == built[header]


async def test_unwritable_outbox_is_retried(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("")
    channel = FileChannel(tmp_path / "blocker" / "outbox")
    result = await channel.send(make_message("sms", MOBILE))
    assert result.outcome is Outcome.RETRY
    assert "blocker" in (result.error or "")


async def test_console_prints_a_readable_block() -> None:
    out = StringIO()
    channel = ConsoleChannel(Console(file=out, width=100))
    result = await channel.send(make_message("email", MAILBOX))
    printed = out.getvalue()
    assert result.provider_id == "console-7"
    for text in (MAILBOX, SUBJECT, "合同审批", "p7-email"):
        assert text in printed


# -- wiring ---------------------------------------------------------------------


def test_without_credentials_every_channel_uses_one_file_channel(tmp_path: Path) -> None:
    adapters = build_adapters(Settings(OUTBOX_DIR=tmp_path))
    assert set(adapters) == set(Channel)
    [local] = distinct_adapters(adapters.values())
    assert isinstance(local, FileChannel)
    assert local.outbox_dir == tmp_path


def test_local_channel_console() -> None:
    adapters = build_adapters(Settings(LOCAL_CHANNEL="console"))
    assert {type(a) for a in adapters.values()} == {ConsoleChannel}


def test_credentials_select_the_real_adapters_and_limits(
    standin_settings: Settings,
) -> None:
    adapters = build_adapters(standin_settings)
    assert isinstance(adapters[Channel.EMAIL], EmailChannel)
    assert isinstance(adapters[Channel.SMS], SmsChannel)
    assert isinstance(adapters[Channel.SMS].provider, TwilioSmsProvider)
    assert isinstance(adapters[Channel.TELEGRAM], TelegramChannel)
    # RATE_LIMITS is off in the stand-in settings: nothing to pace.
    assert all(a.rate_per_sec is None for a in adapters.values())
    assert all(a.per_address_interval is None for a in adapters.values())

    limited = build_adapters(
        standin_settings.model_copy(
            update={"RATE_LIMITS": True, "TWILIO_RATE_PER_SEC": 3.0, "SMTP_POOL_SIZE": 6}
        )
    )
    assert limited[Channel.TELEGRAM].rate_per_sec == 30.0
    assert limited[Channel.TELEGRAM].per_address_interval == 1.0
    assert limited[Channel.SMS].rate_per_sec == 3.0
    assert limited[Channel.EMAIL].rate_per_sec is None
    assert limited[Channel.EMAIL].max_concurrency == 6


# -- timeouts -------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["email", "sms", "telegram"])
async def test_a_server_that_never_answers_is_retried(channel: str) -> None:
    import asyncio

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, then say nothing until the client gives up
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    adapter: ChannelAdapter
    if channel == "email":
        adapter = EmailChannel(host="127.0.0.1", port=port, timeout=0.3)
        address = MAILBOX
    elif channel == "sms":
        adapter = SmsChannel(
            TwilioSmsProvider(
                account_sid="AC" + "0" * 32, auth_token="t", from_="+15005550006", api_url=url
            ),
            timeout=0.3,
        )
        address = MOBILE
    else:
        adapter = TelegramChannel(token="1:t", api_url=url, timeout=0.3)
        address = CHAT_ID
    async with server:
        async with adapter:
            result = await adapter.send(make_message(channel, address))
    assert result.outcome is Outcome.RETRY
    assert result.error


# -- the Telegram stand-in speaks what the bot uses --------------------------------


async def test_telegram_standin_serves_the_bot_methods(telegram_api: TelegramStandin) -> None:
    from telegram import Bot

    bot = Bot(
        telegram_api.token,
        base_url=f"{telegram_api.url}/bot",
        base_file_url=f"{telegram_api.url}/file/bot",
    )
    async with bot:
        sent = await bot.send_message(int(CHAT_ID), "<b>提示</b>", parse_mode="HTML")
        assert sent.text == "提示" and sent.chat.id == int(CHAT_ID)
        edited = await bot.edit_message_text("已确认", chat_id=int(CHAT_ID), message_id=sent.id)
        assert edited.text == "已确认" and edited.edit_date is not None

        telegram_api.enqueue(telegram_api.message_update(int(CHAT_ID), "/start"))
        telegram_api.enqueue(telegram_api.callback_update(int(CHAT_ID), "ack:7"))
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == [1, 2]
        assert updates[0].message.text == "/start"
        assert updates[1].callback_query.data == "ack:7"
        assert await bot.answer_callback_query(updates[1].callback_query.id)
        assert await bot.get_updates(offset=3, timeout=0) == ()

        assert await bot.set_webhook("https://rp.example.gov.cn/telegram", secret_token="s3")
        assert telegram_api.webhook is not None
        assert telegram_api.webhook["secret_token"] == "s3"
        assert await bot.delete_webhook()

        file_id = telegram_api.add_file(b"%PDF-1.4 evidence", "documents/evidence.pdf")
        tg_file = await bot.get_file(file_id)
        assert bytes(await tg_file.download_as_bytearray()) == b"%PDF-1.4 evidence"

    methods = [c.method for c in telegram_api.calls]
    for method in ("getMe", "sendMessage", "editMessageText", "getUpdates", "setWebhook"):
        assert method in methods


async def test_telegram_standin_long_poll_wakes_on_a_new_update(
    telegram_api: TelegramStandin,
) -> None:
    import asyncio

    from telegram import Bot

    async with Bot(telegram_api.token, base_url=f"{telegram_api.url}/bot") as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=5, read_timeout=10))
        await telegram_api.wait_until(lambda: telegram_api.polling == 1)
        telegram_api.enqueue(telegram_api.message_update(int(CHAT_ID), "已知悉"))
        updates = await asyncio.wait_for(poll, 5)
    assert [u.message.text for u in updates] == ["已知悉"]


async def test_a_cancelled_send_does_not_leave_a_half_used_connection(
    smtp_server: SmtpStandin,
) -> None:
    import asyncio

    async with EmailChannel(host=smtp_server.host, port=smtp_server.port, pool_size=1) as channel:
        assert (await channel.send(make_message("email", MAILBOX))).outcome is Outcome.SENT
        # Cancel after 1, 2, 3 turns of the loop: somewhere inside MAIL/RCPT/DATA.
        for turns in (1, 2, 3):
            send = asyncio.create_task(channel.send(make_message("email", MAILBOX)))
            for _ in range(turns):
                await asyncio.sleep(0)
            send.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await send
            # The next message must not inherit a half-finished transaction.
            result = await channel.send(make_message("email", MAILBOX))
            assert result.outcome is Outcome.SENT, (turns, result)
