"""``POST /telegram/webhook``: Telegram updates, checked against the webhook's secret token.

Telegram sends the secret given to ``setWebhook(secret_token=...)`` in the
``X-Telegram-Bot-Api-Secret-Token`` header of every update.  The secret is
derived from ``RISKPROMPT_SECRET_KEY`` by :func:`riskprompt.bot.app.webhook_secret` (one
derivation for the bot that registers the webhook and the route that checks it),
so it needs no setting of its own and changes when the key does.
"""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, HTTPException, Request, Response

from riskprompt.bot.app import SECRET_HEADER, WEBHOOK_PATH, InvalidUpdate, webhook_secret
from riskprompt.web.context import web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

MAX_UPDATE_BYTES = 1 << 20  # an update is a few KiB; refuse anything absurd

__all__ = ["router", "webhook_secret"]


@router.post(WEBHOOK_PATH, summary="Telegram updates", include_in_schema=False)
async def telegram_webhook(request: Request) -> Response:
    """Hand a genuine update to the bot; 403 without the right secret, 404 when no bot is served."""
    context = web_context(request)
    if context.telegram_handler is None or not context.settings.telegram_enabled:
        raise HTTPException(404, "Telegram is not served here")
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode("utf-8"), webhook_secret(context.settings).encode()):
        raise HTTPException(403, "wrong secret token")
    body = await request.body()
    if len(body) > MAX_UPDATE_BYTES:
        raise HTTPException(413, "update too large")
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "not JSON") from None
    if not isinstance(update, dict):
        raise HTTPException(400, "not an update")
    try:
        await context.telegram_handler(update)
    except InvalidUpdate:
        raise HTTPException(400, "not a Telegram update") from None
    except Exception:
        # Telegram re-sends an update answered with an error and holds the ones after
        # it: one update the bot cannot handle must not stop the chat. It is logged.
        log.exception("the bot could not handle update %s", update.get("update_id"))
    return Response(status_code=200)
