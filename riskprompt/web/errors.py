"""Domain errors as HTTP answers, in the reader's language."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from config.i18n import translator
from models.errors import DomainError, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from riskprompt.web.context import reader_locale

#: The HTTP status of each kind of refusal by the domain.
ERROR_STATUS: dict[type[DomainError], int] = {
    PermissionDenied: 403,
    NotFound: 404,
    InvalidInput: 422,
    IllegalTransition: 409,
}


def status_for(exc: DomainError) -> int:
    """The HTTP status that answers ``exc`` (400 for a kind not listed)."""
    for kind, status in ERROR_STATUS.items():
        if isinstance(exc, kind):
            return status
    return 400


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a refusal by the domain: its status, its message in the reader's words."""
    assert isinstance(exc, DomainError)
    gettext = translator(reader_locale(request)).gettext
    body: dict[str, Any] = {"detail": exc.translate(gettext), "error": type(exc).__name__}
    return JSONResponse(body, status_code=status_for(exc))
