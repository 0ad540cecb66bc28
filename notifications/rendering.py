"""Renderers: a prompt → the message for one channel, in the reader's locale.

The text comes from Jinja2 templates in ``notifications/templates/`` with the
``jinja2.ext.i18n`` extension.  Each locale has its own :class:`jinja2.Environment`
with that locale's translations installed (newstyle gettext), so two readers in
two languages never share a gettext.  Dates are formatted by Babel.

What a message says depends on the prompt's ``content`` snapshot, its kind, whether
it asks for an acknowledgement, the locale and the channel, never on the person:
the planner builds a view once per post and locale (:func:`build_view`), renders it
once per channel (:func:`render_view`) and adds the per-prompt acknowledgement
button (:func:`ack_buttons`) to each copy.  :func:`render_prompt` does all of it
for one prompt (the outbox's one-at-a-time path).

Channel limits:

* SMS: two concatenated segments, 134 UCS-2 characters (2 x 67) as soon as one
  character is outside ASCII, else 306 GSM-7 characters (2 x 153).  A prompt too
  long for that lists its high-risk points briefly and points to email or chat.
* Telegram: HTML, split at line boundaries into messages of at most 4,096
  characters; an inline "Acknowledge" button whose callback data is ``ack:p:<id>``.
* Email: a subject, a plain-text part and an HTML part with inline styles.
* WeCom (企业微信): markdown messages of at most 4,096 bytes (``parts``), then a
  template card (``subject`` its title, ``text`` its short description) with the
  buttons; a plain-text message holds 2,048 bytes.  Limits are the channel class's
  (:class:`~riskprompt.notifications.channels.wecom.WeComChannel`).
* DingTalk (钉钉): the same markdown (``text``, and ``parts`` of at most
  :data:`DINGTALK_MARKDOWN_MAX_BYTES`), ``subject`` the action card's title, the
  same buttons for the card.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton, format_time
from babel.support import NullTranslations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from riskprompt.config.i18n import (
    babel_locale,
    format_day,
    format_deadline,
    format_number,
    is_whole_day,
    normalise_locale,
    translator,
)
from riskprompt.config.settings import Settings
from riskprompt.models import codes
from riskprompt.models.catalog import RiskLevel, RiskPoint
from riskprompt.models.people import Channel, Person
from riskprompt.models.prompts import Prompt, PromptKind
from riskprompt.models.prompts import prompt_title as title_of_prompt
from riskprompt.models.warnings import NEXT_COLOUR, Warning, WarningColour, WarningForm
from riskprompt.notifications.channels.base import Button
from riskprompt.notifications.channels.dingtalk import DingTalkChannel
from riskprompt.notifications.channels.wecom import WeComChannel
from riskprompt.notifications.links import SMS_LINK_PLACEHOLDER
from riskprompt.notifications.quiet import reader_zone

TEMPLATES_DIR = Path(__file__).parent / "templates"

#: Callback data of the acknowledgement button: ``ack:p:<prompt id>``.
ACK_BUTTON_PREFIX = codes.ACK_PROMPT
#: Telegram's longest message text.
TELEGRAM_MAX_CHARS = 4096
#: Two concatenated UCS-2 segments (67 characters each after the concatenation header).
SMS_UCS2_LIMIT = 134
#: Two concatenated GSM-7 segments (153 characters each after the concatenation header).
SMS_GSM_LIMIT = 306
#: Longest email subject we write (the delivery column holds 300).
SUBJECT_MAX_CHARS = 200
#: DingTalk: a work notification's ``msg`` holds 2,048 bytes; its markdown keeps room
#: for the card's title and buttons (the channel class's limit).
DINGTALK_MARKDOWN_MAX_BYTES = DingTalkChannel.markdown_max_bytes
#: Markdown characters that user text must not smuggle in (a link, a font colour, a
#: heading): replaced by their full-width forms, which read the same.
_MARKDOWN_ESCAPES = str.maketrans(
    {"<": "＜", ">": "＞", "[": "［", "]": "］", "`": "＇", "*": "＊", "#": "＃"}
)

# More points than this never fit in two segments: the SMS fitting stops trying there.
_SMS_MOST_POINTS = 12
# GSM-7 characters that take two septets (escape + character).
_GSM_EXTENDED = frozenset("^{}\\[]~|")

LEVEL_COLOURS: Mapping[RiskLevel, str] = {
    RiskLevel.HIGH: "#b91c1c",
    RiskLevel.MEDIUM: "#d97706",
    RiskLevel.LOW: "#2563eb",
}

_LOCALE_TAGS = {"zh_CN": "zh-CN", "en": "en"}


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message rendered for one channel.

    Attributes:
        subject: the email subject; the card's title on WeCom and DingTalk ("" elsewhere).
        text: SMS body, email plain-text part, the whole Telegram HTML text, the
            whole DingTalk markdown, or the WeCom card's short description.
        html: the email HTML part, or None.
        parts: Telegram: the HTML text split into messages of <= 4,096 characters;
            WeCom and DingTalk: the markdown split into messages within their limits.
        buttons: chat (Telegram, WeCom, DingTalk): the buttons under the message.
    """

    subject: str
    text: str
    html: str | None = None
    parts: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()


# -- environments ---------------------------------------------------------------------


def reader_locale(locale: str | None, settings: Settings | None = None) -> str:
    """The supported locale to render in: the reader's, else the configured default."""
    return normalise_locale(locale) or (settings.LOCALE if settings is not None else "zh_CN")


@cache
def environment(locale: str) -> Environment:
    """The Jinja2 environment for ``locale``, with that locale's translations installed.

    One environment per locale, built once: translations are never installed
    globally, so concurrent readers in different languages cannot mix.
    """
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), default_for_string=False, default=False
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    translations = translator(locale)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    # ``_`` and ``ngettext`` as plain functions: the same result as the newstyle
    # wrappers (translate, then %-format the keyword arguments, ``num`` for
    # ngettext; autoescaping then escapes the whole, our msgids hold no markup)
    # without their three context calls per message.  Rendering is the monthly
    # cycle's hot path, and this halves its cost.
    env.globals["_"] = _direct_gettext(translations)
    env.globals["ngettext"] = _direct_ngettext(translations)
    env.filters["md"] = markdown_escape
    return env


