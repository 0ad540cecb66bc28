"""Alibaba Cloud SMS (阿里云短信服务, Dysmsapi 2017-05-25): vendor I/O only.

Calls are RPC-style actions (``SendSms``, ``QuerySendDetails``, ``QuerySmsSign``,
``QuerySmsTemplate``) POSTed to ``ALIYUN_SMS_API_URL`` (default
``https://dysmsapi.aliyuncs.com``, a loopback stand-in in the tests) with their
parameters in a form body, signed with the V3 signature the documentation
recommends over the older HMAC-SHA1 one (``ACS3-HMAC-SHA256``: an HMAC-SHA256,
keyed with the AccessKey secret, of the hash of the canonical request, which
covers the method, path, query, the ``host``, ``content-type`` and ``x-acs-*``
headers, and the SHA-256 of the body).

Domestic SMS sends registered templates only: ``ALIYUN_SMS_TEMPLATES`` gives the
template code of each kind of message and the channel turns the text into the
template's variables (:data:`~riskprompt.notifications.channels.sms.TEMPLATE_VARIABLES`,
35 characters each).  Every answer carries a ``Code``: ``OK`` is sent, the others
are mapped to outcomes in one table (:data:`ERRORS`).  Delivery receipts are
polled with ``QuerySendDetails`` (:meth:`AliyunSmsProvider.receipt`), so that no
inbound route from Alibaba Cloud is needed.  Inbound replies (上行短信) are not
read: a person answers through the link or another channel.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import httpx

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.notifications.channels.sms import (
    Receipt,
    Sms,
    SmsError,
    SmsKind,
    SmsMisconfigured,
    SmsProvider,
    SmsRejected,
    SmsThrottled,
    SmsUnavailable,
)

DEFAULT_API_URL = "https://dysmsapi.aliyuncs.com"
API_VERSION = "2017-05-25"
SIGNATURE_ALGORITHM = "ACS3-HMAC-SHA256"
FORM_TYPE = "application/x-www-form-urlencoded"
#: SendDate of QuerySendDetails is a day in Beijing time.
BEIJING = ZoneInfo("Asia/Shanghai")
#: The documented per-number flow control of notifications: one a minute.
PER_NUMBER_INTERVAL_SECONDS = 60.0

_SETTING = "RISKPROMPT_ALIYUN_SMS_"


# -- the V3 signature -------------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8 ``value``: only ``A-Z a-z 0-9 - _ . ~`` stay as they are."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """``params`` sorted by name, each name and value percent-encoded, joined by ``&``."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def sha256_hex(data: bytes) -> str:
    """The lower-case hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def canonical_request(
    *, method: str, path: str, query: str, headers: Mapping[str, str], body_hash: str
) -> tuple[str, str]:
    """The canonical request of the V3 signature and its signed header names.

    Args:
        method: ``POST``.
        path: the URL path (``/``).
        query: the canonical query string (:func:`canonical_query`), or "".
        headers: the headers to sign; names are lower-cased and sorted.
        body_hash: :func:`sha256_hex` of the body (the ``x-acs-content-sha256`` header).

    Returns:
        (the canonical request, the signed header names joined by ``;``).
    """
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    names = sorted(lowered)
    header_lines = "".join(f"{name}:{lowered[name]}\n" for name in names)
    signed = ";".join(names)
    return "\n".join([method, path, query, header_lines, signed, body_hash]), signed


def signature(secret: str, canonical: str) -> str:
    """The V3 signature: hex HMAC-SHA256 keyed with the secret of the string to sign."""
    string_to_sign = f"{SIGNATURE_ALGORITHM}\n{sha256_hex(canonical.encode('utf-8'))}"
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), "sha256").hexdigest()


def authorization(
    *,
    access_key_id: str,
    secret: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body_hash: str,
) -> str:
    """The ``Authorization`` header of a request with these parts."""
    canonical, signed = canonical_request(
        method=method, path=path, query=query, headers=headers, body_hash=body_hash
    )
    return (
        f"{SIGNATURE_ALGORITHM} Credential={access_key_id},"
        f"SignedHeaders={signed},Signature={signature(secret, canonical)}"
    )


# -- error codes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """What one ``Code`` means: the outcome's exception and, for configuration, the setting."""

    kind: type[SmsError]
    setting: str | None = None


_REJECTED = ErrorRule(SmsRejected)
_UNAVAILABLE = ErrorRule(SmsUnavailable)
_THROTTLED = ErrorRule(SmsThrottled)


def _config(setting: str | None = None) -> ErrorRule:
    return ErrorRule(SmsMisconfigured, f"{_SETTING}{setting}" if setting else None)


