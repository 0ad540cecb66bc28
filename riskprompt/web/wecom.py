"""WeCom callbacks: ``GET /wecom/callback`` verifies the URL, ``POST`` receives messages and events.

WeCom signs every callback (``msg_signature`` over the Token, ``timestamp``,
``nonce`` and the ciphertext) and encrypts it with the app's EncodingAESKey
(:mod:`riskprompt.notifications.channels.msgcrypt`).  Anything that does not
verify is refused (403) before the database is touched; without the callback's
settings (``WECOM_CORP_ID``, ``_TOKEN``, ``_AES_KEY``) the route does not exist.

What arrives is answered within WeCom's 5 seconds, then:

* a button of a template card (``template_card_event``): its key is the callback
  data the renderer put there (:mod:`riskprompt.models.codes`).  "已阅"
  acknowledges through :func:`riskprompt.models.acknowledging.acknowledge`, the
  same function as the Telegram button, and the card's buttons become "已确认"
  (``message/update_template_card`` with the event's ``ResponseCode``); "报告整改"
  answers with the signed link to the warning's page, where the correction and
  its evidence are reported.  Those calls to WeCom run after the answer;
* a text message: the SMS and chat replies (``1``, ``P12``, ``W7``: the one
  parser, :func:`riskprompt.bot.commands.parse_reply`), answered with a
  passive reply (encrypted XML in the response, like TwiML).

WeCom re-sends a callback it thinks was not answered: each one is remembered by
its ``MsgId`` (or, for an event, its sender, time and key) in the inbound
messages table, and a second one changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

from fastapi import APIRouter, BackgroundTasks, HTTPException, Request, Response
from sqlmodel import Session

from riskprompt.bot.commands import Intent, handle_reply, parse_reply
from riskprompt.config.i18n import N_, translator
from riskprompt.config.settings import Settings
from riskprompt.models import codes
from riskprompt.models.acknowledging import acknowledge
from riskprompt.models.conversations import first_time_seen
from riskprompt.models.errors import DomainError, InvalidInput
from riskprompt.models.people import Channel, person_for_address
from riskprompt.notifications.channels.msgcrypt import BadCiphertext, BadSignature, MessageCrypto
from riskprompt.notifications.channels.wecom import WeComClient, WeComUnavailable
from riskprompt.notifications.outbox import ack_links
from riskprompt.web.context import WebContext, web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

CALLBACK_PATH = "/wecom/callback"
VIA = "wecom"
#: A callback is a few hundred bytes; refuse anything absurd before decrypting it.
MAX_BODY_BYTES = 64 * 1024
#: WeCom's longest passive text reply.
REPLY_MAX_BYTES = 2048
#: A document type or an entity: never in a WeCom callback (and the way to an XML bomb).
_DECLARATION = re.compile(rb"<!(?!\[CDATA\[)")

UNKNOWN_ACCOUNT = N_(
    "This WeCom account is not registered with the risk prompt service. "
    "Ask your unit's administrator to add it."
)
HELP = N_(
    "Reply 1 to acknowledge your latest prompt, or its code (e.g. P12 or W7); "
    "or tap the buttons under a prompt or a warning."
)
REPORT_ON_PAGE = N_("Report the correction on %(code)s, with its evidence, here: %(link)s")
STALE_BUTTON = N_("This button is no longer valid.")


def crypto_of(settings: Settings) -> MessageCrypto:
    """The callback's crypto, or 404 when the callback is not configured."""
    if not settings.wecom_callbacks_enabled:
        raise HTTPException(404, "the WeCom callback is not configured")
    return MessageCrypto(
        token=settings.WECOM_TOKEN or "",
        encoding_aes_key=settings.WECOM_AES_KEY or "",
        receive_id=settings.WECOM_CORP_ID or "",
    )


