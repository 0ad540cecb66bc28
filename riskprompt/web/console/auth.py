"""Who is signed in to the console, what they supervise, and the CSRF check.

The session cookie holds the token of a
:class:`~riskprompt.models.accounts.ConsoleSession` (HttpOnly, SameSite=Lax, and
Secure with the ``__Host-`` prefix when ``PUBLIC_URL`` is https).  Routes take:

- :func:`current_officer` (``Depends``): the signed-in officer or admin as a
  :class:`ConsoleUser` with their supervision scope; anonymous visitors are sent to
  ``/login?next=...``, staff get a 403 page;
- :func:`signed_in`: the same, or None, for routes open to everyone (``/login``).

:func:`csrf_guard` is a dependency of the whole console router: every POST (PUT,
PATCH, DELETE) must carry the session's CSRF token, in the ``csrf_token`` form field
(``{{ csrf_field() }}`` in the template) or the ``X-CSRF-Token`` header (htmx sends
it: see ``hx-headers`` in ``base.html.j2``).  Signed out, the sign-in form carries
the token of a ``rp_login`` cookie instead (double submit).  A missing or wrong token
answers 403 before the route runs: nothing is changed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode, urlsplit

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from riskprompt.config.i18n import N_
from riskprompt.models.accounts import AccountPolicy, session_for
from riskprompt.models.people import Person, Role
from riskprompt.models.scope import scope_unit_ids, supervised_units
from riskprompt.web.console.errors import PageError, SignInRequired
from riskprompt.web.console.rendering import CSRF_FIELD, CSRF_HEADER, app_url, secure_cookies
from riskprompt.web.context import web_context

#: The cookie of the console session, and the one that protects the sign-in form.
SESSION_COOKIE = "rp_console"
LOGIN_COOKIE = "rp_login"
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The longest ``next`` URL kept through the sign-in.
MAX_NEXT_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The person signed in to the console, with their supervision scope.

    Attributes:
        person: who is signed in (detached: read it, or ``session.get`` it again).
        session_id: the id of their console session.
        csrf_token: the token their forms and htmx requests carry.
        scope: the ids of the units they supervise, subtrees included; None: every unit
            (an admin, or an officer with no scope given); empty for staff.
        supervised: the names of the units their scope names (each with its subtree),
            for the top bar; None: every unit.
    """

    person: Person
    session_id: int
    csrf_token: str
    scope: frozenset[int] | None
    supervised: tuple[str, ...] | None

    @property
    def is_officer(self) -> bool:
        """Officers and admins use the console; staff do not."""
        return self.person.active and self.person.is_officer

    @property
    def is_admin(self) -> bool:
        """Whether they are an admin."""
        return self.person.role is Role.ADMIN

    def sees_unit(self, unit_id: int) -> bool:
        """Whether ``unit_id`` is within their scope."""
        return self.scope is None or unit_id in self.scope

    def in_session(self, session: Session) -> Person:
        """The signed-in person as ``session`` reads them (people are deactivated, not
        deleted, so the detached copy stands in only if the row were gone)."""
        return session.get(Person, self.person.id) or self.person


def cookie_name(request: Request, base: str) -> str:
    """``base``, or ``__Host-base`` when cookies are Secure (https only, this host only)."""
    return f"__Host-{base}" if secure_cookies(request) else base


def policy_of(request: Request) -> AccountPolicy:
    """The session and sign-in policy of the settings."""
    return AccountPolicy.from_settings(web_context(request).settings)


def client_address(request: Request) -> str:
    """The client's address (sign-in attempts are throttled per address)."""
    return request.client.host if request.client else ""


