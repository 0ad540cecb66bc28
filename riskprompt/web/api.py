"""The officer REST API under ``/api/v1``: special prompts, warnings, listings and reviews.

Every call carries an officer's bearer token (``riskprompt tokens create
STAFF_ID``).  No token, an unknown or a revoked one: 401.  A valid token whose
holder may not do the thing (no longer an officer, their own correction): 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from riskprompt.config.i18n import N_, translator
from riskprompt.models.conversations import authenticate_token
from riskprompt.models.errors import InvalidInput, NotFound, PermissionDenied
from riskprompt.models.listings import (
    WarningRow,
    correction_row,
    page_corrections,
    page_prompts,
    page_warnings,
    warning_row,
)
from riskprompt.models.people import Person
from riskprompt.models.prompts import PromptStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    WarningColour,
    WarningStatus,
    issue_warning,
    review_rectification,
    warning_subject,
    withdraw_warning,
)
from riskprompt.notifications.planning import issue_and_expand
from riskprompt.web.context import WebContext, reader_locale, web_context
from riskprompt.web.schemas import (
    MAX_ID,
    MAX_OFFSET,
    MAX_PAGE,
    BroadcastPublic,
    CorrectionPage,
    CorrectionPublic,
    ErrorPublic,
    PromptPage,
    PromptPublic,
    ReviewCreate,
    SpecialPromptCreate,
    StaffId,
    Text,
    WarningCreate,
    WarningPage,
    WarningPublic,
)

_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorPublic, "description": "No token, or an unknown or revoked one"},
    403: {"model": ErrorPublic, "description": "The token's holder may not do this"},
}
router = APIRouter(prefix="/api/v1", tags=["officer API"], responses=_ERRORS)
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OfficerToken",
    description="An officer's API token: `riskprompt tokens create STAFF_ID`.",
)
#: The msgid that :func:`~riskprompt.models.conversations.authenticate_token` refuses with.
_UNKNOWN_TOKEN = N_("unknown or revoked token")
MAX_TOKEN_LENGTH = 256

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]
StaffFilter = Annotated[StaffId | None, Query(alias="person", description="Staff ID (工号).")]


def _unauthorised(request: Request, message: str = _UNKNOWN_TOKEN) -> HTTPException:
    detail = translator(reader_locale(request)).gettext(message)
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


async def officer_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The bearer token of the request (checked against the database by each call)."""
    if credentials is None or not credentials.credentials:
        raise _unauthorised(request, N_("an officer's bearer token is required"))
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise _unauthorised(request)
    return token


Token = Annotated[str, Depends(officer_token)]
Context = Annotated[WebContext, Depends(web_context)]


def authenticate(session: Session, request: Request, token: str, context: WebContext) -> Person:
    """The officer holding ``token``; their locale becomes the default for error messages.

    Raises:
        HTTPException: 401 for an unknown or revoked token.
        PermissionDenied: the holder is no longer an officer (403).
    """
    try:
        officer = authenticate_token(session, token=token, clock=context.clock)
    except PermissionDenied as exc:
        if exc.msgid == _UNKNOWN_TOKEN:
            raise _unauthorised(request) from None
        raise
    request.state.reader_locale = officer.locale
    return officer


@router.post(
    "/special-prompts",
    status_code=201,
    summary="Issue a special prompt (特别提示)",
    responses={404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}},
)
async def create_special_prompt(
    body: SpecialPromptCreate, request: Request, token: Token, context: Context
) -> BroadcastPublic:
    """Issue a special prompt to a target, now or at ``at``; sent now, it is expanded at once.

    An ``at`` in the past is refused (422) unless ``force``; an officer with a
    limited scope reaches only the people in it.
    """

    def issue(session: Session) -> BroadcastPublic:
        officer = authenticate(session, request, token, context)
        broadcast = issue_and_expand(
            session,
            actor=officer,
            target=body.target,
            text=body.text,
            at=body.at,
            requires_ack=body.requires_ack,
            force=body.force,
            clock=context.clock,
            settings=context.settings,
        )
        session.flush()
        return BroadcastPublic.of(broadcast)

    return await context.run(issue)


@router.post(
    "/warnings",
    status_code=201,
    summary="Issue a three-colour warning (预警)",
    responses={404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}},
)
async def create_warning(
    body: WarningCreate, request: Request, token: Token, context: Context
) -> WarningPublic:
    """Issue a warning to a person (or a unit's head); its deliveries are queued at once."""

    def issue(session: Session) -> WarningPublic:
        officer = authenticate(session, request, token, context)
        if (body.person is None) == (body.unit is None):
            raise InvalidInput(N_("give either a person or a unit"))
        person = warning_subject(
            session, staff_id=body.person, unit_ref=None if body.unit is None else str(body.unit)
        )
        warning = issue_warning(
            session,
            actor=officer,
            person=person,
            colour=body.colour,
            form=body.form,
            reason=body.reason,
            deadline=body.deadline,
            risk_point_id=body.risk_point_id,
            clock=context.clock,
            settings=context.settings,
        )
        session.flush()
        return WarningPublic.of(WarningRow(warning=warning, person=person, issuer=officer))

    return await context.run(issue)