def parse_xml(data: bytes | str) -> dict[str, str]:
    """The child elements of a WeCom XML document (``<xml>...</xml>``) as text.

    Raises:
        ValueError: not such a document, or one with a DTD or an entity.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if _DECLARATION.search(raw):
        raise ValueError("a declaration in the XML")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ValueError("not XML") from exc
    return {child.tag: (child.text or "").strip() for child in root}


def _opened(crypto: MessageCrypto, request: Request, encrypt: str) -> str:
    """The plaintext of a signed ciphertext, or 400/403."""
    query = request.query_params
    signature, timestamp, nonce = (
        query.get("msg_signature", ""),
        query.get("timestamp", ""),
        query.get("nonce", ""),
    )
    if not (signature and timestamp and nonce and encrypt):
        raise HTTPException(400, "msg_signature, timestamp, nonce and the message are required")
    try:
        return crypto.open(
            msg_signature=signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt
        )
    except BadSignature:
        log.warning("refused a WeCom callback with a wrong signature")
        raise HTTPException(403, "wrong signature") from None
    except BadCiphertext:
        log.warning("refused a WeCom callback that does not decrypt for this app")
        raise HTTPException(400, "the message does not decrypt") from None


@router.get(CALLBACK_PATH, summary="WeCom callback URL verification", include_in_schema=False)
async def verify_url(request: Request) -> Response:
    """Answer WeCom's check of the callback URL with the decrypted ``echostr``."""
    crypto = crypto_of(web_context(request).settings)
    # A "+" of the base64 may arrive unescaped and read as a space.
    echo = request.query_params.get("echostr", "").replace(" ", "+")
    return Response(_opened(crypto, request, echo), media_type="text/plain")


@dataclass(frozen=True, slots=True)
class _Press:
    """What a button press comes to: the card's new label ("已确认"), a text to send."""

    userid: str
    confirm: str | None = None
    text: str | None = None


def passive_reply(
    crypto: MessageCrypto, *, to_user: str, text: str, timestamp: str, nonce: str, now: int
) -> str:
    """The encrypted XML answer that replies ``text`` to ``to_user`` (WeCom's passive reply)."""
    content = text.encode("utf-8")[:REPLY_MAX_BYTES].decode("utf-8", "ignore")
    plain = (
        f"<xml><ToUserName>{escape(to_user)}</ToUserName>"
        f"<FromUserName>{escape(crypto.receive_id)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>text</MsgType>"
        f"<Content>{escape(content)}</Content></xml>"
    )
    encrypt, signature = crypto.seal(plain, timestamp=timestamp, nonce=nonce)
    return (
        f"<xml><Encrypt>{escape(encrypt)}</Encrypt>"
        f"<MsgSignature>{signature}</MsgSignature>"
        f"<TimeStamp>{escape(timestamp)}</TimeStamp><Nonce>{escape(nonce)}</Nonce></xml>"
    )


def inbound_id(message: dict[str, str]) -> str:
    """The key a callback is remembered by: ``wecom:<MsgId>``, or a digest for an event."""
    msg_id = message.get("MsgId", "")
    if msg_id and len(msg_id) <= 48:
        return f"wecom:{msg_id}"
    fields = ("FromUserName", "CreateTime", "Event", "EventKey", "TaskId", "ResponseCode")
    digest = hashlib.sha256("\x1f".join(message.get(f, "") for f in fields).encode()).hexdigest()
    return f"wecom:ev:{digest[:48]}"


def _is_ack_reply(text: str) -> bool:
    try:
        return parse_reply(text).intent in (Intent.ACK_LATEST, Intent.ACK_CODE)
    except InvalidInput:
        return True  # a code with a bad number: handle_reply says what is wrong


@router.post(CALLBACK_PATH, summary="WeCom messages and events", include_in_schema=False)
async def receive(request: Request, background: BackgroundTasks) -> Response:
    """Verify and decrypt a callback, carry it out once, answer at once."""
    context = web_context(request)
    settings = context.settings
    crypto = crypto_of(settings)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, "callback too large")
    try:
        envelope = parse_xml(body)
    except ValueError:
        raise HTTPException(400, "not a WeCom callback") from None
    try:
        message = parse_xml(_opened(crypto, request, envelope.get("Encrypt", "")))
    except ValueError:
        raise HTTPException(400, "not a WeCom message") from None
    agent = message.get("AgentID", "")
    if agent and settings.WECOM_AGENT_ID is not None and agent != str(settings.WECOM_AGENT_ID):
        return Response(status_code=200)  # another app of the corp: not ours to answer
    kind, event = message.get("MsgType", ""), message.get("Event", "")
    if kind == "text":
        return await _text(request, context, crypto, message)
    if kind == "event" and event == "template_card_event":
        press = await _button(context, message)
        if press is not None:
            background.add_task(_follow_up, settings, context, press, message)
    return Response(status_code=200)


