"""A WeCom (企业微信) server API stand-in over HTTP on 127.0.0.1, and WeCom's callbacks.

The API is what riskprompt calls, below ``/cgi-bin/`` (``RISKPROMPT_WECOM_API_URL=api.url``):

* ``GET gettoken?corpid=&corpsecret=`` → ``access_token`` (7,200 s), 40001 for a
  wrong secret;
* ``POST message/send?access_token=`` → ``msgid`` (and a ``response_code`` for a
  template card); 40014 for an unknown token, 42001 for an expired one, 40058 for
  markdown over 4,096 bytes, 42014 for a card's ``task_id`` used before;
* ``POST message/update_template_card`` → once per response code;
* ``GET agent/get?agentid=`` → the app's name and visible members.

Every answer is HTTP 200 with an ``errcode``, as WeCom's.  Faults are scripted by
errcode: the next calls (:meth:`WeComStandin.fail_next`), one member
(:meth:`WeComStandin.fail_user`), or a partial failure WeCom reports with errcode 0
(:meth:`WeComStandin.partly_invalid`).

The other direction: :meth:`WeComStandin.post_callback` encrypts and signs a
message the way WeCom does (its own implementation of the WXBizMsgCrypt scheme,
not riskprompt's) and posts it to the app under test, and
:meth:`WeComStandin.open_reply` decrypts a passive reply.

    async with WeComStandin() as api:
        api.fail_next(45009)                       # the next message/send: frequency limit
        api.fail_user("ghost", 60111)              # every message to "ghost": no such user
        api.expire_tokens()                        # tokens handed out so far: 42001
        card = api.cards()[0]
        await api.post_callback(client, api.card_event(card, "ack:p:12"))
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.standins.http import HttpStandin

DEFAULT_CORP_ID = "ww0123456789abcdef"
DEFAULT_SECRET = "standin-wecom-secret-0123456789abcdefghijk"
DEFAULT_AGENT_ID = 1000002
DEFAULT_TOKEN = "standinToken42"
#: 43 characters: base64 of 32 bytes without its "=".
DEFAULT_AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
MARKDOWN_MAX_BYTES = 4096
TEXT_MAX_BYTES = 2048
TOKEN_LIFETIME = 7200

ERRMSG = {
    -1: "system busy",
    40001: "invalid credential, access_token is invalid or not latest",
    40014: "invalid access_token",
    40056: "invalid agentid",
    40058: "invalid Request Parameter",
    42001: "access_token expired",
    42014: "taskid has existed or empty or exceed max len",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    60020: "not allow to access from your ip",
    60111: "userid not found",
    81013: "user & party & tag all invalid",
    301002: "not allow operate another agent",
}


@dataclass(frozen=True, slots=True)
class WeComCall:
    """One request to the API, with WeCom's answer."""

    path: str
    params: dict[str, str]
    body: dict[str, Any] | None
    answer: dict[str, Any]
    monotonic: float


@dataclass(slots=True)
class WeComMessage:
    """One message WeCom accepted for a member."""

    userid: str
    msgtype: str
    body: dict[str, Any]
    msgid: str
    response_code: str | None = None
    updated_to: str | None = None  # the replace_name of an update_template_card

    @property
    def content(self) -> str:
        """The text or markdown content ("" for a card)."""
        return str(self.body.get(self.msgtype, {}).get("content", ""))

    @property
    def card(self) -> dict[str, Any]:
        """The template card ({} for other messages)."""
        card: dict[str, Any] = self.body.get("template_card", {})
        return card

    @property
    def button_keys(self) -> list[str]:
        """The keys of the card's buttons, in order."""
        return [b["key"] for b in self.card.get("button_list", [])]


@dataclass
class _Token:
    value: str
    expires: float
    expired: bool = False


