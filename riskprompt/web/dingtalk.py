"""DingTalk's HTTP event callbacks: ``POST /dingtalk/callback``, signed and encrypted.

DingTalk posts ``{"encrypt": "..."}`` with ``signature`` (older apps:
``msg_signature``), ``timestamp`` and ``nonce`` in the query: the SHA-1 of the
sorted Token, timestamp, nonce and ciphertext, the ciphertext sealed with the
app's EncodingAESKey for the app key (the scheme of WeCom,
:mod:`riskprompt.notifications.channels.msgcrypt`).  Anything that does not
verify is refused (403) before the database is touched; without the callback's
settings (``DINGTALK_APP_KEY``, ``_TOKEN``, ``_AES_KEY``) the route does not exist.

Every genuine callback, the URL check (``check_url``) included, is answered with
the encrypted ``"success"`` DingTalk expects (``msg_signature``, ``timeStamp``,
``nonce``, ``encrypt``); without it DingTalk retries, and disables the callback
after too many failures.

No event needs a domain call yet: acknowledgements arrive through the signed
links of the action card (:mod:`riskprompt.web.ack`).  An event that names a
registered member is remembered by its id in the inbound messages table (the
de-duplication the WeCom and SMS callbacks use), so a re-sent one is seen as
such; :func:`_carry_out` is the place for the events we will act on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session

from riskprompt.config.settings import Settings
from riskprompt.models.conversations import first_time_seen
from riskprompt.models.people import Channel, person_for_address
from riskprompt.notifications.channels.msgcrypt import BadCiphertext, BadSignature, MessageCrypto
from riskprompt.web.context import WebContext, web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

CALLBACK_PATH = "/dingtalk/callback"
VIA = "dingtalk"
#: What DingTalk expects back, encrypted, from every callback it posts.
SUCCESS = "success"
#: The URL check DingTalk sends when the callback is registered or changed.
CHECK_URL = "check_url"
#: A callback is a few hundred bytes; refuse anything absurd before decrypting it.
MAX_BODY_BYTES = 64 * 1024
#: The fields an event may carry its id in, and the member it is about.
_ID_FIELDS = ("EventId", "eventId", "event_id", "EventID")
_USER_FIELDS = ("UserId", "userId", "StaffId", "staffId", "staff_id")


def crypto_of(settings: Settings) -> MessageCrypto:
    """The callback's crypto, or 404 when the callback is not configured."""
    if not settings.dingtalk_callbacks_enabled:
        raise HTTPException(404, "the DingTalk callback is not configured")
    return MessageCrypto(
        token=settings.DINGTALK_TOKEN or "",
        encoding_aes_key=settings.DINGTALK_AES_KEY or "",
        receive_id=settings.DINGTALK_APP_KEY or "",
    )


def event_id(event: dict[str, Any]) -> str:
    """The key an event is remembered by: ``dingtalk:<id>``, or a digest of the event."""
    for name in _ID_FIELDS:
        value = event.get(name)
        if isinstance(value, str | int) and 0 < len(str(value)) <= 48:
            return f"dingtalk:{value}"
    canonical = json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return f"dingtalk:ev:{hashlib.sha256(canonical.encode()).hexdigest()[:48]}"


def event_user(event: dict[str, Any]) -> str | None:
    """The one member (DingTalk userid) an event is about, or None."""
    for name in _USER_FIELDS:
        value = event.get(name)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def sealed_answer(
    crypto: MessageCrypto, *, text: str, timestamp: str, nonce: str
) -> dict[str, str]:
    """``text`` encrypted and signed as DingTalk reads a callback's answer."""
    encrypt, signature = crypto.seal(text, timestamp=timestamp, nonce=nonce)
    return {"msg_signature": signature, "timeStamp": timestamp, "nonce": nonce, "encrypt": encrypt}


def _opened(crypto: MessageCrypto, request: Request, encrypt: str) -> str:
    """The plaintext of a signed ciphertext, or 400/403."""
    query = request.query_params
    signature = query.get("signature") or query.get("msg_signature", "")
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if not (signature and timestamp and nonce and encrypt):
        raise HTTPException(400, "signature, timestamp, nonce and encrypt are required")
    try:
        return crypto.open(
            msg_signature=signature, timestamp=timestamp, nonce=nonce, encrypt=encrypt
        )
    except BadSignature:
        log.warning("refused a DingTalk callback with a wrong signature")
        raise HTTPException(403, "wrong signature") from None
    except BadCiphertext:
        log.warning("refused a DingTalk callback that does not decrypt for this app")
        raise HTTPException(400, "the message does not decrypt") from None


def _envelope(body: bytes) -> str:
    """The ``encrypt`` of the posted JSON, or 400."""
    try:
        envelope = json.loads(body)
    except ValueError:
        raise HTTPException(400, "not a DingTalk callback") from None
    encrypt = envelope.get("encrypt") if isinstance(envelope, dict) else None
    if not isinstance(encrypt, str):
        raise HTTPException(400, "encrypt is required")
    return encrypt


def _event(plain: str) -> dict[str, Any]:
    """The decrypted event (a JSON object), or 400."""
    try:
        event = json.loads(plain)
    except ValueError:
        raise HTTPException(400, "not a DingTalk event") from None
    if not isinstance(event, dict):
        raise HTTPException(400, "not a DingTalk event")
    return event


@router.post(CALLBACK_PATH, summary="DingTalk event callbacks", include_in_schema=False)
async def receive(request: Request) -> JSONResponse:
    """Verify and decrypt a callback, carry it out once, answer the encrypted "success"."""
    context = web_context(request)
    crypto = crypto_of(context.settings)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, "callback too large")
    event = _event(_opened(crypto, request, _envelope(body)))
    kind = str(event.get("EventType", ""))
    if kind == CHECK_URL:
        log.info("DingTalk checked the callback URL")
    else:
        await _carry_out(context, kind, event)
    timestamp = str(int(context.clock.now().timestamp() * 1000))
    answer = sealed_answer(crypto, text=SUCCESS, timestamp=timestamp, nonce=secrets.token_hex(8))
    return JSONResponse(answer)


async def _carry_out(context: WebContext, kind: str, event: dict[str, Any]) -> None:
    """Remember an event once and act on it (today: only a log line)."""
    key, userid = event_id(event), event_user(event)

    def remember(session: Session) -> bool:
        if userid is None:
            return True  # names no member: nothing to remember it by, nothing done
        person = person_for_address(session, channel=Channel.DINGTALK, address=userid)
        if person is None:
            return True
        return first_time_seen(session, message_sid=key, person=person, clock=context.clock)

    if not await context.run(remember):
        log.info("DingTalk re-sent event %s (%s): done the first time", key, kind)
        return
    # Events to act on go here, each by its EventType, through one function of models/.
    log.info("DingTalk event %s (%s): nothing to do", key, kind or "no type")


__all__ = ["CALLBACK_PATH", "event_id", "event_user", "router", "sealed_answer"]
