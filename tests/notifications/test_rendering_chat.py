"""WeCom and DingTalk: the channels, the people's accounts, the settings and the renderers.

The groundwork both chat apps share: ``wecom`` and ``dingtalk`` in the channel
order with their Chinese names, the person's userid as the address, markdown
within each platform's limits (WeCom 4,096 bytes a message, DingTalk's budget),
and the same buttons (已阅, 反馈整改情况) as Telegram's for the cards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from riskprompt.config.i18n import translator
from riskprompt.config.settings import Settings, SettingsError, load_settings
from riskprompt.logs import Redactor, secrets_of
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.errors import InvalidInput
from riskprompt.models.people import (
    CHANNEL_LABELS,
    DEFAULT_CHANNELS,
    Channel,
    Person,
    normalise_dingtalk_userid,
    normalise_wecom_userid,
    person_for_address,
)
from riskprompt.models.warnings import Warning, WarningColour, WarningForm, WarningStatus
from riskprompt.notifications.channels.wecom import WeComChannel
from riskprompt.notifications.rendering import (
    DINGTALK_MARKDOWN_MAX_BYTES,
    markdown_escape,
    render_prompt,
    render_warning,
    split_markdown,
    utf8_length,
)
from tests.builders import make_person, make_unit
from tests.notifications.test_rendering import long_content, make_prompt, monthly_content

CHATS = (Channel.WECOM, Channel.DINGTALK)


@pytest.fixture
def settings() -> Settings:
    return load_settings()


def chat_reader(locale: str = "zh_CN") -> Person:
    return Person(
        id=1,
        staff_id="T1",
        name="王五",
        unit_id=1,
        locale=locale,
        wecom_userid="wangwu",
        dingtalk_userid="manager4220",
    )


# -- channels, people -------------------------------------------------------------------------


def test_the_chat_apps_are_channels_with_their_names_and_words() -> None:
    gettext = translator("zh_CN").gettext
    assert [gettext(CHANNEL_LABELS[c]) for c in CHATS] == ["企业微信", "钉钉"]
    assert Channel.parse_list("企业微信、钉钉，短信") == [
        Channel.WECOM,
        Channel.DINGTALK,
        Channel.SMS,
    ]
    assert Channel.parse_list("政务微信 浙政钉") == [Channel.WECOM, Channel.DINGTALK]
    assert Channel.parse_list("wecom,dingtalk") == list(CHATS)
    assert Channel.parse_list(DEFAULT_CHANNELS)[:2] == list(CHATS)
    assert {c for c in Channel if c.is_chat} == {*CHATS, Channel.TELEGRAM}
    with pytest.raises(InvalidInput):
        Channel.parse_list("wecom,企业微信")  # named twice


def test_a_persons_userid_is_where_the_chat_app_reaches_them() -> None:
    person = chat_reader()
    person.channels = "dingtalk,wecom,email"
    person.email = "wangwu@example.gov.cn"
    assert person.address_for(Channel.WECOM) == "wangwu"
    assert person.address_for(Channel.DINGTALK) == "manager4220"
    assert person.reachable_channels() == [Channel.DINGTALK, Channel.WECOM, Channel.EMAIL]
    person.dingtalk_userid = None
    assert person.reachable_channels() == [Channel.WECOM, Channel.EMAIL]


def test_userids_are_checked_and_wecom_ignores_case() -> None:
    assert normalise_wecom_userid(" ZhangSan@corp ") == "zhangsan@corp"
    assert normalise_dingtalk_userid("0123456789$") == "0123456789$"
    for bad in ("", "张三", "a b", "a|b", "_x", "x" * 65):
        with pytest.raises(InvalidInput):
            normalise_wecom_userid(bad)
    for bad in ("", "a,b", "a b", "x" * 65):
        with pytest.raises(InvalidInput):
            normalise_dingtalk_userid(bad)


def test_a_callback_finds_its_person_by_userid(session: Session) -> None:
    unit = make_unit(session)
    person = make_person(session, unit=unit)
    person.wecom_userid, person.dingtalk_userid = "wangwu", "manager4220"
    session.add(person)
    session.flush()
    assert person_for_address(session, channel=Channel.WECOM, address="WangWu") == person
    assert person_for_address(session, channel=Channel.DINGTALK, address="manager4220") == person
    assert person_for_address(session, channel=Channel.DINGTALK, address="MANAGER4220") is None
    person.active = False
    assert person_for_address(session, channel=Channel.WECOM, address="wangwu") is None
    with pytest.raises(ValueError):
        person_for_address(session, channel=Channel.SMS, address="+8613800138000")


# -- settings -------------------------------------------------------------------------------------

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_the_chat_settings_default_to_the_public_apis_and_check_the_aes_key() -> None:
    settings = load_settings()
    assert settings.WECOM_API_URL == "https://qyapi.weixin.qq.com"
    assert settings.DINGTALK_API_URL == "https://oapi.dingtalk.com"
    assert not (settings.wecom_enabled or settings.dingtalk_enabled)
    gov = load_settings(
        WECOM_API_URL="https://zwwx.example.gov.cn/",
        WECOM_CORP_ID="wwcorp",
        WECOM_AGENT_ID=1000002,
        WECOM_SECRET="s3cret-value",
        WECOM_TOKEN="tok",
        WECOM_AES_KEY=AES_KEY,
    )
    assert gov.WECOM_API_URL == "https://zwwx.example.gov.cn"  # 政务微信: another host
    assert gov.wecom_enabled and gov.wecom_callbacks_enabled
    ding = load_settings(DINGTALK_APP_KEY="dingkey", DINGTALK_APP_SECRET="x", DINGTALK_AGENT_ID=7)
    assert ding.dingtalk_enabled and not ding.dingtalk_callbacks_enabled
    with pytest.raises(SettingsError) as bad:
        load_settings(WECOM_AES_KEY="too-short")
    assert bad.value.setting == "RISKPROMPT_WECOM_AES_KEY"
    with pytest.raises(SettingsError) as bad:
        load_settings(DINGTALK_API_URL="oapi.dingtalk.com")
    assert bad.value.setting == "RISKPROMPT_DINGTALK_API_URL"


def test_the_chat_secrets_and_access_tokens_never_reach_a_log_line() -> None:
    settings = load_settings(
        WECOM_SECRET="wecom-secret-value-1",
        WECOM_TOKEN="wecom-callback-token",
        WECOM_AES_KEY=AES_KEY,
        DINGTALK_APP_SECRET="dingtalk-secret-value",
        DINGTALK_TOKEN="dingtalk-callback-token",
        DINGTALK_AES_KEY=AES_KEY[::-1],
    )
    redact = Redactor(secrets_of(settings))
    line = redact(
        "wecom-secret-value-1 wecom-callback-token dingtalk-secret-value dingtalk-callback-token "
        f"{AES_KEY} {AES_KEY[::-1]} "
        "GET https://qyapi.weixin.qq.com/cgi-bin/message/send?access_token=AbC-123_x&debug=1"
    )
    assert "secret-value" not in line and "callback-token" not in line
    assert AES_KEY not in line and AES_KEY[::-1] not in line
    assert "access_token=***&debug=1" in line


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHATS)
def test_a_prompt_is_markdown_with_the_acknowledge_button(
    channel: Channel, settings: Settings
) -> None:
    content = monthly_content(
        points=[
            (RiskLevel.LOW, "台账登记不及时", ["每周核对"]),
            (RiskLevel.HIGH, "违规审批资金支付 [点此](http://evil.example)", ["双人审核"]),
        ]
    )
    rendered = render_prompt(
        prompt=make_prompt(content), person=chat_reader(), channel=channel, settings=settings
    )
    markdown = "\n".join(rendered.parts)
    assert rendered.subject == "2026年12月岗位廉政风险提示"
    assert "### 2026年12月岗位廉政风险提示" in markdown
    assert markdown.index("违规审批资金支付") < markdown.index("台账登记不及时")  # high first
    # user text cannot smuggle in a link
    assert "](http" not in markdown and "［点此］" in markdown
    assert [(b.label, b.data) for b in rendered.buttons] == [("已阅", "ack:p:42")]
    if channel is Channel.WECOM:
        assert '<font color="warning">**[高]**</font>' in markdown
        assert rendered.text == "岗位：财务科出纳岗（滨江市财政局）"  # the card's description
    else:
        assert "<font" not in markdown and "**[高]**" in markdown
        assert rendered.text == markdown


@pytest.mark.parametrize(
    ("channel", "limit"),
    [
        (Channel.WECOM, WeComChannel.markdown_max_bytes),
        (Channel.DINGTALK, DINGTALK_MARKDOWN_MAX_BYTES),
    ],
)
def test_a_long_prompt_is_split_within_the_platforms_limit(
    channel: Channel, limit: int, settings: Settings
) -> None:
    rendered = render_prompt(
        prompt=make_prompt(long_content()), person=chat_reader(), channel=channel, settings=settings
    )
    assert len(rendered.parts) > 1
    assert all(utf8_length(part) <= limit for part in rendered.parts)
    joined = "\n".join(rendered.parts)
    assert joined.count("防控措施39-5") == 1  # nothing lost, nothing twice
    for part in rendered.parts:  # every colour tag closes in its own part
        assert part.count("<font") == part.count("</font>")


def test_markdown_splitting_cuts_long_lines_at_character_boundaries() -> None:
    text = "标题\n" + "很长的一行" * 400 + "\n结尾"
    parts = split_markdown(text, 1000)
    assert all(utf8_length(p) <= 1000 for p in parts)
    assert "".join(p.replace("\n", "") for p in parts) == text.replace("\n", "")
    assert split_markdown("  \n", 100) == ()
    assert markdown_escape("<font>#*`[x]") == "＜font＞＃＊＇［x］"


@pytest.mark.parametrize("channel", CHATS)
def test_a_warning_has_the_acknowledge_and_report_buttons(
    channel: Channel, settings: Settings
) -> None:
    created = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    warning = Warning(
        id=7,
        person_id=1,
        issued_by_id=2,
        colour=WarningColour.ORANGE,
        form=WarningForm.CORRECT,
        status=WarningStatus.ISSUED,
        reason="采购审批未经集体研究",
        deadline=created + timedelta(days=10),
        created_at=created,
    )
    rendered = render_warning(
        warning=warning, reader=chat_reader(), channel=channel, settings=settings, issuer="李四"
    )
    assert [(b.label, b.data) for b in rendered.buttons] == [
        ("已阅 W7", "ack:w:7"),
        ("反馈整改情况（W7）", "rc:7"),
    ]
    assert "采购审批未经集体研究" in "\n".join(rendered.parts)
    assert rendered.subject.startswith("预警 W7")
    # a supervisor's notice asks for nothing: no buttons
    notice = render_warning(
        warning=warning,
        reader=chat_reader(),
        channel=channel,
        settings=settings,
        subject=Person(id=3, staff_id="T3", name="张三", unit_id=1),
    )
    assert notice.buttons == ()
