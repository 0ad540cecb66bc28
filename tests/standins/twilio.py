"""A Twilio Messages API stand-in over HTTP on 127.0.0.1.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form-encoded, Basic auth with
the account SID and auth token) answers 201 with Twilio's message resource; the
twilio library reaches it with ``client.api.base_url = api.url``
(``RISKPROMPT_TWILIO_API_URL=api.url``).

    async with TwilioStandin() as api:
        api.fail_number("+8613800000000", TwilioFault.invalid_number())
        api.fail_next(TwilioFault.server_error(), count=2)
        api.fail_all(TwilioFault.server_error())   # until api.clear_faults()
        [sms] = await api.wait_for_messages(1)
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from tests.standins.http import HttpStandin

DEFAULT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_TOKEN = "standin-auth-token"
API_VERSION = "2010-04-01"
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def segments(body: str) -> int:
    """How many SMS segments ``body`` takes (GSM-7: 160/153; UCS-2, e.g. Chinese: 70/67)."""
    gsm = all(ch in _GSM_BASIC for ch in body)
    single, multi = (160, 153) if gsm else (70, 67)
    length = len(body) if gsm else len(body.encode("utf-16-le")) // 2
    if length <= single:
        return 1
    return -(-length // multi)


@dataclass(frozen=True, slots=True)
class TwilioFault:
    """A Twilio API error answer: HTTP status, Twilio error code and message."""

    status: int
    code: int
    message: str

    @classmethod
    def invalid_number(cls) -> TwilioFault:
        """21211: the 'To' number is not a valid phone number."""
        return cls(400, 21211, "The 'To' number is not a valid phone number.")

    @classmethod
    def unsubscribed(cls) -> TwilioFault:
        """21610: the recipient replied STOP."""
        return cls(400, 21610, "Attempt to send to unsubscribed recipient")

    @classmethod
    def not_mobile(cls) -> TwilioFault:
        """21614: the 'To' number is not a mobile number."""
        return cls(400, 21614, "'To' number is not a valid mobile number")

    @classmethod
    def too_many_requests(cls) -> TwilioFault:
        """429: the account's concurrency or rate limit."""
        return cls(429, 20429, "Too Many Requests")

    @classmethod
    def server_error(cls) -> TwilioFault:
        """500 from Twilio."""
        return cls(500, 20500, "Internal Server Error")

    def body(self) -> dict[str, Any]:
        """The JSON Twilio answers with."""
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class TwilioRequest:
    """One request to the Messages API, accepted or not."""

    path: str
    params: dict[str, str]
    status: int
    response: dict[str, Any]
    monotonic: float
    wall: datetime


