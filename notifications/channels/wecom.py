"""WeCom (企业微信, and its government edition 政务微信) app messages.

:class:`WeComClient` is the vendor I/O: ``gettoken``, ``message/send``,
``message/update_template_card`` and ``agent/get`` below ``WECOM_API_URL``
(``https://qyapi.weixin.qq.com``; 政务微信 and private deployments have their own
host with the same ``/cgi-bin/...`` paths), with the access token shared by every
worker through :mod:`riskprompt.models.tokens`.  :class:`WeComChannel` is the
adapter the dispatcher drives: a message goes out as its markdown ``parts``, then,
when it has buttons, a ``template_card`` of the ``button_interaction`` kind whose
button keys are the callback data (``ack:p:12``); the card's callback arrives at
:mod:`riskprompt.web.wecom`.

WeCom answers HTTP 200 whatever happened: the ``errcode`` decides, and
``errcode != 0`` is never "sent" (:func:`outcome_of`).
"""

from __future__ import annotations

import logging
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from sqlalchemy import Engine

from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.notifications.channels.base import ChannelAdapter, Message, Outcome, SendResult
from riskprompt.notifications.channels.tokenapi import Answer, ApiUnavailable, TokenApiClient

log = logging.getLogger(__name__)

# -- what an errcode means ------------------------------------------------------------------

#: The token was refused: fetch a new one (once) and call again.
TOKEN_CODES = frozenset({40014, 41001, 42001})  # invalid, missing, expired access_token
#: The recipient cannot be reached through this app: fail for good, fall back.
RECIPIENT_CODES = frozenset(
    {
        40003,  # invalid UserID
        40031,  # invalid UserID list
        43004,  # the member has not activated WeCom / follows no workbench
        60011,  # the member is outside the app's visible range
        60111,  # UserID does not exist
        81013,  # UserID, department and tag all invalid or not permitted
        82001,  # every recipient is empty or invalid
        301002,  # no permission on the member for this app
    }
)
#: The message itself is refused (too long, malformed): sending it again will not help.
MESSAGE_CODES = frozenset({40008, 40058, 44004, 45002})
#: Rate and frequency limits, and how long WeCom asks to wait (seconds).
RATE_CODES: Mapping[int, float] = {
    45009: 60.0,  # api freq out of limit (per minute and per hour): the next minute
    45011: 60.0,  # api minute-quota reach limit: retry next minute
    45033: 2.0,  # api concurrent out of limit
    -1: 5.0,  # system busy: retry shortly (WeCom: at most 3 times)
}
#: The channel: a CorpID, agent, secret, IP allow-list or permission the operator fixes.
CONFIGURATION_CODES = frozenset({40001, 40013, 40056, 41002, 41004, 48002, 60020})
#: What a card's task_id may not hold.
_TASK_ID = re.compile(r"[^0-9A-Za-z_\-@]")


class WeComUnavailable(ApiUnavailable):
    """WeCom could not be asked (no answer, not JSON, or no token): try later."""


def _listed(value: object, userid: str) -> bool:
    """Whether ``userid`` is among WeCom's ``a|b|c`` list (lower-cased by WeCom)."""
    if not isinstance(value, str) or not value:
        return False
    return userid.lower() in {part.strip().lower() for part in value.split("|")}


def outcome_of(answer: Answer, userid: str) -> SendResult:
    """What ``message/send``'s answer means for the message to ``userid``.

    * errcode 0 with ``userid`` in ``invaliduser`` or ``unlicenseduser`` (a
      partial failure WeCom reports as success) → failed, fall back;
    * errcode 0 otherwise → sent, the provider id is ``msgid``;
    * a recipient code (60111, 81013, 301002, ...) → failed, fall back;
    * a refused message (too long, empty, malformed) → failed;
    * a rate code (45009, 45011, 45033, -1) → retry after WeCom's wait;
    * the token codes (after the one refresh), configuration codes and anything
      unknown → retry: not the recipient's fault, and bounded by the attempts.
    """
    code = answer.errcode
    error = f"WeCom errcode {code}: {answer.errmsg}"
    if code == 0:
        for field in ("invaliduser", "unlicenseduser"):
            if _listed(answer.data.get(field), userid):
                return SendResult.failed(f"WeCom: {userid} is in {field}")
        return SendResult.sent(str(answer.data.get("msgid") or "") or None)
    if code in RECIPIENT_CODES or code in MESSAGE_CODES:
        return SendResult.failed(error)
    if code in RATE_CODES:
        return SendResult.retry(error, retry_after=RATE_CODES[code])
    if code in CONFIGURATION_CODES or code in TOKEN_CODES:
        return SendResult.retry(f"{error} (check the RISKPROMPT_WECOM_* settings)")
    return SendResult.retry(error)


# -- the API --------------------------------------------------------------------------------