def session_token(request: Request) -> str | None:
    """The session token the browser sent, or None."""
    return request.cookies.get(cookie_name(request, SESSION_COOKIE)) or None


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """Give the browser its session token (ends with the browser; the server ends it too)."""
    response.set_cookie(
        cookie_name(request, SESSION_COOKIE),
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget its session token."""
    response.delete_cookie(
        cookie_name(request, SESSION_COOKIE),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def login_csrf_token(request: Request) -> tuple[str, bool]:
    """The sign-in form's token (from its cookie, or new) and whether it is new.

    It is also kept in ``request.state.login_csrf`` for the page's forms.
    """
    current = request.cookies.get(cookie_name(request, LOGIN_COOKIE))
    token = current or secrets.token_urlsafe(32)
    request.state.login_csrf = token
    return token, current is None


def set_login_cookie(response: Response, request: Request, token: str) -> None:
    """Keep the sign-in form's token in its cookie (the form carries it back)."""
    response.set_cookie(
        cookie_name(request, LOGIN_COOKIE),
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )


def _load_user(session: Session, token: str, request: Request) -> ConsoleUser | None:
    context = web_context(request)
    active = session_for(session, token=token, clock=context.clock, policy=policy_of(request))
    if active is None:
        return None
    person = active.person
    scope: frozenset[int] | None = frozenset()
    supervised: tuple[str, ...] | None = ()
    if person.is_officer:
        units = scope_unit_ids(session, officer=person)
        scope = None if units is None else frozenset(units)
        named = supervised_units(session, officer=person)
        supervised = None if named is None else tuple(u.name for u in named)
    return ConsoleUser(
        person=person,
        session_id=active.session.id or 0,
        csrf_token=active.session.csrf_token,
        scope=scope,
        supervised=supervised,
    )


async def signed_in(request: Request) -> ConsoleUser | None:
    """The person signed in to the console (any role), or None (a FastAPI dependency).

    Looks the session up once per request (its last-seen moment moves); the user is
    also kept in ``request.state.console_user`` for the layout.
    """
    token = session_token(request)
    user = None
    if token is not None:
        user = await web_context(request).run(lambda s: _load_user(s, token, request))
    request.state.console_user = user
    return user


SignedIn = Annotated[ConsoleUser | None, Depends(signed_in)]


async def current_officer(request: Request, user: SignedIn) -> ConsoleUser:
    """The signed-in officer or admin (a FastAPI dependency).

    Raises:
        SignInRequired: nobody is signed in (the browser is sent to ``/login``).
        PageError: 403 for staff, or an officer who has since become staff.
    """
    if user is None:
        raise SignInRequired
    if not user.is_officer:
        raise PageError(
            403,
            N_(
                "The console is for discipline-inspection officers and administrators. "
                "Your prompts and warnings reach you by chat, SMS or email."
            ),
        )
    return user


Officer = Annotated[ConsoleUser, Depends(current_officer)]


async def csrf_guard(request: Request, user: SignedIn) -> None:
    """Refuse a POST (PUT, PATCH, DELETE) without the right CSRF token (403, nothing done).

    Signed in: the session's token.  Signed out (the sign-in form): the token of the
    ``rp_login`` cookie.  Sent as the ``X-CSRF-Token`` header or the ``csrf_token``
    form field.
    """
    if request.method in SAFE_METHODS:
        return
    route = request.scope.get("route")
    if user is None and getattr(route, "path", None) == LOGOUT_PATH:
        return  # signing nobody out changes nothing (a session that ended, a stale page)
    if user is not None:
        expected: str | None = user.csrf_token
    else:
        expected = request.cookies.get(cookie_name(request, LOGIN_COOKIE))
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageError(
            403,
            N_(
                "This form has expired or did not come from the console, so nothing was "
                "done. Reload the page and try again."
            ),
            heading=N_("The form could not be accepted"),
        )


def safe_next(value: str | None) -> str:
    """``value`` when it is a path of this site (not ``//host``, no scheme); else ``/``.

    The sign-in and sign-out pages themselves are not kept (no loop).
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return "/"
    if not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    if parts.path in (LOGIN_PATH, LOGOUT_PATH):
        return "/"
    return value


def _requested(request: Request) -> str:
    """Where the visitor was going: this URL for a GET, the page an htmx request came from."""
    current = request.headers.get("hx-current-url")
    if current:
        parts = urlsplit(current)
        if parts.netloc == request.url.netloc:
            return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    if request.method != "GET":
        return "/"
    query = request.url.query
    return safe_next(request.url.path + (f"?{query}" if query else ""))


def login_url(request: Request, next_url: str = "/") -> str:
    """The sign-in page, coming back to ``next_url`` afterwards."""
    target = app_url(request, LOGIN_PATH)
    return target if next_url == "/" else f"{target}?{urlencode({'next': next_url})}"


def sign_in_redirect(request: Request) -> Response:
    """Send an anonymous visitor to the sign-in page (302; htmx: ``HX-Redirect``)."""
    target = login_url(request, _requested(request))
    response: Response
    if request.headers.get("hx-request"):
        response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=302)
    if session_token(request) is not None:
        clear_session_cookie(response, request)  # it named a session that has ended
    return response