#: Every documented ``Code`` we act on (the API error codes page of Dysmsapi and the
#: gateway's common codes); one table, read by :func:`error_for`.
ERRORS: dict[str, ErrorRule] = {
    # the number or this message will never go: failed, fall back to the next channel
    "isv.MOBILE_NUMBER_ILLEGAL": _REJECTED,
    "isv.MOBILE_COUNT_OVER_LIMIT": _REJECTED,
    "isv.BLACK_KEY_CONTROL_LIMIT": _REJECTED,  # a blocked keyword in a variable
    "isv.PARAM_LENGTH_LIMIT": _REJECTED,
    "isv.TEMPLATE_PARAMS_ILLEGAL": _REJECTED,
    "isv.PARAM_NOT_SUPPORT_URL": _REJECTED,
    "isv.INVALID_JSON_PARAM": _REJECTED,
    "isv.INVALID_PARAMETERS": _REJECTED,
    "isv.SMS_CONTENT_ILLEGAL": _REJECTED,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": _REJECTED,
    # the operator must change something: failed with fallback, and logged
    "isv.SMS_TEMPLATE_ILLEGAL": _config("TEMPLATES"),
    "isv.TEMPLATE_MISSING_PARAMETERS": _config("TEMPLATES"),
    "isv.SMS_SIGNATURE_ILLEGAL": _config("SIGN_NAME"),
    "isv.SMS_SIGN_ILLEGAL": _config("SIGN_NAME"),
    "isv.SIGN_STATE_ILLEGAL": _config("SIGN_NAME"),
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": _config("SIGN_NAME"),
    "isv.EXTEND_CODE_ERROR": _config("SIGN_NAME"),
    "isv.AMOUNT_NOT_ENOUGH": _config(),
    "isv.OUT_OF_SERVICE": _config(),
    "isv.PRODUCT_UN_SUBSCRIPT": _config(),
    "isv.PRODUCT_UNSUBSCRIBE": _config(),
    "isv.ACCOUNT_NOT_EXISTS": _config("ACCESS_KEY_ID"),
    "isv.ACCOUNT_ABNORMAL": _config(),
    "isp.RAM_PERMISSION_DENY": _config("ACCESS_KEY_ID"),
    "isv.DAY_LIMIT_CONTROL": _config(),
    "isv.MONTH_LIMIT_CONTROL": _config(),
    "isv.DENY_IP_RANGE": _config(),
    # limits: retry after the wait (isv.BUSINESS_LIMIT_CONTROL reads its message)
    "isv.BUSINESS_LIMIT_CONTROL": _THROTTLED,
    "Throttling": _THROTTLED,
    "Throttling.User": _THROTTLED,
    "Throttling.Api": _THROTTLED,
    # transient, and refused credentials (like Twilio's 401): retry, doctor reports them
    "isp.SYSTEM_ERROR": _UNAVAILABLE,
    "isp.GATEWAY_ERROR": _UNAVAILABLE,
    "isp.UNKNOWN": _UNAVAILABLE,
    "InternalError": _UNAVAILABLE,
    "ServiceUnavailable": _UNAVAILABLE,
    "InvalidAccessKeyId.NotFound": _UNAVAILABLE,
    "InvalidAccessKeyId.Inactive": _UNAVAILABLE,
    "SignatureDoesNotMatch": _UNAVAILABLE,
    "IncompleteSignature": _UNAVAILABLE,
    "InvalidTimeStamp.Expired": _UNAVAILABLE,
    "SignatureNonceUsed": _UNAVAILABLE,
}

#: Receipt codes (QuerySendDetails ``ErrCode``) that trying again will not mend: out of
#: service or unknown number, account abnormal, blacklisted or refused, content blocked.
PERMANENT_RECEIPT_CODES = frozenset(
    {
        "MOBILE_NOT_ON_SERVICE",
        "MOBILE_ACCOUNT_ABNORMAL",
        "MOBILE_IN_BLACK",
        "INVALID_NUMBER",
        "USER_REJECT",
        "CONTENT_KEYWORD",
        "PARAMS_ILLEGAL",
    }
)


