"""Alibaba Cloud SMS against its loopback stand-in.

The V3 signature (the documented example, and a stand-in that refuses a wrong
one), every documented ``Code`` mapped to an outcome, what ``SendSms`` carries,
the receipts asked with ``QuerySendDetails``, what ``riskprompt doctor`` says,
and a monthly cycle sent through the stand-in with its fallbacks and receipts.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.config.settings import Settings, SettingsError, load_settings
from riskprompt.demo import SAMPLE_DIR
from riskprompt.doctor import (
    Status,
    check_aliyun_sms,
    check_local_channels,
    send_test_messages,
)
from riskprompt.logs import Redactor, secrets_of
from riskprompt.models import Delivery, DeliveryStatus, Person, Prompt
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Channel
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.channels.base import Message, Outcome
from riskprompt.notifications.channels.sms import Receipt, SmsChannel, SmsKind
from riskprompt.notifications.channels.sms_aliyun import (
    ERRORS,
    AliyunSmsProvider,
    canonical_query,
    canonical_request,
    national_number,
    percent_encode,
    sha256_hex,
    signature,
)
from riskprompt.notifications.links import read_short_token
from riskprompt.notifications.receipts import poll_sms_receipts
from tests.standins.aliyun_sms import (
    DEFAULT_SIGN_NAME,
    KIND_TEMPLATES,
    AliyunFault,
    AliyunSmsStandin,
)
from tests.standins.fixtures import standin_overrides

PUBLIC_URL = "https://rp.example.gov.cn"
MOBILE = "+8613800138000"
NATIONAL = "13800138000"
PROMPT_TEXT = (
    "【2026年12月风险提示】固定资产投资科项目审批岗：\n"
    "1.[高]项目审批未经集体研究\n"
    f"查看全文：{PUBLIC_URL}/a/p1c.2s.6ghAbCdEfGhIjK\n"
    "回复1确认已阅"
)


def aliyun_settings(api: AliyunSmsStandin, **changes: object) -> Settings:
    return Settings(**(standin_overrides(aliyun_sms=api) | {"PUBLIC_URL": PUBLIC_URL} | changes))


def sms(text: str = PROMPT_TEXT, key: str = "p12-sms", address: str = MOBILE) -> Message:
    return Message(
        delivery_id=12,
        channel="sms",
        address=address,
        subject="",
        text=text,
        idempotency_key=key,
    )


@pytest_asyncio.fixture
async def channel(aliyun_sms_api: AliyunSmsStandin) -> AsyncIterator[SmsChannel]:
    """The SMS channel on Alibaba Cloud, pointed at the stand-in, opened."""
    async with SmsChannel.from_settings(aliyun_settings(aliyun_sms_api)) as opened:
        yield opened


# -- the signature ------------------------------------------------------------------------------


def test_the_signature_of_the_documented_example() -> None:
    """The V3 documentation's RunInstances example, step by step."""
    empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    canonical, signed = canonical_request(
        method="POST",
        path="/",
        query=canonical_query(
            {
                "RegionId": "cn-shanghai",
                "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            }
        ),
        headers={
            "host": "ecs.cn-shanghai.aliyuncs.com",
            "x-acs-action": "RunInstances",
            "x-acs-version": "2014-05-26",
            "x-acs-date": "2023-10-26T10:22:32Z",
            "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d",
            "x-acs-content-sha256": empty,
        },
        body_hash=sha256_hex(b""),
    )
    assert signed == (
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
    )
    assert sha256_hex(canonical.encode()) == (
        "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
    )
    assert signature("YourAccessKeySecret", canonical) == (
        "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
    )


def test_percent_encoding_is_rfc_3986() -> None:
    assert percent_encode("a b*c~d-_.") == "a%20b%2Ac~d-_."
    assert percent_encode("风") == "%E9%A3%8E"
    assert percent_encode('{"a":"/"}') == "%7B%22a%22%3A%22%2F%22%7D"
    assert canonical_query({"b": "2", "a": "1 1"}) == "a=1%201&b=2"


async def test_the_stand_in_refuses_a_wrong_secret(aliyun_sms_api: AliyunSmsStandin) -> None:
    settings = aliyun_settings(aliyun_sms_api, ALIYUN_SMS_ACCESS_KEY_SECRET="not-the-secret")
    async with SmsChannel.from_settings(settings) as wrong:
        result = await wrong.send(sms())
    assert result.outcome is Outcome.RETRY  # credentials, as Twilio's 401: the operator fixes them
    assert "SignatureDoesNotMatch" in (result.error or "")
    assert "not-the-secret" not in (result.error or "")
    assert aliyun_sms_api.refused_signatures == 1
    assert aliyun_sms_api.count == 0


async def test_the_stand_in_refuses_a_tampered_request(aliyun_sms_api: AliyunSmsStandin) -> None:
    provider = AliyunSmsProvider.from_settings(aliyun_settings(aliyun_sms_api))
    params = {"PhoneNumbers": NATIONAL, "SignName": DEFAULT_SIGN_NAME}
    async with httpx.AsyncClient() as client:
        headers, body = provider.signed("SendSms", params)
        changed_body = await client.post(
            f"{aliyun_sms_api.url}/", headers=headers, content=body.replace(b"138", b"139")
        )
        headers, body = provider.signed("SendSms", params)
        changed_action = await client.post(
            f"{aliyun_sms_api.url}/",
            headers=headers | {"x-acs-action": "QuerySmsSign"},
            content=body,
        )
        headers, body = provider.signed("SendSms", params)
        unsigned = {k: v for k, v in headers.items() if k != "authorization"}
        anonymous = await client.post(f"{aliyun_sms_api.url}/", headers=unsigned, content=body)
    assert (changed_body.status_code, changed_body.json()["Code"]) == (
        400,
        "ContentSHA256NotMatched",
    )
    assert changed_action.json()["Code"] == "SignatureDoesNotMatch"
    assert anonymous.json()["Code"] == "IncompleteSignature"
    assert aliyun_sms_api.count == 0


async def test_a_replayed_nonce_is_refused_and_retried(aliyun_sms_api: AliyunSmsStandin) -> None:
    settings = aliyun_settings(aliyun_sms_api)
    provider = AliyunSmsProvider.from_settings(settings)
    provider._nonce = lambda: "same-nonce-every-time"
    async with SmsChannel(provider) as replaying:
        first = await replaying.send(sms())
        second = await replaying.send(sms())
    assert first.outcome is Outcome.SENT
    assert second.outcome is Outcome.RETRY and "SignatureNonceUsed" in (second.error or "")


async def test_an_unknown_access_key_is_retried(aliyun_sms_api: AliyunSmsStandin) -> None:
    settings = aliyun_settings(aliyun_sms_api, ALIYUN_SMS_ACCESS_KEY_ID="LTAI-unknown")
    async with SmsChannel.from_settings(settings) as unknown:
        result = await unknown.send(sms())
    assert result.outcome is Outcome.RETRY
    assert "InvalidAccessKeyId.NotFound" in (result.error or "")


# -- every code, one table -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    code: str
    expected: Outcome
    message: str = ""
    status: int = 200
    retry_after: float | None = None


FAILED, RETRY = Outcome.FAILED, Outcome.RETRY
CASES = [
    # the number or the message: failed, the dispatcher falls back to the next channel
    Case("isv.MOBILE_NUMBER_ILLEGAL", FAILED, "非法手机号"),
    Case("isv.MOBILE_COUNT_OVER_LIMIT", FAILED),
    Case("isv.BLACK_KEY_CONTROL_LIMIT", FAILED, "黑名单管控"),
    Case("isv.PARAM_LENGTH_LIMIT", FAILED),
    Case("isv.TEMPLATE_PARAMS_ILLEGAL", FAILED),
    Case("isv.PARAM_NOT_SUPPORT_URL", FAILED),
    Case("isv.INVALID_JSON_PARAM", FAILED),
    Case("isv.INVALID_PARAMETERS", FAILED),
    Case("isv.SMS_CONTENT_ILLEGAL", FAILED),
    Case("isv.DOMESTIC_NUMBER_NOT_SUPPORTED", FAILED),
    # configuration: failed with fallback, and the setting named
    Case("isv.SMS_TEMPLATE_ILLEGAL", FAILED, "模板不合法"),
    Case("isv.TEMPLATE_MISSING_PARAMETERS", FAILED, "模板缺少变量"),
    Case("isv.SMS_SIGNATURE_ILLEGAL", FAILED, "签名不合法"),
    Case("isv.SMS_SIGN_ILLEGAL", FAILED),
    Case("isv.SIGN_STATE_ILLEGAL", FAILED),
    Case("isv.SMS_SIGNATURE_SCENE_ILLEGAL", FAILED),
    Case("isv.EXTEND_CODE_ERROR", FAILED),
    Case("isv.AMOUNT_NOT_ENOUGH", FAILED, "账户余额不足"),
    Case("isv.OUT_OF_SERVICE", FAILED, "业务停机"),
    Case("isv.PRODUCT_UN_SUBSCRIPT", FAILED),
    Case("isv.PRODUCT_UNSUBSCRIBE", FAILED),
    Case("isv.ACCOUNT_NOT_EXISTS", FAILED),
    Case("isv.ACCOUNT_ABNORMAL", FAILED),
    Case("isp.RAM_PERMISSION_DENY", FAILED),
    Case("isv.DAY_LIMIT_CONTROL", FAILED, "触发日发送限额"),
    Case("isv.MONTH_LIMIT_CONTROL", FAILED),
    Case("isv.DENY_IP_RANGE", FAILED),
    # the number's flow control: a minute, an hour; at the day's limit, fall back now
    Case("isv.BUSINESS_LIMIT_CONTROL", RETRY, "触发分钟级流控Permits:1", retry_after=60.0),
    Case("isv.BUSINESS_LIMIT_CONTROL", RETRY, "触发小时级流控Permits:5", retry_after=3600.0),
    Case("isv.BUSINESS_LIMIT_CONTROL", FAILED, "触发天级流控Permits:10"),
    Case("Throttling", RETRY, "Request was denied due to request throttling.", 400),
    Case("Throttling.User", RETRY, "Request was denied due to user flow control.", 400),
    Case("Throttling.Api", RETRY, status=400),
    # transient
    Case("isp.SYSTEM_ERROR", RETRY, "系统错误"),
    Case("isp.GATEWAY_ERROR", RETRY),
    Case("isp.UNKNOWN", RETRY),
    Case("InternalError", RETRY, status=500),
    Case("ServiceUnavailable", RETRY, status=503),
    Case("InvalidAccessKeyId.NotFound", RETRY, status=404),
    Case("InvalidAccessKeyId.Inactive", RETRY, status=400),
    Case("SignatureDoesNotMatch", RETRY, status=400),
    Case("IncompleteSignature", RETRY, status=400),
    Case("InvalidTimeStamp.Expired", RETRY, status=400),
    Case("SignatureNonceUsed", RETRY, status=400),
    # codes outside the table go by their family and HTTP status
    Case("isv.SOMETHING_NEW", FAILED),
    Case("isp.SOMETHING_NEW", RETRY),
    Case("MissingTemplateCode", FAILED, status=400),
    Case("SomethingBroke", RETRY, status=502),
]


def test_the_table_covers_every_code_we_act_on() -> None:
    assert set(ERRORS) <= {case.code for case in CASES}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=f"{c.code}-{c.message or c.status}") for c in CASES],
)
async def test_every_code(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin, case: Case
) -> None:
    aliyun_sms_api.fail_next(AliyunFault.business(case.code, case.message, case.status))
    result = await channel.send(sms())
    assert result.outcome is case.expected, result
    assert case.code in (result.error or "")
    assert result.retry_after == case.retry_after
    assert result.provider_id is None
    assert aliyun_sms_api.count == 0
    # the fault was one answer: the next message goes
    assert (await channel.send(sms())).outcome is Outcome.SENT


