"""A Telegram Bot API stand-in: the methods riskprompt calls, over HTTP on 127.0.0.1.

Point python-telegram-bot at it with ``base_url=f"{api.url}/bot"`` and
``base_file_url=f"{api.url}/file/bot"`` (``RISKPROMPT_TELEGRAM_API_URL=api.url``).
Requests are ``POST /bot<token>/<method>`` (form, multipart or JSON); answers are
``{"ok": true, "result": ...}`` with realistic objects, or Bot API errors.

    async with TelegramStandin() as api:
        api.fail_next(TelegramFault.flood(retry_after=3))   # next sendMessage: 429
        api.fail_chat(42, TelegramFault.blocked())           # chat 42: 403 blocked
        api.storm(TelegramFault.flood(retry_after=5))        # every sendMessage: 429
        api.enqueue(api.message_update(42, "/start"))        # for getUpdates
        calls = await api.wait_for_calls(2)                  # recorded sendMessage calls
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from tests.standins.http import HttpStandin

DEFAULT_TOKEN = "123456789:STANDIN-test-token_abcdefghijklmnop"
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA = 64
#: values kept as text even when they look like JSON
_TEXT_KEYS = frozenset(
    {"text", "caption", "callback_data", "url", "secret_token", "query", "file_id", "title"}
)


@dataclass(frozen=True, slots=True)
class TelegramFault:
    """A Bot API error answer: HTTP status, description and optional parameters."""

    status: int
    description: str
    parameters: dict[str, Any] | None = None

    @classmethod
    def flood(cls, retry_after: int = 3) -> TelegramFault:
        """429 flood control with ``parameters.retry_after``."""
        return cls(
            429,
            f"Too Many Requests: retry after {retry_after}",
            {"retry_after": retry_after},
        )

    @classmethod
    def blocked(cls) -> TelegramFault:
        """403: the user blocked the bot."""
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def chat_not_found(cls) -> TelegramFault:
        """400: no such chat."""
        return cls(400, "Bad Request: chat not found")

    @classmethod
    def server_error(cls) -> TelegramFault:
        """500 from the Bot API server."""
        return cls(500, "Internal Server Error")

    def body(self) -> dict[str, Any]:
        """The JSON the Bot API answers with."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True, slots=True)
