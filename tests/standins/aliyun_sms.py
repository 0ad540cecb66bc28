"""An Alibaba Cloud SMS (Dysmsapi 2017-05-25) stand-in over HTTP on 127.0.0.1.

RPC actions posted to ``/`` with the V3 signature (``ACS3-HMAC-SHA256``): the
stand-in rebuilds the canonical request from what it received, by its own code
(not the production signer's), and refuses a wrong signature, an unknown
AccessKey, a body whose hash is not the signed one, a replayed nonce or a stale
time stamp as Alibaba Cloud does.  ``SendSms`` checks the sign name, the template
code and that the template's variables are all given (at most 35 characters),
then answers a ``BizId``; ``QuerySendDetails`` reports each message (delivered
unless scripted otherwise); ``QuerySmsSign`` and ``QuerySmsTemplate`` answer the
review state.  The provider reaches it with ``RISKPROMPT_ALIYUN_SMS_API_URL=api.url``.

    async with AliyunSmsStandin() as api:
        api.fail_next(AliyunFault.business("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"))
        api.fail_number("13800138000", AliyunFault.business("isv.MOBILE_NUMBER_ILLEGAL"))
        api.report("13800138000", send_status=2, err_code="MOBILE_NOT_ON_SERVICE")
        [sms] = await api.wait_for_messages(1)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import web

from tests.standins.http import HttpStandin

DEFAULT_KEY_ID = "LTAI5tStandinKeyId0001"
DEFAULT_SECRET = "standin-access-key-secret"
DEFAULT_SIGN_NAME = "风险防控"
#: The templates the stand-in has approved, one per kind, with our variables.
DEFAULT_TEMPLATES = {
    "SMS_900001": "${title}：${detail}。查看全文 https://rp.example.gov.cn/a/${link} ，"
    "回复1确认已阅。",
    "SMS_900002": "您收到${title}：${detail}，编号${code}，"
    "详见 https://rp.example.gov.cn/a/${link} 。",
    "SMS_900003": "${title}，请回复1或编号${code}确认已阅。",
    "SMS_900004": "风险防控通知：${title}，${detail}。",
}
#: What RISKPROMPT_ALIYUN_SMS_TEMPLATES says for the default templates.
KIND_TEMPLATES = {
    "prompt": "SMS_900001",
    "warning": "SMS_900002",
    "reminder": "SMS_900003",
    "notice": "SMS_900004",
}
REQUIRED_SIGNED = {
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
}
VARIABLE_MAX = 35
_VARIABLE = re.compile(r"\$\{(\w+)\}")


def _encode(value: str) -> str:
    """RFC 3986, as the signature documentation spells it (written apart from ours)."""
    return quote(value.encode("utf-8"), safe="").replace("%7E", "~")


@dataclass(frozen=True, slots=True)
class AliyunFault:
    """An error answer: HTTP status and the JSON ``Code`` and ``Message`` (or a bare body)."""

    status: int
    code: str
    message: str
    raw: str | None = None  # a body that is not JSON (a gateway's 502 page)

    @classmethod
    def business(cls, code: str, message: str = "", status: int = 200) -> AliyunFault:
        """A business error: HTTP 200 (or ``status``) with ``Code`` != ``OK``."""
        return cls(status, code, message or code)

    @classmethod
    def server_error(cls, status: int = 503) -> AliyunFault:
        """A gateway error page, not JSON."""
        return cls(status, "", "", raw="<html><body>Service Unavailable</body></html>")

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON Alibaba Cloud answers with."""
        return {"RequestId": request_id, "Code": self.code, "Message": self.message}


@dataclass(frozen=True, slots=True)
class AliyunRequest:
    """One call, accepted or refused."""

    action: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    response: dict[str, Any] | str
    wall: datetime


@dataclass(frozen=True, slots=True)
class AliyunSms:
    """One message ``SendSms`` accepted."""

    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    params: dict[str, str]
    out_id: str
    content: str  # the text the handset shows: 【sign】 and the filled template
    monotonic: float
    wall: datetime