async def _text(
    request: Request, context: WebContext, crypto: MessageCrypto, message: dict[str, str]
) -> Response:
    """Carry out a text reply and answer it in a passive reply."""
    sender, text = message.get("FromUserName", ""), message.get("Content", "")
    key = inbound_id(message)

    def reply(session: Session) -> str | None:
        person = person_for_address(session, channel=Channel.WECOM, address=sender)
        if person is None:
            return translator(context.settings.LOCALE).gettext(UNKNOWN_ACCOUNT)
        if not first_time_seen(session, message_sid=key, person=person, clock=context.clock):
            return None  # WeCom re-sent it: answered the first time
        if _is_ack_reply(text):
            return handle_reply(session, person=person, text=text, clock=context.clock, via=VIA)
        return translator(person.locale).gettext(HELP)

    answer = await context.run(reply)
    if not answer:
        return Response(status_code=200)
    xml = passive_reply(
        crypto,
        to_user=sender,
        text=answer,
        timestamp=request.query_params.get("timestamp", ""),
        nonce=secrets.token_hex(8),
        now=int(context.clock.now().timestamp()),
    )
    return Response(xml, media_type="application/xml")


async def _button(context: WebContext, message: dict[str, str]) -> _Press | None:
    """Carry out a card's button once; what to tell WeCom afterwards, or None."""
    sender, data = message.get("FromUserName", ""), message.get("EventKey", "")
    key = inbound_id(message)
    settings, clock = context.settings, context.clock

    def press(session: Session) -> _Press | None:
        person = person_for_address(session, channel=Channel.WECOM, address=sender)
        if person is None:
            return _Press(sender, text=translator(settings.LOCALE).gettext(UNKNOWN_ACCOUNT))
        if not first_time_seen(session, message_sid=key, person=person, clock=clock):
            return None  # a replay: done the first time
        t = translator(person.locale)
        target = codes.parse_ack_data(data)
        if target is not None:
            acknowledge(session, actor=person, target=target, via=VIA, clock=clock)
            return _Press(sender, confirm=t.pgettext("card button", "Confirmed"))
        if data.startswith(codes.REPORT_CORRECTION) and data != codes.REPORT_DONE:
            warning_id = codes.id_after(codes.REPORT_CORRECTION, data)
            link = ack_links(settings, clock.now()).for_warning(warning_id, person.id or 0)
            code = codes.warning_code(warning_id)
            return _Press(sender, text=t.gettext(REPORT_ON_PAGE) % {"code": code, "link": link})
        return _Press(sender, text=t.gettext(STALE_BUTTON))

    try:
        return await context.run(press)
    except DomainError as exc:
        # Rolled back, the memory of the event too: a retry is refused the same way.
        def locale(session: Session) -> str:
            person = person_for_address(session, channel=Channel.WECOM, address=sender)
            return person.locale if person is not None else settings.LOCALE

        return _Press(sender, text=exc.translate(translator(await context.run(locale)).gettext))


async def _follow_up(
    settings: Settings, context: WebContext, press: _Press, message: dict[str, str]
) -> None:
    """After the answer: grey out the card ("已确认") and send the text of a press."""
    if not settings.wecom_enabled:
        log.warning("WeCom button handled, but RISKPROMPT_WECOM_SECRET is not set: no card update")
        return
    response_code = message.get("ResponseCode", "")
    try:
        async with WeComClient.from_settings(
            settings, engine=context.engine, clock=context.clock
        ) as client:
            if press.confirm and response_code:
                answer = await client.update_card(
                    userid=press.userid, response_code=response_code, replace_name=press.confirm
                )
                if not answer.ok:
                    log.warning("WeCom did not update the card: %s", answer.errmsg)
            if press.text:
                answer = await client.send(
                    {"touser": press.userid, "msgtype": "text", "text": {"content": press.text}}
                )
                if not answer.ok:
                    log.warning("WeCom did not take the answer to a button: %s", answer.errmsg)
    except WeComUnavailable as exc:
        log.warning("could not follow up a WeCom button: %s", exc)


__all__ = ["CALLBACK_PATH", "parse_xml", "passive_reply", "router"]