def error_for(code: str, message: str, http_status: int = 200) -> SmsError:
    """The outcome of an answer whose ``Code`` is not ``OK``.

    A code outside :data:`ERRORS` goes by its family: ``isv.`` (ours to fix) is
    rejected, ``isp.`` (the platform's) and HTTP 5xx are transient, another 4xx
    is rejected.  ``isv.BUSINESS_LIMIT_CONTROL`` (the per-number flow control)
    waits a minute or an hour as its message says; at the day's limit the number
    takes no more SMS today, so the message is rejected and falls back at once.
    """
    text = f"Aliyun {code}: {message}" if message else f"Aliyun {code}"
    rule = ERRORS.get(code)
    if rule is None:
        if code.startswith("isp.") or http_status >= 500:
            rule = _UNAVAILABLE
        elif code.startswith("isv.") or 400 <= http_status < 500:
            rule = _REJECTED
        else:
            rule = _UNAVAILABLE
    if code == "isv.BUSINESS_LIMIT_CONTROL":
        if "天" in message or "day" in message.lower():
            return SmsRejected(f"{text} (the number's daily limit)")
        hour = "小时" in message or "hour" in message.lower()
        return SmsThrottled(text, retry_after=3600.0 if hour else PER_NUMBER_INTERVAL_SECONDS)
    if rule.kind is SmsMisconfigured:
        hint = f"; check {rule.setting}" if rule.setting else ""
        return SmsMisconfigured(text + hint, setting=rule.setting)
    return rule.kind(text)


def national_number(to: str) -> str:
    """A mainland China mobile number as Alibaba Cloud's domestic SMS takes it (11 digits).

    Raises:
        SmsRejected: not a mainland mobile number (+86 1xxxxxxxxxx).
    """
    digits = "".join(ch for ch in to if ch.isdigit())
    if to.strip().startswith("+"):
        digits = digits.removeprefix("86") if digits.startswith("86") else ""
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) != 11 or not digits.startswith("1"):
        raise SmsRejected(
            "Alibaba Cloud's domestic SMS reaches mainland China mobile numbers (+86) only"
        )
    return digits


@dataclass(frozen=True, slots=True)
class Approval:
    """A sign name's or template's review state at Alibaba Cloud (``doctor`` shows it)."""

    approved: bool
    status: str
    reason: str = ""
    content: str = ""


#: Review states of sign names and templates (msgids: ``doctor`` shows them translated).
_STATES = {0: N_("in review"), 1: N_("approved"), 2: N_("not approved")}


