"""Renderers: every channel's limits, escaping, and the reader's language."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from riskprompt.config.i18n import translator
from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.catalog import RiskLevel, split_measures
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Prompt, PromptKind
from riskprompt.notifications.rendering import (
    SMS_GSM_LIMIT,
    SMS_UCS2_LIMIT,
    TELEGRAM_MAX_CHARS,
    environment,
    prompt_title,
    render_prompt,
    sms_length,
    sms_limit,
    split_telegram,
)

SAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "riskprompt" / "sample" / "catalog.csv"
LEVELS = {"高": RiskLevel.HIGH, "中": RiskLevel.MEDIUM, "低": RiskLevel.LOW}


@pytest.fixture
def settings() -> Settings:
    return load_settings()


def monthly_content(
    *,
    points: list[tuple[RiskLevel, str, list[str]]],
    post: str = "财务科出纳岗",
    unit: str = "滨江市财政局",
    focus: str | None = "年底集中采购和资金拨付",
    period: str = "2026-12",
) -> dict[str, Any]:
    ordered = sorted(enumerate(points), key=lambda item: (item[1][0].rank, item[0]))
    return {
        "period": period,
        "post_id": 1,
        "post": post,
        "unit_id": 1,
        "unit": unit,
        "focus": focus,
        "risk_points": [
            {"id": index + 1, "level": level.value, "description": text, "measures": measures}
            for index, (level, text, measures) in ordered
        ],
    }


def make_prompt(
    content: dict[str, Any],
    *,
    kind: PromptKind = PromptKind.MONTHLY,
    prompt_id: int = 42,
    requires_ack: bool = True,
) -> Prompt:
    return Prompt(
        id=prompt_id,
        kind=kind,
        person_id=1,
        content=content,
        requires_ack=requires_ack,
        created_at=datetime(2026, 12, 1, 1, 0, tzinfo=UTC),
    )


def reader(locale: str = "zh_CN") -> Person:
    return Person(id=1, staff_id="T1", name="王五", unit_id=1, locale=locale)


def sample_posts() -> list[dict[str, Any]]:
    """One content snapshot per post of the sample (demo) catalogue."""
    posts: dict[tuple[str, str], list[tuple[RiskLevel, str, list[str]]]] = {}
    with SAMPLE_CATALOG.open(encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            key = (row["单位"], row["岗位"])
            posts.setdefault(key, []).append(
                (LEVELS[row["风险等级"]], row["风险点"], split_measures(row["防控措施"]))
            )
    return [
        monthly_content(points=points, post=post, unit=unit)
        for (unit, post), points in posts.items()
    ]


def long_content() -> dict[str, Any]:
    points = [
        (
            [RiskLevel.HIGH, RiskLevel.MEDIUM, RiskLevel.LOW][n % 3],
            f"在政府采购项目第{n}标段的需求论证、评审专家抽取和履约验收环节中存在倾向性设置条件的风险"
            * 2,
            [
                f"防控措施{n}-{m}：集体研究决定并全程记录留痕，接受纪检监察机构监督"
                for m in range(6)
            ],
        )
        for n in range(40)
    ]
    return monthly_content(
        points=points,
        post="政府采购和国有资产管理科采购项目审核及合同履约验收管理岗位" * 2,
        unit="滨江市财政局政府采购监督管理办公室",
        focus="年底集中采购和资金拨付，重点关注大额资金支付、预算执行进度和政府采购合同履约验收"
        * 5,
    )


def reply_instruction(locale: str) -> str:
    return translator(locale).gettext("Reply 1 to acknowledge")


# -- SMS ------------------------------------------------------------------------------------


def test_sms_limit_follows_the_alphabet() -> None:
    assert sms_limit("Reply 1 to acknowledge") == SMS_GSM_LIMIT == 306
    assert sms_limit("回复1确认已阅") == SMS_UCS2_LIMIT == 134
    assert sms_length("a[b]") == 6  # GSM-7 extension characters take two septets
    assert sms_length("已阅😀") == 4  # outside the BMP: a surrogate pair in UCS-2


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_every_sample_post_fits_two_sms_segments_with_the_reply_instruction(
    locale: str, settings
) -> None:
    contents = sample_posts()
    assert len(contents) >= 20
    for content in contents:
        for focus in (content["focus"], None):
            prompt = make_prompt({**content, "focus": focus})
            text = render_prompt(
                prompt=prompt, person=reader(locale), channel=Channel.SMS, settings=settings
            ).text
            assert sms_length(text) <= sms_limit(text), text
            assert sms_length(text) <= SMS_UCS2_LIMIT  # the content is Chinese
            assert text.endswith(reply_instruction(locale)), text


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_a_long_prompt_lists_high_risks_briefly_and_points_elsewhere(locale: str, settings) -> None:
    text = render_prompt(
        prompt=make_prompt(long_content()),
        person=reader(locale),
        channel=Channel.SMS,
        settings=settings,
    ).text
    assert sms_length(text) <= SMS_UCS2_LIMIT, text
    assert text.endswith(reply_instruction(locale))
    more = translator(locale).ngettext(
        "...%(num)s in all; see email or chat",
        "...%(num)s in all; see email or chat",
        40,
    ) % {"num": 40}
    assert more in text


def test_a_short_prompt_is_sent_whole(settings) -> None:
    content = monthly_content(points=[(RiskLevel.HIGH, "违规审批", ["集体决策"])], focus=None)
    text = render_prompt(
        prompt=make_prompt(content), person=reader(), channel=Channel.SMS, settings=settings
    ).text
    assert "违规审批" in text
    assert "集体决策" in text


def test_no_reply_instruction_when_no_acknowledgement_is_asked(settings) -> None:
    prompt = make_prompt(sample_posts()[0], requires_ack=False)
    text = render_prompt(
        prompt=prompt, person=reader(), channel=Channel.SMS, settings=settings
    ).text
    assert reply_instruction("zh_CN") not in text
    assert sms_length(text) <= sms_limit(text)


def test_a_long_special_prompt_fits_too(settings) -> None:
    content = {
        "text": "元旦春节将至，严禁违规收送礼品礼金，严禁公款吃喝和违规发放津补贴。" * 10,
        "issuer": "张纪检",
        "issuer_staff_id": "J001",
        "issuer_unit": "驻市财政局纪检监察组",
        "issued_on": "2026-12-24",
    }
    text = render_prompt(
        prompt=make_prompt(content, kind=PromptKind.SPECIAL),
        person=reader(),
        channel=Channel.SMS,
        settings=settings,
    ).text
    assert sms_length(text) <= SMS_UCS2_LIMIT
    assert text.endswith(reply_instruction("zh_CN"))
    assert "元旦春节将至" in text


# -- Telegram -------------------------------------------------------------------------------


def _balanced(part: str) -> bool:
    for tag in ("b", "i"):
        if part.count(f"<{tag}>") != part.count(f"</{tag}>"):
            return False
    return True


def test_telegram_splits_long_prompts_and_keeps_the_button_small(settings) -> None:
    prompt = make_prompt(long_content(), prompt_id=2**63 - 1)
    rendered = render_prompt(
        prompt=prompt, person=reader(), channel=Channel.TELEGRAM, settings=settings
    )
    assert len(rendered.parts) > 1
    for part in rendered.parts:
        assert len(part.encode("utf-16-le")) // 2 <= TELEGRAM_MAX_CHARS
        assert _balanced(part), part[:200]
    assert "\n".join(rendered.parts).count("防控措施39-5") == 1  # nothing lost
    (button,) = rendered.buttons
    assert button.data == f"ack:p:{2**63 - 1}"
    assert len(button.data.encode()) <= 64
    assert button.label == translator("zh_CN").gettext("Acknowledge")


def test_telegram_escapes_html_and_drops_the_button_without_acknowledgement(settings) -> None:
    content = monthly_content(points=[(RiskLevel.HIGH, "<script>alert(1)</script> & co", [])])
    rendered = render_prompt(
        prompt=make_prompt(content, requires_ack=False),
        person=reader(),
        channel=Channel.TELEGRAM,
        settings=settings,
    )
    assert "<script>" not in rendered.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in rendered.text
    assert rendered.parts == (rendered.text,)
    assert rendered.buttons == ()


def test_split_never_cuts_inside_an_entity() -> None:
    line = ("风险&amp;" * 1000) + "结束"
    parts = split_telegram(line, limit=100)
    assert all(len(part) <= 100 for part in parts)
    assert "".join(parts) == line
    assert all(not re.search(r"&[a-z]*$", part) for part in parts)


# -- email ----------------------------------------------------------------------------------


def test_email_has_a_subject_text_and_escaped_html(settings) -> None:
    content = monthly_content(
        points=[
            (RiskLevel.LOW, "资料保管不善", ["专柜存放"]),
            (RiskLevel.HIGH, "<script>alert('x')</script>违规审批", ["集体研究决定"]),
        ]
    )
    rendered = render_prompt(
        prompt=make_prompt(content), person=reader(), channel=Channel.EMAIL, settings=settings
    )
    title = prompt_title(kind=PromptKind.MONTHLY, content=content, locale="zh_CN")
    assert "2026年12月" in title
    assert rendered.subject == title
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "<script>alert('x')</script>违规审批" in rendered.text  # plain text stays plain
    assert rendered.text.index("违规审批") < rendered.text.index("资料保管不善")  # high first
    assert "#b91c1c" in rendered.html  # high risk in red
    assert "年底集中采购和资金拨付" in rendered.text


def test_special_prompt_email_names_the_issuer(settings) -> None:
    content = {
        "text": "请于12月31日前完成自查。",
        "issuer": "张纪检",
        "issuer_staff_id": "J001",
        "issuer_unit": "纪检监察组",
        "issued_on": "2026-12-24",
    }
    rendered = render_prompt(
        prompt=make_prompt(content, kind=PromptKind.SPECIAL),
        person=reader(),
        channel=Channel.EMAIL,
        settings=settings,
    )
    assert "纪检监察组" in rendered.subject
    assert "张纪检" in rendered.text
    assert "2026年12月24日" in rendered.text
    assert "请于12月31日前完成自查。" in (rendered.html or "")


# -- language -------------------------------------------------------------------------------


def test_an_english_reader_gets_english(settings) -> None:
    prompt = make_prompt(sample_posts()[0])
    email = render_prompt(
        prompt=prompt, person=reader("en"), channel=Channel.EMAIL, settings=settings
    )
    assert email.subject == "December 2026 post integrity risk prompt"
    assert "Risk points of your post, high first" in email.text
    assert 'lang="en"' in (email.html or "")
    chat = render_prompt(
        prompt=prompt, person=reader("en"), channel=Channel.TELEGRAM, settings=settings
    )
    assert chat.buttons[0].label == "Acknowledge"
    assert "[high]" in chat.text


def test_each_locale_has_its_own_environment(settings) -> None:
    assert environment("zh_CN") is not environment("en")
    assert environment("zh_CN") is environment("zh_CN")
    prompt = make_prompt(sample_posts()[0])
    zh = render_prompt(
        prompt=prompt, person=reader("zh_CN"), channel=Channel.EMAIL, settings=settings
    )
    en = render_prompt(prompt=prompt, person=reader("en"), channel=Channel.EMAIL, settings=settings)
    zh_again = render_prompt(
        prompt=prompt, person=reader("zh_CN"), channel=Channel.EMAIL, settings=settings
    )
    assert zh == zh_again
    assert "2026年12月" in zh.subject
    assert en.subject.startswith("December 2026")


def test_an_unsupported_locale_falls_back_to_the_default(settings) -> None:
    prompt = make_prompt(sample_posts()[0])
    fallback = render_prompt(
        prompt=prompt, person=reader("fr"), channel=Channel.EMAIL, settings=settings
    )
    default = render_prompt(
        prompt=prompt, person=reader("zh_CN"), channel=Channel.EMAIL, settings=settings
    )
    assert fallback == default
