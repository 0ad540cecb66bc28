"""Telegram chat through python-telegram-bot's ``Bot``.

``TELEGRAM_API_URL`` replaces the Bot API server (a self-hosted Bot API server,
or the test stand-in): requests go to ``<url>/bot<token>/<method>``.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import re
import warnings
from collections import OrderedDict
from datetime import timedelta
from typing import ClassVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from riskprompt.config.settings import Settings
from riskprompt.notifications.channels.base import (
    Button,
    ChannelAdapter,
    Message,
    Outcome,
    SendResult,
)

log = logging.getLogger(__name__)

_CHAT_ID = re.compile(r"-?\d+")
#: how many half-sent multi-part messages are remembered for their retry
_PROGRESS_LIMIT = 10_000


def chat_id_of(address: str) -> int | str:
    """A numeric chat id as int; ``@channelname`` stays a string."""
    address = address.strip()
    return int(address) if _CHAT_ID.fullmatch(address) else address


@functools.lru_cache(maxsize=1024)
def keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One inline button per row, or None without buttons (PTB's markup is immutable)."""
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data)] for b in buttons]
    )


def retry_after_seconds(exc: RetryAfter) -> float:
    """``exc.retry_after`` in seconds, whether PTB gives an int or a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel(ChannelAdapter):
    """Telegram messages through the Bot API; the provider id is the message id.

    A message is sent as its ``parts`` (HTML), the inline keyboard under the last
    one; several parts give comma-separated ids.  When a later part fails, the
    parts already sent are remembered (in this process) and the retry continues
    after them instead of sending them twice.

    Outcomes: flood control (429) → retry after the ``retry_after`` it names;
    timeouts, network errors and server errors → retry; blocked by the user,
    chat not found and other bad requests → failed.
    """

    name: ClassVar[str] = "telegram"
    body_maxlen: ClassVar[int | None] = int(MessageLimit.MAX_TEXT_LENGTH)

    def __init__(
        self,
        *,
        token: str,
        api_url: str | None = None,
        max_concurrency: int = 8,
        rate_per_sec: float | None = None,
        per_address_interval: float | None = None,
        timeout: float = 10.0,
    ) -> None:
        """Configure the channel; the bot is made and checked (getMe) in :meth:`open`.

        Args:
            token: the bot's token.
            api_url: the Bot API server (default: Telegram's).
            max_concurrency: sends in flight at once, and the HTTP connection pool's size.
            rate_per_sec: messages per second across the bot, for the dispatcher.
            per_address_interval: seconds between two messages to one chat, for the dispatcher.
            timeout: seconds for connecting, writing and reading one request.
        """
        self.token = token
        self.api_url = api_url
        self.max_concurrency = max_concurrency  # type: ignore[misc]  # per instance
        self.rate_per_sec = rate_per_sec
        self.per_address_interval = per_address_interval
        self.timeout = timeout
        self._bot: Bot | None = None
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._progress: OrderedDict[str, list[str]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramChannel:
        """The channel configured by ``TELEGRAM_*`` and ``RATE_LIMITS``."""
        if not settings.TELEGRAM_TOKEN:
            raise ValueError("RISKPROMPT_TELEGRAM_TOKEN is not set")
        limits = settings.RATE_LIMITS
        return cls(
            token=settings.TELEGRAM_TOKEN,
            api_url=settings.TELEGRAM_API_URL,
            rate_per_sec=settings.TELEGRAM_RATE_PER_SEC if limits else None,
            per_address_interval=settings.TELEGRAM_CHAT_INTERVAL_SECONDS if limits else None,
        )

    @property
    def bot(self) -> Bot:
        """The python-telegram-bot ``Bot`` (after :meth:`open`)."""
        if self._bot is None:
            raise RuntimeError("TelegramChannel.open() was not called")
        return self._bot

    def _make_bot(self) -> Bot:
        request = HTTPXRequest(
            connection_pool_size=self.max_concurrency,
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            write_timeout=self.timeout,
            pool_timeout=self.timeout,
        )
        if self.api_url:
            return Bot(
                self.token,
                base_url=f"{self.api_url}/bot",
                base_file_url=f"{self.api_url}/file/bot",
                request=request,
            )
        return Bot(self.token, request=request)

    async def open(self) -> None:
        """Make the bot and call getMe; an unreachable API is retried at the first send."""
        if self._bot is None:
            self._bot = self._make_bot()
        try:
            await self._initialize()
        except TelegramError as exc:
            log.warning("Telegram Bot API not ready, will retry: %s", self._scrub(str(exc)))

    async def _initialize(self) -> None:
        async with self._ready_lock:
            if not self._ready:
                await self.bot.initialize()
                self._ready = True

    async def close(self) -> None:
        """Close the bot's HTTP connections."""
        if self._bot is not None:
            await self._bot.shutdown()  # a no-op for parts never initialised
        self._ready = False
        self._bot = None

    def _scrub(self, text: str) -> str:
        """Error text without the token (PTB puts it into InvalidToken's message)."""
        return text.replace(self.token, "<token>") if self.token else text

    async def send(self, message: Message) -> SendResult:
        """Send ``message.parts`` (or ``message.text``) to the chat ``message.address``."""
        bot = self.bot
        if not message.address.strip():
            return SendResult.failed("no Telegram chat id")
        # ``parts`` are HTML already; the plain ``text`` fallback must be escaped for it.
        parts = [
            p for p in (message.parts or (html.escape(message.text, quote=False),)) if p.strip()
        ]
        if not parts:
            return SendResult.failed("empty message")
        chat_id = chat_id_of(message.address)
        markup = keyboard(message.buttons)
        key = message.idempotency_key
        sent_ids = self._progress.pop(key, [])
        try:
            if not self._ready:
                await self._initialize()
            for index in range(len(sent_ids), len(parts)):
                last = index == len(parts) - 1
                reply = await bot.send_message(
                    chat_id,
                    parts[index],
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None,
                )
                sent_ids.append(str(reply.message_id))
        except TelegramError as exc:
            result = self._outcome(exc)
            if sent_ids and result.outcome is Outcome.RETRY:
                self._remember(key, sent_ids)
            return result
        except BaseException:
            # Cancelled (the dispatcher's timeout): the retry still skips the parts sent.
            if sent_ids:
                self._remember(key, sent_ids)
            raise
        return SendResult.sent(",".join(sent_ids))

    def _remember(self, key: str, sent_ids: list[str]) -> None:
        self._progress[key] = sent_ids
        while len(self._progress) > _PROGRESS_LIMIT:
            self._progress.popitem(last=False)

    def _outcome(self, exc: TelegramError) -> SendResult:
        """What a python-telegram-bot error means."""
        text = self._scrub(exc.message)
        if isinstance(exc, RetryAfter):
            return SendResult.retry(f"Telegram: {text}", retry_after=retry_after_seconds(exc))
        if isinstance(exc, Forbidden):
            return SendResult.failed(f"Telegram: {text}")
        if isinstance(exc, BadRequest):  # before NetworkError: BadRequest is one
            return SendResult.failed(f"Telegram: {text}")
        if isinstance(exc, ChatMigrated):
            return SendResult.failed(f"Telegram: the chat moved to {exc.new_chat_id}")
        if isinstance(exc, TimedOut | NetworkError):
            return SendResult.retry(f"Telegram unreachable: {text}")
        # InvalidToken, Conflict, 5xx answers: not the recipient's fault.
        return SendResult.retry(f"Telegram: {exc.__class__.__name__}: {text}")