async def test_ok_is_sent_with_the_biz_id(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin
) -> None:
    result = await channel.send(sms())
    assert result.outcome is Outcome.SENT
    [message] = await aliyun_sms_api.wait_for_messages(1)
    assert result.provider_id == message.biz_id


async def test_a_configuration_error_names_the_setting_and_is_logged_once(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin, caplog: pytest.LogCaptureFixture
) -> None:
    aliyun_sms_api.fail_next(AliyunFault.business("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法"), 3)
    results = [await channel.send(sms()) for _ in range(3)]
    assert {r.outcome for r in results} == {Outcome.FAILED}
    assert "RISKPROMPT_ALIYUN_SMS_SIGN_NAME" in (results[0].error or "")
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "SIGN_NAME" in errors[0].getMessage()


@pytest.mark.parametrize(
    "fault",
    [AliyunFault.server_error(502), AliyunFault.server_error(503)],
    ids=["502-page", "503-page"],
)
async def test_an_http_error_page_is_retried(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin, fault: AliyunFault
) -> None:
    aliyun_sms_api.fail_all(fault)
    result = await channel.send(sms())
    assert result.outcome is Outcome.RETRY
    assert str(fault.status) in (result.error or "")


async def test_connection_refused_and_silence_are_retried(aliyun_sms_api: AliyunSmsStandin) -> None:
    async with SmsChannel.from_settings(aliyun_settings(aliyun_sms_api)) as refused:
        await aliyun_sms_api.down()
        result = await refused.send(sms())
        await aliyun_sms_api.up()
    assert result.outcome is Outcome.RETRY and "unreachable" in (result.error or "")

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        provider = AliyunSmsProvider.from_settings(
            aliyun_settings(aliyun_sms_api, ALIYUN_SMS_API_URL=url)
        )
        async with SmsChannel(provider, timeout=0.3) as silent:
            result = await silent.send(sms())
    assert result.outcome is Outcome.RETRY and "0.3 s" in (result.error or "")