@dataclass(frozen=True, slots=True)
class TwilioMessage:
    """One message the stand-in accepted (status ``queued``)."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    params: dict[str, str]
    monotonic: float
    wall: datetime


class TwilioStandin(HttpStandin):
    """Twilio's Messages API; records every request and fails on demand.

    Args:
        account_sid, auth_token: the credentials it accepts (others get 401).
        record: keep every request (False: only count them, for benchmarks).
    """

    def __init__(
        self,
        account_sid: str = DEFAULT_SID,
        auth_token: str = DEFAULT_TOKEN,
        *,
        record: bool = True,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.record = record
        #: every request to the API, in order (when recording)
        self.requests: list[TwilioRequest] = []
        #: accepted messages, in order (when recording)
        self.messages: list[TwilioMessage] = []
        #: how many messages were accepted (always)
        self.count = 0
        self._resources: dict[str, dict[str, Any]] = {}
        self._next_faults: list[TwilioFault] = []
        self._number_faults: dict[str, TwilioFault] = {}
        self._every: TwilioFault | None = None

    # -- error injection -------------------------------------------------

    def fail_next(self, fault: TwilioFault, count: int = 1) -> None:
        """Answer the next ``count`` message requests with ``fault``."""
        self._next_faults.extend([fault] * count)

    def fail_number(self, to: str, fault: TwilioFault) -> None:
        """Answer every message to ``to`` with ``fault`` until :meth:`clear_faults`."""
        self._number_faults[to] = fault

    def fail_all(self, fault: TwilioFault) -> None:
        """Answer every message request with ``fault`` until :meth:`clear_faults` (an outage)."""
        self._every = fault

    def clear_faults(self) -> None:
        """Accept everything again."""
        self._next_faults.clear()
        self._number_faults.clear()
        self._every = None

    def reset(self) -> None:
        """Forget recorded requests, messages, counts and faults."""
        self.requests.clear()
        self.messages.clear()
        self.count = 0
        self.clear_faults()

    # -- what was sent ---------------------------------------------------

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[TwilioMessage]:
        """Wait until ``count`` messages were accepted; returns the recorded ones.

        Raises:
            TimeoutError: fewer came within ``timeout`` seconds.
        """
        await self.wait_until(lambda: self.count >= count, timeout)
        return list(self.messages)

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[TwilioRequest]:
        """Wait until ``count`` requests (accepted or refused) came."""
        await self.wait_until(lambda: len(self.requests) >= count, timeout)
        return list(self.requests)

    def status_callback(
        self, sid: str, status: str = "delivered", error_code: int | None = None
    ) -> tuple[str, dict[str, str]]:
        """The URL and form Twilio would post when message ``sid`` reaches ``status``.

        Sign it with ``RequestValidator(token).compute_signature(url, form)`` and
        post it to the app under test.
        """
        resource = self._resources[sid]
        url = resource.get("_status_callback") or ""
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": resource["from"],
            "To": resource["to"],
            "MessageStatus": status,
            "SmsStatus": status,
            "ApiVersion": API_VERSION,
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return url, form

    # -- HTTP ------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """Create and fetch messages; fetch the account (``riskprompt doctor``)."""
        base = f"/{API_VERSION}/Accounts/{{sid}}/Messages"
        app.router.add_post(base + ".json", self._create)
        app.router.add_get(base + "/{message_sid}.json", self._fetch)
        app.router.add_get(f"/{API_VERSION}/Accounts/{{sid}}.json", self._account)

    def _authorised(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization", "") == f"Basic {expected}"

    def _answer(
        self, request: web.Request, params: dict[str, str], status: int, body: dict[str, Any]
    ) -> web.Response:
        if self.record:
            self.requests.append(
                TwilioRequest(
                    path=request.path,
                    params=params,
                    status=status,
                    response=body,
                    monotonic=time.monotonic(),
                    wall=datetime.now(UTC),
                )
            )
        return web.json_response(body, status=status)

    def _check(self, request: web.Request) -> TwilioFault | None:
        if not self._authorised(request):
            return TwilioFault(401, 20003, "Authenticate")
        if request.match_info["sid"] != self.account_sid:
            return TwilioFault(404, 20404, "The requested resource was not found")
        return None

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        fault = self._check(request) or self._fault_for(params)
        if fault is not None:
            response = self._answer(request, params, fault.status, fault.body())
            await self._notify()
            return response
        resource = self._resource(params)
        self.count += 1
        if self.record:
            self._resources[resource["sid"]] = resource
            self.messages.append(
                TwilioMessage(
                    sid=resource["sid"],
                    to=params["To"],
                    from_=params.get("From", ""),
                    body=params["Body"],
                    status_callback=params.get("StatusCallback"),
                    params=params,
                    monotonic=time.monotonic(),
                    wall=datetime.now(UTC),
                )
            )
        public = {k: v for k, v in resource.items() if not k.startswith("_")}
        response = self._answer(request, params, 201, public)
        await self._notify()
        return response

    async def _fetch(self, request: web.Request) -> web.Response:
        fault = self._check(request)
        if fault is not None:
            return web.json_response(fault.body(), status=fault.status)
        resource = self._resources.get(request.match_info["message_sid"])
        if resource is None:
            fault = TwilioFault(404, 20404, "The requested resource was not found")
            return web.json_response(fault.body(), status=404)
        return web.json_response({k: v for k, v in resource.items() if not k.startswith("_")})

    async def _account(self, request: web.Request) -> web.Response:
        fault = self._check(request)
        if fault is not None:
            return web.json_response(fault.body(), status=fault.status)
        sid = self.account_sid
        return web.json_response(
            {
                "sid": sid,
                "friendly_name": "Stand-in account",
                "status": "active",
                "type": "Full",
                "uri": f"/{API_VERSION}/Accounts/{sid}.json",
            }
        )

    def _fault_for(self, params: dict[str, str]) -> TwilioFault | None:
        to = params.get("To", "")
        if not to:
            return TwilioFault(400, 21604, "A 'To' phone number is required.")
        if not params.get("From") and not params.get("MessagingServiceSid"):
            return TwilioFault(400, 21603, "A 'From' phone number is required.")
        if not params.get("Body") and not params.get("MediaUrl"):
            return TwilioFault(400, 21602, "Message body is required.")
        if to in self._number_faults:
            return self._number_faults[to]
        if self._every is not None:
            return self._every
        if self._next_faults:
            return self._next_faults.pop(0)
        return None

    def _resource(self, params: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": params.get("Body", ""),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": params.get("From"),
            "messaging_service_sid": params.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(segments(params.get("Body", ""))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": params.get("To"),
            "uri": f"{uri}.json",
            "_status_callback": params.get("StatusCallback"),
        }
