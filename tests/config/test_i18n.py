"""Every message a person reads has a zh_CN translation with the same placeholders."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from riskprompt.config.i18n import (
    LOCALE_DIR,
    N_,
    SUPPORTED_LOCALES,
    _,
    format_day,
    format_list,
    format_month,
    format_number,
    format_when,
    pgettext,
    set_locale,
    translate_params,
    translator,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["models", "notifications", "bot", "config", "riskprompt"]
KEYWORDS = {
    "_": None,
    "N_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "pgettext": ((1, "c"), 2),
}
METHOD_MAP = [("**.py", "python"), ("**/templates/**.j2", "jinja2")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdrif]|%[sdrif]|\{(\w*)\}")


def _source_messages() -> dict[tuple[str, str | None], str]:
    """(msgid, msgctxt) → where it was found, for every marked string in the sources."""
    found: dict[tuple[str, str | None], str] = {}
    for folder in SOURCES:
        path = ROOT / folder
        if not path.is_dir():
            continue
        for filename, lineno, message, _comments, context in extract_from_dir(
            str(path),
            method_map=METHOD_MAP,
            keywords=KEYWORDS,
            options_map={"**/templates/**.j2": {"extensions": "jinja2.ext.i18n"}},
        ):
            # A plural message is catalogued under its singular msgid.
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault((msgid, context), f"{folder}/{filename}:{lineno}")
    return found


def _catalog(locale: str):
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text))


def test_sources_have_messages() -> None:
    assert len(_source_messages()) > 50


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_source_message_is_in_the_catalogue(locale: str) -> None:
    catalog = _catalog(locale)
    missing = [
        f"{where}: {msgid!r}"
        for (msgid, context), where in _source_messages().items()
        if catalog.get(msgid, context=context) is None
    ]
    assert not missing, "run `make i18n` and translate:\n" + "\n".join(missing)


def test_every_message_has_a_zh_cn_translation() -> None:
    catalog = _catalog("zh_CN")
    untranslated = []
    for (msgid, context), where in _source_messages().items():
        message = catalog.get(msgid, context=context)
        if message is None:
            continue  # reported by the test above
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or message.fuzzy:
            untranslated.append(f"{where}: {msgid!r}")
    assert not untranslated, "no zh_CN translation:\n" + "\n".join(untranslated)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_placeholders_agree_between_languages(locale: str) -> None:
    wrong = []
    for message in _catalog(locale):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = _placeholders(ids[-1])
        for text in strings:
            if text and _placeholders(text) != expected:
                wrong.append(f"{ids[0]!r} → {text!r}")
    assert not wrong, f"{locale}: placeholders differ:\n" + "\n".join(wrong)


def test_translation_follows_the_locale() -> None:
    set_locale("zh_CN")
    assert _("Units") == "单位"
    set_locale("en")
    assert _("Units") == "Units"
    assert translator("zh_CN").gettext("Units") == "单位"


def test_pgettext_tells_one_word_in_two_meanings_apart() -> None:
    set_locale("zh_CN")
    assert (_("Created"), pgettext("count", "Created")) == ("创建时间", "新增")
    assert pgettext("count", "Updated") == "更新"
    set_locale("en")
    assert pgettext("count", "Created") == "Created"


def test_a_label_given_as_a_parameter_is_translated_with_its_message() -> None:
    label = N_("withdrawn")
    assert isinstance(label, str) and label == "withdrawn"
    params = translate_params({"status": label, "name": "withdrawn"}, translator("zh_CN").gettext)
    assert params == {"status": "已撤回", "name": "withdrawn"}  # a plain str stays as written


def test_months_and_lists_read_as_the_reader_writes_them() -> None:
    assert format_month("2026-12", "zh_CN") == "2026年12月"
    assert format_month("2026-12", "en") == "December 2026"
    assert format_list(["邮件", "短信", "短信（上级）"], "zh_CN") == "邮件、短信和短信（上级）"


def test_dates_and_numbers_are_formatted_for_the_reader() -> None:
    moment = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)
    assert format_when(moment, "Asia/Shanghai", "zh_CN") == "2025年3月1日 09:30:00"
    assert "Mar 1, 2025" in format_when(moment, "Asia/Shanghai", "en")
    assert format_day(moment.date(), "zh_CN") == "2025年3月1日"
    assert format_number(1234567, "en") == "1,234,567"


def test_a_deadline_that_ends_its_day_is_shown_as_the_day() -> None:
    from datetime import UTC, datetime

    from riskprompt.config.i18n import format_deadline

    whole = datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Shanghai
    assert format_deadline(whole, "Asia/Shanghai", "zh_CN") == "2026年12月31日"
    assert format_deadline(whole, "Asia/Shanghai", "en") == "December 31, 2026"
    assert format_deadline(whole, "Asia/Shanghai", "en", "short") == "12/31/26"
    within = datetime(2026, 12, 31, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai
    assert "14:00" in format_deadline(within, "Asia/Shanghai", "zh_CN")
