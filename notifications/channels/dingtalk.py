"""DingTalk (钉钉, and 浙政钉) work notifications (工作通知) of a self-built app.

:class:`DingTalkClient` is the vendor I/O below ``DINGTALK_API_URL``
(``https://oapi.dingtalk.com``; 浙政钉 and private deployments have their own
host): ``GET /gettoken?appkey=&appsecret=``, ``POST
/topapi/message/corpconversation/asyncsend_v2`` (a work notification to one
userid, answered with a ``task_id``), ``POST .../getsendresult`` (who read it) and
``POST /microapp/visible_scopes`` (``riskprompt doctor``), with the access token
shared by every worker through :mod:`riskprompt.models.tokens` (key
``dingtalk:<appkey>:<agent>``).

:class:`DingTalkChannel` is the adapter the dispatcher drives: a message is its
markdown ``parts``; with buttons, the last part goes as an ``action_card`` whose
buttons are links (DingTalk's action-card buttons open a URL, they call nothing
back): each button becomes the signed acknowledgement link of
:mod:`riskprompt.notifications.links` for the person the userid names.

DingTalk answers HTTP 200 whatever happened: the ``errcode`` decides, and
``errcode != 0`` is never "sent" (:func:`outcome_of`).  DingTalk delivers the same
content to a person once a day: reminders differ from the prompt by their headline
(:func:`riskprompt.notifications.rendering.prompt_reminder_headline`).

Receipts: ``getsendresult`` is asked a few times after sending
(:func:`poll_dingtalk_receipts`, the ``dingtalk-receipts`` job): read → a
``read`` receipt on the delivery; the userid invalid or forbidden → the delivery
fails and falls back (:func:`riskprompt.notifications.receipts.record_receipt`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Self

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from riskprompt.config.settings import Settings
from riskprompt.models import codes
from riskprompt.models.clock import Clock
from riskprompt.notifications.channels.base import (
    Button,
    ChannelAdapter,
    Message,
    Outcome,
    SendResult,
)
from riskprompt.notifications.channels.sms import Receipt
from riskprompt.notifications.channels.tokenapi import Answer as BaseAnswer
from riskprompt.notifications.channels.tokenapi import ApiUnavailable, TokenApiClient

log = logging.getLogger(__name__)

# -- what an errcode means ------------------------------------------------------------------

#: The token was refused: fetch a new one (once) and call again.  88 is DingTalk's
#: "authentication" answer (its sub_code says more), 40014 an invalid token, 42001 an
#: expired one.
TOKEN_CODES = frozenset({88, 40014, 42001})
#: The recipient cannot be reached through this app: fail for good, fall back.
RECIPIENT_CODES = frozenset(
    {
        33012,  # invalid userid
        40103,  # the userid_list is empty or invalid
        60121,  # no such user
        60003,  # the department (or member) does not exist
        60011,  # no permission on the member (outside the app's visible range)
    }
)
#: The message itself is refused (too long, malformed): sending it again will not help.
MESSAGE_CODES = frozenset({40035, 43008, 400002})
#: Rate and frequency limits, and how long DingTalk asks to wait (seconds); None: the
#: daily quota, retry at the next day (Asia/Shanghai).
RATE_CODES: Mapping[int, float | None] = {
    90018: 1.0,  # the app's QPS is exceeded: the next second
    130101: 60.0,  # sending too fast: retry after a minute
    143103: None,  # the member's daily work notifications of this app are used up
    143104: 60.0,  # the app's per-minute sends are used up
    143105: None,  # the app's daily sends to this member are used up
    143106: None,  # the same content to this member today: DingTalk drops it
    -1: 5.0,  # system busy: retry shortly (DingTalk: at most 3 times)
}
#: Frequency errors of the 1431xx family not listed above: the next minute.
RATE_FAMILY_WAIT = 60.0
#: The channel: app key, secret, agent, IP allow-list or permission the operator fixes.
CONFIGURATION_CODES = frozenset({40001, 40089, 40078, 33001, 60020, 71006, 853002})
#: DingTalk counts days in China's time.
_DINGTALK_DAY_OFFSET = timedelta(hours=8)


def until_next_day(now: datetime) -> float:
    """Seconds from ``now`` to the next midnight in Asia/Shanghai (DingTalk's daily quotas)."""
    local = now + _DINGTALK_DAY_OFFSET
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(60.0, (midnight - local).total_seconds())


class DingTalkUnavailable(ApiUnavailable):
    """DingTalk could not be asked (no answer, not JSON, or no token): try later."""


@dataclass(frozen=True, slots=True)
class Answer(BaseAnswer):
    """DingTalk's JSON answer to one call, with its ``errcode`` and ``errmsg``."""

    @property
    def errmsg(self) -> str:
        """DingTalk's words (and the sub_code of an 88), for logs and the delivery's error."""
        text = str(self.data.get("errmsg", ""))
        if self.data.get("sub_code"):
            text = f"{text} [sub_code {self.data['sub_code']}]"
        return text[:300]


def outcome_of(answer: Answer, *, now: datetime) -> SendResult:
    """What ``asyncsend_v2``'s answer means for the message.

    * errcode 0 → sent, the provider id is the ``task_id`` (a missing one: retry,
      nothing says DingTalk took it);
    * a recipient code (33012, 60121, ...) → failed, fall back;
    * a refused message (too long, malformed) → failed;
    * a rate code (130101, 143103, 1431xx, 90018, -1) → retry after DingTalk's wait
      (the daily quotas: the next day in China);
    * the token codes (after the one refresh), configuration codes and anything
      unknown → retry: not the recipient's fault, and bounded by the attempts.
    """
    code = answer.errcode
    error = f"DingTalk errcode {code}: {answer.errmsg}"
    if code == 0:
        task = answer.data.get("task_id")
        if task in (None, ""):
            return SendResult.retry("DingTalk answered errcode 0 without a task_id")
        return SendResult.sent(str(task))
    if code in RECIPIENT_CODES or code in MESSAGE_CODES:
        return SendResult.failed(error)
    if code in RATE_CODES:
        wait = RATE_CODES[code]
        return SendResult.retry(error, retry_after=until_next_day(now) if wait is None else wait)
    if 143100 <= code <= 143199:
        return SendResult.retry(error, retry_after=RATE_FAMILY_WAIT)
    if code in CONFIGURATION_CODES or code in TOKEN_CODES:
        return SendResult.retry(f"{error} (check the RISKPROMPT_DINGTALK_* settings)")
    return SendResult.retry(error)


# -- the API --------------------------------------------------------------------------------

SEND_PATH = "/topapi/message/corpconversation/asyncsend_v2"
RESULT_PATH = "/topapi/message/corpconversation/getsendresult"
VISIBLE_SCOPES_PATH = "/microapp/visible_scopes"


class DingTalkClient(TokenApiClient):
    """DingTalk's server API for one self-built app, with its shared access token.

    Args:
        api_url: ``https://oapi.dingtalk.com`` or another deployment's base.
        app_key, app_secret, agent_id: the app.
        engine, clock, timeout, max_connections: as :class:`TokenApiClient`.
    """

    platform = "DingTalk"
    unavailable = DingTalkUnavailable
    answer = Answer
    token_codes = TOKEN_CODES

    def __init__(
        self,
        *,
        api_url: str,
        app_key: str,
        app_secret: str,
        agent_id: int,
        engine: Engine | None,
        clock: Clock | None = None,
        timeout: float = 10.0,
        max_connections: int = 8,
    ) -> None:
        super().__init__(
            api_url=api_url,
            secret=app_secret,
            token_key=f"dingtalk:{app_key}:{agent_id}",
            engine=engine,
            clock=clock,
            timeout=timeout,
            max_connections=max_connections,
        )
        self.app_key = app_key
        self.app_secret = app_secret
        self.agent_id = agent_id

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine: Engine | None, clock: Clock | None = None
    ) -> Self:
        """The client of ``DINGTALK_*``.

        Raises:
            ValueError: DingTalk is not configured (app key, secret and agent).
        """
        if not settings.dingtalk_enabled:
            raise ValueError("RISKPROMPT_DINGTALK_APP_KEY, _APP_SECRET and _AGENT_ID must be set")
        return cls(
            api_url=settings.DINGTALK_API_URL,
            app_key=settings.DINGTALK_APP_KEY or "",
            app_secret=settings.DINGTALK_APP_SECRET or "",
            agent_id=int(settings.DINGTALK_AGENT_ID or 0),
            engine=engine,
            clock=clock,
        )

    def _fetch_token(self) -> tuple[str, float]:
        """``gettoken`` (blocking: it runs in a worker thread holding the token's row).

        Raises:
            DingTalkUnavailable: no answer, or DingTalk refused (wrong secret, IP).
        """
        return self._gettoken(
            "/gettoken", {"appkey": self.app_key, "appsecret": self.app_secret}, RATE_CODES
        )

    async def call(self, path: str, body: dict[str, Any]) -> Answer:
        """POST ``body`` to ``path`` with the token; a refused token is replaced once.

        Raises:
            DingTalkUnavailable: no answer, not JSON, or no token.
        """
        answer = await self.request(path, body=body)
        assert isinstance(answer, Answer)
        return answer

    async def send(self, *, userid: str, msg: dict[str, Any]) -> Answer:
        """``asyncsend_v2``: the work notification ``msg`` to ``userid``."""
        body = {"agent_id": self.agent_id, "userid_list": userid, "msg": msg}
        return await self.call(SEND_PATH, body)

    async def send_result(self, task_id: str) -> Answer:
        """``getsendresult`` of ``task_id``: who read it, who did not, who cannot get it."""
        return await self.call(RESULT_PATH, {"agent_id": self.agent_id, "task_id": int(task_id)})

    async def visible_scopes(self) -> Answer:
        """The app's visible range (``riskprompt doctor``)."""
        return await self.call(VISIBLE_SCOPES_PATH, {"agentId": self.agent_id})