class AliyunSmsProvider(SmsProvider):
    """Alibaba Cloud SMS; the provider id is the ``BizId`` of ``SendSms``."""

    name: ClassVar[str] = "aliyun"
    templated: ClassVar[bool] = True
    param_maxlen: ClassVar[int] = 35
    polls_receipts: ClassVar[bool] = True

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        templates: Mapping[str, str],
        api_url: str = DEFAULT_API_URL,
        per_address_interval: float | None = None,
        timeout: float = 30.0,
        now: Callable[[], datetime] | None = None,
        nonce: Callable[[], str] | None = None,
    ) -> None:
        """Configure the provider; the HTTP client is made in :meth:`open`.

        Args:
            access_key_id, access_key_secret: the RAM user's AccessKey.
            sign_name: the registered sign name (签名), shown as 【…】 before the text.
            templates: the template code of each kind (``prompt``, ``warning``...).
            api_url: the endpoint (a stand-in in tests).
            per_address_interval: seconds between two messages to one number (None: none).
            timeout: seconds one call may take.
            now, nonce: the signature's time stamp and nonce (tests fix them).
        """
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_name = sign_name
        self.templates = dict(templates)
        self.api_url = api_url.rstrip("/") + "/"
        self.per_address_interval = per_address_interval
        self.timeout = timeout
        self._now = now or (lambda: datetime.now(UTC))
        self._nonce = nonce or (lambda: uuid.uuid4().hex)
        self._http: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AliyunSmsProvider:
        """The provider configured by ``ALIYUN_SMS_*`` and ``RATE_LIMITS``.

        Raises:
            ValueError: the AccessKey or the sign name is not set.
        """
        key_id = settings.ALIYUN_SMS_ACCESS_KEY_ID
        secret = settings.ALIYUN_SMS_ACCESS_KEY_SECRET
        sign_name = settings.ALIYUN_SMS_SIGN_NAME
        if not (key_id and secret and sign_name):
            raise ValueError(
                f"{_SETTING}ACCESS_KEY_ID, _ACCESS_KEY_SECRET and _SIGN_NAME must be set"
            )
        return cls(
            access_key_id=key_id,
            access_key_secret=secret,
            sign_name=sign_name,
            templates=settings.ALIYUN_SMS_TEMPLATES,
            api_url=settings.ALIYUN_SMS_API_URL or DEFAULT_API_URL,
            per_address_interval=PER_NUMBER_INTERVAL_SECONDS if settings.RATE_LIMITS else None,
        )

    async def open(self) -> None:
        """Make the HTTP client inside the running loop."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.timeout,
                limits=httpx.Limits(max_connections=self.max_concurrency),
                trust_env=False,
            )

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
        self._http = None

    # -- calls ---------------------------------------------------------------------------------

    def signed(self, action: str, params: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
        """The headers (with ``Authorization``) and form body of one call of ``action``."""
        body = canonical_query(params).encode("ascii")
        body_hash = sha256_hex(body)
        url = urlsplit(self.api_url)
        headers = {
            "host": url.netloc,
            "content-type": FORM_TYPE,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": self._now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "x-acs-signature-nonce": self._nonce(),
            "x-acs-content-sha256": body_hash,
        }
        headers["authorization"] = authorization(
            access_key_id=self.access_key_id,
            secret=self.access_key_secret,
            method="POST",
            path=url.path or "/",
            query="",
            headers=headers,
            body_hash=body_hash,
        )
        return headers, body

    async def call(self, action: str, params: Mapping[str, str]) -> dict[str, Any]:
        """Call ``action`` and return its answer when its ``Code`` is ``OK``.

        Raises:
            SmsError: the outcome of any other answer, or of no answer.
        """
        if self._http is None:
            raise RuntimeError("AliyunSmsProvider.open() was not called")
        headers, body = self.signed(action, params)
        try:
            response = await self._http.post(self.api_url, headers=headers, content=body)
        except httpx.TimeoutException:
            raise SmsUnavailable(f"Aliyun did not answer {action} in time") from None
        except httpx.HTTPError as exc:
            raise SmsUnavailable(f"Aliyun unreachable: {exc.__class__.__name__}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.status_code >= 500 or response.status_code == 429:
                raise SmsUnavailable(f"Aliyun HTTP {response.status_code}")
            raise SmsUnavailable(f"Aliyun HTTP {response.status_code}: not a JSON answer")
        code = str(answer.get("Code") or "")
        if code == "OK":
            return answer
        raise error_for(
            code or f"HTTP{response.status_code}",
            str(answer.get("Message") or ""),
            response.status_code,
        )

    async def send(self, sms: Sms) -> str:
        """``SendSms`` with the template of the message's kind; returns the ``BizId``."""
        code = self.templates.get(sms.template.kind.value)
        if not code:
            raise SmsMisconfigured(
                f"no template code for {sms.template.kind.value} messages; "
                f"add it to {_SETTING}TEMPLATES",
                setting=f"{_SETTING}TEMPLATES",
            )
        answer = await self.call(
            "SendSms",
            {
                "PhoneNumbers": national_number(sms.to),
                "SignName": self.sign_name,
                "TemplateCode": code,
                "TemplateParam": json.dumps(
                    sms.template.params, ensure_ascii=False, separators=(",", ":")
                ),
                "OutId": sms.reference,
            },
        )
        biz_id = str(answer.get("BizId") or "")
        if not biz_id:
            raise SmsUnavailable("Aliyun answered OK without a BizId")
        return biz_id

    async def receipt(self, *, to: str, provider_id: str, sent_at: datetime) -> Receipt | None:
        """``QuerySendDetails`` of the message: delivered, undelivered (and why) or waiting."""
        answer = await self.call(
            "QuerySendDetails",
            {
                "PhoneNumber": national_number(to),
                "BizId": provider_id,
                "SendDate": sent_at.astimezone(BEIJING).strftime("%Y%m%d"),
                "PageSize": "10",
                "CurrentPage": "1",
            },
        )
        found = (answer.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        if not found:
            return None
        detail = found[0]
        status = int(detail.get("SendStatus") or 1)
        error = str(detail.get("ErrCode") or "") or None
        if status == 3:
            return Receipt("delivered")
        if status == 2:
            return Receipt("undelivered", error, permanent=error in PERMANENT_RECEIPT_CODES)
        return Receipt("sent")

    async def sign_approval(self) -> Approval:
        """``QuerySmsSign``: whether the sign name is approved."""
        answer = await self.call("QuerySmsSign", {"SignName": self.sign_name})
        status = int(answer.get("SignStatus", -1))
        return Approval(
            status == 1, _STATES.get(status, str(status)), str(answer.get("Reason") or "")
        )

    async def template_approval(self, kind: SmsKind) -> Approval:
        """``QuerySmsTemplate`` of the kind's template: approved, and its text."""
        code = self.templates.get(kind.value, "")
        answer = await self.call("QuerySmsTemplate", {"TemplateCode": code})
        status = int(answer.get("TemplateStatus", -1))
        return Approval(
            status == 1,
            _STATES.get(status, str(status)),
            str(answer.get("Reason") or ""),
            str(answer.get("TemplateContent") or ""),
        )


__all__ = [
    "API_VERSION",
    "DEFAULT_API_URL",
    "ERRORS",
    "PERMANENT_RECEIPT_CODES",
    "AliyunSmsProvider",
    "Approval",
    "authorization",
    "canonical_query",
    "canonical_request",
    "error_for",
    "national_number",
    "percent_encode",
    "signature",
]
