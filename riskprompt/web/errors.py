"""Domain errors as HTTP answers, in the reader's language."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from riskprompt.config.i18n import translator
from riskprompt.models.errors import (
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
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


def _printable(value: Any) -> Any:
    """``value`` with every string made encodable (a lone surrogate becomes ``\\ud800``)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """422 for a request that does not validate, without echoing what was sent.

    FastAPI's own answer repeats each invalid input: megabytes of an oversized
    text, and a 500 instead of a 422 when the input holds a lone surrogate (it
    cannot be encoded).  This one keeps where and why (``loc``, ``msg``, ``type``).
    """
    assert isinstance(exc, RequestValidationError)
    errors = [
        {key: error[key] for key in ("type", "loc", "msg") if key in error}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": _printable(jsonable_encoder(errors))}, status_code=422)


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a refusal by the domain: its status, its message in the reader's words."""
    assert isinstance(exc, DomainError)
    gettext = translator(reader_locale(request)).gettext
    body: dict[str, Any] = {"detail": exc.translate(gettext), "error": type(exc).__name__}
    return JSONResponse(body, status_code=status_for(exc))
