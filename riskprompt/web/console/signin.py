"""``/login`` and ``/logout``: signing in to the console and out of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from riskprompt.config.i18n import N_, translator
from riskprompt.models.accounts import SignInOutcome, SignInStatus, sign_in, sign_out
from riskprompt.web.console.auth import (
    LOGIN_COOKIE,
    LOGIN_PATH,
    LOGOUT_PATH,
    SignedIn,
    clear_session_cookie,
    client_address,
    cookie_name,
    login_csrf_token,
    policy_of,
    safe_next,
    session_token,
    set_login_cookie,
    set_session_cookie,
)
from riskprompt.web.console.rendering import (
    Formatter,
    app_url,
    console_locale,
    render,
    secure_cookies,
)
from riskprompt.web.console.routing import router
from riskprompt.web.context import web_context

#: What the sign-in page says for each refusal, and its HTTP status.
REFUSALS: dict[SignInStatus, tuple[str, int]] = {
    SignInStatus.REFUSED: (
        N_(
            "The staff ID, password or verification code is not right. "
            "Too many failed attempts lock the sign-in for a while."
        ),
        400,
    ),
    SignInStatus.NOT_OFFICER: (
        N_(
            "Only discipline-inspection officers and administrators sign in to the console. "
            "Your prompts and warnings reach you by chat, SMS or email."
        ),
        403,
    ),
    SignInStatus.LOCKED: (
        N_("Too many failed sign-ins: signing in is locked until %(until)s."),
        429,
    ),
}


def _login_page(
    request: Request,
    *,
    next_url: str,
    staff_id: str = "",
    error: str = "",
    notice: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token, new = login_csrf_token(request)
    response = render(
        request,
        "login.html.j2",
        {"next": next_url, "staff_id": staff_id, "error": error, "notice": notice},
        status=status,
        headers=headers,
    )
    if new:
        set_login_cookie(response, request, token)
    return response


@router.get(LOGIN_PATH)
async def login_form(request: Request, user: SignedIn, next: str = "/") -> Response:
    """The sign-in form (an officer already signed in goes straight on)."""
    next_url = safe_next(next)
    if user is not None and user.is_officer:
        return RedirectResponse(next_url, status_code=302)
    notice = ""
    if request.query_params.get("signed_out"):
        notice = translator(console_locale(request)).gettext("You have signed out.")
    return _login_page(request, next_url=next_url, notice=notice)


@router.post(LOGIN_PATH)
async def login(
    request: Request,
    staff_id: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    totp: Annotated[str, Form(max_length=20)] = "",
    next: Annotated[str, Form(max_length=4096)] = "/",
) -> Response:
    """Check the staff ID, password and code; on success open a session and go on."""
    next_url = safe_next(next)
    gettext = translator(console_locale(request)).gettext
    if not staff_id.strip() or not password:
        return _login_page(
            request,
            next_url=next_url,
            staff_id=staff_id.strip(),
            error=gettext("Enter your staff ID and password."),
            status=400,
        )
    context = web_context(request)
    previous = session_token(request)

    def work(session: Session) -> SignInOutcome:
        outcome = sign_in(
            session,
            staff_id=staff_id,
            password=password,
            totp_code=totp or None,
            clock=context.clock,
            client=client_address(request),
            policy=policy_of(request),
        )
        if outcome.ok and previous is not None:
            sign_out(session, token=previous, clock=context.clock)  # no session fixation
        return outcome

    outcome = await context.run(work)
    if outcome.opened is not None:
        response = RedirectResponse(next_url, status_code=303)
        set_session_cookie(response, request, outcome.opened.token)
        response.delete_cookie(
            cookie_name(request, LOGIN_COOKIE), path="/", secure=secure_cookies(request)
        )
        return response
    message, status = REFUSALS[outcome.status]
    headers: dict[str, str] = {}
    if outcome.locked_until is not None:
        when = Formatter(console_locale(request), context.settings.TIMEZONE).when
        text = gettext(message) % {"until": when(outcome.locked_until)}
        wait = outcome.locked_until - context.clock.now()
        headers["Retry-After"] = str(max(1, int(wait.total_seconds())))
    else:
        text = gettext(message)
    return _login_page(
        request,
        next_url=next_url,
        staff_id=staff_id.strip(),
        error=text,
        status=status,
        headers=headers,
    )


@router.post(LOGOUT_PATH)
async def logout(request: Request) -> Response:
    """End the session (``console.signed_out``) and go back to the sign-in page."""
    token = session_token(request)
    if token is not None:
        context = web_context(request)
        await context.run(lambda s: sign_out(s, token=token, clock=context.clock))
    response = RedirectResponse(f"{app_url(request, LOGIN_PATH)}?signed_out=1", status_code=303)
    clear_session_cookie(response, request)
    return response
