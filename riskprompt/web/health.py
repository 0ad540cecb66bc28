"""``GET /healthz``: the app answers and its database does."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from riskprompt.models.queries import ping_database
from riskprompt.web.context import web_context

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database check")
async def healthz(request: Request) -> JSONResponse:
    """200 with ``{"status": "ok", "database": "ok"}``; 503 when the database does not answer."""
    context = web_context(request)

    try:
        await context.run_blocking(lambda: ping_database(context.engine))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("health check: the database does not answer: %s", exc)
        return JSONResponse({"status": "error", "database": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