def markdown_escape(value: object) -> str:
    """``value`` as text that chat markdown shows as it is (no link, colour or heading)."""
    return str(value).translate(_MARKDOWN_ESCAPES)


def _direct_gettext(translations: NullTranslations) -> Callable[..., str]:
    lookup = translations.gettext

    def gettext(message: str, /, **variables: Any) -> str:
        text = lookup(message)
        return text % variables if variables else text

    return gettext


def _direct_ngettext(translations: NullTranslations) -> Callable[..., str]:
    lookup = translations.ngettext

    def ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        return lookup(singular, plural, num) % variables

    return ngettext


def _template(locale: str, name: str) -> Template:
    return environment(locale).get_template(name)


# -- titles and views -----------------------------------------------------------------


@lru_cache(maxsize=512)
def month_label(period: str, locale: str) -> str:
    """``2026-12`` as the reader says it: ``2026年12月``, ``December 2026``."""
    year, month = (int(part) for part in period.split("-"))
    return format_skeleton("yMMMM", date(year, month, 1), locale=babel_locale(locale))


@lru_cache(maxsize=512)
def day_label(day: str, locale: str) -> str:
    """An ISO date (``2026-12-24``) as the reader writes it (``2026年12月24日``)."""
    return format_day(date.fromisoformat(day), locale)


def prompt_title(*, kind: PromptKind | str, content: Mapping[str, Any], locale: str) -> str:
    """The prompt's title in ``locale``, e.g. ``2026年12月岗位廉政风险提示`` or ``特别提示``.

    One rule with :meth:`riskprompt.models.prompts.Prompt.title_in` (the title read later).

    Args:
        kind: monthly or special.
        content: the prompt's content snapshot (a monthly one needs ``period``).
        locale: the reader's locale.

    Returns:
        The title, at most 200 characters.
    """
    period = str(content["period"]) if PromptKind(kind) is PromptKind.MONTHLY else None
    return title_of_prompt(kind=kind, period=period, locale=locale)


@dataclass(frozen=True, slots=True)
class PointView:
    """A risk point as templates show it (attributes, not keys: Jinja looks them up first)."""

    level: str
    label: str
    colour: str
    description: str
    measures: list[str]


@dataclass(frozen=True, slots=True)
class MonthlyView:
    """What the monthly templates show, in the reader's language."""

    title: str
    month: str
    post: str
    unit: str
    focus: str
    points: list[PointView]
    measure_separator: str


@dataclass(frozen=True, slots=True)
class SpecialView:
    """What the special-prompt templates show, in the reader's language."""

    title: str
    text: str
    issuer: str
    issuer_unit: str
    issued_on: str


def _monthly_view(content: Mapping[str, Any], locale: str) -> MonthlyView:
    gettext = translator(locale).gettext
    points = []
    for point in content.get("risk_points") or ():
        level = RiskLevel(point["level"])
        points.append(
            PointView(
                level=level.value,
                label=gettext(level.label),
                colour=LEVEL_COLOURS[level],
                description=str(point["description"]),
                measures=[str(m) for m in point.get("measures") or ()],
            )
        )
    focus = content.get("focus")
    return MonthlyView(
        title=prompt_title(kind=PromptKind.MONTHLY, content=content, locale=locale),
        month=month_label(str(content["period"]), locale),
        post=str(content.get("post") or ""),
        unit=str(content.get("unit") or ""),
        focus=str(focus).strip() if focus else "",
        points=points,
        measure_separator=gettext("; "),
    )


def _special_view(content: Mapping[str, Any], locale: str) -> SpecialView:
    issued_on = content.get("issued_on")
    return SpecialView(
        title=prompt_title(kind=PromptKind.SPECIAL, content=content, locale=locale),
        text=str(content.get("text") or "").strip(),
        issuer=str(content.get("issuer") or ""),
        issuer_unit=str(content.get("issuer_unit") or ""),
        issued_on=day_label(str(issued_on), locale) if issued_on else "",
    )


# -- SMS --------------------------------------------------------------------------------


def sms_limit(text: str) -> int:
    """How many characters two SMS segments hold for ``text``.

    A simple rule: 306 (GSM-7) when the text is plain ASCII, else 134 (UCS-2).
    """
    return SMS_GSM_LIMIT if text.isascii() else SMS_UCS2_LIMIT


def sms_length(text: str) -> int:
    """The length of ``text`` in the units the SMS limit counts.

    GSM-7: the extension characters (``[]{}^~|\\``) count twice; UCS-2: characters
    outside the Basic Multilingual Plane (emoji) count twice.
    """
    if text.isascii():
        return len(text) + sum(1 for c in text if c in _GSM_EXTENDED)
    return len(text.encode("utf-16-le")) // 2


def sms_fits(text: str) -> bool:
    """Whether ``text`` fits in two SMS segments."""
    return sms_length(text) <= sms_limit(text)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    ellipsis = "..." if text.isascii() else "…"
    return text[: max(0, width - len(ellipsis))] + ellipsis


