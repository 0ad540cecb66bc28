"""Email over SMTP with aiosmtplib: a small pool of connections, reused across sends.

:func:`build_email` turns a :class:`Message` into the MIME message (the file
channel writes the same bytes to ``.eml`` files); :class:`EmailChannel` sends it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email import headerregistry
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import ClassVar

from aiosmtplib import (
    SMTP,
    SMTPException,
    SMTPNotSupported,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
)

from riskprompt.config.settings import Settings
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult

log = logging.getLogger(__name__)

#: characters kept as they are in the left part of a Message-ID
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_WHITESPACE = re.compile(r"\s+")
#: headers the builder sets itself; ``Message.headers`` cannot replace them
_OWN_HEADERS = frozenset({"subject", "from", "to", "date", "message-id", "mime-version"})


class _HeaderRegistry(headerregistry.HeaderRegistry):
    """The stdlib registry builds a new class for every header it parses; reuse them."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[headerregistry.BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[headerregistry.BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls


#: ``email.policy.default`` (UTF-8 headers, RFC 2047 when serialised), cheaper to build with
POLICY = email_policy.default.clone(header_factory=_HeaderRegistry())


@functools.lru_cache(maxsize=64)
def _from_header(sender: str) -> headerregistry.BaseHeader:
    # Every message has the same From: parse it once (header objects are immutable).
    return POLICY.header_factory("From", sender)  # type: ignore[no-any-return]


def envelope_sender(sender: str) -> str:
    """The bare address of ``sender`` (``风险提示 <rp@example.cn>`` → ``rp@example.cn``)."""
    return parseaddr(sender)[1] or sender


def message_id_for(idempotency_key: str, sender: str) -> str:
    """The Message-ID of a delivery: the same key always gives the same id.

    A re-sent delivery therefore carries the Message-ID of the first attempt, so a
    mail client (or an officer reading headers) recognises the duplicate.
    """
    domain = envelope_sender(sender).rpartition("@")[2] or "localhost"
    local = _ID_UNSAFE.sub("-", idempotency_key)
    if local != idempotency_key:
        # Two keys that differ only in unsafe characters must not share an id.
        local += "." + hashlib.sha256(idempotency_key.encode()).hexdigest()[:10]
    return f"<riskprompt.{local}@{domain}>"


def _content_language(locale: str) -> str:
    return locale.replace("_", "-")


def _cte(text: str) -> str | None:
    # Chinese text in base64: every client decodes it, lines never exceed the
    # limit, and it survives relays without 8BITMIME.  ASCII keeps the default.
    return None if text.isascii() else "base64"


def build_email(message: Message, *, sender: str, now: datetime | None = None) -> EmailMessage:
    """Build the MIME message for ``message``: text part, optional HTML alternative.

    Headers are UTF-8 and written as RFC 2047 encoded words when serialised;
    the Message-ID comes from the idempotency key (:func:`message_id_for`).

    Args:
        message: the rendered message; ``address`` is the recipient.
        sender: the From header (``SMTP_FROM``), a bare address or ``Name <addr>``.
        now: the Date header (default: the current time).

    Raises:
        ValueError: the address or a header cannot be put into a message
            (e.g. it contains a line break).
    """
    mime = EmailMessage(policy=POLICY)
    mime["Subject"] = _WHITESPACE.sub(" ", message.subject).strip()
    mime["From"] = _from_header(sender)
    mime["To"] = message.address
    mime["Date"] = now or datetime.now(UTC)
    mime["Message-ID"] = message_id_for(message.idempotency_key, sender)
    # Out-of-office robots should not answer a notification (RFC 3834).
    mime["Auto-Submitted"] = "auto-generated"
    for name, value in message.headers.items():
        if name.lower() in _OWN_HEADERS:
            continue
        del mime[name]
        mime[name] = value
    mime.set_content(message.text, subtype="plain", charset="utf-8", cte=_cte(message.text))
    if message.html:
        mime.add_alternative(message.html, subtype="html", charset="utf-8", cte=_cte(message.html))
    # After the content: setting content clears Content-* headers.
    mime["Content-Language"] = _content_language(message.locale)
    return mime


