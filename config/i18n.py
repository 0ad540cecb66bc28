"""Message catalogues (gettext via Babel) and locale-aware formatting.

Catalogues live in ``config/locale/<locale>/LC_MESSAGES/messages.po``.  They are
compiled in memory on first use, so an installed package needs no separate
``pybabel compile`` step; ``make i18n`` extracts and updates them.

Translations are per reader: call :func:`translator` with the reader's locale and
use the returned object.  For the CLI, which has one reader, :func:`set_locale`
sets the locale of the current context and :func:`_` translates with it.
Nothing is installed into ``builtins``: async code serving several readers at
once must not share a global gettext.
"""

from __future__ import annotations

import contextvars
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.dates import format_skeleton
from babel.lists import format_list as _format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT_LOCALE = "zh_CN"
SUPPORTED_LOCALES: tuple[str, ...] = ("zh_CN", "en")
#: Each language named in itself, as a language picker (or a list of people) shows it.
LANGUAGE_NAMES: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}

_ALIASES = {
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh-cn": "zh_CN",
    "zh_hans": "zh_CN",
    "zh-hans": "zh_CN",
    "zh_hans_cn": "zh_CN",
    "中文": "zh_CN",
    "简体中文": "zh_CN",
    "en": "en",
    "en_us": "en",
    "en-us": "en",
    "en_gb": "en",
    "en-gb": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
}


class Msgid(str):
    """A message marked with :func:`N_`: a msgid, translated where it is shown.

    A plain ``str`` in every other respect.  Given as a parameter of a message
    (a state, an action, a field name in a :class:`~riskprompt.models.errors.DomainError`),
    it is translated with the message, so that no label reaches a reader raw.
    """

    __slots__ = ()


def N_(message: str) -> Msgid:
    """Mark a string for extraction without translating it (translated where shown)."""
    return Msgid(message)


def translate_params(
    params: Mapping[str, object], gettext: Callable[[str], str]
) -> dict[str, object]:
    """``params`` with every :class:`Msgid` among them translated through ``gettext``."""
    return {k: gettext(v) if isinstance(v, Msgid) else v for k, v in params.items()}


def normalise_locale(value: str | None) -> str | None:
    """Map ``zh``, ``zh-CN``, ``中文``, ``en_US``... to a supported locale, or None."""
    if value is None:
        return None
    return _ALIASES.get(value.strip().lower())


@cache
def translator(locale: str | None = None) -> NullTranslations:
    """The translations for ``locale`` (a supported locale; default zh_CN)."""
    locale = normalise_locale(locale) or DEFAULT_LOCALE
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.is_file():
        return NullTranslations()
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


_current_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "riskprompt_locale", default=DEFAULT_LOCALE
)


def set_locale(locale: str | None) -> str:
    """Set the locale of the current context (the CLI's one reader); returns it."""
    resolved = normalise_locale(locale) or DEFAULT_LOCALE
    _current_locale.set(resolved)
    return resolved


def current_locale() -> str:
    """The locale of the current context."""
    return _current_locale.get()


def _(message: str) -> str:
    """Translate ``message`` into the current context's locale."""
    return translator(_current_locale.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Translate with a plural form into the current context's locale."""
    return translator(_current_locale.get()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` in ``context`` (``msgctxt``) into the current context's locale.

    For an English word with two meanings: ``pgettext("count", "Created")`` is
    新增 (how many were created) where ``_("Created")`` is 创建时间 (when).
    """
    return translator(_current_locale.get()).pgettext(context, message)


def babel_locale(locale: str | None = None) -> Locale:
    """The Babel ``Locale`` for formatting (the current context's by default)."""
    return _parsed_locale(normalise_locale(locale) or current_locale())


@cache
def _parsed_locale(name: str) -> Locale:
    # Locale.parse costs about 0.4 ms; renderers call this once per message.
    try:
        return Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


def format_number(value: float, locale: str | None = None) -> str:
    """A number with the reader's grouping, e.g. ``12,345``."""
    return format_decimal(value, locale=babel_locale(locale))


def format_ratio(value: float, locale: str | None = None) -> str:
    """A ratio (0.5) as a percentage for the reader (``50%``)."""
    return format_percent(value, locale=babel_locale(locale))


def format_when(
    value: datetime, tz: str | ZoneInfo = "Asia/Shanghai", locale: str | None = None
) -> str:
    """A moment in the reader's time zone and locale, e.g. ``2025年3月1日 09:30:00``."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return _format_datetime(value, "medium", tzinfo=zone, locale=babel_locale(locale))


def is_whole_day(value: datetime, tz: str | ZoneInfo = "Asia/Shanghai") -> bool:
    """Whether ``value`` ends a day in ``tz`` (23:59): a deadline that is a whole day."""
    local = value.astimezone(ZoneInfo(tz) if isinstance(tz, str) else tz)
    return (local.hour, local.minute) == (23, 59)


def format_deadline(
    value: datetime,
    tz: str | ZoneInfo = "Asia/Shanghai",
    locale: str | None = None,
    width: str = "medium",
) -> str:
    """A deadline for the reader: its day when it ends that day (``2026年12月31日``),
    else the day and time; ``width`` short gives ``2026/12/31``-style dates for SMS."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    where = babel_locale(locale)
    if is_whole_day(value, zone):
        day = value.astimezone(zone).date()
        return _format_date(day, "short" if width == "short" else "long", locale=where)
    return _format_datetime(value, width, tzinfo=zone, locale=where)


def format_day(value: date, locale: str | None = None) -> str:
    """A date for the reader, e.g. ``2025年3月1日``."""
    return _format_date(value, "long", locale=babel_locale(locale))


def format_month(period: str, locale: str | None = None) -> str:
    """A period ``YYYY-MM`` as the reader says it: ``2026年12月``, ``December 2026``."""
    year, month = (int(part) for part in period.split("-"))
    return format_skeleton("yMMMM", date(year, month, 1), locale=babel_locale(locale))


def format_list(items: Iterable[str], locale: str | None = None) -> str:
    """Items joined as the reader writes a list: ``邮件、短信和短信（上级）``, ``a, b and c``."""
    return _format_list(list(items), locale=babel_locale(locale))
