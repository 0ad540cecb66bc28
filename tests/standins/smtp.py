"""An SMTP stand-in: aiosmtpd on 127.0.0.1, recording every message, failing on demand.

Started with ``loop.create_server`` in the running loop (aiosmtpd's
``Controller(port=0)`` does not work, aiosmtpd #388).  Optional STARTTLS,
implicit TLS and AUTH (PLAIN/LOGIN) for the channel's TLS tests.

    async with SmtpStandin() as server:
        server.fail_next(451)              # the next DATA is answered 451
        server.fail_address("x@a.cn", 550) # RCPT TO:<x@a.cn> is answered 550
        ...
        [mail] = await server.wait_for_messages(1)
        mail.message["Subject"]
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import time
import warnings
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

DEFAULT_REPLIES = {
    421: "421 4.3.2 Service not available, closing transmission channel",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Requested action aborted: local error in processing",
    452: "452 4.3.1 Insufficient system storage",
    550: "550 5.1.1 Mailbox unavailable",
    552: "552 5.3.4 Message too big for system",
    554: "554 5.7.1 Transaction failed",
}


def reply_for(code: int, text: str | None = None) -> str:
    """An SMTP reply line for ``code`` (a realistic default text unless ``text`` is given)."""
    if text is not None:
        return f"{code} {text}"
    return DEFAULT_REPLIES.get(code, f"{code} Error")


@dataclass(frozen=True, slots=True)
class ReceivedMail:
    """One message the stand-in accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    connection: int  # which connection (1, 2, ...) carried it
    tls: bool
    login: str | None
    monotonic: float
    wall: datetime


@dataclass(slots=True)
class _Faults:
    next_data: deque[str] = field(default_factory=deque)
    by_address: dict[str, str] = field(default_factory=dict)


def _is_tls(server: SMTP, session: Session) -> bool:
    transport = server.transport
    implicit = transport is not None and transport.get_extra_info("sslcontext") is not None
    return session.ssl is not None or implicit


class _Handler:
    """The aiosmtpd handler: answers RCPT and DATA, records accepted messages."""

    def __init__(self, standin: SmtpStandin) -> None:
        self.standin = standin

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self.standin._faults.by_address.get(address.lower())
        if reply is not None:
            self.standin.refused.append((address, reply))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        standin = self.standin
        faults = standin._faults
        if faults.next_data:
            reply = faults.next_data.popleft()
            standin.refused.append((",".join(envelope.rcpt_tos), reply))
            if reply.startswith("421"):
                # 421 means the server closes the channel; do it after the reply is written.
                transport = server.transport
                if transport is not None:
                    asyncio.get_running_loop().call_soon(transport.close)
            return reply
        standin.count += 1
        if standin.record:
            raw = envelope.original_content or b""
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
            login = session.auth_data.login.decode() if session.auth_data else None
            standin.messages.append(
                ReceivedMail(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    raw=raw,
                    message=parsed,  # type: ignore[arg-type]
                    connection=getattr(server, "standin_connection", 0),
                    tls=_is_tls(server, session),
                    login=login,
                    monotonic=time.monotonic(),
                    wall=datetime.now(UTC),
                )
            )
        await standin._notify()
        return "250 OK: queued"