class WeComClient(TokenApiClient):
    """WeCom's server API for one self-built app, with its shared access token.

    Args:
        api_url: ``https://qyapi.weixin.qq.com`` or another deployment's base.
        corp_id, agent_id, secret: the app.
        engine, clock, timeout, max_connections: as :class:`TokenApiClient`.
    """

    platform = "WeCom"
    unavailable = WeComUnavailable
    token_codes = TOKEN_CODES

    def __init__(
        self,
        *,
        api_url: str,
        corp_id: str,
        agent_id: int,
        secret: str,
        engine: Engine | None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        max_connections: int = 8,
    ) -> None:
        super().__init__(
            api_url=api_url,
            secret=secret,
            token_key=f"wecom:{corp_id}:{agent_id}",
            engine=engine,
            clock=clock,
            timeout=timeout,
            max_connections=max_connections,
        )
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.secret = secret

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine: Engine | None, clock: Clock | None = None
    ) -> Self:
        """The client of ``WECOM_*``.

        Raises:
            ValueError: WeCom is not configured (CorpID, agent and secret).
        """
        if not settings.wecom_enabled:
            raise ValueError("RISKPROMPT_WECOM_CORP_ID, _AGENT_ID and _SECRET must be set")
        return cls(
            api_url=settings.WECOM_API_URL,
            corp_id=settings.WECOM_CORP_ID or "",
            agent_id=int(settings.WECOM_AGENT_ID or 0),
            secret=settings.WECOM_SECRET or "",
            engine=engine,
            clock=clock,
        )

    def _fetch_token(self) -> tuple[str, float]:
        """``gettoken`` (blocking: it runs in a worker thread holding the token's row).

        Raises:
            WeComUnavailable: no answer, or WeCom refused (wrong secret, IP not allowed).
        """
        return self._gettoken(
            "/cgi-bin/gettoken", {"corpid": self.corp_id, "corpsecret": self.secret}, RATE_CODES
        )

    async def call(
        self, path: str, *, body: dict[str, Any] | None = None, params: dict[str, Any] | None = None
    ) -> Answer:
        """Call ``/cgi-bin/<path>`` (``message/send``) with the token; GET when no ``body``.

        Raises:
            WeComUnavailable: no answer, not JSON, or no token.
        """
        return await self.request(f"/cgi-bin/{path}", body=body, params=params)

    async def send(self, payload: dict[str, Any]) -> Answer:
        """``message/send`` with ``payload`` (``agentid`` is added)."""
        return await self.call("message/send", body={"agentid": self.agent_id, **payload})

    async def update_card(self, *, userid: str, response_code: str, replace_name: str) -> Answer:
        """Grey out the buttons of the card ``response_code`` names, with ``replace_name``.

        ``message/update_template_card``: one call per response code (from the send
        or the button's callback), within 72 hours.
        """
        return await self.call(
            "message/update_template_card",
            body={
                "userids": [userid],
                "agentid": self.agent_id,
                "response_code": response_code,
                "button": {"replace_name": replace_name},
            },
        )

    async def agent(self) -> Answer:
        """``agent/get``: the app's name and who can see it (``riskprompt doctor``)."""
        return await self.call("agent/get", params={"agentid": self.agent_id})


# -- the channel ----------------------------------------------------------------------------


def task_id(idempotency_key: str) -> str:
    """A card's ``task_id``: unique in the app, only ``0-9 A-Z a-z _ - @``, <= 128 bytes."""
    return f"{_TASK_ID.sub('_', idempotency_key)[:100]}-{secrets.token_hex(6)}"


def _truncate_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, at a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


