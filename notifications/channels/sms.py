"""The SMS channel: one backend over a provider seam (Twilio, Alibaba Cloud SMS).

Grafana OnCall's split: :class:`SmsChannel` holds what every SMS provider shares
(the limits, the segment count, turning a provider's answer into an outcome, the
timeout) and an :class:`SmsProvider` does the vendor I/O only.  A provider says
what went wrong by raising an exception named after the outcome:

* :class:`SmsRejected`: this message or this number will never go (invalid
  number, content refused): failed, and the dispatcher falls back to the
  person's next channel.
* :class:`SmsMisconfigured`: the operator must change something at the provider
  (sign name, template, balance, the service itself): failed with fallback too,
  so that the person is still reached; logged as an error that names the setting,
  and ``riskprompt doctor`` checks it.
* :class:`SmsThrottled`: the provider's rate or per-number frequency limit:
  retried after the wait it asked for.
* :class:`SmsUnavailable`: timeouts, connection errors, 5xx, refused credentials
  (as for Twilio's 401: the operator fixes them, the message is not at fault):
  retried with backoff.

Domestic providers send registered templates only (``templated`` providers): the
text we render becomes the template's variables (:func:`template_for`), one kind
of template per kind of message (:class:`SmsKind`), each variable within the
provider's ``param_maxlen``.  Which provider carries the channel is
``RISKPROMPT_SMS_PROVIDER`` (:func:`provider_from_settings`).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from riskprompt.config.i18n import translator
from riskprompt.config.settings import SMS_TEMPLATE_KINDS, Settings
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult

log = logging.getLogger(__name__)

#: Twilio posts delivery reports here (``riskprompt.web.twilio``).
STATUS_CALLBACK_PATH = "/twilio/status"
#: The longest text the channel sends, in segments (rendering keeps to two).
MAX_SEGMENTS = 10

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[]~|€\f")


def segments(text: str) -> int:
    """How many SMS segments ``text`` takes.

    GSM-7 text: 160 characters in one segment, 153 per segment when concatenated
    (the extension characters count twice); anything else (Chinese) is UCS-2: 70,
    then 67 per segment, characters outside the BMP counting twice.
    """
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        single, multi = 160, 153
        length = len(text) + sum(1 for ch in text if ch in _GSM_EXTENDED)
    else:
        single, multi = 70, 67
        length = len(text.encode("utf-16-le")) // 2
    if length <= single:
        return 1
    return -(-length // multi)


# -- what a provider raises ------------------------------------------------------------


class SmsError(Exception):
    """A send that did not go; ``str(error)`` says why (never a secret)."""


class SmsRejected(SmsError):
    """This message or number will never go: failed, fall back to the next channel."""


class SmsMisconfigured(SmsError):
    """The operator must fix the provider's configuration; ``setting`` names what to change."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class SmsThrottled(SmsError):
    """A rate or frequency limit: try again after ``retry_after`` seconds (None: backoff)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SmsUnavailable(SmsError):
    """A transient failure: timeout, connection, 5xx, refused credentials."""


# -- what a provider gets ----------------------------------------------------------------


class SmsKind(enum.StrEnum):
    """The kinds of SMS a domestic provider has one registered template for."""

    PROMPT = "prompt"
    WARNING = "warning"
    REMINDER = "reminder"
    NOTICE = "notice"


assert {k.value for k in SmsKind} == set(SMS_TEMPLATE_KINDS)

#: The variables each kind's registered template uses (the contract with the template;
#: every one always gets a value, none longer than the provider's ``param_maxlen``):
#: ``title`` the first line, ``detail`` what follows it, ``code`` the reply code
#: (``P12``, ``W7``), ``link`` the token of the short link (``/a/<link>`` in the template).
TEMPLATE_VARIABLES: dict[SmsKind, tuple[str, ...]] = {
    SmsKind.PROMPT: ("title", "detail", "link"),
    SmsKind.WARNING: ("title", "detail", "code", "link"),
    SmsKind.REMINDER: ("title", "code"),
    SmsKind.NOTICE: ("title", "detail"),
}

_SHORT_LINK = re.compile(r"https?://\S+?/a/(?P<token>[0-9A-Za-z._-]+)")
_ANY_URL = re.compile(r"https?://\S+")
# Brackets read as a sign name (【】) or refused at a template's edges ([]): the sign
# name's brackets go, square ones become full-width parentheses (``[高]`` → ``（高）``).
_BRACKETS = str.maketrans({"【": "", "】": " ", "[": "（", "]": "）"})
_CLAUSE_END = "。；;，,：:！!？?"
# DeliveryKey's heads (riskprompt.notifications.outbox): p12-sms, p12-sms-rem1, w7-sms-…
_KEY_HEAD = re.compile(r"^(?P<kind>[a-z]+)(?P<id>\d*)(?P<rest>.*)$")


@dataclass(frozen=True, slots=True)
class SmsTemplate:
    """A message as a registered template's kind and variables."""

    kind: SmsKind
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class Sms:
    """One SMS as a provider sends it.

    Attributes:
        to: the number, E.164 (``+8613800138000``).
        text: the whole rendered text (what a provider of free text sends).
        template: the kind and variables (what a provider of templates sends).
        reference: our idempotency key (a provider that keeps one gets it).
    """

    to: str
    text: str
    template: SmsTemplate
    reference: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a provider reports of a message after accepting it.

    Attributes:
        status: ``delivered``, ``undelivered`` or ``sent`` (no final report yet).
        error_code: the provider's or carrier's code, when undelivered.
        permanent: whether the failure will not go away (fall back at once).
    """

    status: str
    error_code: str | None = None
    permanent: bool = False

    @property
    def final(self) -> bool:
        """Whether no later report will change it."""
        return self.status in {"delivered", "undelivered"}


def _clean(text: str) -> str:
    return " ".join(text.translate(_BRACKETS).split())


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending with an ellipsis when cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)].rstrip() + "…"


def _split_head(line: str, width: int) -> tuple[str, str]:
    """A first line too long for one variable, split after its last clause within ``width``."""
    if len(line) <= width:
        return line, ""
    cut = max(line.rfind(mark, 0, width) for mark in _CLAUSE_END)
    if cut <= 0:
        return _clip(line, width), line[width - 1 :].strip()
    return line[:cut].strip(), line[cut + 1 :].strip()


def sms_kind(message: Message) -> SmsKind:
    """Which registered template a message takes.

    Read from the delivery key's head (``p12``: a prompt, ``p12-…-rem1`` its
    reminder, ``w7``: a warning) and whether the text carries a short link: a
    message without one (a supervisor's copy, a notice) takes the notice template.
    """
    found = _KEY_HEAD.match(message.idempotency_key)
    head = found["kind"] if found else ""
    rest = found["rest"] if found else ""
    if head == "p" and re.search(r"-rem\d+", rest):
        return SmsKind.REMINDER
    if _SHORT_LINK.search(message.text):
        if head == "p":
            return SmsKind.PROMPT
        if head == "w":
            return SmsKind.WARNING
    return SmsKind.NOTICE


def template_for(message: Message, *, param_maxlen: int) -> SmsTemplate:
    """The kind and variables of the template that says what ``message.text`` says.

    ``title`` is the first line (split after a clause when too long), ``detail``
    the lines up to the link, ``code`` the reply code of the prompt or warning the
    key names, ``link`` the short link's token.  The sign name's brackets go and
    square ones become full-width parentheses; each value is cut to
    ``param_maxlen`` characters, and none is empty.

    Raises:
        SmsRejected: the message has no text.
    """
    lines = [line.strip() for line in message.text.splitlines() if line.strip()]
    if not lines:
        raise SmsRejected("empty message")
    kind = sms_kind(message)
    link = _SHORT_LINK.search(message.text)
    body: list[str] = []
    for line in lines[1:]:
        if _ANY_URL.search(line):
            break  # the link and the reply instruction after it are the template's
        body.append(line)
    head = _clean(lines[0])
    title, overflow = _split_head(head.rstrip("：:") or head, param_maxlen)
    if not title:  # a first line of brackets alone: the template still needs a title
        title = _clean(translator(message.locale).gettext("Risk prompt"))
    detail = _clean(" ".join([overflow, *body]))
    if not detail:
        detail = _clean(translator(message.locale).gettext("...see email or chat"))
    found = _KEY_HEAD.match(message.idempotency_key)
    code = f"{found['kind'].upper()}{found['id']}" if found and found["id"] else ""
    values = {
        "title": _clip(title, param_maxlen),
        "detail": _clip(detail, param_maxlen),
        "code": code,
        "link": link["token"] if link else "",
    }
    params = {name: values[name] for name in TEMPLATE_VARIABLES[kind]}
    return SmsTemplate(kind=kind, params=params)


# -- the provider seam -------------------------------------------------------------------


class SmsProvider(ABC):
    """Vendor I/O of one SMS provider; the rules are the :class:`SmsChannel`'s.

    Class attributes declare what the channel reads: ``templated`` providers send
    :attr:`Sms.template` (each variable at most ``param_maxlen`` characters),
    others :attr:`Sms.text`.  A provider overrides only what it supports.
    """

    name: ClassVar[str]
    #: sends registered templates (domestic providers) instead of free text
    templated: ClassVar[bool] = False
    #: longest value of one template variable
    param_maxlen: ClassVar[int] = 35
    #: how many sends may be in flight at once
    max_concurrency: ClassVar[int] = 8
    #: messages per second across the account (None: no limit)
    rate_per_sec: float | None = None
    #: minimum seconds between two messages to one number (None: no limit)
    per_address_interval: float | None = None
    #: answers :meth:`receipt` (receipts are polled, not pushed)
    polls_receipts: ClassVar[bool] = False

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Make the HTTP client inside the running loop."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close the HTTP client."""

    @abstractmethod
    async def send(self, sms: Sms) -> str:
        """Send one SMS and return the provider's message id.

        Raises:
            SmsRejected, SmsMisconfigured, SmsThrottled, SmsUnavailable: it did not go.
        """

    async def receipt(self, *, to: str, provider_id: str, sent_at: datetime) -> Receipt | None:
        """What became of a message sent at ``sent_at``; None when not (yet) known.

        Only providers that answer a query implement it (:attr:`polls_receipts`);
        Twilio posts its reports instead (``riskprompt.web.twilio``).

        Raises:
            SmsError: the query itself failed.
        """
        return None


# -- the backend ---------------------------------------------------------------------------


class SmsChannel(ChannelAdapter):
    """The SMS channel over one provider: limits, segments and outcomes live here.

    The provider id of a sent message is the provider's (Twilio's ``SM…`` SID,
    Alibaba Cloud's ``BizId``); the pacing limits are the provider's.
    """

    name: ClassVar[str] = "sms"
    body_maxlen: ClassVar[int | None] = 1600  # 10 concatenated segments of GSM-7

    def __init__(
        self, provider: SmsProvider, *, timeout: float = 30.0, max_segments: int = MAX_SEGMENTS
    ) -> None:
        """Configure the channel; the provider opens in :meth:`open`.

        Args:
            provider: the provider that carries the messages.
            timeout: seconds one send may take before it counts as transient.
            max_segments: a longer text fails at once (the renderer keeps to two).
        """
        self.provider = provider
        self.timeout = timeout
        self.max_segments = max_segments
        self.max_concurrency = provider.max_concurrency  # type: ignore[misc]  # per provider
        self.rate_per_sec = provider.rate_per_sec
        self.per_address_interval = provider.per_address_interval
        self._warned: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsChannel:
        """The channel on ``RISKPROMPT_SMS_PROVIDER``'s provider.

        Raises:
            ValueError: that provider's credentials are not set.
        """
        return cls(provider_from_settings(settings))

    async def open(self) -> None:
        """Open the provider."""
        await self.provider.open()

    async def close(self) -> None:
        """Close the provider."""
        await self.provider.close()

    async def send(self, message: Message) -> SendResult:
        """Send ``message`` through the provider and say what came of it."""
        to = message.address.strip()
        if not to:
            return SendResult.failed("no mobile number")
        if segments(message.text) > self.max_segments:
            return SendResult.failed(
                f"{segments(message.text)} segments, over the {self.max_segments} an SMS may take"
            )
        provider = self.provider
        try:
            sms = Sms(
                to=to,
                text=message.text,
                template=template_for(message, param_maxlen=provider.param_maxlen),
                reference=message.idempotency_key,
            )
            async with asyncio.timeout(self.timeout):
                provider_id = await provider.send(sms)
        except TimeoutError:
            return SendResult.retry(f"{provider.name} did not answer within {self.timeout:g} s")
        except SmsThrottled as exc:
            return SendResult.retry(str(exc), retry_after=exc.retry_after)
        except SmsUnavailable as exc:
            return SendResult.retry(str(exc))
        except SmsMisconfigured as exc:
            self._warn_once(exc)
            return SendResult.failed(str(exc))
        except SmsRejected as exc:
            return SendResult.failed(str(exc))
        return SendResult.sent(provider_id)

    def _warn_once(self, exc: SmsMisconfigured) -> None:
        """One error line per distinct configuration problem, not one per message."""
        key = f"{exc.setting}:{exc}"
        if key not in self._warned:
            self._warned.add(key)
            log.error("SMS cannot be sent until the configuration is fixed: %s", exc)

    def describe(self) -> dict[str, Any]:
        """The channel's name, provider and limits (for logs and ``doctor``)."""
        return {**super().describe(), "provider": self.provider.name}


def provider_from_settings(settings: Settings) -> SmsProvider:
    """The provider ``RISKPROMPT_SMS_PROVIDER`` names, configured from the settings.

    Raises:
        ValueError: its credentials are not set.
    """
    if settings.SMS_PROVIDER == "aliyun":
        from riskprompt.notifications.channels.sms_aliyun import AliyunSmsProvider

        return AliyunSmsProvider.from_settings(settings)
    from riskprompt.notifications.channels.sms_twilio import TwilioSmsProvider

    return TwilioSmsProvider.from_settings(settings)


__all__ = [
    "MAX_SEGMENTS",
    "STATUS_CALLBACK_PATH",
    "TEMPLATE_VARIABLES",
    "Receipt",
    "Sms",
    "SmsChannel",
    "SmsError",
    "SmsKind",
    "SmsMisconfigured",
    "SmsProvider",
    "SmsRejected",
    "SmsTemplate",
    "SmsThrottled",
    "SmsUnavailable",
    "provider_from_settings",
    "segments",
    "sms_kind",
    "template_for",
]
