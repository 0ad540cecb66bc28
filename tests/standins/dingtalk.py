"""A DingTalk (钉钉) server API stand-in over HTTP on 127.0.0.1, and DingTalk's HTTP callbacks.

What riskprompt calls (``RISKPROMPT_DINGTALK_API_URL=api.url``):

* ``GET /gettoken?appkey=&appsecret=`` → ``access_token`` (7,200 s), 40089 for a
  wrong key or secret;
* ``POST /topapi/message/corpconversation/asyncsend_v2?access_token=`` → a
  ``task_id``; 40014 for an unknown token, 42001 for an expired one, 40035 for a
  malformed message, 143106 silently for the same content to a member on one day
  (reported by getsendresult, as DingTalk does);
* ``POST /topapi/message/corpconversation/getsendresult`` → the read / unread /
  invalid / forbidden lists of a task;
* ``POST /microapp/visible_scopes`` → the agent's visible range.

Every answer is HTTP 200 with an ``errcode``.  Faults are scripted by errcode
(:meth:`DingTalkStandin.fail_next`), per member (:meth:`DingTalkStandin.invalid_user`:
accepted, then listed as invalid), and reading by :meth:`DingTalkStandin.read`.

Callbacks: :meth:`DingTalkStandin.post_callback` encrypts and signs an event the
way DingTalk does (its own implementation of the scheme) and posts the
``{"encrypt": ...}`` JSON; :meth:`DingTalkStandin.open_answer` checks and opens the
encrypted answer.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import secrets
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.standins.http import HttpStandin

DEFAULT_APP_KEY = "dingstandinappkey0001"
DEFAULT_APP_SECRET = "standin-dingtalk-secret-0123456789abcdefghijkl"
DEFAULT_AGENT_ID = 2000001
DEFAULT_TOKEN = "standinDingToken7"
DEFAULT_AES_KEY = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
MSG_MAX_BYTES = 2048
TOKEN_LIFETIME = 7200

ERRMSG = {
    -1: "系统繁忙",
    88: "ding talk error[subcode=40014,submsg=不合法的access_token]",
    33012: "无效的USERID",
    40014: "不合法的access_token",
    40035: "缺少参数 msg 或参数不合法",
    40089: "不合法的corpid或corpsecret",
    42001: "access_token超时",
    60020: "访问ip不在白名单之中",
    90018: "当前应用的调用频率超过限制",
    130101: "发送太快, 请稍后再试",
    143103: "每日推送给用户的消息超过上限",
    143104: "每分钟推送给用户的消息超过上限",
    143105: "每日推送给用户的消息超过上限",
}


@dataclass(slots=True)
class DingTalkMessage:
    """One work notification DingTalk accepted for a member."""

    userid: str
    msg: dict[str, Any]
    task_id: int
    read: bool = False
    duplicate: bool = False

    @property
    def msgtype(self) -> str:
        return str(self.msg.get("msgtype", ""))

    @property
    def text(self) -> str:
        """The markdown of a markdown message or an action card."""
        if self.msgtype == "action_card":
            return str(self.msg["action_card"].get("markdown", ""))
        return str(self.msg.get(self.msgtype, {}).get("text", ""))

    @property
    def links(self) -> list[tuple[str, str]]:
        """(label, URL) of an action card's buttons."""
        card = self.msg.get("action_card", {})
        if "single_url" in card:
            return [(card.get("single_title", ""), card["single_url"])]
        return [(b["title"], b["action_url"]) for b in card.get("btn_json_list", [])]


@dataclass
class _Token:
    value: str
    expired: bool = False


@dataclass
class DingTalkCall:
    """One request, with DingTalk's answer."""

    path: str
    body: dict[str, Any] | None
    answer: dict[str, Any] = field(default_factory=dict)


