"""Twilio webhooks: inbound SMS replies (``/twilio/sms``) and status callbacks (``/twilio/status``).

Every request must carry a valid ``X-Twilio-Signature``: an HMAC of the URL
Twilio called and the form, keyed with the account's auth token.  The URL is
rebuilt from ``RISKPROMPT_PUBLIC_URL``, not from the request, because behind a
proxy the app sees another host and scheme than Twilio used.  Anything else is
refused with 403 before the database is touched; without an auth token the
routes do not exist (404), and without a public URL they cannot check (503).
"""

from __future__ import annotations

import logging
import unicodedata
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from sqlmodel import Session
from starlette.datastructures import FormData
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse

from riskprompt.bot.commands import handle_reply
from riskprompt.config.i18n import N_, translator
from riskprompt.models.listings import person_and_latest_prompt_by_mobile
from riskprompt.notifications.receipts import record_receipt
from riskprompt.web.context import WebContext, web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

SMS_PATH = "/twilio/sms"
STATUS_PATH = "/twilio/status"  # notifications.channels.sms.STATUS_CALLBACK_PATH
MAX_FORM_BYTES = 64 * 1024  # a webhook form is well under 2 KiB
#: Twilio answers these itself and then refuses any message to the number, ours included.
TWILIO_OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
UNKNOWN_NUMBER = N_(
    "This number is not registered with the risk prompt service. "
    "Ask your unit's administrator to add it."
)


async def signed_form(request: Request, context: WebContext, path: str) -> FormData:
    """The form of a request Twilio signed, or an HTTP error.

    Raises:
        HTTPException: 404 Twilio not configured, 503 no public URL, 413 too large,
            403 missing or wrong signature.
    """
    settings = context.settings
    if not settings.TWILIO_AUTH_TOKEN:
        raise HTTPException(404, "Twilio is not configured")
    if not settings.PUBLIC_URL:
        raise HTTPException(503, "RISKPROMPT_PUBLIC_URL is not set: cannot check signatures")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise HTTPException(403, "missing signature")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, "form too large")
    form = FormData(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    url = settings.PUBLIC_URL + path
    if request.url.query:
        url += "?" + request.url.query
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, form, signature, algorithm):
        log.warning("refused a Twilio webhook with a wrong signature (%s)", path)
        raise HTTPException(403, "wrong signature")
    return form


def twiml(text: str | None) -> Response:
    """A TwiML answer that replies ``text`` (or nothing)."""
    answer = MessagingResponse()
    if text:
        answer.message(text)
    return Response(answer.to_xml(), media_type="application/xml")


def _twilio_opts_out(text: str) -> bool:
    return unicodedata.normalize("NFKC", text).strip().upper() in TWILIO_OPT_OUT_WORDS


@router.post(SMS_PATH, summary="Inbound SMS (Twilio webhook)", include_in_schema=False)
async def inbound_sms(request: Request) -> Response:
    """Carry out an SMS reply from a known number and answer in TwiML."""
    context = web_context(request)
    form = await signed_form(request, context, SMS_PATH)
    sender = form.get("From") or ""
    text = form.get("Body") or ""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    assert isinstance(sender, str) and isinstance(text, str) and isinstance(sid, str)

    def reply(session: Session) -> str:
        person, latest = (
            person_and_latest_prompt_by_mobile(session, mobile=sender) if sender else (None, None)
        )
        if person is None:
            return translator(context.settings.LOCALE).gettext(UNKNOWN_NUMBER)
        return handle_reply(
            session,
            person=person,
            text=text,
            clock=context.clock,
            via="sms",
            latest_open=latest,
            message_sid=sid[:64] or None,
        )

    answer = await context.run(reply)
    # After STOP Twilio sends its own confirmation and blocks ours (error 21610).
    return twiml(None if _twilio_opts_out(text) else answer)


@router.post(STATUS_PATH, summary="SMS status callback (Twilio)", include_in_schema=False)
async def sms_status(request: Request) -> Response:
    """Record a delivery receipt on the delivery Twilio names."""
    context = web_context(request)
    form = await signed_form(request, context, STATUS_PATH)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    error_code = form.get("ErrorCode") or None
    assert isinstance(sid, str) and isinstance(status, str)
    if not sid or not status:
        raise HTTPException(400, "MessageSid and MessageStatus are required")
    code = error_code if isinstance(error_code, str) else None

    def receipt(session: Session) -> bool:
        found = record_receipt(
            session,
            message_sid=sid[:128],
            status=status[:32],
            error_code=code[:16] if code else None,
            clock=context.clock,
            settings=context.settings,
        )
        return found is not None

    if not await context.run(receipt):
        # Not ours (another application on the account), or the dispatcher has not
        # recorded the send yet.  Twilio does not need to know: answer as usual.
        log.info("status callback for unknown message %s (%s)", sid, status)
    return Response(status_code=204)
