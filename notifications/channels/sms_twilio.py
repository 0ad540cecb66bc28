"""Twilio's Messages API with the twilio library's async client: vendor I/O only.

``TWILIO_API_URL`` replaces the API base URL (an SMS gateway speaking Twilio's
API, or the test stand-in); with ``PUBLIC_URL`` set, Twilio reports delivery to
``PUBLIC_URL/twilio/status`` (:mod:`riskprompt.web.twilio`, then
:func:`riskprompt.notifications.receipts.record_receipt`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiohttp
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from riskprompt.config.settings import Settings
from riskprompt.notifications.channels.sms import (
    STATUS_CALLBACK_PATH,
    Sms,
    SmsProvider,
    SmsRejected,
    SmsThrottled,
    SmsUnavailable,
)

#: invalid 'To' number, recipient replied STOP, not a mobile number
PERMANENT_CODES = frozenset({21211, 21610, 21614})
#: bad credentials: the operator fixes them; the message is not at fault
_CREDENTIAL_STATUSES = frozenset({401, 403})
#: Carrier and API errors in a status callback that will not go away by trying again:
#: blocked, unknown or landline destination, filtered as spam, and the codes above.
PERMANENT_RECEIPT_ERRORS = frozenset(
    {"30004", "30005", "30006", "30007", *(str(code) for code in PERMANENT_CODES)}
)
#: Final statuses of a status callback that mean the message did not reach the handset.
FAILED_STATUSES = frozenset({"undelivered", "failed"})


def receipt_is_permanent(status: str, error_code: str | None) -> bool:
    """Whether a Twilio status callback reports a failure that trying again will not mend."""
    return status in FAILED_STATUSES and error_code in PERMANENT_RECEIPT_ERRORS


class TwilioSmsProvider(SmsProvider):
    """SMS through Twilio; the provider id is the message SID (``SM...``).

    Outcomes: codes 21211/21610/21614 and other 4xx → rejected; 429 → throttled;
    5xx, bad credentials (401/403) and connection errors → unavailable.
    """

    name: ClassVar[str] = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_: str,
        api_url: str | None = None,
        status_callback: str | None = None,
        rate_per_sec: float | None = None,
    ) -> None:
        """Configure the provider; the HTTP session is made in :meth:`open`.

        Args:
            account_sid, auth_token: the Twilio account.
            from_: the sending number (E.164) or a messaging service's sender.
            api_url: replaces ``https://api.twilio.com`` when set.
            status_callback: the URL Twilio posts status changes to, or None.
            rate_per_sec: the account's sending rate, for the dispatcher (None: no limit).
        """
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_ = from_
        self.api_url = api_url
        self.status_callback = status_callback
        self.rate_per_sec = rate_per_sec
        self._http: AsyncTwilioHttpClient | None = None
        self._client: Client | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioSmsProvider:
        """The provider configured by ``TWILIO_*``, ``PUBLIC_URL`` and ``RATE_LIMITS``.

        Raises:
            ValueError: the account SID, auth token or sender is not set.
        """
        if not (
            settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN and settings.TWILIO_FROM
        ):
            raise ValueError("RISKPROMPT_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM must be set")
        return cls(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            from_=settings.TWILIO_FROM,
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

    async def send(self, sms: Sms) -> str:
        """Create the message; its SID is the provider id."""
        if self._client is None:
            raise RuntimeError("TwilioSmsProvider.open() was not called")
        callback: Any = self.status_callback or values.unset
        try:
            created = await self._client.messages.create_async(
                to=sms.to, from_=self.from_, body=sms.text, status_callback=callback
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _api_error(exc) from None
        except (aiohttp.ClientError, OSError, TwilioException) as exc:
            raise SmsUnavailable(f"Twilio unreachable: {exc.__class__.__name__}: {exc}") from None
        return str(created.sid)


def _api_error(exc: TwilioRestException | TwilioServiceException) -> Exception:
    """What an error answer of the API means."""
    status = int(exc.status)
    code = exc.code
    text = str(exc.msg) if isinstance(exc, TwilioRestException) else exc.detail or exc.title
    error = f"Twilio {status} (code {code}): {text}"
    if code in PERMANENT_CODES:
        return SmsRejected(error)
    if status == 429:
        return SmsThrottled(error)
    if status >= 500 or status in _CREDENTIAL_STATUSES:
        return SmsUnavailable(error)
    if 400 <= status < 500:
        return SmsRejected(error)
    return SmsUnavailable(error)


__all__ = [
    "FAILED_STATUSES",
    "PERMANENT_CODES",
    "PERMANENT_RECEIPT_ERRORS",
    "TwilioSmsProvider",
    "receipt_is_permanent",
]
