"""SMS through Twilio's Messages API with the twilio library's async client.

``TWILIO_API_URL`` replaces the API base URL (an SMS gateway speaking Twilio's
API, or the test stand-in); with ``PUBLIC_URL`` set, Twilio reports delivery to
``PUBLIC_URL/twilio/status``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from riskprompt.config.settings import Settings
from riskprompt.notifications.channels.base import ChannelAdapter, Message, SendResult

log = logging.getLogger(__name__)

#: invalid 'To' number, recipient replied STOP, not a mobile number
PERMANENT_CODES = frozenset({21211, 21610, 21614})
#: bad credentials: the operator fixes them; the message is not at fault
_CREDENTIAL_STATUSES = frozenset({401, 403})
STATUS_CALLBACK_PATH = "/twilio/status"


class TwilioSmsChannel(ChannelAdapter):
    """SMS through Twilio; the provider id is the message SID (``SM...``).

    Outcomes: codes 21211/21610/21614 and other 4xx → failed; 429, 5xx, bad
    credentials (401/403), timeouts and connection errors → retry.
    """

    name: ClassVar[str] = "sms"
    max_concurrency: ClassVar[int] = 8
    body_maxlen: ClassVar[int | None] = 1600  # Twilio's limit for one message body

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_: str,
        api_url: str | None = None,
        status_callback: str | None = None,
        rate_per_sec: float | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Configure the channel; the HTTP session is made in :meth:`open`.

        Args:
            account_sid, auth_token: the Twilio account.
            from_: the sending number (E.164) or a messaging service's sender.
            api_url: replaces ``https://api.twilio.com`` when set.
            status_callback: the URL Twilio posts status changes to, or None.
            rate_per_sec: the account's sending rate, for the dispatcher (None: no limit).
            timeout: seconds one API call may take.
        """
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_ = from_
        self.api_url = api_url
        self.status_callback = status_callback
        self.rate_per_sec = rate_per_sec
        self.per_address_interval = None
        self.timeout = timeout
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSmsChannel:
        """The channel configured by ``TWILIO_*``, ``PUBLIC_URL`` and ``RATE_LIMITS``."""
        if not settings.twilio_enabled:
            raise ValueError("RISKPROMPT_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM must be set")
        return cls(
            account_sid=settings.TWILIO_ACCOUNT_SID or "",
            auth_token=settings.TWILIO_AUTH_TOKEN or "",
            from_=settings.TWILIO_FROM or "",
            api_url=settings.TWILIO_API_URL,
            status_callback=(
                settings.PUBLIC_URL + STATUS_CALLBACK_PATH if settings.PUBLIC_URL else None
            ),
            rate_per_sec=settings.TWILIO_RATE_PER_SEC if settings.RATE_LIMITS else None,
        )

    async def open(self) -> None:
        """Make the aiohttp-based Twilio client inside the running loop."""
        if self._client is not None:
            return
        self._http = AsyncTwilioHttpClient()
        client = Client(self.account_sid, self.auth_token, http_client=self._http)
        if self.api_url:
            client.api.base_url = self.api_url
            # An edge or region from the environment would rewrite the host.
            client.edge = None
            client.region = None
        self._client = client

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
        self._http = None
        self._client = None

    async def send(self, message: Message) -> SendResult:
        """Send ``message.text`` to ``message.address``."""
        if self._client is None:
            raise RuntimeError("TwilioSmsChannel.open() was not called")
        to = message.address.strip()
        if not to:
            return SendResult.failed("no mobile number")
        callback: Any = self.status_callback or values.unset
        try:
            async with asyncio.timeout(self.timeout):
                created = await self._client.messages.create_async(
                    to=to, from_=self.from_, body=message.text, status_callback=callback
                )
        except (TwilioRestException, TwilioServiceException) as exc:
            return _api_outcome(exc)
        except TimeoutError:
            return SendResult.retry(f"Twilio did not answer within {self.timeout:g} s")
        except (aiohttp.ClientError, OSError, TwilioException) as exc:
            return SendResult.retry(f"Twilio unreachable: {exc.__class__.__name__}: {exc}")
        return SendResult.sent(created.sid)


def _api_outcome(exc: TwilioRestException | TwilioServiceException) -> SendResult:
    """What an error answer of the API means."""
    status = int(exc.status)
    code = exc.code
    if isinstance(exc, TwilioRestException):
        text = str(exc.msg)
    else:
        text = exc.detail or exc.title
    error = f"Twilio {status} (code {code}): {text}"
    if code in PERMANENT_CODES:
        return SendResult.failed(error)
    if status == 429 or status >= 500 or status in _CREDENTIAL_STATUSES:
        return SendResult.retry(error)
    if 400 <= status < 500:
        return SendResult.failed(error)
    return SendResult.retry(error)
