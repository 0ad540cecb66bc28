"""Channel adapters: email, SMS, Telegram, WeCom, DingTalk, and the local console and file channels.

:func:`build_adapters` picks, for each :class:`~models.people.Channel`, the real
adapter when its credentials are set, otherwise the local channel
(``LOCAL_CHANNEL``: file or console).  One local adapter may serve several
channels: open and close each distinct adapter once (:func:`distinct_adapters`).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console

from riskprompt.config.settings import Settings
from riskprompt.models.people import Channel
from riskprompt.notifications.channels.base import (
    Button,
    ChannelAdapter,
    Message,
    Outcome,
    SendResult,
)
from riskprompt.notifications.channels.console import ConsoleChannel
from riskprompt.notifications.channels.dingtalk import DingTalkChannel
from riskprompt.notifications.channels.email import EmailChannel, build_email
from riskprompt.notifications.channels.file import FileChannel
from riskprompt.notifications.channels.sms import SmsChannel
from riskprompt.notifications.channels.telegram import TelegramChannel
from riskprompt.notifications.channels.wecom import WeComChannel


def build_adapters(
    settings: Settings, *, console: Console | None = None
) -> dict[Channel, ChannelAdapter]:
    """The adapter for each channel, as configured by ``settings``.

    Args:
        settings: credentials (``smtp_enabled``, ``sms_enabled`` on ``SMS_PROVIDER``,
            ``telegram_enabled``, ``wecom_enabled``, ``dingtalk_enabled``),
            ``LOCAL_CHANNEL``, ``OUTBOX_DIR`` and limits.
        console: where the console channel prints (default: standard output).
    """
    local: ChannelAdapter | None = None

    def local_channel() -> ChannelAdapter:
        nonlocal local
        if local is None:
            if settings.LOCAL_CHANNEL == "console":
                local = ConsoleChannel(console)
            else:
                local = FileChannel.from_settings(settings)
        return local

    return {
        Channel.WECOM: (
            WeComChannel.from_settings(settings) if settings.wecom_enabled else local_channel()
        ),
        Channel.DINGTALK: (
            DingTalkChannel.from_settings(settings)
            if settings.dingtalk_enabled
            else local_channel()
        ),
        Channel.TELEGRAM: (
            TelegramChannel.from_settings(settings)
            if settings.telegram_enabled
            else local_channel()
        ),
        Channel.SMS: (
            SmsChannel.from_settings(settings) if settings.sms_enabled else local_channel()
        ),
        Channel.EMAIL: (
            EmailChannel.from_settings(settings) if settings.smtp_enabled else local_channel()
        ),
    }


def distinct_adapters(adapters: Iterable[ChannelAdapter]) -> list[ChannelAdapter]:
    """Each adapter once (the local channel may stand in for several channels)."""
    seen: dict[int, ChannelAdapter] = {}
    for adapter in adapters:
        seen.setdefault(id(adapter), adapter)
    return list(seen.values())


__all__ = [
    "Button",
    "ChannelAdapter",
    "ConsoleChannel",
    "DingTalkChannel",
    "EmailChannel",
    "FileChannel",
    "Message",
    "Outcome",
    "SendResult",
    "SmsChannel",
    "TelegramChannel",
    "WeComChannel",
    "build_adapters",
    "build_email",
    "distinct_adapters",
]