class WarningWithdraw(BaseModel):
    """Why an officer withdraws a warning."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(description="Why it is withdrawn (the person reads it).")


@router.post(
    "/warnings/{warning_id}/withdraw",
    summary="Withdraw an open warning",
    responses={
        404: {"model": ErrorPublic},
        409: {"model": ErrorPublic, "description": "Closed or withdrawn already"},
        422: {"model": ErrorPublic},
    },
)
async def withdraw(
    warning_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: WarningWithdraw,
    request: Request,
    token: Token,
    context: Context,
) -> WarningPublic:
    """Withdraw a warning: its messages not sent yet are cancelled, the person is told why."""

    def withdrawal(session: Session) -> WarningPublic:
        officer = authenticate(session, request, token, context)
        row = warning_row(session, warning_id)
        if row is None:
            raise NotFound(N_("no warning %(id)s"), id=warning_id)
        withdraw_warning(
            session, warning=row.warning, actor=officer, clock=context.clock, reason=body.reason
        )
        session.flush()
        return WarningPublic.of(row)

    return await context.run(withdrawal)


@router.get("/prompts", summary="List risk prompts")
async def list_prompts(
    request: Request,
    token: Token,
    context: Context,
    period: Annotated[
        str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    ] = None,
    status: PromptStatus | None = None,
    unit_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    person: StaffFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PromptPage:
    """Prompts by period, status, the reader's unit and the reader, newest first.

    Only the people of the token holder's supervision scope are listed.
    """

    def listing(session: Session) -> PromptPage:
        officer = authenticate(session, request, token, context)
        page = page_prompts(
            session,
            viewer=officer,
            period=period,
            status=status,
            unit_id=unit_id,
            staff_id=person,
            limit=limit,
            offset=offset,
        )
        items = [PromptPublic.of(row) for row in page.rows]
        return PromptPage(items=items, total=page.total, limit=limit, offset=offset)

    return await context.run(listing)


@router.get("/warnings", summary="List three-colour warnings")
async def list_warnings(
    request: Request,
    token: Token,
    context: Context,
    status: WarningStatus | None = None,
    colour: WarningColour | None = None,
    person: StaffFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> WarningPage:
    """Warnings by status, colour and addressee, newest first (within the holder's scope)."""

    def listing(session: Session) -> WarningPage:
        officer = authenticate(session, request, token, context)
        page = page_warnings(
            session,
            viewer=officer,
            status=status,
            colour=colour,
            staff_id=person,
            limit=limit,
            offset=offset,
        )
        items = [WarningPublic.of(row) for row in page.rows]
        return WarningPage(items=items, total=page.total, limit=limit, offset=offset)

    return await context.run(listing)


@router.get("/corrections", summary="List correction reports")
async def list_corrections(
    request: Request,
    token: Token,
    context: Context,
    status: RectificationStatus | None = None,
    person: StaffFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> CorrectionPage:
    """Correction reports by review status and author (``submitted``: waiting for review).

    Only the people of the token holder's supervision scope are listed.
    """

    def listing(session: Session) -> CorrectionPage:
        officer = authenticate(session, request, token, context)
        page = page_corrections(
            session, viewer=officer, status=status, staff_id=person, limit=limit, offset=offset
        )
        items = [CorrectionPublic.of(row) for row in page.rows]
        return CorrectionPage(items=items, total=page.total, limit=limit, offset=offset)

    return await context.run(listing)


@router.post(
    "/corrections/{correction_id}/review",
    summary="Accept or reject a correction report",
    responses={
        404: {"model": ErrorPublic},
        409: {"model": ErrorPublic, "description": "Already reviewed"},
        422: {"model": ErrorPublic},
    },
)
async def review_correction(
    correction_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ReviewCreate,
    request: Request,
    token: Token,
    context: Context,
) -> CorrectionPublic:
    """Accept (the warning closes) or reject with a reason (the warning goes back)."""

    def review(session: Session) -> CorrectionPublic:
        officer = authenticate(session, request, token, context)
        correction = session.get(Rectification, correction_id)
        if correction is None:
            raise NotFound(N_("no correction report %(id)s"), id=correction_id)
        review_rectification(
            session,
            rectification=correction,
            actor=officer,
            accept=body.accept,
            clock=context.clock,
            note=body.note,
            new_deadline=body.new_deadline,
            settings=context.settings,
        )
        session.flush()
        row = correction_row(session, correction_id)
        assert row is not None
        return CorrectionPublic.of(row)

    return await context.run(review)