# -- what SendSms carries -------------------------------------------------------------------------


async def test_send_sms_carries_the_number_sign_template_and_variables(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin
) -> None:
    await channel.send(sms())
    [call] = aliyun_sms_api.calls_of("SendSms")
    assert call.params["PhoneNumbers"] == NATIONAL
    assert call.params["SignName"] == DEFAULT_SIGN_NAME
    assert call.params["TemplateCode"] == KIND_TEMPLATES["prompt"]
    assert call.params["OutId"] == "p12-sms"
    assert json.loads(call.params["TemplateParam"]) == {
        "title": "2026年12月风险提示 固定资产投资科项目审批岗",
        "detail": "1.（高）项目审批未经集体研究",
        "link": "p1c.2s.6ghAbCdEfGhIjK",
    }
    assert '"title":"2026' in call.params["TemplateParam"]  # compact, Chinese unescaped
    assert call.headers["content-type"] == "application/x-www-form-urlencoded"
    secret = aliyun_sms_api.access_key_secret
    assert secret not in json.dumps(call.params) + json.dumps(call.headers)
    [message] = aliyun_sms_api.messages
    assert message.content == (
        "【风险防控】2026年12月风险提示 固定资产投资科项目审批岗：1.（高）项目审批未经集体研究。"
        "查看全文 https://rp.example.gov.cn/a/p1c.2s.6ghAbCdEfGhIjK ，回复1确认已阅。"
    )