# -- the channel ----------------------------------------------------------------------------

#: Turns a button (its callback data) for a userid into the link the card opens, or None.
LinkFor = Callable[[Button, str], str | None]


def _truncate_bytes(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8, at a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


class DingTalkChannel(ChannelAdapter):
    """DingTalk work notifications to a member's userid; the provider id is the ``task_id``.

    A message is its markdown ``parts`` (its ``text`` when it has none); with
    buttons, the last part is an ``action_card`` whose buttons open the signed
    acknowledgement link (``link_for``).  When a later piece fails, the pieces
    already sent are remembered and the retry continues after them.  The provider
    id is the task of the last piece (the card: the one whose read status counts).

    Limits (class attributes, read by the renderer and the dispatcher): a
    notification's markdown 1,800 bytes (room left in DingTalk's 2,048 for the
    title and buttons), a title 64 characters, 5 buttons; per member DingTalk
    takes at most 500 notifications a day of one app, and the same content once a
    day; per app 1,500 calls a minute (the QPS of the send API 20 a second).
    """

    name: ClassVar[str] = "dingtalk"
    markdown_max_bytes: ClassVar[int] = 1800
    title_maxlen: ClassVar[int] = 64
    card_buttons_max: ClassVar[int] = 5
    body_maxlen: ClassVar[int | None] = 1800
    #: DingTalk's limits per member per app; beyond them 143103/143105.
    member_messages_per_day: ClassVar[int] = 500
    #: The send API's calls per second for the app (beyond: 90018).
    calls_per_second: ClassVar[int] = 20
    #: Messages one send usually makes (one card; long prompts a markdown before it).
    messages_per_send: ClassVar[int] = 1
    #: The pacing these limits give: DingTalk paces per day, so a member's sends are
    #: only spread a little (a burst of reminders is refused with 130101).
    default_per_address_interval: ClassVar[float] = 2.0
    default_rate_per_sec: ClassVar[float] = calls_per_second / 2

    def __init__(
        self,
        *,
        client: DingTalkClient,
        link_for: LinkFor | None = None,
        rate_per_sec: float | None = None,
        per_address_interval: float | None = None,
        own_engine: bool = False,
    ) -> None:
        """Send through ``client``.

        Args:
            client: the app's API client (opened and closed with the channel).
            link_for: the link a button opens (None: buttons are left out).
            rate_per_sec: sends per second across the app, for the dispatcher.
            per_address_interval: seconds between two sends to one member.
            own_engine: dispose ``client.engine`` on close (it was made for the channel).
        """
        self.client = client
        self.link_for = link_for
        self.rate_per_sec = rate_per_sec
        self.per_address_interval = per_address_interval
        self.max_concurrency = client.max_connections  # type: ignore[misc]  # per instance
        self._own_engine = own_engine
        self._progress: OrderedDict[str, list[str]] = OrderedDict()

    @classmethod
    def from_settings(
        cls, settings: Settings, *, engine: Engine | None = None, clock: Clock | None = None
    ) -> DingTalkChannel:
        """The channel of ``DINGTALK_*`` and ``RATE_LIMITS``; the token cache in ``engine``
        (default: a new engine on ``DATABASE_URL``, disposed on close).

        Raises:
            ValueError: DingTalk is not configured.
        """
        own = engine is None
        if engine is None:
            from riskprompt.models.db import make_engine

            engine = make_engine(settings.DATABASE_URL)
        client = DingTalkClient.from_settings(settings, engine=engine, clock=clock)
        limits = settings.RATE_LIMITS
        return cls(
            client=client,
            link_for=signed_links(settings, engine=engine, clock=client.clock),
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

    def _title(self, message: Message) -> str:
        title = " ".join(message.subject.split()) or " ".join(message.text.split())[:20]
        return title[: self.title_maxlen] or "-"

    def payloads(self, message: Message, links: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """The ``msg`` of each notification of ``message``, in order.

        Args:
            message: the rendered message.
            links: (label, URL) of the card's buttons; none: markdown only.
        """
        parts = [p for p in message.parts if p.strip()]
        if not parts and message.text.strip():
            parts = [_truncate_bytes(message.text, self.markdown_max_bytes)]
        title = self._title(message)
        bodies: list[dict[str, Any]] = [
            {"msgtype": "markdown", "markdown": {"title": title, "text": part}} for part in parts
        ]
        if links:
            last = bodies.pop()["markdown"]["text"] if bodies else title
            card: dict[str, Any] = {"title": title, "markdown": last}
            if len(links) == 1:
                card |= {"single_title": links[0][0], "single_url": links[0][1]}
            else:
                card |= {
                    "btn_orientation": "1",
                    "btn_json_list": [{"title": t, "action_url": u} for t, u in links],
                }
            bodies.append({"msgtype": "action_card", "action_card": card})
        return bodies

    async def _links(self, message: Message, userid: str) -> list[tuple[str, str]]:
        if self.link_for is None or not message.buttons:
            return []
        link_for = self.link_for
        buttons = message.buttons[: self.card_buttons_max]

        def sign() -> list[tuple[str, str]]:
            pairs = [(b.label, link_for(b, userid)) for b in buttons]
            return [(label, url) for label, url in pairs if url]

        return await asyncio.to_thread(sign)

    async def send(self, message: Message) -> SendResult:
        """Send ``message`` to the member ``message.address``."""
        userid = message.address.strip()
        if not userid:
            return SendResult.failed("no DingTalk userid")
        try:
            links = await self._links(message, userid)
        except SQLAlchemyError as exc:
            return SendResult.retry(f"the links could not be signed: {type(exc).__name__}")
        bodies = self.payloads(message, links)
        if not bodies:
            return SendResult.failed("empty message")
        key = message.idempotency_key
        sent_ids = self._progress.pop(key, [])
        try:
            for body in bodies[len(sent_ids) :]:
                try:
                    answer = await self.client.send(userid=userid, msg=body)
                except DingTalkUnavailable as exc:
                    result = SendResult.retry(str(exc), retry_after=exc.retry_after)
                else:
                    result = outcome_of(answer, now=self.client.clock.now())
                if result.outcome is not Outcome.SENT:
                    if sent_ids and result.outcome is Outcome.RETRY:
                        self._remember(key, sent_ids)
                    return result
                sent_ids.append(result.provider_id or "")
        except BaseException:
            if sent_ids:
                self._remember(key, sent_ids)
            raise
        if len(sent_ids) > 1:
            log.info("DingTalk tasks of %s: %s", key, ",".join(sent_ids))
        return SendResult.sent(sent_ids[-1] or None)

    def _remember(self, key: str, sent_ids: list[str]) -> None:
        self._progress[key] = sent_ids
        while len(self._progress) > 10_000:
            self._progress.popitem(last=False)

    def describe(self) -> dict[str, Any]:
        """The adapter's name and limits, and the API base it talks to."""
        return {**super().describe(), "api_url": self.client.api_url}


def signed_links(settings: Settings, *, engine: Engine, clock: Clock) -> LinkFor:
    """Buttons → signed links: ``ack:p:12`` and ``ack:w:7`` to the acknowledgement page of
    the person the userid names, ``rc:7`` to the warning's page (where the correction is
    reported); other buttons (and an unknown userid) to nothing."""
    from sqlmodel import Session

    from riskprompt.models.people import Channel, person_for_address
    from riskprompt.notifications.outbox import ack_links

    def link_for(button: Button, userid: str) -> str | None:
        data = button.data
        with Session(engine) as session:
            person = person_for_address(session, channel=Channel.DINGTALK, address=userid)
            person_id = person.id if person is not None else None
        if person_id is None:
            return None
        links = ack_links(settings, clock.now())
        target = codes.parse_ack_data(data)
        if target is not None and target.kind is codes.CodeKind.PROMPT:
            return links.for_prompt(target.id, person_id)
        if target is not None and target.kind is codes.CodeKind.WARNING:
            return links.for_warning(target.id, person_id)
        if data.startswith(codes.REPORT_CORRECTION) and data not in (
            codes.REPORT_DONE,
            codes.REPORT_SUBMIT,
        ):
            try:
                return links.for_warning(codes.id_after(codes.REPORT_CORRECTION, data), person_id)
            except ValueError:
                return None
        return None

    return link_for


# -- receipts (getsendresult) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadReceipt(Receipt):
    """A DingTalk receipt: ``read`` (final), ``unread`` (ask again) or ``undelivered``."""

    @property
    def final(self) -> bool:
        """Read, or never to be delivered."""
        return self.status in {"read", "undelivered"}


#: getsendresult's lists that say the member will never get the message.
_UNREACHABLE_LISTS = ("invalid_user_id_list", "forbidden_user_id_list", "failed_user_id_list")


def receipt_of(answer: Answer, userid: str) -> ReadReceipt | None:
    """What ``getsendresult`` says of ``userid``; None when it says nothing yet."""
    if not answer.ok:
        return None
    result = answer.data.get("send_result") or {}

    def listed(name: str) -> bool:
        return userid in [str(u) for u in result.get(name) or []]

    if listed("read_user_id_list"):
        return ReadReceipt("read")
    for name in _UNREACHABLE_LISTS:
        if listed(name):
            return ReadReceipt(
                "undelivered", error_code=name.removesuffix("_user_id_list"), permanent=True
            )
    for item in result.get("forbidden_list") or []:
        if isinstance(item, dict) and str(item.get("userid", "")) == userid:
            return ReadReceipt("undelivered", error_code=str(item.get("code", "")), permanent=True)
    if listed("unread_user_id_list"):
        return ReadReceipt("unread")
    return None


async def poll_dingtalk_receipts(
    engine: Engine, *, client: DingTalkClient, clock: Clock, settings: Settings, limit: int = 200
) -> int:
    """Ask ``getsendresult`` about the DingTalk deliveries whose query is due; record it.

    Returns:
        How many new receipts were recorded.
    """
    from riskprompt.models.db import session_scope
    from riskprompt.notifications import receipts

    def due() -> list[receipts.ReceiptQuery]:
        with session_scope(engine) as session:
            return receipts.due_receipt_queries(
                session, now=clock.now(), limit=limit, channel="dingtalk"
            )

    def store(query: receipts.ReceiptQuery, receipt: ReadReceipt | None) -> bool:
        with session_scope(engine) as session:
            return receipts.record_polled_receipt(
                session, query=query, receipt=receipt, clock=clock, settings=settings
            )

    recorded = 0
    for query in await asyncio.to_thread(due):
        if not query.provider_id.isdigit():
            receipt = None
        else:
            try:
                answer = await client.send_result(query.provider_id)
            except DingTalkUnavailable as exc:
                log.info("DingTalk receipts: %s; the rest wait for the next pass", exc)
                break
            if answer.errcode in RATE_CODES or 143100 <= answer.errcode <= 143199:
                log.info("DingTalk receipts throttled (%s); next pass", answer.errcode)
                break
            receipt = receipt_of(answer, query.address)
        recorded += await asyncio.to_thread(store, query, receipt)
    if recorded:
        log.info("%d DingTalk receipts recorded", recorded)
    return recorded


__all__ = [
    "Answer",
    "DingTalkChannel",
    "DingTalkClient",
    "DingTalkUnavailable",
    "ReadReceipt",
    "outcome_of",
    "poll_dingtalk_receipts",
    "receipt_of",
    "signed_links",
    "until_next_day",
]