class SmtpStandin:
    """An aiosmtpd SMTP server on 127.0.0.1 and a free port.

    Args:
        tls_context: a server TLS context; with it the server offers STARTTLS
            (or, with ``implicit_tls``, speaks TLS from the first byte).
        implicit_tls: TLS on connect (port 465 style) instead of STARTTLS.
        require_starttls: refuse mail before STARTTLS.
        credentials: (username, password): AUTH is required and checked.
        record: keep every message (False: only count them, for benchmarks).
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        require_starttls: bool = False,
        credentials: tuple[str, str] | None = None,
        record: bool = True,
        hostname: str = "smtp.standin.test",
    ) -> None:
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        self.require_starttls = require_starttls
        self.credentials = credentials
        self.record = record
        self.hostname = hostname
        self.host = "127.0.0.1"
        self.port = 0
        #: accepted messages, in order
        self.messages: list[ReceivedMail] = []
        #: how many messages were accepted (also when not recording)
        self.count = 0
        #: how many connections clients opened
        self.connections = 0
        #: (recipients or address, reply) for every refusal the stand-in made
        self.refused: list[tuple[str, str]] = []
        #: failed AUTH attempts (login names)
        self.failed_logins: list[str] = []
        self._faults = _Faults()
        self._server: asyncio.Server | None = None
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._changed: asyncio.Condition | None = None

    # -- error injection -------------------------------------------------

    def fail_next(self, code: int, count: int = 1, text: str | None = None) -> None:
        """Answer the next ``count`` messages' DATA with ``code`` (421 also closes)."""
        for _ in range(count):
            self._faults.next_data.append(reply_for(code, text))

    def fail_address(self, address: str, code: int, text: str | None = None) -> None:
        """Answer ``RCPT TO:<address>`` with ``code`` until :meth:`clear_faults`."""
        self._faults.by_address[address.lower()] = reply_for(code, text)

    def clear_faults(self) -> None:
        """Accept everything again."""
        self._faults = _Faults()

    def reset(self) -> None:
        """Forget recorded messages, counts and faults."""
        self.messages.clear()
        self.refused.clear()
        self.failed_logins.clear()
        self.count = 0
        self.connections = 0
        self.clear_faults()

    # -- life cycle ------------------------------------------------------

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        assert self.credentials is not None
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if (login, password) == self.credentials:
                return AuthResult(success=True, auth_data=auth_data)
            self.failed_logins.append(login)
        return AuthResult(success=False, handled=False)

    def _protocol(self) -> SMTP:
        self.connections += 1
        options: dict[str, Any] = {
            "hostname": self.hostname,
            "ident": "riskprompt SMTP stand-in",
        }
        if self.tls_context is not None and not self.implicit_tls:
            options["tls_context"] = self.tls_context
            options["require_starttls"] = self.require_starttls
        if self.credentials is not None:
            options["authenticator"] = self._authenticate
            options["auth_required"] = True
            options["auth_require_tls"] = self.tls_context is not None and not self.implicit_tls
        with warnings.catch_warnings():
            # AUTH without TLS is what the plain-auth tests want; aiosmtpd warns about it.
            warnings.simplefilter("ignore", UserWarning)
            protocol = SMTP(_Handler(self), **options)
        protocol.standin_connection = self.connections  # type: ignore[attr-defined]
        self._protocols.add(protocol)
        return protocol

    async def start(self) -> Self:
        """Listen on 127.0.0.1 and a free port (the same port again after :meth:`down`)."""
        loop = asyncio.get_running_loop()
        if self._changed is None:
            self._changed = asyncio.Condition()
        ssl_context = self.tls_context if self.implicit_tls else None
        self._server = await loop.create_server(
            self._protocol, self.host, self.port, ssl=ssl_context, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def drop_connections(self) -> int:
        """Close every open client connection (as a server does with idle ones); how many."""
        dropped = 0
        for protocol in list(self._protocols):
            transport = protocol.transport
            if transport is not None and not transport.is_closing():
                transport.close()
                dropped += 1
        return dropped

    async def stop(self) -> None:
        """Stop listening and drop open connections."""
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()
            self._server = None

    async def down(self) -> None:
        """An outage: close every connection and refuse new ones until :meth:`up`."""
        await self.stop()

    async def up(self) -> None:
        """End an outage: listen again on the same port."""
        if self._server is None:
            await self.start()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- waiting ---------------------------------------------------------

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Wait until ``count`` messages were accepted; returns all recorded messages.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """
        if self._changed is None:
            raise RuntimeError("the stand-in is not started")
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: self.count >= count)
        return list(self.messages)

    def to(self, address: str) -> list[ReceivedMail]:
        """The recorded messages for ``address``."""
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.rcpt_tos)]