class WeComStandin(HttpStandin):
    """WeCom's server API for one corp and app; records calls; fails on demand.

    Args:
        corp_id, secret, agent_id: the app it accepts (others get 40013/40001/40056).
        token, aes_key: the callback's Token and EncodingAESKey.
        record: keep every call and message (False: only count them, for benchmarks).
    """

    def __init__(
        self,
        *,
        corp_id: str = DEFAULT_CORP_ID,
        secret: str = DEFAULT_SECRET,
        agent_id: int = DEFAULT_AGENT_ID,
        token: str = DEFAULT_TOKEN,
        aes_key: str = DEFAULT_AES_KEY,
        record: bool = True,
    ) -> None:
        super().__init__()
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.token, self.aes_key, self.record = token, aes_key, record
        #: every call, in order (when recording)
        self.calls: list[WeComCall] = []
        #: accepted messages, in order (when recording)
        self.messages: list[WeComMessage] = []
        #: accepted card updates (their bodies)
        self.updates: list[dict[str, Any]] = []
        #: gettoken calls that handed out a token
        self.token_fetches = 0
        #: messages accepted (always)
        self.count = 0
        self._tokens: dict[str, _Token] = {}
        self._task_ids: set[str] = set()
        self._codes: dict[str, WeComMessage | None] = {}
        self._next: list[tuple[str, int | None, dict[str, Any]]] = []
        self._users: dict[str, int] = {}
        self._partial: dict[str, str] = {}
        self._ids = itertools.count(1)

    # -- scripting -----------------------------------------------------------------------

    def fail_next(
        self,
        errcode: int,
        count: int = 1,
        *,
        path: str = "message/send",
        after: int = 0,
        **extra: Any,
    ) -> None:
        """Answer ``count`` calls of ``path`` with ``errcode`` (and ``extra`` fields),
        after letting the next ``after`` ones through."""
        self._next.extend([(path, None, {})] * after + [(path, errcode, extra)] * count)

    def fail_user(self, userid: str, errcode: int) -> None:
        """Answer every message to ``userid`` with ``errcode`` (``invaliduser`` names it)."""
        self._users[userid.lower()] = errcode

    def partly_invalid(self, userid: str, field: str = "invaliduser") -> None:
        """Answer messages to ``userid`` with errcode 0 and ``userid`` in ``field``."""
        self._partial[userid.lower()] = field

    def expire_tokens(self) -> None:
        """Every token handed out so far is expired from now on (42001)."""
        for token in self._tokens.values():
            token.expired = True

    def clear_faults(self) -> None:
        """Accept everything again."""
        self._next.clear()
        self._users.clear()
        self._partial.clear()

    def reset(self) -> None:
        """Forget calls, messages, counts and faults (tokens stay valid)."""
        self.calls.clear()
        self.messages.clear()
        self.updates.clear()
        self.count = 0
        self.clear_faults()

    # -- what was sent -------------------------------------------------------------------

    def sent_to(self, userid: str) -> list[WeComMessage]:
        """The messages accepted for ``userid``, in order."""
        return [m for m in self.messages if m.userid == userid.lower()]

    def cards(self, userid: str | None = None) -> list[WeComMessage]:
        """The template cards accepted (for ``userid``), in order."""
        return [
            m
            for m in self.messages
            if m.msgtype == "template_card" and (userid is None or m.userid == userid.lower())
        ]

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[WeComMessage]:
        """Wait until ``count`` messages were accepted."""
        await self.wait_until(lambda: self.count >= count, timeout)
        return list(self.messages)

    # -- HTTP ----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """The API methods riskprompt calls."""
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_post("/cgi-bin/message/update_template_card", self._update)
        app.router.add_get("/cgi-bin/agent/get", self._agent)

    async def _answer(
        self, request: web.Request, body: dict[str, Any] | None, answer: dict[str, Any]
    ) -> web.Response:
        answer = {"errcode": 0, "errmsg": "ok", **answer}
        if self.record:
            path = request.path.removeprefix("/cgi-bin/")
            params = dict(request.query)
            self.calls.append(WeComCall(path, params, body, answer, time.monotonic()))
        response = web.json_response(answer)  # WeCom: HTTP 200, whatever happened
        await self._notify()
        return response

    @staticmethod
    def _error(errcode: int, **extra: Any) -> dict[str, Any]:
        hint = secrets.token_hex(8)
        return {
            "errcode": errcode,
            "errmsg": f"{ERRMSG.get(errcode, 'error')}, hint: [{hint}]",
            **extra,
        }

    def _check_token(self, request: web.Request) -> dict[str, Any] | None:
        token = self._tokens.get(request.query.get("access_token", ""))
        if token is None:
            return self._error(40014)
        if token.expired or token.expires < time.monotonic():
            return self._error(42001)
        return None

    def _scripted(self, path: str) -> dict[str, Any] | None:
        for index, (wanted, errcode, extra) in enumerate(self._next):
            if wanted == path:
                del self._next[index]
                return None if errcode is None else self._error(errcode, **extra)
        return None

    async def _gettoken(self, request: web.Request) -> web.Response:
        fault = self._scripted("gettoken")
        if fault is not None:
            return await self._answer(request, None, fault)
        if request.query.get("corpid") != self.corp_id:
            return await self._answer(request, None, self._error(40013))
        if request.query.get("corpsecret") != self.secret:
            return await self._answer(request, None, self._error(40001))
        self.token_fetches += 1
        value = secrets.token_urlsafe(48)
        self._tokens[value] = _Token(value, time.monotonic() + TOKEN_LIFETIME)
        return await self._answer(
            request, None, {"access_token": value, "expires_in": TOKEN_LIFETIME}
        )

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        fault = self._check_token(request) or self._scripted("message/send")
        if fault is None:
            fault = self._check_message(body)
        if fault is not None:
            return await self._answer(request, body, fault)
        userid = str(body["touser"]).lower()
        if userid in self._users:
            errcode = self._users[userid]
            return await self._answer(request, body, self._error(errcode, invaliduser=userid))
        msgtype = body["msgtype"]
        message = WeComMessage(userid, msgtype, body, msgid=f"msg{next(self._ids):08d}")
        answer: dict[str, Any] = {"msgid": message.msgid}
        if userid in self._partial:
            answer[self._partial[userid]] = userid
            return await self._answer(request, body, answer)
        if msgtype == "template_card":
            message.response_code = secrets.token_urlsafe(24)
            self._codes[message.response_code] = message
            answer["response_code"] = message.response_code
        self.count += 1
        if self.record:
            self.messages.append(message)
        return await self._answer(request, body, answer)

    def _check_message(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("agentid") != self.agent_id:
            return self._error(40056)
        if not body.get("touser"):
            return self._error(40058)
        msgtype = body.get("msgtype")
        if msgtype in ("text", "markdown"):
            content = body.get(msgtype, {}).get("content", "")
            limit = MARKDOWN_MAX_BYTES if msgtype == "markdown" else None
            if not content:
                return self._error(44004)
            if limit is not None and len(content.encode("utf-8")) > limit:
                return self._error(40058, errmsg=f"markdown.content exceed max length {limit}")
            return None
        if msgtype == "template_card":
            card = body.get("template_card", {})
            task = card.get("task_id", "")
            if card.get("card_type") != "button_interaction" or not card.get("main_title"):
                return self._error(40058)
            if not task or task in self._task_ids or len(task.encode()) > 128:
                return self._error(42014)
            if not 1 <= len(card.get("button_list", [])) <= 6:
                return self._error(40058)
            self._task_ids.add(task)
            return None
        return self._error(40008)

    async def _update(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        fault = self._check_token(request) or self._scripted("message/update_template_card")
        if fault is not None:
            return await self._answer(request, body, fault)
        code = str(body.get("response_code", ""))
        if code not in self._codes or body.get("agentid") != self.agent_id:
            return await self._answer(request, body, self._error(40058))
        message = self._codes.pop(code)  # each response code works once
        self.updates.append(body)
        if message is not None:
            message.updated_to = body.get("button", {}).get("replace_name")
        return await self._answer(request, body, {})

    async def _agent(self, request: web.Request) -> web.Response:
        fault = self._check_token(request) or self._scripted("agent/get")
        if fault is None and request.query.get("agentid") != str(self.agent_id):
            fault = self._error(40056)
        if fault is not None:
            return await self._answer(request, None, fault)
        return await self._answer(
            request,
            None,
            {
                "agentid": self.agent_id,
                "name": "风险提示",
                "close": 0,
                "allow_userinfos": {"user": [{"userid": "wangwu"}]},
            },
        )

    # -- callbacks: WeCom → the app ------------------------------------------------------

    def _cipher(self) -> Cipher[modes.CBC]:
        key = base64.b64decode(self.aes_key + "=")
        return Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def encrypt(self, plain: str) -> str:
        """``plain`` encrypted the way WeCom does (random, length, message, CorpID, pad 32)."""
        data = plain.encode("utf-8")
        block = os.urandom(16) + struct.pack(">I", len(data)) + data + self.corp_id.encode()
        pad = 32 - len(block) % 32
        block += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(block) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        """The message inside a ciphertext riskprompt made."""
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
        plain = plain[16 : -plain[-1]]
        (length,) = struct.unpack(">I", plain[:4])
        assert plain[4 + length :].decode() == self.corp_id, "sealed for another receiver"
        return plain[4 : 4 + length].decode("utf-8")

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """The ``msg_signature`` of ``encrypt``."""
        joined = "".join(sorted([self.token, timestamp, nonce, encrypt]))
        return hashlib.sha1(joined.encode()).hexdigest()

    def signed_query(self, encrypt: str, *, bad_signature: bool = False) -> dict[str, str]:
        """The query string WeCom adds to a callback carrying ``encrypt``."""
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        signature = self.sign(timestamp, nonce, encrypt)
        if bad_signature:
            signature = signature[::-1]
        return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}

    def text_message(self, userid: str, content: str, *, msg_id: str | None = None) -> str:
        """The plaintext XML of a member's text message to the app."""
        msg_id = msg_id or str(7_000_000_000_000_000_000 + next(self._ids))
        return self._xml(
            FromUserName=userid,
            CreateTime=str(int(time.time())),
            MsgType="text",
            Content=content,
            MsgId=msg_id,
            AgentID=str(self.agent_id),
        )

    def card_event(self, card: WeComMessage, key: str) -> str:
        """The plaintext XML of ``card``'s button ``key`` pressed (``template_card_event``).

        The event carries a new response code, good for one card update.
        """
        code = secrets.token_urlsafe(24)
        self._codes[code] = card
        return self._xml(
            FromUserName=card.userid,
            CreateTime=str(int(time.time())),
            MsgType="event",
            Event="template_card_event",
            EventKey=key,
            TaskId=card.card.get("task_id", ""),
            CardType="button_interaction",
            ResponseCode=code,
            AgentID=str(self.agent_id),
        )

    def _xml(self, **fields: str) -> str:
        inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
        return f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>{inner}</xml>"

    async def post_callback(
        self,
        client: httpx.AsyncClient,
        plain: str,
        *,
        path: str = "/wecom/callback",
        bad_signature: bool = False,
    ) -> httpx.Response:
        """Encrypt, sign and post ``plain`` to the app as WeCom would."""
        encrypt = self.encrypt(plain)
        envelope = (
            f"<xml><ToUserName><![CDATA[{self.corp_id}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>"
            f"<AgentID><![CDATA[{self.agent_id}]]></AgentID></xml>"
        )
        query = self.signed_query(encrypt, bad_signature=bad_signature)
        return await client.post(path, params=query, content=envelope.encode())

    async def verify_url(
        self, client: httpx.AsyncClient, *, path: str = "/wecom/callback"
    ) -> tuple[str, httpx.Response]:
        """WeCom's check of the callback URL: (the echo expected, the app's answer)."""
        echo = str(secrets.randbelow(10**19))
        encrypt = self.encrypt(echo)
        query = {**self.signed_query(encrypt), "echostr": encrypt}
        return echo, await client.get(path, params=query)

    def open_reply(self, body: str) -> dict[str, str]:
        """The fields of a passive reply (checked against its signature), {} when empty."""
        if not body.strip():
            return {}
        envelope = {child.tag: child.text or "" for child in ET.fromstring(body)}
        expected = self.sign(envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
        assert envelope["MsgSignature"] == expected, "the reply's signature does not match"
        return {c.tag: c.text or "" for c in ET.fromstring(self.decrypt(envelope["Encrypt"]))}


def settings_values(api: WeComStandin) -> dict[str, Any]:
    """Settings that point WeCom at ``api`` (sending and callbacks)."""
    return {
        "WECOM_API_URL": api.url,
        "WECOM_CORP_ID": api.corp_id,
        "WECOM_AGENT_ID": api.agent_id,
        "WECOM_SECRET": api.secret,
        "WECOM_TOKEN": api.token,
        "WECOM_AES_KEY": api.aes_key,
    }


__all__ = ["WeComCall", "WeComMessage", "WeComStandin", "settings_values"]