@pytest.mark.parametrize(
    ("text", "key", "kind"),
    [
        (
            "【黄色预警】\n事由：采购\n查看：https://rp.example.gov.cn/a/w7.1.2abcdefghijk",
            "w7-sms",
            "warning",
        ),
        (
            "【提醒1】风险提示 P12（本月）尚未确认。回复 1 或 P12 确认已阅。",
            "p12-sms-rem1",
            "reminder",
        ),
        ("整改报告R3已通过审核。", "n40-sms", "notice"),
    ],
)
async def test_each_kind_goes_with_its_template(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin, text: str, key: str, kind: str
) -> None:
    result = await channel.send(sms(text, key))
    assert result.outcome is Outcome.SENT, result
    [message] = aliyun_sms_api.messages
    assert message.template_code == KIND_TEMPLATES[kind]


async def test_a_kind_without_a_template_fails_naming_the_setting(
    aliyun_sms_api: AliyunSmsStandin,
) -> None:
    settings = aliyun_settings(aliyun_sms_api, ALIYUN_SMS_TEMPLATES={"prompt": "SMS_900001"})
    async with SmsChannel.from_settings(settings) as partial:
        result = await partial.send(sms("整改报告R3已通过审核。", "n40-sms"))
    assert result.outcome is Outcome.FAILED
    assert "notice" in (result.error or "") and "RISKPROMPT_ALIYUN_SMS_TEMPLATES" in (
        result.error or ""
    )
    assert aliyun_sms_api.requests == []


@pytest.mark.parametrize("number", ["+85291234567", "+15005550006", "+86105123456", "12345"])
async def test_only_mainland_mobile_numbers_go(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin, number: str
) -> None:
    result = await channel.send(sms(address=number))
    assert result.outcome is Outcome.FAILED and "+86" in (result.error or "")
    assert aliyun_sms_api.requests == []