class TelegramCall:
    """One recorded request: method, parsed parameters, the answer and when it came."""

    method: str
    params: dict[str, Any]
    token: str
    status: int
    result: Any
    monotonic: float
    wall: datetime

    @property
    def ok(self) -> bool:
        """Whether the stand-in answered ``ok: true``."""
        return self.status == 200

    @property
    def chat_id(self) -> int | str | None:
        """The call's ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")


#: the tags of Telegram's HTML parse mode
_TELEGRAM_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip


class EntityError(ValueError):
    """HTML that Telegram would refuse ("can't parse entities")."""


class _Plain(HTMLParser):
    """Text of Telegram's HTML parse mode, tags removed (as the real API returns it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TELEGRAM_TAGS:
            raise EntityError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise EntityError(f'Unexpected end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def plain_text(html: str) -> str:
    """``html`` without tags and with entities decoded.

    Raises:
        EntityError: a tag Telegram does not support, or tags that do not nest.
    """
    parser = _Plain()
    parser.feed(html)
    parser.close()
    if parser.open:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
    return "".join(parser.chunks)


def _decode(key: str, value: str) -> Any:
    """A form value as the Bot API reads it: JSON for objects and numbers, else text."""
    if key in _TEXT_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass(slots=True)
class _NextFault:
    method: str | None
    fault: TelegramFault
    skip: int = 0


@dataclass(slots=True)
class _Chat:
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class TelegramStandin(HttpStandin):
    """The Bot API over HTTP; records every call and fails on demand.

    Args:
        token: the only token it accepts (others get 401 Unauthorized).
        bot_username: getMe's username.
        record: keep every call (False: only count them, for benchmarks).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "riskprompt_standin_bot",
        record: bool = True,
    ) -> None:
        super().__init__()
        self.token = token
        self.record = record
        self.bot_user: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1,
            "is_bot": True,
            "first_name": "风险提示",
            "username": bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        #: every request, in order (when recording)
        self.calls: list[TelegramCall] = []
        #: how many requests came, per method (always)
        self.counts: dict[str, int] = defaultdict(int)
        #: the webhook set with setWebhook (url, secret_token...), or None
        self.webhook: dict[str, Any] | None = None
        self.files: dict[str, tuple[str, bytes]] = {}
        #: getUpdates calls waiting for an update right now (long polling)
        self.polling = 0
        self._chats: dict[int, _Chat] = defaultdict(_Chat)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._user_message_ids = itertools.count(10_000)
        self._next_faults: list[_NextFault] = []
        self._chat_faults: dict[str, tuple[str | None, TelegramFault]] = {}
        self._storm: tuple[str | None, TelegramFault] | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Handler] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._true,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getfile": self._get_file,
            "sendchataction": self._true,
            "setmycommands": self._true,
            "deletemycommands": self._true,
            "deletemessage": self._true,
        }

    # -- error injection -------------------------------------------------

    def fail_next(
        self,
        fault: TelegramFault,
        count: int = 1,
        method: str | None = "sendMessage",
        *,
        after: int = 0,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (None: any method) with ``fault``.

        ``after`` lets that many matching calls through first (e.g. fail a message's
        second part).
        """
        key = method.lower() if method else None
        self._next_faults.extend(_NextFault(key, fault) for _ in range(count))
        if after:
            self._next_faults[-count].skip = after

    def fail_chat(
        self, chat_id: int | str, fault: TelegramFault, method: str | None = None
    ) -> None:
        """Answer every call for ``chat_id`` (of ``method``, or any) with ``fault``."""
        self._chat_faults[str(chat_id)] = (method.lower() if method else None, fault)

    def storm(self, fault: TelegramFault, method: str | None = "sendMessage") -> None:
        """Answer every call of ``method`` (None: any) with ``fault`` until :meth:`clear_faults`.

        ``storm(TelegramFault.flood(retry_after=5))`` is a flood-control storm: every
        message is refused with 429 and asks for 5 s of patience.
        """
        self._storm = (method.lower() if method else None, fault)

    def clear_faults(self) -> None:
        """Answer everything normally again."""
        self._next_faults.clear()
        self._chat_faults.clear()
        self._storm = None

    def reset(self) -> None:
        """Forget recorded calls, counts and faults."""
        self.calls.clear()
        self.counts.clear()
        self.clear_faults()

    # -- updates and files -----------------------------------------------

    def enqueue(self, update: dict[str, Any]) -> int:
        """Queue ``update`` for getUpdates (an ``update_id`` is given when missing)."""
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return int(update["update_id"])

    def _user(self, user_id: int, first_name: str, username: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "zh-hans",
        }
        if username:
            user["username"] = username
        return user

    def message_update(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "测试用户",
        username: str | None = None,
    ) -> dict[str, Any]:
        """An update with a text message from the user of private chat ``chat_id``.

        Queue it with :meth:`enqueue` for getUpdates, or post it to a webhook.
        """
        message: dict[str, Any] = {
            "message_id": next(self._user_message_ids),
            "from": self._user(chat_id, first_name, username),
            "chat": self._chat_object(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._update_ids), "message": message}

    def callback_update(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        first_name: str = "测试用户",
    ) -> dict[str, Any]:
        """An update with a press of an inline button carrying ``data``.

        ``message_id`` names a message the bot sent to the chat (default: the last one).
        """
        chat = self._chats[chat_id]
        if message_id is None:
            message_id = max(chat.messages) if chat.messages else 1
        message = chat.messages.get(message_id) or {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": self._chat_object(chat_id),
            "date": int(time.time()),
            "text": "",
        }
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._callback_ids)),
                "from": self._user(chat_id, first_name, None),
                "message": message,
                "chat_instance": f"ci{chat_id}",
                "data": data,
            },
        }

    def add_file(self, content: bytes, file_path: str = "documents/file_1.pdf") -> str:
        """Serve ``content`` through getFile and the file URL; returns the file_id."""
        file_id = f"FILE{len(self.files) + 1:04d}"
        self.files[file_id] = (file_path, content)
        return file_id

    # -- what was called -------------------------------------------------

    def calls_of(
        self, method: str = "sendMessage", *, ok: bool | None = None
    ) -> list[TelegramCall]:
        """Recorded calls of ``method`` (case-insensitive), optionally only (un)successful ones."""
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted and (ok is None or c.ok == ok)]

    def sent(self, chat_id: int | str | None = None) -> list[TelegramCall]:
        """Successful sendMessage calls (to ``chat_id`` when given)."""
        return [
            c
            for c in self.calls_of("sendMessage", ok=True)
            if chat_id is None or str(c.chat_id) == str(chat_id)
        ]

    async def wait_for_calls(
        self, count: int, method: str = "sendMessage", timeout: float = 5.0
    ) -> list[TelegramCall]:
        """Wait until ``count`` calls of ``method`` came; returns the recorded ones.

        Raises:
            TimeoutError: fewer came within ``timeout`` seconds.
        """
        wanted = method.lower()
        await self.wait_until(lambda: self.counts[wanted] >= count, timeout)
        return self.calls_of(method)

    # -- HTTP ------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """``/bot<token>/<method>`` and ``/file/bot<token>/<path>``."""
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    async def stop(self) -> None:
        """Wake long-polling getUpdates calls, then stop."""
        self._closing = True
        await self._notify()
        await super().stop()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            params.update(await request.json())
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "content": value.file.read()}
            else:
                params[key] = _decode(key, value)
        return params

    def _fault_for(self, method: str, params: dict[str, Any]) -> TelegramFault | None:
        chat_id = params.get("chat_id")
        if chat_id is not None and str(chat_id) in self._chat_faults:
            only, fault = self._chat_faults[str(chat_id)]
            if only is None or only == method:
                return fault
        if self._storm is not None and self._storm[0] in (None, method):
            return self._storm[1]
        for index, pending in enumerate(self._next_faults):
            if pending.method is None or pending.method == method:
                if pending.skip:
                    pending.skip -= 1
                    return None
                del self._next_faults[index]
                return pending.fault
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        key = method.lower()
        params = await self._params(request)
        result: Any = None
        if token != self.token:
            fault: TelegramFault | None = TelegramFault(401, "Unauthorized")
        else:
            fault = self._fault_for(key, params)
        if fault is None:
            handler = self._handlers.get(key)
            if handler is None:
                fault = TelegramFault(404, "Not Found: method not found")
            else:
                outcome = await handler(params)
                if isinstance(outcome, TelegramFault):
                    fault = outcome
                else:
                    result = outcome
        status = fault.status if fault is not None else 200
        self.counts[key] += 1
        if self.record:
            self.calls.append(
                TelegramCall(
                    method=method,
                    params=params,
                    token=token,
                    status=status,
                    result=result if fault is None else fault.body(),
                    monotonic=time.monotonic(),
                    wall=datetime.now(UTC),
                )
            )
        await self._notify()
        if fault is not None:
            return web.json_response(fault.body(), status=fault.status)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        for file_path, content in self.files.values():
            if file_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        return web.Response(status=404, text="Not Found")

    # -- methods ---------------------------------------------------------

    def _chat_object(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "测试用户"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"群组 {chat_id}"}

    @staticmethod
    def _chat_id(params: dict[str, Any]) -> int | TelegramFault:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            return TelegramFault(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            return TelegramFault.chat_not_found()
        return chat_id

    @staticmethod
    def _check_markup(params: dict[str, Any]) -> dict[str, Any] | TelegramFault | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            return TelegramFault(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > MAX_CALLBACK_DATA:
                    return TelegramFault(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    @staticmethod
    def _text(params: dict[str, Any]) -> str | TelegramFault:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return TelegramFault(400, "Bad Request: message text is empty")
        if str(params.get("parse_mode", "")).upper() == "HTML":
            try:
                text = plain_text(text)
            except EntityError as exc:
                return TelegramFault(400, f"Bad Request: can't parse entities: {exc}")
        if len(text) > MAX_TEXT_LENGTH:
            return TelegramFault(400, "Bad Request: message is too long")
        return text

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any] | TelegramFault:
        chat_id = self._chat_id(params)
        if isinstance(chat_id, TelegramFault):
            return chat_id
        text = self._text(params)
        if isinstance(text, TelegramFault):
            return text
        markup = self._check_markup(params)
        if isinstance(markup, TelegramFault):
            return markup
        chat = self._chats[chat_id]
        message: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "from": self.bot_user,
            "chat": self._chat_object(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if markup:
            message["reply_markup"] = markup
        chat.next_message_id += 1
        if self.record:
            chat.messages[message["message_id"]] = message
        return message

    def _find(self, params: dict[str, Any]) -> dict[str, Any] | TelegramFault:
        chat_id = self._chat_id(params)
        if isinstance(chat_id, TelegramFault):
            return chat_id
        message = self._chats[chat_id].messages.get(params.get("message_id"))  # type: ignore[arg-type]
        if message is None:
            return TelegramFault(400, "Bad Request: message to edit not found")
        return message

    async def _edit_message_text(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._find(params)
        if isinstance(message, TelegramFault):
            return message
        text = self._text(params)
        if isinstance(text, TelegramFault):
            return text
        markup = self._check_markup(params)
        if isinstance(markup, TelegramFault):
            return markup
        if text == message.get("text") and markup == message.get("reply_markup"):
            return TelegramFault(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message",
            )
        message["text"] = text
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return True
        message = self._find(params)
        if isinstance(message, TelegramFault):
            return message
        markup = self._check_markup(params)
        if isinstance(markup, TelegramFault):
            return markup
        message["edit_date"] = int(time.time())
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            return TelegramFault(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        wait = float(params.get("timeout") or 0)
        if offset:
            # Asking from ``offset`` confirms every earlier update (Bot API).
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and wait > 0 and not self._closing:
            self.polling += 1
            await self._notify()
            try:
                await self.wait_until(lambda: bool(self._updates) or self._closing, wait)
            except TimeoutError:
                pass
            finally:
                self.polling -= 1
        return self._updates[:limit]

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        self.webhook = dict(params) if url else None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": (self.webhook or {}).get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _get_file(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        if file_id not in self.files:
            return TelegramFault(400, "Bad Request: invalid file_id")
        path, content = self.files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"U{file_id}",
            "file_size": len(content),
            "file_path": path,
        }