class DingTalkStandin(HttpStandin):
    """DingTalk's server API for one app; records calls; fails on demand."""

    def __init__(
        self,
        *,
        app_key: str = DEFAULT_APP_KEY,
        app_secret: str = DEFAULT_APP_SECRET,
        agent_id: int = DEFAULT_AGENT_ID,
        token: str = DEFAULT_TOKEN,
        aes_key: str = DEFAULT_AES_KEY,
    ) -> None:
        super().__init__()
        self.app_key, self.app_secret, self.agent_id = app_key, app_secret, agent_id
        self.token, self.aes_key = token, aes_key
        self.calls: list[DingTalkCall] = []
        self.messages: list[DingTalkMessage] = []
        self.token_fetches = 0
        self._tokens: dict[str, _Token] = {}
        self._next: list[tuple[str, int | None]] = []
        self._invalid: set[str] = set()
        self._seen: set[tuple[str, str, str]] = set()
        self._ids = itertools.count(40_000_000_001)

    # -- scripting -----------------------------------------------------------------------

    def fail_next(self, errcode: int, count: int = 1, *, path: str = "asyncsend_v2") -> None:
        """Answer the next ``count`` calls of ``path`` (its last segment) with ``errcode``."""
        self._next.extend([(path, errcode)] * count)

    def invalid_user(self, userid: str) -> None:
        """Accept messages to ``userid`` (a task_id) and list them as invalid afterwards."""
        self._invalid.add(userid)

    def expire_tokens(self) -> None:
        """Every token handed out so far answers 42001 from now on."""
        for token in self._tokens.values():
            token.expired = True

    def read(self, userid: str) -> None:
        """``userid`` has read every message sent to them so far."""
        for message in self.messages:
            if message.userid == userid:
                message.read = True

    def sent_to(self, userid: str) -> list[DingTalkMessage]:
        """The notifications accepted for ``userid`` (that DingTalk shows), in order."""
        return [m for m in self.messages if m.userid == userid and not m.duplicate]

    @property
    def count(self) -> int:
        """Notifications shown to members."""
        return len([m for m in self.messages if not m.duplicate])

    # -- HTTP ----------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/gettoken", self._gettoken)
        app.router.add_post("/topapi/message/corpconversation/asyncsend_v2", self._send)
        app.router.add_post("/topapi/message/corpconversation/getsendresult", self._result)
        app.router.add_post("/microapp/visible_scopes", self._scopes)

    async def _answer(
        self, request: web.Request, body: dict[str, Any] | None, answer: dict[str, Any]
    ) -> web.Response:
        answer = {"errcode": 0, "errmsg": "ok", "request_id": secrets.token_hex(6), **answer}
        self.calls.append(DingTalkCall(request.path, body, answer))
        response = web.json_response(answer)
        await self._notify()
        return response

    @staticmethod
    def _error(errcode: int) -> dict[str, Any]:
        return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}

    def _scripted(self, path: str) -> dict[str, Any] | None:
        for index, (wanted, errcode) in enumerate(self._next):
            if wanted == path:
                del self._next[index]
                return None if errcode is None else self._error(errcode)
        return None

    def _check_token(self, request: web.Request) -> dict[str, Any] | None:
        token = self._tokens.get(request.query.get("access_token", ""))
        if token is None:
            return self._error(40014)
        if token.expired:
            return self._error(42001)
        return None

    async def _json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def _gettoken(self, request: web.Request) -> web.Response:
        fault = self._scripted("gettoken")
        if fault is None and (
            request.query.get("appkey") != self.app_key
            or request.query.get("appsecret") != self.app_secret
        ):
            fault = self._error(40089)
        if fault is not None:
            return await self._answer(request, None, fault)
        self.token_fetches += 1
        value = secrets.token_hex(16)
        self._tokens[value] = _Token(value)
        return await self._answer(
            request, None, {"access_token": value, "expires_in": TOKEN_LIFETIME}
        )

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        fault = self._check_token(request) or self._scripted("asyncsend_v2")
        if fault is None:
            fault = self._check_message(body)
        if fault is not None:
            return await self._answer(request, body, fault)
        userid = str(body["userid_list"])
        msg = body["msg"]
        content = json.dumps(msg, ensure_ascii=False, sort_keys=True)
        day = time.strftime("%Y-%m-%d")
        duplicate = (userid, content, day) in self._seen
        self._seen.add((userid, content, day))
        message = DingTalkMessage(userid, msg, next(self._ids), duplicate=duplicate)
        self.messages.append(message)
        return await self._answer(request, body, {"task_id": message.task_id})

    def _check_message(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("agent_id") != self.agent_id:
            return self._error(40035)
        userids = str(body.get("userid_list") or "")
        if not userids or "," in userids:
            return self._error(40035)
        msg = body.get("msg")
        if not isinstance(msg, dict) or msg.get("msgtype") not in ("markdown", "action_card"):
            return self._error(40035)
        if len(json.dumps(msg, ensure_ascii=False).encode()) > MSG_MAX_BYTES:
            return self._error(40035)
        if msg["msgtype"] == "action_card":
            card = msg.get("action_card", {})
            if not card.get("title") or not card.get("markdown"):
                return self._error(40035)
            if not card.get("single_url") and not card.get("btn_json_list"):
                return self._error(40035)
        return None

    async def _result(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        fault = self._check_token(request) or self._scripted("getsendresult")
        if fault is not None:
            return await self._answer(request, body, fault)
        task = next((m for m in self.messages if m.task_id == body.get("task_id")), None)
        if task is None or body.get("agent_id") != self.agent_id:
            return await self._answer(request, body, self._error(40035))
        result: dict[str, Any] = {
            "read_user_id_list": [],
            "unread_user_id_list": [],
            "invalid_user_id_list": [],
            "forbidden_user_id_list": [],
            "failed_user_id_list": [],
            "forbidden_list": [],
        }
        if task.userid in self._invalid:
            result["invalid_user_id_list"].append(task.userid)
        elif task.duplicate:
            result["forbidden_list"].append({"code": "143106", "count": 1, "userid": task.userid})
        elif task.read:
            result["read_user_id_list"].append(task.userid)
        else:
            result["unread_user_id_list"].append(task.userid)
        return await self._answer(request, body, {"send_result": result})

    async def _scopes(self, request: web.Request) -> web.Response:
        body = await self._json(request)
        fault = self._check_token(request) or self._scripted("visible_scopes")
        if fault is None and body.get("agentId") != self.agent_id:
            fault = self._error(40035)
        if fault is not None:
            return await self._answer(request, body, fault)
        return await self._answer(
            request,
            body,
            {"isHidden": False, "deptVisibleScopes": [1], "userVisibleScopes": []},
        )

    # -- callbacks: DingTalk → the app ---------------------------------------------------

    def _cipher(self) -> Cipher[modes.CBC]:
        key = base64.b64decode(self.aes_key + "=")
        return Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def encrypt(self, plain: str) -> str:
        data = plain.encode("utf-8")
        block = os.urandom(16) + struct.pack(">I", len(data)) + data + self.app_key.encode()
        pad = 32 - len(block) % 32
        block += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(block) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()
        plain = plain[16 : -plain[-1]]
        (length,) = struct.unpack(">I", plain[:4])
        assert plain[4 + length :].decode() == self.app_key, "sealed for another receiver"
        return plain[4 : 4 + length].decode("utf-8")

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        joined = "".join(sorted([self.token, timestamp, nonce, encrypt]))
        return hashlib.sha1(joined.encode()).hexdigest()

    async def post_callback(
        self,
        client: httpx.AsyncClient,
        event: dict[str, Any],
        *,
        path: str = "/dingtalk/callback",
        bad_signature: bool = False,
    ) -> httpx.Response:
        """Encrypt, sign and post ``event`` to the app as DingTalk would."""
        encrypt = self.encrypt(json.dumps(event, ensure_ascii=False))
        timestamp, nonce = str(int(time.time() * 1000)), secrets.token_hex(4)
        signature = self.sign(timestamp, nonce, encrypt)
        if bad_signature:
            signature = signature[::-1]
        query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        return await client.post(path, params=query, json={"encrypt": encrypt})

    def open_answer(self, response: httpx.Response) -> str:
        """The plaintext of the app's encrypted answer (checked against its signature)."""
        body = response.json()
        expected = self.sign(str(body["timeStamp"]), str(body["nonce"]), body["encrypt"])
        assert body["msg_signature"] == expected, "the answer's signature does not match"
        return self.decrypt(body["encrypt"])


def settings_values(api: DingTalkStandin) -> dict[str, Any]:
    """Settings that point DingTalk at ``api`` (sending and callbacks)."""
    return {
        "DINGTALK_API_URL": api.url,
        "DINGTALK_APP_KEY": api.app_key,
        "DINGTALK_APP_SECRET": api.app_secret,
        "DINGTALK_AGENT_ID": api.agent_id,
        "DINGTALK_TOKEN": api.token,
        "DINGTALK_AES_KEY": api.aes_key,
    }


__all__ = ["DingTalkMessage", "DingTalkStandin", "settings_values"]