class WeComChannel(ChannelAdapter):
    """WeCom app messages to a member's userid; the provider id is WeCom's ``msgid``\\(s).

    A message is its markdown ``parts`` (or its ``text`` as a text message when it
    has none), then, with buttons, a ``button_interaction`` template card titled
    ``subject`` and described by ``text``.  When a later piece fails, the pieces
    already sent are remembered (in this process) and the retry continues after
    them.  Outcomes: :func:`outcome_of`; no answer → retry.

    Limits (class attributes, read by the renderer and the dispatcher): markdown
    4,096 bytes, text 2,048 bytes, a card's title 26 and description 112
    characters, 6 buttons; per member 30 messages a minute and 1,000 an hour,
    beyond which WeCom drops them silently, so one send (a markdown message and a
    card) to a member waits :attr:`per_address_interval` after the previous one.
    """

    name: ClassVar[str] = "wecom"
    markdown_max_bytes: ClassVar[int] = 4096
    text_max_bytes: ClassVar[int] = 2048
    card_title_maxlen: ClassVar[int] = 26
    card_text_maxlen: ClassVar[int] = 112
    card_buttons_max: ClassVar[int] = 6
    body_maxlen: ClassVar[int | None] = 4096
    #: WeCom's limits per member, per app: beyond them messages are dropped unreported.
    member_messages_per_minute: ClassVar[int] = 30
    member_messages_per_hour: ClassVar[int] = 1000
    #: Messages one send usually makes: the markdown, and the card with the buttons.
    messages_per_send: ClassVar[int] = 2
    #: Calls of one API per minute for the whole corp.
    calls_per_minute: ClassVar[int] = 10_000
    #: The pacing these limits give (None to leave a channel unpaced).
    default_per_address_interval: ClassVar[float] = messages_per_send * max(
        60 / member_messages_per_minute, 3600 / member_messages_per_hour
    )
    default_rate_per_sec: ClassVar[float] = calls_per_minute / 60 / messages_per_send

    def __init__(
        self,
        *,
        client: WeComClient,
        source: str = "",
        rate_per_sec: float | None = None,
        per_address_interval: float | None = None,
        own_engine: bool = False,
    ) -> None:
        """Send through ``client``.

        Args:
            client: the app's API client (opened and closed with the channel).
            source: the card's source line (the app's name as readers know it).
            rate_per_sec: sends per second across the app, for the dispatcher.
            per_address_interval: seconds between two sends to one member.
            own_engine: dispose ``client.engine`` on close (it was made for the channel).
        """
        self.client = client
        self.source = source
        self.rate_per_sec = rate_per_sec
        self.per_address_interval = per_address_interval
        self.max_concurrency = client.max_connections  # type: ignore[misc]  # per instance
        self._own_engine = own_engine
        self._progress: OrderedDict[str, list[str]] = OrderedDict()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None
    ) -> WeComChannel:
        """The channel of ``WECOM_*`` and ``RATE_LIMITS``; the token cache in ``engine``
        (default: a new engine on ``DATABASE_URL``, disposed on close).

        Raises:
            ValueError: WeCom is not configured.
        """
        own = engine is None
        if engine is None:
            from riskprompt.models.db import make_engine

            engine = make_engine(settings.DATABASE_URL)
        limits = settings.RATE_LIMITS
        return cls(
            client=WeComClient.from_settings(settings, engine=engine, clock=clock),
            source="",
            rate_per_sec=cls.default_rate_per_sec if limits else None,
            per_address_interval=cls.default_per_address_interval if limits else None,
            own_engine=own,
        )

    async def open(self) -> None:
        """Open the API client; the token is fetched at the first send."""
        await self.client.open()

    async def close(self) -> None:
        """Close the API client (and the token cache's engine when it is the channel's)."""
        await self.client.close()
        if self._own_engine and self.client.engine is not None:
            self.client.engine.dispose()

    def payloads(self, message: Message) -> list[dict[str, Any]]:
        """The ``message/send`` bodies of ``message``, in order (without ``agentid``)."""
        userid = message.address.strip()
        bodies: list[dict[str, Any]] = [
            {"touser": userid, "msgtype": "markdown", "markdown": {"content": part}}
            for part in message.parts
            if part.strip()
        ]
        if not bodies and not message.buttons and message.text.strip():
            content = _truncate_bytes(message.text, self.text_max_bytes)
            bodies.append({"touser": userid, "msgtype": "text", "text": {"content": content}})
        if message.buttons:
            bodies.append(
                {
                    "touser": userid,
                    "msgtype": "template_card",
                    "template_card": self.card(message),
                }
            )
        return bodies

    def card(self, message: Message) -> dict[str, Any]:
        """The ``button_interaction`` template card of ``message``: its title, text and buttons."""
        card: dict[str, Any] = {
            "card_type": "button_interaction",
            "main_title": {"title": _shorten(message.subject, self.card_title_maxlen)},
            "task_id": task_id(message.idempotency_key),
            "button_list": [
                {"text": button.label, "style": 1 if index == 0 else 2, "key": button.data}
                for index, button in enumerate(message.buttons[: self.card_buttons_max])
            ],
        }
        if message.text.strip():
            card["sub_title_text"] = _shorten(message.text, self.card_text_maxlen)
        if self.source:
            card["source"] = {"desc": self.source, "desc_color": 0}
        return card

    async def send(self, message: Message) -> SendResult:
        """Send ``message`` to the member ``message.address``."""
        userid = message.address.strip()
        if not userid:
            return SendResult.failed("no WeCom userid")
        bodies = self.payloads(message)
        if not bodies:
            return SendResult.failed("empty message")
        key = message.idempotency_key
        sent_ids = self._progress.pop(key, [])
        try:
            for body in bodies[len(sent_ids) :]:
                try:
                    answer = await self.client.send(body)
                except WeComUnavailable as exc:
                    result = SendResult.retry(str(exc), retry_after=exc.retry_after)
                else:
                    result = outcome_of(answer, userid)
                if result.outcome is not Outcome.SENT:
                    if sent_ids and result.outcome is Outcome.RETRY:
                        self._remember(key, sent_ids)
                    return result
                sent_ids.append(result.provider_id or "")
        except BaseException:
            # Cancelled (the dispatcher's timeout): the retry still skips what went out.
            if sent_ids:
                self._remember(key, sent_ids)
            raise
        return SendResult.sent(",".join(i for i in sent_ids if i) or None)

    def _remember(self, key: str, sent_ids: list[str]) -> None:
        self._progress[key] = sent_ids
        while len(self._progress) > 10_000:
            self._progress.popitem(last=False)

    def describe(self) -> dict[str, Any]:
        """The adapter's name and limits, and the API base it talks to."""
        return {**super().describe(), "api_url": self.client.api_url}


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


__all__ = [
    "Answer",
    "WeComChannel",
    "WeComClient",
    "WeComUnavailable",
    "outcome_of",
    "task_id",
]