@dataclass
class _Report:
    send_status: int = 3
    err_code: str = "DELIVERED"


class AliyunSmsStandin(HttpStandin):
    """Dysmsapi's actions; records every call and fails on demand.

    Args:
        access_key_id, access_key_secret: the AccessKey it accepts.
        sign_names: sign names and their review state (1 approved; others refuse).
        templates: template codes and their contents (all approved).
        max_skew: how far ``x-acs-date`` may be from now (None: not checked).
    """

    def __init__(
        self,
        access_key_id: str = DEFAULT_KEY_ID,
        access_key_secret: str = DEFAULT_SECRET,
        *,
        sign_names: dict[str, int] | None = None,
        templates: dict[str, str] | None = None,
        max_skew: timedelta | None = timedelta(minutes=15),
    ) -> None:
        super().__init__()
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.sign_names = dict(sign_names or {DEFAULT_SIGN_NAME: 1})
        self.templates = dict(templates or DEFAULT_TEMPLATES)
        #: a template code's review state when not approved (0 in review, 2 rejected)
        self.template_states: dict[str, int] = {}
        self.max_skew = max_skew
        #: every call, in order
        self.requests: list[AliyunRequest] = []
        #: accepted messages, in order
        self.messages: list[AliyunSms] = []
        #: how many messages were accepted
        self.count = 0
        #: calls refused for a signature that did not match
        self.refused_signatures = 0
        self._nonces: set[str] = set()
        self._next_faults: list[AliyunFault] = []
        self._number_faults: dict[str, AliyunFault] = {}
        self._every: AliyunFault | None = None
        self._reports: dict[str, _Report] = {}
        self._number_reports: dict[str, _Report] = {}

    # -- scripting ------------------------------------------------------------------------

    def fail_next(self, fault: AliyunFault, count: int = 1) -> None:
        """Answer the next ``count`` ``SendSms`` calls with ``fault``."""
        self._next_faults.extend([fault] * count)

    def fail_number(self, phone: str, fault: AliyunFault) -> None:
        """Answer every ``SendSms`` to ``phone`` (11 digits) with ``fault``."""
        self._number_faults[phone] = fault

    def fail_all(self, fault: AliyunFault) -> None:
        """Answer every call with ``fault`` until :meth:`clear_faults` (an outage)."""
        self._every = fault

    def clear_faults(self) -> None:
        """Accept everything again."""
        self._next_faults.clear()
        self._number_faults.clear()
        self._every = None

    def report(self, phone: str, *, send_status: int, err_code: str) -> None:
        """What ``QuerySendDetails`` says of messages to ``phone`` (2 failed, 1 waiting)."""
        self._number_reports[phone] = _Report(send_status, err_code)

    def sent_to(self, phone: str) -> list[AliyunSms]:
        """The accepted messages to ``phone``."""
        return [m for m in self.messages if m.phone == phone]

    def calls_of(self, action: str) -> list[AliyunRequest]:
        """The recorded calls of ``action``."""
        return [r for r in self.requests if r.action == action]

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[AliyunSms]:
        """Wait until ``count`` messages were accepted.

        Raises:
            TimeoutError: fewer came within ``timeout`` seconds.
        """
        await self.wait_until(lambda: self.count >= count, timeout)
        return list(self.messages)

    # -- HTTP -----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """Every action is a POST (or GET) to ``/``."""
        app.router.add_route("*", "/", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params = {**query, **form}
        action = request.headers.get("x-acs-action", "")
        request_id = str(uuid.uuid4()).upper()
        refused = self._authenticate(request, body)
        if refused is not None:
            self.refused_signatures += refused.code == "SignatureDoesNotMatch"
            return await self._answer(
                request, action, params, refused.status, refused.body(request_id)
            )
        if self._every is not None:
            return await self._fault(request, action, params, self._every, request_id)
        handler = {
            "SendSms": self._send_sms,
            "QuerySendDetails": self._query_send_details,
            "QuerySmsSign": self._query_sign,
            "QuerySmsTemplate": self._query_template,
        }.get(action)
        if handler is None:
            fault = AliyunFault(
                404, "InvalidAction.NotFound", f"Specified api is not found: {action}"
            )
            return await self._fault(request, action, params, fault, request_id)
        return await handler(request, action, params, request_id)

    def _authenticate(self, request: web.Request, body: bytes) -> AliyunFault | None:
        """The V3 signature check; None when the request is genuine."""
        header = request.headers.get("Authorization", "")
        found = re.fullmatch(
            r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)",
            header,
        )
        if found is None:
            return AliyunFault(400, "IncompleteSignature", "The request signature is incomplete.")
        key_id, signed, given = found.groups()
        if key_id != self.access_key_id:
            return AliyunFault(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
            )
        names = signed.split(";")
        if not REQUIRED_SIGNED <= set(names) or names != sorted(names):
            return AliyunFault(400, "IncompleteSignature", "A common header is not signed.")
        body_hash = hashlib.sha256(body).hexdigest()
        if request.headers.get("x-acs-content-sha256", "") != body_hash:
            return AliyunFault(400, "ContentSHA256NotMatched", "The body does not match its hash.")
        pairs = sorted(parse_qsl(request.query_string, keep_blank_values=True))
        query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)
        lines = "".join(f"{name}:{request.headers.get(name, '').strip()}\n" for name in names)
        canonical = f"{request.method}\n{request.path}\n{query}\n{lines}\n{signed}\n{body_hash}"
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        expected = hmac.new(
            self.access_key_secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, given):
            return AliyunFault(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        nonce = request.headers.get("x-acs-signature-nonce", "")
        if nonce in self._nonces:
            return AliyunFault(
                400, "SignatureNonceUsed", "Specified signature nonce was used already."
            )
        self._nonces.add(nonce)
        if self.max_skew is not None:
            try:
                stamp = datetime.strptime(request.headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
            except (KeyError, ValueError):
                return AliyunFault(
                    400, "InvalidTimeStamp.Format", "Specified time stamp is not valid."
                )
            if abs(datetime.now(UTC) - stamp.replace(tzinfo=UTC)) > self.max_skew:
                return AliyunFault(
                    400, "InvalidTimeStamp.Expired", "Specified time stamp is expired."
                )
        return None

    async def _answer(
        self,
        request: web.Request,
        action: str,
        params: dict[str, str],
        status: int,
        body: dict[str, Any] | str,
    ) -> web.Response:
        self.requests.append(
            AliyunRequest(
                action=action,
                params=params,
                headers={k.lower(): v for k, v in request.headers.items()},
                status=status,
                response=body,
                wall=datetime.now(UTC),
            )
        )
        await self._notify()
        if isinstance(body, str):
            return web.Response(text=body, status=status, content_type="text/html")
        return web.json_response(
            body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def _fault(
        self,
        request: web.Request,
        action: str,
        params: dict[str, str],
        fault: AliyunFault,
        rid: str,
    ) -> web.Response:
        body: dict[str, Any] | str = fault.raw if fault.raw is not None else fault.body(rid)
        return await self._answer(request, action, params, fault.status, body)

    def _ok(self, rid: str, **fields: Any) -> dict[str, Any]:
        return {"RequestId": rid, "Code": "OK", "Message": "OK", **fields}

    async def _send_sms(
        self, request: web.Request, action: str, params: dict[str, str], rid: str
    ) -> web.Response:
        fault = self._check_send(params)
        if fault is not None:
            return await self._fault(request, action, params, fault, rid)
        self.count += 1
        biz_id = f"{900000000000000000 + self.count}^0"
        phone = params["PhoneNumbers"]
        values = json.loads(params.get("TemplateParam") or "{}")
        template = self.templates[params["TemplateCode"]]
        content = f"【{params['SignName']}】" + _VARIABLE.sub(lambda m: values[m[1]], template)
        self.messages.append(
            AliyunSms(
                biz_id=biz_id,
                phone=phone,
                sign_name=params["SignName"],
                template_code=params["TemplateCode"],
                params=values,
                out_id=params.get("OutId", ""),
                content=content,
                monotonic=time.monotonic(),
                wall=datetime.now(UTC),
            )
        )
        self._reports[biz_id] = self._number_reports.get(phone, _Report())
        return await self._answer(request, action, params, 200, self._ok(rid, BizId=biz_id))

    def _check_send(self, params: dict[str, str]) -> AliyunFault | None:
        phone = params.get("PhoneNumbers", "")
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                return AliyunFault(400, f"Missing{name}", f"{name} is mandatory for this action.")
        if not re.fullmatch(r"1\d{10}", phone):
            return AliyunFault.business("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if self.sign_names.get(params["SignName"]) != 1:
            return AliyunFault.business("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        template = self.templates.get(params["TemplateCode"])
        if template is None or self.template_states.get(params["TemplateCode"], 1) != 1:
            return AliyunFault.business("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return AliyunFault.business("isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return AliyunFault.business("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        wanted = _VARIABLE.findall(template)
        if any(not values.get(name) for name in wanted):
            return AliyunFault.business("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        if any(len(values[name]) > VARIABLE_MAX for name in wanted):
            return AliyunFault.business("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制")
        if phone in self._number_faults:
            return self._number_faults[phone]
        if self._next_faults:
            return self._next_faults.pop(0)
        return None

    async def _query_send_details(
        self, request: web.Request, action: str, params: dict[str, str], rid: str
    ) -> web.Response:
        for name in ("PhoneNumber", "SendDate", "PageSize", "CurrentPage"):
            if not params.get(name):
                fault = AliyunFault(400, f"Missing{name}", f"{name} is mandatory for this action.")
                return await self._fault(request, action, params, fault, rid)
        details = []
        for sms in self.messages:
            if sms.phone != params["PhoneNumber"]:
                continue
            if params.get("BizId") and sms.biz_id != params["BizId"]:
                continue
            report = self._reports.get(sms.biz_id, _Report())
            details.append(
                {
                    "PhoneNum": sms.phone,
                    "SendStatus": report.send_status,
                    "ErrCode": report.err_code,
                    "TemplateCode": sms.template_code,
                    "Content": sms.content,
                    "SendDate": sms.wall.strftime("%Y-%m-%d %H:%M:%S"),
                    "ReceiveDate": sms.wall.strftime("%Y-%m-%d %H:%M:%S"),
                    "OutId": sms.out_id,
                }
            )
        body = self._ok(
            rid, TotalCount=len(details), SmsSendDetailDTOs={"SmsSendDetailDTO": details}
        )
        return await self._answer(request, action, params, 200, body)

    async def _query_sign(
        self, request: web.Request, action: str, params: dict[str, str], rid: str
    ) -> web.Response:
        name = params.get("SignName", "")
        if name not in self.sign_names:
            fault = AliyunFault.business("isv.SMS_SIGN_ILLEGAL", "签名不存在")
            return await self._fault(request, action, params, fault, rid)
        status = self.sign_names[name]
        body = self._ok(
            rid, SignName=name, SignStatus=status, Reason="" if status == 1 else "资质不符"
        )
        return await self._answer(request, action, params, 200, body)

    async def _query_template(
        self, request: web.Request, action: str, params: dict[str, str], rid: str
    ) -> web.Response:
        code = params.get("TemplateCode", "")
        if code not in self.templates:
            fault = AliyunFault.business("isv.SMS_TEMPLATE_ILLEGAL", "模板不存在")
            return await self._fault(request, action, params, fault, rid)
        body = self._ok(
            rid,
            TemplateCode=code,
            TemplateStatus=self.template_states.get(code, 1),
            TemplateContent=self.templates[code],
            TemplateType=1,
            Reason="",
        )
        return await self._answer(request, action, params, 200, body)


__all__ = [
    "DEFAULT_KEY_ID",
    "DEFAULT_SECRET",
    "DEFAULT_SIGN_NAME",
    "DEFAULT_TEMPLATES",
    "KIND_TEMPLATES",
    "AliyunFault",
    "AliyunRequest",
    "AliyunSms",
    "AliyunSmsStandin",
]