def _hard_fit(lines: list[str], tail: list[str]) -> str:
    """The last resort: cut the text before ``tail`` until the whole fits."""
    tail_text = "\n".join(tail)
    body = "\n".join(lines)
    low, high = 0, len(body)
    best = tail_text
    while low <= high:  # binary search on the cut: lengths grow with the cut
        middle = (low + high) // 2
        candidate = "\n".join(part for part in (shorten(body, middle), tail_text) if part)
        if sms_fits(candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best


class _SmsBudget:
    """Measures candidate texts made of shared pieces joined by newlines.

    The fitting below tries many candidates that share most of their pieces, so
    each piece is measured once and a candidate's length is a sum.
    """

    def __init__(self) -> None:
        self._measured: dict[str, tuple[int | None, int]] = {}

    def _measure(self, piece: str) -> tuple[int | None, int]:
        """(GSM-7 length, or None when not ASCII; UCS-2 length)."""
        found = self._measured.get(piece)
        if found is None:
            ucs2 = len(piece.encode("utf-16-le")) // 2
            gsm = sms_length(piece) if piece.isascii() else None
            found = self._measured[piece] = (gsm, ucs2)
        return found

    def fits(self, pieces: Sequence[str]) -> bool:
        """Whether the pieces, one per line, fit in two segments."""
        gsm: int | None = len(pieces) - 1  # the newlines
        ucs2 = len(pieces) - 1
        for piece in pieces:
            piece_gsm, piece_ucs2 = self._measure(piece)
            gsm = None if gsm is None or piece_gsm is None else gsm + piece_gsm
            ucs2 += piece_ucs2
        return gsm <= SMS_GSM_LIMIT if gsm is not None else ucs2 <= SMS_UCS2_LIMIT


def _sms_reply(locale: str, *, code: str = "", correction: bool = False) -> list[str]:
    """The SMS's last lines: the short link to the page, then the reply that acknowledges.

    The link is :data:`~riskprompt.notifications.links.SMS_LINK_PLACEHOLDER`, as
    long as the budget a link may take; each delivery puts its own link in its place
    (:meth:`~riskprompt.notifications.links.AckLinks.fill_for`).  A warning is
    acknowledged by its code (``W7``), a prompt by ``1``.
    """
    gettext = translator(locale).gettext
    link = {"link": SMS_LINK_PLACEHOLDER}
    if correction:
        page = gettext("Read and report the correction: %(link)s") % link
    else:
        page = gettext("Read it all: %(link)s") % link
    if code:
        return [page, gettext("Reply %(code)s to acknowledge") % {"code": code}]
    return [page, gettext("Reply 1 to acknowledge")]


def _monthly_sms(view: MonthlyView, requires_ack: bool, locale: str) -> str:
    """The monthly SMS: everything when it fits, else the high-risk points briefly.

    The pieces come from the template's macros; what goes in is decided by length,
    most detail first: all points with their measures; all points; every point of
    the highest level present with as many lower ones as fit, full then shortened;
    then fewer of the highest level.  The key work is shortened or left out before a
    point goes, and "...N in all; see email or chat" says what was left out.
    """
    macros: Any = _template(locale, "prompt_sms.txt.j2").module
    head = str(macros.head(view))
    reply = _sms_reply(locale) if requires_ack else []
    points = view.points
    total = len(points)
    tail = [str(macros.more(total)), *reply] if total else reply
    focus = view.focus
    focus_options = (
        [[str(macros.focus(focus))], [str(macros.focus(shorten(focus, 16)))], []] if focus else [[]]
    )
    separator = view.measure_separator
    budget = _SmsBudget()
    rendered: dict[tuple[int, int | None, bool], str] = {}

    def lines(count: int, width: int | None, measures: bool) -> list[str]:
        """The first ``count`` points, descriptions cut to ``width``; each rendered once."""
        out = []
        for index in range(count):
            key = (index, width, measures)
            line = rendered.get(key)
            if line is None:
                p = points[index]
                line = rendered[key] = str(
                    macros.point(
                        index + 1,
                        p,
                        p.description if width is None else shorten(p.description, width),
                        separator.join(p.measures) if measures else "",
                    )
                )
            out.append(line)
        return out

    # Everything, then every point without its measures; skipped without rendering
    # when the descriptions alone are already too long.
    described = sum(len(p.description) for p in points)
    cap = SMS_GSM_LIMIT if all(p.description.isascii() for p in points) else SMS_UCS2_LIMIT
    if described + sum(len(m) for p in points for m in p.measures) <= cap:
        whole = [head, *focus_options[0], *lines(total, None, True), *reply]
        if budget.fits(whole):
            return "\n".join(whole)
    if total and described <= cap:
        listed = [head, *focus_options[0], *lines(total, None, False), *tail]
        if budget.fits(listed):
            return "\n".join(listed)
    # The points come high first: every one of the top level present, with as many
    # of the next as fit, full then shortened, keeping the key work if it can stay
    # (shortened if need be); then without it; then fewer points.
    leading = sum(1 for p in points if p.level == points[0].level) if total else 0
    most = min(total, _SMS_MOST_POINTS)
    for options, counts in (
        (focus_options[:-1], range(most, leading - 1, -1)),
        (focus_options[-1:], range(most, leading - 1, -1)),
        (focus_options, range(leading - 1, 0, -1)),
    ):
        if not counts or not options:
            continue
        for width in (None, 20):
            best: list[str] | None = None
            best_keep = 0
            for option in options:
                # lengths grow with the points kept: skip an option whose fewest don't fit
                if not budget.fits([head, *option, *lines(counts[-1], width, False), *tail]):
                    continue
                for keep in counts:
                    if keep <= best_keep:
                        break
                    pieces = [head, *option, *lines(keep, width, False), *tail]
                    if budget.fits(pieces):
                        best, best_keep = pieces, keep
                        break
            if best is not None:
                return "\n".join(best)
    for option in focus_options:
        if budget.fits([head, *option, *tail]):
            return "\n".join([head, *option, *tail])
    return _hard_fit([head], tail)


def _special_sms(view: SpecialView, requires_ack: bool, locale: str) -> str:
    macros = _template(locale, "special_sms.txt.j2").module
    head = str(macros.head(view))  # type: ignore[attr-defined]
    signature = str(macros.signature(view))  # type: ignore[attr-defined]
    more = str(macros.more())  # type: ignore[attr-defined]
    reply = _sms_reply(locale) if requires_ack else []
    text = " ".join(view.text.split())
    full = "\n".join([head + text, signature, *reply])
    if sms_fits(full):
        return full
    tail = [more, signature, *reply]
    low, high, best = 0, len(text), None
    while low <= high:
        middle = (low + high) // 2
        candidate = "\n".join([head + shorten(text, middle), *tail])
        if sms_fits(candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best if best is not None else _hard_fit([head], [more, *reply])


# -- Telegram ---------------------------------------------------------------------------


def telegram_length(text: str) -> int:
    """The length Telegram counts (UTF-16 code units), conservatively before entity parsing."""
    return len(text.encode("utf-16-le")) // 2


def _cut_line(line: str, limit: int) -> list[str]:
    """Cut one over-long line into pieces of at most ``limit``, outside tags and entities."""
    pieces: list[str] = []
    rest = line
    while telegram_length(rest) > limit:
        cut = limit
        while cut > 0 and telegram_length(rest[:cut]) > limit:
            cut -= 1
        space = rest.rfind(" ", 0, cut)
        if space > limit // 2:
            cut = space
        # never cut inside an HTML tag or an entity such as &amp;
        opened = max(rest.rfind("<", 0, cut), rest.rfind("&", 0, cut))
        closed = max(rest.rfind(">", 0, cut), rest.rfind(";", 0, cut))
        if opened > closed:
            cut = opened
        if cut <= 0:  # pragma: no cover - a single tag longer than the limit
            cut = limit
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip(" ")
    pieces.append(rest)
    return pieces


def split_telegram(text: str, limit: int = TELEGRAM_MAX_CHARS) -> tuple[str, ...]:
    """Split HTML ``text`` into messages of at most ``limit`` characters, at line boundaries.

    The templates never let a tag pair span two lines, so each part is valid HTML on
    its own.  A single line longer than ``limit`` is cut at a space (or anywhere),
    never inside a tag or an entity.
    """
    text = text.strip("\n")
    if telegram_length(text) <= limit:
        return (text,)
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for raw in text.split("\n"):
        for line in _cut_line(raw, limit):
            extra = telegram_length(line) + (1 if current else 0)
            if current and size + extra > limit:
                parts.append("\n".join(current).strip("\n"))
                current, size = [], 0
                extra = telegram_length(line)
            current.append(line)
            size += extra
    if current:
        parts.append("\n".join(current).strip("\n"))
    return tuple(part for part in parts if part.strip())


# -- WeCom and DingTalk markdown ------------------------------------------------------------


def utf8_length(text: str) -> int:
    """The length WeCom and DingTalk count: bytes of UTF-8."""
    return len(text.encode("utf-8"))


def _cut_bytes(line: str, limit: int) -> list[str]:
    """Cut one over-long line into pieces of at most ``limit`` bytes, not inside a tag."""
    pieces: list[str] = []
    rest = line
    while utf8_length(rest) > limit:
        cut = len(rest.encode("utf-8")[:limit].decode("utf-8", "ignore"))
        space = rest.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        opened, closed = rest.rfind("<", 0, cut), rest.rfind(">", 0, cut)
        if opened > closed and opened > 0:  # never inside <font color="...">
            cut = opened
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip(" ")
    pieces.append(rest)
    return pieces


def split_markdown(text: str, max_bytes: int) -> tuple[str, ...]:
    """Split markdown ``text`` into messages of at most ``max_bytes``, at line boundaries.

    The templates never let markup span two lines, so each part renders on its own;
    a single line longer than the limit is cut at a space (or anywhere), never
    inside a tag.
    """
    text = text.strip("\n")
    if utf8_length(text) <= max_bytes:
        return (text,) if text.strip() else ()
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for raw in text.split("\n"):
        for line in _cut_bytes(raw, max_bytes):
            extra = utf8_length(line) + (1 if current else 0)
            if current and size + extra > max_bytes:
                parts.append("\n".join(current).strip("\n"))
                current, size = [], 0
                extra = utf8_length(line)
            current.append(line)
            size += extra
    if current:
        parts.append("\n".join(current).strip("\n"))
    return tuple(part for part in parts if part.strip())


def _markdown(name: str, context: Mapping[str, Any], *, locale: str, channel: Channel) -> str:
    """The chat markdown template ``name`` rendered for WeCom (with colours) or DingTalk."""
    values = {**context, "wecom": channel is Channel.WECOM}
    return _collapse_blank_lines(_template(locale, name).render(values))


def _chat_rendered(
    markdown: str,
    *,
    title: str,
    card_text: str,
    channel: Channel,
    buttons: tuple[Button, ...] = (),
) -> Rendered:
    """A WeCom or DingTalk message: the markdown in parts, the card's title and text."""
    if channel is Channel.WECOM:
        return Rendered(
            subject=shorten(title, SUBJECT_MAX_CHARS),
            text=shorten(card_text, WeComChannel.card_text_maxlen),
            parts=split_markdown(markdown, WeComChannel.markdown_max_bytes),
            buttons=buttons,
        )
    return Rendered(
        subject=shorten(title, SUBJECT_MAX_CHARS),
        text=markdown,
        parts=split_markdown(markdown, DINGTALK_MARKDOWN_MAX_BYTES),
        buttons=buttons,
    )


def ack_buttons(*, prompt_id: int, locale: str, requires_ack: bool = True) -> tuple[Button, ...]:
    """The inline "Acknowledge" (已阅) button of a prompt, or none when no answer is asked.

    Args:
        prompt_id: the prompt's id (the callback data is ``ack:p:<id>``, see
            :mod:`riskprompt.models.codes`).
        locale: the reader's locale.
        requires_ack: whether the prompt asks for an acknowledgement.

    Returns:
        One button, or an empty tuple.
    """
    if not requires_ack:
        return ()
    label = translator(locale).gettext("Acknowledge")
    return (Button(label=label, data=codes.ack_data(codes.CodeKind.PROMPT, prompt_id)),)


# -- the entry points -------------------------------------------------------------------


def _collapse_blank_lines(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


View = MonthlyView | SpecialView


def build_view(*, kind: PromptKind | str, content: Mapping[str, Any], locale: str) -> View:
    """What the templates show of a prompt's content, translated for ``locale``.

    Args:
        kind: monthly or special.
        content: the prompt's content snapshot (see ``riskprompt.notifications.planning``).
        locale: a supported locale (``zh_CN`` or ``en``).

    Returns:
        The view; the same for every channel, so the planner builds it once.

    Raises:
        KeyError: the content lacks a field the templates need (a corrupt snapshot).
    """
    if PromptKind(kind) is PromptKind.SPECIAL:
        return _special_view(content, locale)
    return _monthly_view(content, locale)


def render_view(
    view: View,
    *,
    requires_ack: bool,
    locale: str,
    channel: Channel,
    ack_url: str | None = None,
    headline: str = "",
) -> Rendered:
    """Render a view for one channel, without per-prompt buttons.

    Args:
        view: from :func:`build_view`, in ``locale``.
        requires_ack: whether the reader is asked to acknowledge (reply instruction).
        locale: the view's locale.
        channel: the channel rendered for.
        ack_url: a signed acknowledgement link for email, when there is one.
        headline: a first line (a reminder's), chat and email only; an SMS
            reminder is its own short text (:func:`render_prompt_reminder`).

    Returns:
        The rendered message (no buttons).
    """
    prefix = "special" if isinstance(view, SpecialView) else "prompt"
    context = {
        "v": view,
        "requires_ack": requires_ack,
        "ack_url": ack_url,
        "lang": _LOCALE_TAGS.get(locale, locale),
        "headline": headline,
    }
    if channel is Channel.SMS:
        if isinstance(view, SpecialView):
            return Rendered(subject="", text=_special_sms(view, requires_ack, locale))
        return Rendered(subject="", text=_monthly_sms(view, requires_ack, locale))
    if channel is Channel.TELEGRAM:
        html = _collapse_blank_lines(
            _template(locale, f"{prefix}_telegram.html.j2").render(context)
        )
        return Rendered(subject="", text=html, parts=split_telegram(html))
    if channel.is_chat:
        gettext = translator(locale).gettext
        if isinstance(view, SpecialView):
            card = gettext("Issued by %(issuer)s (%(unit)s) on %(day)s") % {
                "issuer": view.issuer,
                "unit": view.issuer_unit,
                "day": view.issued_on,
            }
        else:
            card = gettext("Post: %(post)s (%(unit)s)") % {"post": view.post, "unit": view.unit}
        markdown = _markdown(f"{prefix}_markdown.md.j2", context, locale=locale, channel=channel)
        title = f"{headline} {view.title}" if headline else view.title
        return _chat_rendered(markdown, title=title, card_text=card, channel=channel)
    if isinstance(view, SpecialView):
        subject = translator(locale).gettext("Special risk prompt from %(unit)s: %(excerpt)s") % {
            "unit": view.issuer_unit,
            "excerpt": shorten(view.text, 40),
        }
    else:
        subject = view.title
    if headline:
        subject = f"{headline} {subject}"
    plain = _collapse_blank_lines(_template(locale, f"{prefix}_email.txt.j2").render(context))
    html = _template(locale, f"{prefix}_email.html.j2").render(context)
    return Rendered(subject=shorten(subject, SUBJECT_MAX_CHARS), text=plain + "\n", html=html)


def render_content(
    *,
    kind: PromptKind | str,
    content: Mapping[str, Any],
    requires_ack: bool,
    locale: str,
    channel: Channel,
    ack_url: str | None = None,
) -> Rendered:
    """Render a prompt's content for one channel and locale, without per-prompt buttons.

    :func:`build_view` then :func:`render_view`; :func:`render_prompt` adds the
    prompt's buttons.

    Args:
        kind: monthly or special.
        content: the prompt's content snapshot (see ``riskprompt.notifications.planning``).
        requires_ack: whether the reader is asked to acknowledge (reply instruction).
        locale: a supported locale (``zh_CN`` or ``en``).
        channel: the channel rendered for.
        ack_url: a signed acknowledgement link for email, when there is one.

    Returns:
        The rendered message (no buttons).

    Raises:
        KeyError: the content lacks a field the templates need (a corrupt snapshot).
    """
    view = build_view(kind=kind, content=content, locale=locale)
    return render_view(
        view, requires_ack=requires_ack, locale=locale, channel=channel, ack_url=ack_url
    )


def render_prompt(
    *,
    prompt: Prompt,
    person: Person,
    channel: Channel,
    settings: Settings,
    ack_url: str | None = None,
) -> Rendered:
    """Render ``prompt`` for ``person`` on ``channel``, in the person's locale.

    Args:
        prompt: the prompt (flushed: its id goes into the acknowledgement button).
        person: the reader; their locale chooses the language (the configured
            default when theirs is not supported).
        channel: the channel rendered for.
        settings: the settings (the default locale).
        ack_url: email: the signed acknowledgement link to show.

    Returns:
        The rendered message; on Telegram with the "Acknowledge" button when the
        prompt asks for an acknowledgement.
    """
    locale = reader_locale(person.locale, settings)
    rendered = render_content(
        kind=prompt.kind,
        content=prompt.content,
        requires_ack=prompt.requires_ack,
        locale=locale,
        channel=channel,
        ack_url=ack_url,
    )
    if not channel.is_chat:
        return rendered
    return with_buttons(
        rendered, prompt_id=prompt.id or 0, locale=locale, requires_ack=prompt.requires_ack
    )


def prompt_reminder_headline(*, number: int, locale: str) -> str:
    """The first line of the ``number``-th reminder of a prompt, in ``locale``."""
    return translator(locale).gettext(
        "Reminder %(n)s: you have not acknowledged this prompt yet."
    ) % {"n": number}


def render_prompt_reminder(
    *,
    prompt: Prompt,
    person: Person,
    channel: Channel,
    settings: Settings,
    number: int,
    ack_url: str | None = None,
) -> Rendered:
    """Render the ``number``-th reminder of an unacknowledged ``prompt``.

    Chat and email repeat the prompt under a reminder headline (with its button or
    link); an SMS is a short text naming the prompt's code, which is the reply.

    Args:
        prompt: the prompt not acknowledged yet.
        person: its addressee (the reader).
        channel: the channel rendered for.
        settings: the settings (the default locale).
        number: 1 for the first reminder.
        ack_url: email: the signed acknowledgement link.
    """
    locale = reader_locale(person.locale, settings)
    gettext = translator(locale).gettext
    if channel is Channel.SMS:
        code = f"P{prompt.id}"
        template = gettext(
            "[Reminder %(n)s] Risk prompt %(code)s (%(title)s) is not acknowledged yet. "
            "Reply 1 or %(code)s to acknowledge."
        )
        title = " ".join(prompt.title_in(locale).split())
        for width in range(len(title), -1, -4):
            text = template % {"n": number, "code": code, "title": shorten(title, width)}
            if sms_fits(text):
                break
        return Rendered(subject="", text=text)
    rendered = render_view(
        build_view(kind=prompt.kind, content=prompt.content, locale=locale),
        requires_ack=prompt.requires_ack,
        locale=locale,
        channel=channel,
        ack_url=ack_url,
        headline=prompt_reminder_headline(number=number, locale=locale),
    )
    if not channel.is_chat:
        return rendered
    return with_buttons(
        rendered, prompt_id=prompt.id or 0, locale=locale, requires_ack=prompt.requires_ack
    )


#: People an officer's list shows in chat (email: in full up to the second figure).
UNACKNOWLEDGED_ROWS = {
    Channel.TELEGRAM: 60,
    Channel.WECOM: 40,
    Channel.DINGTALK: 20,
    Channel.EMAIL: 1000,
}


@dataclass(frozen=True, slots=True)
class UnacknowledgedRow:
    """One person on an officer's list, with the prompts they have not acknowledged.

    Attributes:
        name / staff_id / unit: who, and where they work.
        prompts: (title, prompt id) of each prompt not acknowledged, oldest first.
    """

    name: str
    staff_id: str
    unit: str
    prompts: tuple[tuple[str, int], ...]


def render_unacknowledged_list(
    *,
    rows: Sequence[UnacknowledgedRow],
    reminders: int,
    reader: Person,
    channel: Channel,
    settings: Settings,
) -> Rendered:
    """The list of people who have not acknowledged, for an officer: one line per person.

    The title counts people, not prompts; a person's prompts are grouped on their line.

    Args:
        rows: one per person.
        reminders: how many reminders each was sent.
        reader: the officer.
        channel: the channel rendered for.
        settings: the settings (the default locale).
    """
    locale = reader_locale(reader.locale, settings)
    i18n = translator(locale)
    title = i18n.ngettext(
        "%(num)s person has not acknowledged a risk prompt",
        "%(num)s people have not acknowledged their risk prompts",
        len(rows),
    ) % {"num": format_number(len(rows), locale)}
    if channel is Channel.SMS:
        separator = "、" if locale == "zh_CN" else ", "
        names = separator.join(row.name for row in rows)
        for width in range(len(names), -1, -8):
            text = f"[{title}] {shorten(names, width)}"
            if sms_fits(text):
                return Rendered(subject="", text=text)
        return Rendered(subject="", text=shorten(title, 60))
    shown = list(rows[: UNACKNOWLEDGED_ROWS[channel]])
    context = {
        "title": title,
        "rows": shown,
        "reminders": reminders,
        "more": len(rows) - len(shown),
    }
    if channel is Channel.TELEGRAM:
        html = _collapse_blank_lines(
            _template(locale, "unacknowledged_telegram.html.j2").render(context)
        )
        return Rendered(subject="", text=html, parts=split_telegram(html))
    if channel.is_chat:
        markdown = _markdown(
            "unacknowledged_markdown.md.j2", context, locale=locale, channel=channel
        )
        return _chat_rendered(markdown, title=title, card_text=title, channel=channel)
    plain = _collapse_blank_lines(_template(locale, "unacknowledged_email.txt.j2").render(context))
    return Rendered(subject=shorten(title, SUBJECT_MAX_CHARS), text=plain + "\n")


def with_buttons(
    rendered: Rendered, *, prompt_id: int, locale: str, requires_ack: bool
) -> Rendered:
    """``rendered`` with the prompt's acknowledgement button (chat: Telegram, WeCom, DingTalk)."""
    return Rendered(
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        parts=rendered.parts,
        buttons=ack_buttons(prompt_id=prompt_id, locale=locale, requires_ack=requires_ack),
    )


# -- warnings (预警) ---------------------------------------------------------------------

#: Callback data of a warning's acknowledgement button: ``ack:w:<warning id>``.
ACK_WARNING_PREFIX = codes.ACK_WARNING
#: Callback data of the "report a correction" button: ``rc:<warning id>``.
REPORT_CORRECTION_PREFIX = codes.REPORT_CORRECTION

WARNING_COLOURS: Mapping[WarningColour, str] = {
    WarningColour.YELLOW: "#ca8a04",
    WarningColour.ORANGE: "#ea580c",
    WarningColour.RED: "#b91c1c",
}
WARNING_MARKS: Mapping[WarningColour, str] = {
    WarningColour.YELLOW: "🟡",
    WarningColour.ORANGE: "🟠",
    WarningColour.RED: "🔴",
}


@dataclass(frozen=True, slots=True)
class WarningView:
    """What the warning templates show, in the reader's language.

    ``notice`` is set on the copy a supervisor (or the issuing officer, per
    ``notice_role``) receives: it names the person warned (``subject_name``) and
    asks for nothing.  ``headline`` opens a reminder or an escalation.
    """

    title: str
    code: str
    colour: str
    colour_hex: str
    mark: str
    form: str
    correction: bool
    reason: str
    risk_point: str
    deadline: str
    deadline_short: str
    issuer: str
    issuer_unit: str
    issued_on: str
    notice: bool
    subject_name: str
    notice_role: str = ""  # on a notice: "supervisor" or "officer"
    headline: str = ""  # a reminder's or an escalation's first line
    # The email as a formal notice (预警通知): see build_warning_view.
    salutation: str = ""  # 王五同志： / Dear 王五,
    opening: str = ""  # who issued what to whom, and when
    deadline_day: str = ""  # the deadline's date, as the reader writes it
    deadline_time: str = ""  # its time of day; "" for a whole day (ends 23:59)
    deadline_formal: str = ""  # the date, and the time unless it is a whole day
    todo_heading: str = ""  # 请于2026年12月16日（含当日）前： / By the end of ..., please:
    consequence: str = ""  # what happens when the deadline passes with no correction
    contact: str = ""  # the officer to ask, with the contact details on record


def _reader_zone(person: Person, settings: Settings) -> ZoneInfo:
    return reader_zone(person.timezone, settings.zone)


def warning_title(*, warning: Warning, locale: str, subject_name: str | None = None) -> str:
    """The warning's title in ``locale``: code, colour, form (and the person, for a supervisor)."""
    gettext = translator(locale).gettext
    values = {
        "code": f"W{warning.id}",
        "colour": gettext(WarningColour(warning.colour).label),
        "form": gettext(WarningForm(warning.form).label),
    }
    if subject_name is not None:
        values["name"] = subject_name
        title = gettext("Warning %(code)s to %(name)s: %(colour)s, %(form)s") % values
    else:
        title = gettext("Warning %(code)s: %(colour)s, %(form)s") % values
    return title[:SUBJECT_MAX_CHARS]


def build_warning_view(
    *,
    warning: Warning,
    locale: str,
    zone: ZoneInfo,
    issuer: str = "",
    issuer_unit: str = "",
    risk_point: RiskPoint | None = None,
    subject_name: str | None = None,
    notice_role: str = "supervisor",
    headline: str = "",
    reader_name: str = "",
    contact: str = "",
) -> WarningView:
    """What the warning templates show, translated for ``locale``, times in ``zone``.

    The email reads as a formal notice (预警通知): ``reader_name`` opens it
    (``王五同志：``), ``opening`` says who issued which warning and when, the
    deadline is a whole date when it ends the day (23:59 in ``zone``), then what to
    do by then, what follows if nothing is done, and ``contact`` (see
    :func:`warning_contact`).
    """
    gettext = translator(locale).gettext
    colour = WarningColour(warning.colour)
    point = ""
    if risk_point is not None:
        point = f"[{gettext(RiskLevel(risk_point.level).label)}] {risk_point.description}"
    where = babel_locale(locale)
    issued_on = format_day(warning.created_at.astimezone(zone).date(), locale)
    local_deadline = warning.deadline.astimezone(zone)
    deadline_day = format_day(local_deadline.date(), locale)
    whole_day = is_whole_day(local_deadline, zone)
    deadline_time = (
        "" if whole_day else format_time(local_deadline, "short", tzinfo=zone, locale=where)
    )
    if whole_day:
        todo_heading = gettext("By the end of %(day)s, please:") % {"day": deadline_day}
        deadline_formal = deadline_day
    else:
        todo_heading = gettext("By %(time)s on %(day)s, please:") % {
            "day": deadline_day,
            "time": deadline_time,
        }
        deadline_formal = f"{deadline_day} {deadline_time}"
    values = {
        "org": issuer_unit or issuer,
        "day": issued_on,
        "colour": gettext(colour.label),
        "name": subject_name or "",
    }
    if subject_name is not None:
        opening = (
            gettext("On %(day)s, %(org)s issued %(name)s a %(colour)s warning.")
            if values["org"]
            else gettext("On %(day)s, %(name)s was issued a %(colour)s warning.")
        ) % values
    else:
        opening = (
            gettext("On %(day)s, %(org)s issued you a %(colour)s warning.")
            if values["org"]
            else gettext("On %(day)s, you were issued a %(colour)s warning.")
        ) % values
    after = NEXT_COLOUR.get(colour)
    if after is None:
        consequence = gettext(
            "If no correction is reported by the deadline, this red warning is flagged "
            "for disciplinary follow-up and your supervisor is told."
        )
    else:
        consequence = gettext(
            "If no correction is reported by the deadline, the warning rises to "
            "%(colour)s and your supervisor is told."
        ) % {"colour": gettext(after.label)}
    return WarningView(
        title=warning_title(warning=warning, locale=locale, subject_name=subject_name),
        code=f"W{warning.id}",
        colour=gettext(colour.label),
        colour_hex=WARNING_COLOURS[colour],
        mark=WARNING_MARKS[colour],
        form=gettext(WarningForm(warning.form).label),
        correction=WarningForm(warning.form) is WarningForm.CORRECT,
        reason=warning.reason.strip(),
        risk_point=point,
        deadline=format_deadline(warning.deadline, zone, locale),
        deadline_short=format_deadline(warning.deadline, zone, locale, "short"),
        issuer=issuer,
        issuer_unit=issuer_unit,
        issued_on=issued_on,
        notice=subject_name is not None,
        subject_name=subject_name or "",
        notice_role=notice_role if subject_name is not None else "",
        headline=headline,
        salutation=gettext("Dear %(name)s,") % {"name": reader_name} if reader_name else "",
        opening=opening,
        deadline_day=deadline_day,
        deadline_time=deadline_time,
        deadline_formal=deadline_formal,
        todo_heading=todo_heading,
        consequence=consequence,
        contact=contact,
    )


def warning_contact(
    *,
    locale: str,
    name: str,
    unit: str = "",
    email: str | None = None,
    mobile: str | None = None,
) -> str:
    """Whom to ask about a warning: the officer, their unit and the contacts on record.

    ``联系人：李四（纪检监察室），邮箱：lisi@example.org，手机：+8613800000000``;
    "" when there is no officer to name.
    """
    if not name:
        return ""
    gettext = translator(locale).gettext
    who = gettext("%(name)s (%(unit)s)") % {"name": name, "unit": unit} if unit else name
    parts = [who]
    if email:
        parts.append(gettext("email %(email)s") % {"email": email})
    if mobile:
        parts.append(gettext("mobile %(mobile)s") % {"mobile": mobile})
    separator = translator(locale).pgettext("list separator", ", ")
    return gettext("Contact: %(contact)s") % {"contact": separator.join(parts)}


def warning_buttons(*, warning_id: int, correction: bool, locale: str) -> tuple[Button, ...]:
    """A new warning's inline buttons: acknowledge, and report a correction for 责令纠错.

    Labels and callback data are those of :mod:`riskprompt.models.codes` (what the
    bot handles); later, ``/warnings`` offers what
    :func:`~riskprompt.models.codes.warning_actions` allows in the warning's state.
    """
    gettext = translator(locale).gettext
    code = codes.warning_code(warning_id)
    actions = [codes.WarningAction.ACKNOWLEDGE]
    if correction:
        actions.append(codes.WarningAction.REPORT_CORRECTION)
    return tuple(
        Button(
            label=gettext(codes.ACTION_BUTTON_LABELS[action]) % {"code": code},
            data=codes.action_data(action, warning_id),
        )
        for action in actions
    )


def _warning_sms(view: WarningView, locale: str) -> str:
    """The warning's SMS: the reason (and risk point) shortened until it fits two segments."""
    macros: Any = _template(locale, "warning_sms.txt.j2").module
    head = str(macros.head(view))
    if view.headline:
        head = f"{view.headline}\n{head}"
    pointer = (
        [str(macros.pointer(view))]
        if view.notice
        else _sms_reply(locale, code=view.code, correction=view.correction)
    )
    # Babel puts a narrow no-break space before "AM": plain ASCII keeps the GSM-7 budget.
    deadline = view.deadline_short.replace("\u202f", " ")
    tail = [str(macros.deadline(deadline)), *pointer]
    reason = " ".join(view.reason.split())
    point = [str(macros.risk_point(view.risk_point))] if view.risk_point else []
    for extra in (point, []) if point else ([],):
        full = "\n".join([head, str(macros.reason(reason)), *extra, *tail])
        if sms_fits(full):
            return full
    low, high, best = 0, len(reason), None
    while low <= high:  # lengths grow with the width kept
        middle = (low + high) // 2
        candidate = "\n".join([head, str(macros.reason(shorten(reason, middle))), *tail])
        if sms_fits(candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best if best is not None else _hard_fit([head], tail)


def render_warning(
    *,
    warning: Warning,
    reader: Person,
    channel: Channel,
    settings: Settings,
    issuer: str = "",
    issuer_unit: str = "",
    risk_point: RiskPoint | None = None,
    subject: Person | None = None,
    ack_url: str | None = None,
    notice_role: str = "supervisor",
    headline: str = "",
    issuer_email: str | None = None,
    issuer_mobile: str | None = None,
) -> Rendered:
    """Render ``warning`` for ``reader`` on ``channel``, in the reader's locale and time zone.

    Args:
        warning: the warning (flushed: its id goes into the code and the buttons).
        reader: who reads it: the person warned, or their supervisor (then pass ``subject``).
        channel: the channel rendered for.
        settings: the settings (default locale and time zone).
        issuer: the issuing officer's name.
        issuer_unit: the issuing officer's unit.
        risk_point: the risk point the warning is about, if any.
        subject: the person warned, when ``reader`` is their supervisor: the message
            is then a notice, with no button and no acknowledgement link.
        ack_url: email: the signed acknowledgement link (ignored on a notice).
        notice_role: on a notice, who reads it: ``supervisor`` or ``officer`` (the issuer).
        headline: a first line in the reader's language (a reminder, an escalation).
        issuer_email: email: the issuing officer's address, named as the contact.
        issuer_mobile: email: the issuing officer's mobile, named as the contact.

    Returns:
        The rendered message; on Telegram with "Acknowledge" (and, for an ordered
        correction, "Report a correction") buttons unless it is a notice.
    """
    locale = reader_locale(reader.locale, settings)
    subject_name = f"{subject.name} ({subject.staff_id})" if subject is not None else None
    # The issuing officer's own copy names no contact: they are the contact.
    own_copy = subject is not None and notice_role == "officer"
    view = build_warning_view(
        warning=warning,
        locale=locale,
        zone=_reader_zone(reader, settings),
        issuer=issuer,
        issuer_unit=issuer_unit,
        risk_point=risk_point,
        subject_name=subject_name,
        notice_role=notice_role,
        headline=headline,
        reader_name=reader.name,
        contact=""
        if own_copy
        else warning_contact(
            locale=locale, name=issuer, unit=issuer_unit, email=issuer_email, mobile=issuer_mobile
        ),
    )
    if view.notice:
        ack_url = None
    if channel is Channel.SMS:
        return Rendered(subject="", text=_warning_sms(view, locale))
    context = {"v": view, "ack_url": ack_url, "lang": _LOCALE_TAGS.get(locale, locale)}
    if channel is Channel.TELEGRAM:
        html = _collapse_blank_lines(_template(locale, "warning_telegram.html.j2").render(context))
        buttons = (
            ()
            if view.notice
            else warning_buttons(
                warning_id=warning.id or 0, correction=view.correction, locale=locale
            )
        )
        return Rendered(subject="", text=html, parts=split_telegram(html), buttons=buttons)
    if channel.is_chat:
        markdown = _markdown("warning_markdown.md.j2", context, locale=locale, channel=channel)
        buttons = (
            ()
            if view.notice
            else warning_buttons(
                warning_id=warning.id or 0, correction=view.correction, locale=locale
            )
        )
        card = translator(locale).gettext("Deadline: %(when)s") % {"when": view.deadline}
        title = f"{view.headline} {view.title}" if view.headline else view.title
        return _chat_rendered(
            markdown, title=title, card_text=card, channel=channel, buttons=buttons
        )
    plain = _collapse_blank_lines(_template(locale, "warning_email.txt.j2").render(context))
    html = _template(locale, "warning_email.html.j2").render(context)
    subject = f"{view.headline} {view.title}" if view.headline else view.title
    return Rendered(subject=subject[:SUBJECT_MAX_CHARS], text=plain + "\n", html=html)


# -- notices (what a decision tells) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticeView:
    """A notice as the templates show it, already in the reader's language.

    ``paragraphs`` hold the whole message; ``sms`` builds its SMS text from the
    width its longest free text (a reason, a description) may keep, so that the
    message fits two segments.
    """

    title: str
    paragraphs: tuple[str, ...]
    sms: Callable[[int | None], str]
    closing: str = ""
    link_label: str = ""
    mark: str = "🔔"
    colour_hex: str = "#1f2937"


def _fit_sms(build: Callable[[int | None], str]) -> str:
    """``build(None)`` when it fits two segments, else the widest ``build(width)`` that does."""
    full = build(None)
    if sms_fits(full):
        return full
    low, high, best = 0, len(full), build(0)
    while low <= high:  # lengths grow with the width kept
        middle = (low + high) // 2
        candidate = build(middle)
        if sms_fits(candidate):
            best, low = candidate, middle + 1
        else:
            high = middle - 1
    return best if sms_fits(best) else shorten(best, SMS_UCS2_LIMIT)


def render_notice_view(
    view: NoticeView,
    *,
    locale: str,
    channel: Channel,
    link: str | None = None,
    buttons: Sequence[Button] = (),
) -> Rendered:
    """Render a notice for one channel: SMS within two segments, chat split, email in two parts.

    Args:
        view: the notice in ``locale``.
        locale: the reader's locale.
        channel: the channel rendered for.
        link: email: a signed link to the page of the warning (``view.link_label``).
        buttons: chat (Telegram, WeCom, DingTalk): the buttons under the message.
    """
    if channel is Channel.SMS:
        return Rendered(subject="", text=_fit_sms(view.sms))
    context = {"v": view, "link": link, "lang": _LOCALE_TAGS.get(locale, locale)}
    if channel is Channel.TELEGRAM:
        html = _collapse_blank_lines(_template(locale, "notice_telegram.html.j2").render(context))
        return Rendered(subject="", text=html, parts=split_telegram(html), buttons=tuple(buttons))
    if channel.is_chat:
        markdown = _markdown("notice_markdown.md.j2", context, locale=locale, channel=channel)
        card = view.paragraphs[0] if view.paragraphs else view.title
        return _chat_rendered(
            markdown, title=view.title, card_text=card, channel=channel, buttons=tuple(buttons)
        )
    plain = _collapse_blank_lines(_template(locale, "notice_email.txt.j2").render(context))
    html = _template(locale, "notice_email.html.j2").render(context)
    return Rendered(subject=shorten(view.title, SUBJECT_MAX_CHARS), text=plain + "\n", html=html)
