"""The file channel: one file per message in the outbox folder (Django's file e-mail backend).

Email becomes an ``.eml`` file holding the full MIME message (any mail client
opens it); SMS and Telegram messages become ``.json`` files.  It is what a
channel without credentials uses, so a newcomer sees every message on disk.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from typing import Any, ClassVar

from riskprompt.config.settings import Settings
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult
from riskprompt.notifications.channels.email import build_email

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def outbox_file_name(message: Message, now: datetime) -> str:
    """``<timestamp>-<delivery_id>-<channel>.<ext>``, safe on every file system."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    channel = _UNSAFE.sub("_", message.channel) or "message"
    ext = "eml" if message.channel == "email" else "json"
    return f"{stamp}-{message.delivery_id}-{channel}.{ext}"


def message_record(message: Message, now: datetime) -> dict[str, Any]:
    """The JSON document written for an SMS or chat message."""
    return {
        "channel": message.channel,
        "address": message.address,
        "delivery_id": message.delivery_id,
        "idempotency_key": message.idempotency_key,
        "locale": message.locale,
        "subject": message.subject,
        "text": message.text,
        "parts": list(message.parts),
        "buttons": [{"label": b.label, "data": b.data} for b in message.buttons],
        "written_at": now.astimezone(UTC).isoformat(),
    }


def _write_atomically(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder/name`` so that a reader never sees a half-written file."""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, folder / name)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class FileChannel(ChannelAdapter):
    """Writes each message to ``outbox_dir`` (made when missing); serves every channel.

    The provider id is the file name.  A folder that cannot be written is a
    transient problem (a full or read-only disk gets fixed): the send is retried.
    """

    name: ClassVar[str] = "file"
    max_concurrency: ClassVar[int] = 8

    def __init__(self, outbox_dir: Path | str, *, sender: str = "riskprompt@localhost") -> None:
        """Write into ``outbox_dir``; ``sender`` is the From header of ``.eml`` files."""
        self.outbox_dir = Path(outbox_dir)
        self.sender = sender

    @classmethod
    def from_settings(cls, settings: Settings) -> FileChannel:
        """The channel writing into ``OUTBOX_DIR``."""
        return cls(settings.OUTBOX_DIR, sender=settings.SMTP_FROM)

    def render(self, message: Message, now: datetime) -> bytes:
        """The bytes written for ``message``: a MIME message or a JSON document.

        Raises:
            ValueError: an email that cannot be built (see :func:`build_email`).
        """
        if message.channel == "email":
            mime = build_email(message, sender=self.sender, now=now)
            return mime.as_bytes(policy=policy.SMTP)
        text = json.dumps(message_record(message, now), ensure_ascii=False, indent=2)
        return (text + "\n").encode("utf-8")

    async def send(self, message: Message) -> SendResult:
        """Write ``message`` to its own file."""
        if not message.address.strip():
            return SendResult.failed(f"no {message.channel} address")
        now = datetime.now(UTC)
        try:
            data = self.render(message, now)
        except ValueError as exc:
            return SendResult.failed(f"cannot build the message: {exc}")
        name = outbox_file_name(message, now)
        try:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.outbox_dir, name, data)
        except OSError as exc:
            return SendResult.retry(f"cannot write to {self.outbox_dir}: {exc}")
        return SendResult.sent(name)