@pytest.mark.parametrize(
    "number", ["+8613800138000", "8613800138000", "008613800138000", "13800138000", "138 0013 8000"]
)
def test_national_number(number: str) -> None:
    assert national_number(number) == NATIONAL


# -- settings ----------------------------------------------------------------------------------


def test_the_templates_setting_names_the_kinds() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(ALIYUN_SMS_TEMPLATES={"prompt": "SMS_1", "birthday": "SMS_2"})
    assert raised.value.setting == "RISKPROMPT_ALIYUN_SMS_TEMPLATES"
    settings = load_settings(ALIYUN_SMS_TEMPLATES={"prompt": " SMS_1 "})
    assert settings.ALIYUN_SMS_TEMPLATES == {"prompt": "SMS_1"}


def test_the_provider_setting_chooses_the_sms_channel(
    aliyun_sms_api: AliyunSmsStandin, tmp_path: Path
) -> None:
    both = aliyun_settings(
        aliyun_sms_api, TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t", TWILIO_FROM="+1500"
    )
    assert both.aliyun_sms_enabled and not both.twilio_enabled and both.sms_enabled
    adapter = build_adapters(both)[Channel.SMS]
    assert isinstance(adapter, SmsChannel) and isinstance(adapter.provider, AliyunSmsProvider)
    assert adapter.per_address_interval is None  # RATE_LIMITS off in the stand-in settings
    limited = replace_settings(both, RATE_LIMITS=True)
    assert build_adapters(limited)[Channel.SMS].per_address_interval == 60.0
    twilio = replace_settings(both, SMS_PROVIDER="twilio")
    assert twilio.twilio_enabled and not twilio.aliyun_sms_enabled
    missing = Settings(SMS_PROVIDER="aliyun", ALIYUN_SMS_ACCESS_KEY_ID="k", OUTBOX_DIR=tmp_path)
    assert not missing.sms_enabled
    assert type(build_adapters(missing)[Channel.SMS]).__name__ == "FileChannel"


def replace_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)


def test_the_secret_is_redacted(aliyun_sms_api: AliyunSmsStandin) -> None:
    settings = aliyun_settings(aliyun_sms_api)
    redact = Redactor(secrets_of(settings))
    assert redact(f"refused {aliyun_sms_api.access_key_secret}") == "refused ***"


# -- receipts -------------------------------------------------------------------------------


async def test_query_send_details_reads_the_report(
    channel: SmsChannel, aliyun_sms_api: AliyunSmsStandin
) -> None:
    aliyun_sms_api.report("13800138001", send_status=2, err_code="MOBILE_NOT_ON_SERVICE")
    aliyun_sms_api.report("13800138002", send_status=2, err_code="IS_CLOSE")
    aliyun_sms_api.report("13800138003", send_status=1, err_code="")
    now = datetime.now(UTC)
    receipts = {}
    for number in ("+8613800138000", "+8613800138001", "+8613800138002", "+8613800138003"):
        sent = await channel.send(sms(address=number))
        receipts[number] = await channel.provider.receipt(
            to=number, provider_id=sent.provider_id or "", sent_at=now
        )
    assert receipts["+8613800138000"] == receipts_of("delivered")
    assert receipts["+8613800138001"] == receipts_of("undelivered", "MOBILE_NOT_ON_SERVICE", True)
    assert receipts["+8613800138002"] == receipts_of("undelivered", "IS_CLOSE", False)
    assert receipts["+8613800138003"] == receipts_of("sent")
    [query, *_] = aliyun_sms_api.calls_of("QuerySendDetails")
    assert query.params["PhoneNumber"] == NATIONAL
    assert query.params["SendDate"] == now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    unknown = await channel.provider.receipt(to=MOBILE, provider_id="1^0", sent_at=now)
    assert unknown is None


def receipts_of(status: str, error: str | None = None, permanent: bool = False) -> Receipt:
    return Receipt(status, error, permanent)


# -- doctor -------------------------------------------------------------------------------------


def test_doctor_names_each_missing_setting(tmp_path: Path) -> None:
    settings = Settings(
        SMS_PROVIDER="aliyun", ALIYUN_SMS_ACCESS_KEY_ID="LTAI5t", OUTBOX_DIR=tmp_path
    )
    [sms_check] = [c for c in check_local_channels(settings) if "ALIYUN" in c.reason]
    assert sms_check.status is Status.WARN
    assert "RISKPROMPT_ALIYUN_SMS_ACCESS_KEY_SECRET" in sms_check.reason
    assert "RISKPROMPT_ALIYUN_SMS_SIGN_NAME" in sms_check.reason
    assert "ACCESS_KEY_ID" not in sms_check.reason.replace("ACCESS_KEY_SECRET", "")


