"""The SMS backend: what it decides before any provider is asked.

Segments, the kind of template a message takes, and the template variables the
rendered text becomes (every one present and within the provider's limit).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskprompt.notifications.channels.base import Message, Outcome
from riskprompt.notifications.channels.sms import (
    TEMPLATE_VARIABLES,
    SmsChannel,
    SmsKind,
    segments,
    sms_kind,
    template_for,
)
from riskprompt.notifications.channels.sms_aliyun import AliyunSmsProvider

LINK = "https://rp.example.gov.cn/a/p1c.2s.6ghAbCdEfGhIjK"
PROMPT_TEXT = (
    "【2026年12月风险提示】固定资产投资科项目审批岗：\n"
    "重点工作：重大项目审批\n"
    "1.[高]项目审批未经集体研究\n"
    f"查看全文：{LINK}\n"
    "回复1确认已阅"
)
WARNING_TEXT = (
    "【黄色预警·责令纠错】\n"
    "事由：采购审批未经集体研究\n"
    "整改期限：2026年12月11日\n"
    f"查看并反馈整改：{LINK.replace('/a/p', '/a/w')}\n"
    "回复W7确认已阅"
)
REMINDER_TEXT = "【提醒1】风险提示 P12（2026年12月岗位风险提示）尚未确认。回复 1 或 P12 确认已阅。"


def message(text: str, key: str, locale: str = "zh_CN") -> Message:
    return Message(
        delivery_id=1,
        channel="sms",
        address="+8613800138000",
        subject="",
        text=text,
        idempotency_key=key,
        locale=locale,
    )


@pytest.mark.parametrize(
    ("text", "key", "kind"),
    [
        (PROMPT_TEXT, "p12-sms", SmsKind.PROMPT),
        (PROMPT_TEXT, "p12-sms-r40", SmsKind.PROMPT),  # a fallback keeps its kind
        ("【2026年12月风险提示】财务岗：\n1.[高]报销审核", "p12-sms", SmsKind.NOTICE),  # no link
        (REMINDER_TEXT, "p12-sms-rem1", SmsKind.REMINDER),
        (WARNING_TEXT, "w7-sms", SmsKind.WARNING),
        (WARNING_TEXT, "w7-sms-rm3.1", SmsKind.WARNING),
        ("【黄色预警】\n事由：采购\n（抄送上级）", "w7-sms-esc1-sup", SmsKind.NOTICE),
        ("整改报告R3已通过审核。", "n40-sms", SmsKind.NOTICE),
        ("这是一条测试消息。", "doctor-0a1b2c", SmsKind.NOTICE),
    ],
)
def test_the_key_and_the_link_choose_the_template(text: str, key: str, kind: SmsKind) -> None:
    assert sms_kind(message(text, key)) is kind
    assert set(template_for(message(text, key), param_maxlen=35).params) == set(
        TEMPLATE_VARIABLES[kind]
    )


def test_a_prompt_becomes_title_detail_and_the_links_token() -> None:
    template = template_for(message(PROMPT_TEXT, "p12-sms"), param_maxlen=35)
    assert template.kind is SmsKind.PROMPT
    assert template.params == {
        "title": "2026年12月风险提示 固定资产投资科项目审批岗",
        "detail": "重点工作：重大项目审批 1.（高）项目审批未经集体研究",
        "link": "p1c.2s.6ghAbCdEfGhIjK",
    }


def test_a_warning_carries_its_reply_code() -> None:
    template = template_for(message(WARNING_TEXT, "w7-sms-rm3.1"), param_maxlen=35)
    assert template.params["code"] == "W7"
    assert template.params["title"] == "黄色预警·责令纠错"
    assert template.params["detail"].startswith("事由：采购审批未经集体研究 整改期限")
    assert template.params["link"] == "w1c.2s.6ghAbCdEfGhIjK"


def test_a_reminder_is_title_and_code() -> None:
    template = template_for(message(REMINDER_TEXT, "p12-sms-rem1"), param_maxlen=35)
    assert template.params["code"] == "P12"
    # cut after its first sentence, which fits: the rest is the template's own text
    assert template.params["title"] == "提醒1 风险提示 P12（2026年12月岗位风险提示）尚未确认"


def test_a_long_single_line_splits_after_a_clause() -> None:
    text = "这是 riskprompt 发送的一条测试消息，说明此渠道可以联系到您，无需任何操作。"
    template = template_for(message(text, "doctor-0a1b"), param_maxlen=35)
    assert template.params == {
        "title": "这是 riskprompt 发送的一条测试消息",
        "detail": "说明此渠道可以联系到您，无需任何操作。",
    }


def test_a_notice_without_more_lines_points_to_email_or_chat() -> None:
    template = template_for(message("整改报告R3已通过审核。", "n40-sms"), param_maxlen=35)
    assert template.params == {"title": "整改报告R3已通过审核。", "detail": "…详见邮件或聊天消息"}
    english = template_for(message("Report R3 accepted.", "n40-sms", "en"), param_maxlen=35)
    assert english.params["detail"] == "...see email or chat"


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(categories=("L", "N", "P", "Zs"), include_characters="\n【】[]"),
        min_size=1,
        max_size=300,
    ).filter(str.strip),
    key=st.sampled_from(["p12-sms", "p12-sms-rem2", "w7-sms", "n3-sms", "ua1-p2", "doctor-x"]),
    link=st.booleans(),
    width=st.integers(min_value=8, max_value=35),
)
def test_every_variable_is_present_within_the_limit_and_without_sign_brackets(
    text: str, key: str, link: bool, width: int
) -> None:
    if link:
        text += f"\n{LINK}\n回复1确认已阅"
    template = template_for(message(text, key), param_maxlen=width)
    assert set(template.params) == set(TEMPLATE_VARIABLES[template.kind])
    for name, value in template.params.items():
        assert value, name
        assert len(value) <= max(width, 35 if name == "link" else width), (name, value)
        assert not set(value) & set("【】[]"), (name, value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 153 * 2, 2),
        ("{" * 80, 1),  # extension characters count twice
        ("{" * 81, 2),
        ("风" * 70, 1),
        ("风" * 71, 2),
        ("风" * 134, 2),
        ("风" * 135, 3),
        ("🔔" * 35, 1),  # outside the BMP: two UCS-2 units each
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def _aliyun() -> AliyunSmsProvider:
    return AliyunSmsProvider(
        access_key_id="k", access_key_secret="s", sign_name="风险防控", templates={}
    )


async def test_the_channel_refuses_an_empty_address_or_an_over_long_text() -> None:
    channel = SmsChannel(_aliyun(), max_segments=2)
    no_number = await channel.send(replace(message(PROMPT_TEXT, "p12-sms"), address=" "))
    assert no_number.outcome is Outcome.FAILED and no_number.error == "no mobile number"
    too_long = await channel.send(message("风" * 135, "p12-sms"))
    assert too_long.outcome is Outcome.FAILED
    assert "3 segments" in (too_long.error or "")


async def test_the_channel_takes_its_limits_from_the_provider() -> None:
    provider = _aliyun()
    provider.per_address_interval = 60.0
    channel = SmsChannel(provider)
    assert channel.per_address_interval == 60.0
    assert channel.rate_per_sec is None
    assert channel.max_concurrency == provider.max_concurrency
    assert channel.describe()["provider"] == "aliyun"