class EmailChannel(ChannelAdapter):
    """Email through an SMTP server: plain, STARTTLS or implicit TLS, with optional login.

    Sends share a pool of at most ``pool_size`` connections; a connection serves
    one send at a time and is kept open for the next.  A connection the server
    dropped while idle is reopened once, transparently.

    Outcomes: SMTP 4xx, timeouts and connection problems → retry; SMTP 5xx, an
    unusable address → failed.  Anything that goes wrong while connecting,
    greeting or logging in is about the server, not the message → retry.
    """

    name: ClassVar[str] = "email"
    body_maxlen: ClassVar[int | None] = None

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        use_tls: bool = False,
        sender: str = "riskprompt@localhost",
        pool_size: int = 4,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """Configure the channel; nothing connects before the first send.

        Args:
            host, port: the SMTP server.
            username, password: log in after connecting when a username is set.
            starttls: upgrade a plain connection with STARTTLS (required).
            use_tls: connect with implicit TLS (port 465 style).
            sender: the From header and, as a bare address, the envelope sender.
            pool_size: the most connections open at once (= ``max_concurrency``).
            timeout: seconds for each SMTP command.
            tls_context: the client TLS context (tests trust their own CA with it).
        """
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls and not use_tls
        self.use_tls = use_tls
        self.sender = sender
        self.timeout = timeout
        self.tls_context = tls_context
        self.max_concurrency = pool_size  # type: ignore[misc]  # per instance: the pool
        self.rate_per_sec = None
        self.per_address_interval = None
        self._envelope_from = envelope_sender(sender)
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[SMTP] = []
        self._all: list[SMTP] = []

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> EmailChannel:
        """The channel configured by ``SMTP_*`` settings (``overrides`` win)."""
        if not settings.SMTP_HOST:
            raise ValueError("RISKPROMPT_SMTP_HOST is not set")
        options: dict[str, object] = {
            "host": settings.SMTP_HOST,
            "port": settings.SMTP_PORT,
            "username": settings.SMTP_USERNAME,
            "password": settings.SMTP_PASSWORD,
            "starttls": settings.SMTP_STARTTLS,
            "use_tls": settings.SMTP_TLS,
            "sender": settings.SMTP_FROM,
            "pool_size": settings.SMTP_POOL_SIZE,
            "timeout": settings.SMTP_TIMEOUT_SECONDS,
        }
        options.update(overrides)
        return cls(**options)  # type: ignore[arg-type]

    def _new_connection(self) -> SMTP:
        smtp = SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password if self.username else None,
            use_tls=self.use_tls,
            start_tls=self.starttls,  # False means never, not "when offered"
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        self._all.append(smtp)
        return smtp

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[SMTP]:
        async with self._slots:
            smtp = self._idle.pop() if self._idle else self._new_connection()
            try:
                yield smtp
            except BaseException:
                # Cancelled (e.g. the dispatcher's timeout) in the middle of a mail
                # transaction: the connection's state is unknown, so do not reuse it.
                smtp.close()
                raise
            finally:
                self._idle.append(smtp)

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        for smtp in self._all:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except (SMTPException, OSError, TimeoutError):
                    smtp.close()
        self._idle.clear()
        self._all.clear()

    async def send(self, message: Message) -> SendResult:
        """Send ``message`` as one email; the provider id is its Message-ID."""
        address = message.address.strip()
        if not address:
            return SendResult.failed("no email address")
        try:
            mime = build_email(message, sender=self.sender)
        except ValueError as exc:
            return SendResult.failed(f"cannot build the email: {exc}")
        message_id = str(mime["Message-ID"])
        async with self._connection() as smtp:
            for attempt in (1, 2):
                fresh = not smtp.is_connected
                if fresh:
                    failure = await self._connect(smtp)
                    if failure is not None:
                        return failure
                try:
                    await smtp.send_message(mime, sender=self._envelope_from, recipients=[address])
                except SMTPServerDisconnected as exc:
                    if fresh or attempt == 2:
                        return SendResult.retry(f"SMTP server disconnected: {exc}")
                    # The server closed an idle pooled connection: reconnect once.
                    log.debug("SMTP connection to %s dropped while idle; reconnecting", self.host)
                    smtp.close()
                    continue
                except (SMTPException, ValueError, OSError, TimeoutError) as exc:
                    return _send_outcome(exc)
                return SendResult.sent(message_id)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connect(self, smtp: SMTP) -> SendResult | None:
        """Connect (and STARTTLS, log in); a result when that failed, else None."""
        try:
            await smtp.connect()
        except (SMTPException, OSError, TimeoutError) as exc:
            if smtp.is_connected:
                smtp.close()
            return SendResult.retry(f"cannot connect to SMTP {self.host}:{self.port}: {exc}")
        return None


def _send_outcome(exc: BaseException) -> SendResult:
    """What an error raised while sending on an open connection means."""
    if isinstance(exc, SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            return SendResult.failed(f"SMTP recipient refused: {text}")
        return SendResult.retry(f"SMTP recipient refused: {text}")
    if isinstance(exc, SMTPResponseException):
        text = f"SMTP {exc.code} {exc.message}"
        return SendResult.failed(text) if 500 <= exc.code < 600 else SendResult.retry(text)
    if isinstance(exc, ValueError | SMTPNotSupported):
        # An address aiosmtplib refuses to put in an envelope (or non-ASCII without SMTPUTF8).
        return SendResult.failed(f"unusable email address: {exc}")
    return SendResult.retry(f"SMTP error: {exc.__class__.__name__}: {exc}")
