"""The one interface every channel adapter implements.

A channel does vendor I/O only: it gets a message that is already rendered and
addressed, sends it, and says what happened as a :class:`SendResult`.  Limits are
class attributes (Apprise's idea), read by the dispatcher, which paces sends.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self


class Outcome(enum.StrEnum):
    """What a send came to."""

    SENT = "sent"
    RETRY = "retry"  # transient: timeouts, 429, 5xx, SMTP 4xx
    FAILED = "failed"  # permanent: bad number, blocked bot, SMTP 5xx, no address


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button (Telegram): a label and callback data of at most 64 bytes."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message for one address on one channel.

    Attributes:
        delivery_id: the outbox row this message comes from.
        channel: ``email``, ``sms`` or ``telegram``.
        address: email address, E.164 number or Telegram chat id.
        subject: the email subject (other channels ignore it).
        text: the plain text (SMS body, email text part; Telegram uses ``parts``).
        html: the email HTML part, or None.
        parts: Telegram: the HTML-formatted text split into messages of <= 4,096 chars.
        buttons: Telegram: inline buttons under the last part.
        idempotency_key: unique per delivery; providers that take one get it.
        locale: the reader's locale.
    """

    delivery_id: int
    channel: str
    address: str
    subject: str
    text: str
    idempotency_key: str
    html: str | None = None
    parts: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    locale: str = "zh_CN"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of one send, with the provider's message id or the error."""

    outcome: Outcome
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait

    @classmethod
    def sent(cls, provider_id: str | None) -> SendResult:
        """Accepted by the provider."""
        return cls(Outcome.SENT, provider_id=provider_id)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> SendResult:
        """A transient failure: try again later."""
        return cls(Outcome.RETRY, error=error, retry_after=retry_after)

    @classmethod
    def failed(cls, error: str) -> SendResult:
        """A permanent failure: fall back to the next channel."""
        return cls(Outcome.FAILED, error=error)


class ChannelAdapter(ABC):
    """A channel: open once, ``send`` many messages concurrently, close once.

    Class attributes declare the limits the dispatcher respects.  ``send`` never
    raises for a provider's error: it returns a result that says what happened.
    """

    name: ClassVar[str]
    #: how many sends may be in flight at once on this channel
    max_concurrency: ClassVar[int] = 8
    #: messages per second across the channel (None: no limit)
    rate_per_sec: float | None = None
    #: minimum seconds between two messages to the same address (None: no limit)
    per_address_interval: float | None = None
    #: longest text one message may carry (None: no limit)
    body_maxlen: ClassVar[int | None] = None

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect or authenticate; called once before the first send."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once after the last send."""

    @abstractmethod
    async def send(self, message: Message) -> SendResult:
        """Send one message and say what happened (never raises for provider errors)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def describe(self) -> dict[str, Any]:
        """The adapter's name and limits (for logs and ``doctor``)."""
        return {
            "name": self.name,
            "max_concurrency": self.max_concurrency,
            "rate_per_sec": self.rate_per_sec,
            "per_address_interval": self.per_address_interval,
        }