async def test_doctor_checks_the_sign_name_and_the_templates(
    aliyun_sms_api: AliyunSmsStandin,
) -> None:
    checks = await check_aliyun_sms(aliyun_settings(aliyun_sms_api))
    assert [c.status for c in checks] == [Status.OK] * 5, checks
    assert {a.action for a in aliyun_sms_api.requests} == {"QuerySmsSign", "QuerySmsTemplate"}

    aliyun_sms_api.templates["SMS_900004"] = "风险防控通知：${name}，${title}。"
    aliyun_sms_api.template_states["SMS_900003"] = 0
    partial = aliyun_settings(
        aliyun_sms_api,
        ALIYUN_SMS_TEMPLATES={k: v for k, v in KIND_TEMPLATES.items() if k != "warning"},
        PUBLIC_URL="https://elsewhere.example.gov.cn",
    )
    checks = await check_aliyun_sms(partial)
    by_status = Counter(c.status for c in checks)
    assert by_status == {Status.WARN: 1, Status.OK: 1, Status.FAIL: 3}, checks
    reasons = " | ".join(c.reason for c in checks)
    assert "warning" in reasons and "RISKPROMPT_ALIYUN_SMS_TEMPLATES" in reasons
    assert "name" in reasons  # the notice template uses a variable we do not send
    assert "https://elsewhere.example.gov.cn/a/${link}" in reasons  # the prompt's link


async def test_doctor_fails_a_sign_name_in_review(aliyun_sms_api: AliyunSmsStandin) -> None:
    aliyun_sms_api.sign_names[DEFAULT_SIGN_NAME] = 0
    [*_, sign] = await check_aliyun_sms(aliyun_settings(aliyun_sms_api))
    assert sign.status is Status.FAIL and DEFAULT_SIGN_NAME in sign.reason


async def test_doctor_reports_refused_credentials(aliyun_sms_api: AliyunSmsStandin) -> None:
    settings = aliyun_settings(aliyun_sms_api, ALIYUN_SMS_ACCESS_KEY_SECRET="wrong-secret")
    [check] = await check_aliyun_sms(settings)
    assert check.status is Status.FAIL and "SignatureDoesNotMatch" in check.reason


async def test_doctor_send_test_goes_as_a_notice(aliyun_sms_api: AliyunSmsStandin) -> None:
    person = Person(
        staff_id="T1", name="张三", unit_id=1, mobile=MOBILE, channels="sms", locale="zh_CN"
    )
    [check] = await send_test_messages(aliyun_settings(aliyun_sms_api), person)
    assert check.status is Status.OK, check
    [message] = aliyun_sms_api.messages
    assert message.template_code == KIND_TEMPLATES["notice"]
    assert message.biz_id in check.reason
    assert "测试消息" in message.content


# -- a monthly cycle through the stand-in --------------------------------------------------------


