"""The console's router, its navigation, and every error answered as a page.

Every console route is declared on :data:`router`, whose route class
(:class:`ConsoleRoute`) turns whatever a route or its dependencies raise into a
page in the layout, never a traceback or a JSON body:

- :class:`~riskprompt.web.console.auth.SignInRequired` → 302 to ``/login?next=...``
  (htmx requests get ``HX-Redirect`` instead);
- :class:`PageError` → its status, heading and message;
- a :class:`~riskprompt.models.errors.DomainError` → its status (403, 404, 409,
  422...) and its message in the reader's language;
- a request that does not validate → 422, naming the fields;
- an ``HTTPException`` → its status;
- anything else → 500, logged with its traceback.

The router's dependency :func:`~riskprompt.web.console.auth.csrf_guard` checks the
CSRF token of every POST (and PUT, PATCH, DELETE) before the route runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from riskprompt.config.i18n import N_, translator
from riskprompt.models.auditing import may_read_audit
from riskprompt.models.errors import DomainError
from riskprompt.web.console.auth import ConsoleUser, SignInRequired, csrf_guard, sign_in_redirect
from riskprompt.web.console.errors import ERROR_HEADINGS, PageError
from riskprompt.web.console.rendering import console_locale, render
from riskprompt.web.errors import status_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation: its key (``active``), path and label (a msgid)."""

    key: str
    path: str
    label: str


#: The console's pages, in the order the navigation shows them.
NAV: tuple[NavItem, ...] = (
    NavItem("overview", "/", N_("Overview")),
    NavItem("unacknowledged", "/unacknowledged", N_("Not acknowledged")),
    NavItem("warnings", "/warnings", N_("Warnings")),
    NavItem("corrections", "/corrections", N_("Corrections to review")),
    NavItem("special", "/special", N_("Special prompts")),
    NavItem("catalogue", "/catalogue", N_("Catalogue and people")),
    NavItem("assessment", "/assessment", N_("Assessment")),
    NavItem("audit", "/audit", N_("Audit")),
)


def error_page(
    request: Request,
    status: int,
    message: str,
    *,
    heading: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error page: a heading (translated here) and a message (already translated)."""
    gettext = translator(console_locale(request)).gettext
    title = gettext(heading or ERROR_HEADINGS.get(status, ERROR_HEADINGS[400]))
    return render(
        request,
        "error.html.j2",
        {"heading": title, "message": message, "status": status},
        status=status,
        headers=headers,
    )


class ConsoleRoute(APIRoute):
    """A route whose failures are answered as pages (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped to answer every failure with a page."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except PageError as exc:
                gettext = translator(console_locale(request)).gettext
                text = gettext(exc.message) if exc.message else ""
                if exc.params:
                    text = text % exc.params
                return error_page(request, exc.status, text, heading=exc.heading)
            except DomainError as exc:
                gettext = translator(console_locale(request)).gettext
                return error_page(request, status_for(exc), exc.translate(gettext))
            except RequestValidationError as exc:
                gettext = translator(console_locale(request)).gettext
                fields = sorted({str(e["loc"][-1]) for e in exc.errors() if e.get("loc")})
                text = gettext("These fields are missing or not valid: %(fields)s") % {
                    "fields": ", ".join(fields)
                }
                return error_page(request, 422, text)
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, "", headers=exc.headers)
            except Exception:
                log.exception("console page %s %s failed", request.method, request.url.path)
                gettext = translator(console_locale(request)).gettext
                text = gettext(
                    "The page could not be shown. Nothing was changed; try again, "
                    "and tell the administrator if it happens again."
                )
                return error_page(request, 500, text)

        return answer


def make_router() -> APIRouter:
    """A router of console routes: failures as pages, the CSRF check on every POST."""
    return APIRouter(
        route_class=ConsoleRoute, dependencies=[Depends(csrf_guard)], include_in_schema=False
    )


#: Every console route is declared here (``@router.get``, ``@router.post``).
router = make_router()


@dataclass(frozen=True, slots=True)
class NavEntry:
    """A navigation entry as the layout shows it: whether its page exists yet."""

    key: str
    path: str
    label: str
    available: bool


def nav_items(user: ConsoleUser | None) -> list[NavEntry]:
    """The navigation for ``user`` (none when signed out); pages not built yet are greyed."""
    if user is None or not user.is_officer:
        return []
    built = {route.path for route in router.routes if isinstance(route, APIRoute)}
    return [
        NavEntry(i.key, i.path, i.label, i.path in built)
        for i in NAV
        if i.key != "audit" or may_read_audit(user.person)  # the rule is the domain's
    ]