async def _cli(*args: str, locale: str = "en") -> str:
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["--locale", locale, *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_a_monthly_cycle_goes_through_alibaba_cloud(
    database: str,
    engine: Engine,
    aliyun_sms_api: AliyunSmsStandin,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", database)
    monkeypatch.setenv("RISKPROMPT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("RISKPROMPT_PUBLIC_URL", PUBLIC_URL)
    for name, value in standin_overrides(aliyun_sms=aliyun_sms_api).items():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        monkeypatch.setenv(f"RISKPROMPT_{name}", text)
    # one number Alibaba Cloud refuses, one the carrier reports out of service
    aliyun_sms_api.fail_number("13800000003", AliyunFault.business("isv.MOBILE_NUMBER_ILLEGAL"))
    aliyun_sms_api.report("13800000008", send_status=2, err_code="MOBILE_NOT_ON_SERVICE")

    await _cli("import", "catalog", str(SAMPLE_DIR / "catalog.csv"))
    await _cli("import", "people", str(SAMPLE_DIR / "people.csv"), locale="zh_CN")
    await _cli("cycle", "run", "--period", "2026-12")
    await _cli("dispatch", "--until-idle")

    settings = load_settings()
    with Session(engine) as session:
        sms_rows = session.exec(
            select(Delivery).where(col(Delivery.channel) == "sms").order_by(col(Delivery.id))
        ).all()
        people = {p.id: p for p in session.exec(select(Person)).all()}
        prompts = {p.id: p for p in session.exec(select(Prompt)).all()}
    by_number = {people[d.person_id].mobile: d for d in sms_rows}
    refused = by_number["+8613800000003"]
    assert refused.status is DeliveryStatus.FAILED
    assert "isv.MOBILE_NUMBER_ILLEGAL" in (refused.last_error or "")
    sent = [d for d in sms_rows if d.status is DeliveryStatus.SENT]
    assert len(sent) == len(sms_rows) - 1 >= 5, Counter((d.status, d.last_error) for d in sms_rows)
    assert len(aliyun_sms_api.messages) == len(sent)
    assert {m.biz_id for m in aliyun_sms_api.messages} == {d.provider_message_id for d in sent}
    for message in aliyun_sms_api.messages:
        assert message.template_code == KIND_TEMPLATES[SmsKind.PROMPT.value]
        assert message.content.startswith(f"【{DEFAULT_SIGN_NAME}】")
        assert all(0 < len(v) <= 35 for v in message.params.values()), message.params
        delivery = next(d for d in sent if d.provider_message_id == message.biz_id)
        assert message.out_id == delivery.idempotency_key
        # the link variable is the delivery's own signed link to its prompt
        target = read_short_token(
            settings.SECRET_KEY, message.params["link"], now=prompts[delivery.prompt_id].created_at
        )
        assert (target.kind, target.id, target.person_id) == (
            "prompt",
            delivery.prompt_id,
            delivery.person_id,
        )

    # the refused number fell back at once to the person's next channel (email)
    def fallbacks() -> dict[int, Delivery]:
        with Session(engine) as session:
            rows = session.exec(select(Delivery).where(col(Delivery.replaces_id).is_not(None)))
            return {d.replaces_id or 0: d for d in rows}

    assert fallbacks()[refused.id or 0].channel == "email"

    # a minute later the receipts are asked for: delivered, and one out of service
    clock = FixedClock(max(d.sent_at for d in sent if d.sent_at) + timedelta(minutes=2))
    async with SmsChannel.from_settings(settings) as channel:
        recorded = await poll_sms_receipts(
            engine, provider=channel.provider, clock=clock, settings=settings
        )
        assert recorded == len(sent)
        assert (
            await poll_sms_receipts(
                engine, provider=channel.provider, clock=clock, settings=settings
            )
            == 0
        )  # the next query of each is not due yet, and the delivered are done
    with Session(engine) as session:
        rows = {d.id: d for d in session.exec(select(Delivery)).all()}
    gone = rows[by_number["+8613800000008"].id]
    assert gone.status is DeliveryStatus.FAILED
    assert gone.extra["receipts"][-1] == {
        "status": "undelivered",
        "at": clock.now().isoformat(),
        "error": "MOBILE_NOT_ON_SERVICE",
    }
    assert fallbacks()[gone.id or 0].channel == "email"
    delivered = [rows[d.id] for d in sent if d.id != gone.id]
    assert all(d.extra["receipts"][-1]["status"] == "delivered" for d in delivered)
    assert all(d.extra["receipt_queries"] == 1 for d in delivered)


def test_the_scheduler_polls_receipts_only_for_alibaba_cloud(
    aliyun_sms_api: AliyunSmsStandin, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine

    from riskprompt.models.clock import SystemClock
    from riskprompt.notifications.scheduler import RECEIPTS_JOB, build_scheduler

    engine = create_engine("sqlite://")
    aliyun = build_scheduler(
        engine=engine, settings=aliyun_settings(aliyun_sms_api), clock=SystemClock()
    )
    twilio = build_scheduler(
        engine=engine,
        settings=Settings(
            OUTBOX_DIR=tmp_path,
            TWILIO_ACCOUNT_SID="AC1",
            TWILIO_AUTH_TOKEN="token",
            TWILIO_FROM="+15005550006",
        ),
        clock=SystemClock(),
    )
    assert aliyun.get_job(RECEIPTS_JOB) is not None
    assert twilio.get_job(RECEIPTS_JOB) is None
    engine.dispose()
