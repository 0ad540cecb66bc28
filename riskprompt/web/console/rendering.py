"""Templates, language and formatting of the console's pages.

Every page is a Jinja2 template under ``templates/`` that extends ``base.html.j2``
and is rendered by :func:`render`, which gives it, besides what the route passes:

- ``user``: the signed-in :class:`~riskprompt.web.console.auth.ConsoleUser`, or None;
- ``_``, ``gettext``, ``ngettext``, ``pgettext``: the reader's translations
  (``jinja2.ext.i18n``, new style: ``_("%(n)s rows", n=3)``);
- ``fmt``: dates and numbers for the reader (:class:`Formatter`);
- ``csrf_token``, ``csrf_field()``: the token every form carries (hidden field) and
  the ``hx-headers`` of ``<body>`` send with every htmx request;
- ``url(path)``: a path of the app, behind a reverse proxy's ``root_path`` too;
- ``nav``, ``active``: the navigation and the current page's key;
- ``lang``, ``locale``, ``lang_url(locale)``: the language, and the current URL in
  another language (the switch).

The language is ``?lang=`` when given (it is then kept in a cookie), else the
cookie, else the signed-in officer's own language, else ``LOCALE`` (zh_CN).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from riskprompt.config.i18n import (
    SUPPORTED_LOCALES,
    format_day,
    format_list,
    format_month,
    format_number,
    format_ratio,
    format_when,
    normalise_locale,
    translator,
)
from riskprompt.web.context import web_context

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
#: Where the console's stylesheet and scripts are served (by the app itself: no CDN).
STATIC_URL = "/static/console"
#: The cookie that keeps the language chosen with the switch (or ``?lang=``).
LANG_COOKIE = "rp_lang"
LANG_PARAM = "lang"
#: The hidden field of every form, and the header of every htmx request.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: The languages the switch offers, each named in its own language.
LANGUAGES: tuple[tuple[str, str], ...] = (("zh_CN", "中文"), ("en", "English"))

#: The headers of every page: never cached, no framing, scripts and styles of the app only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class Formatter:
    """Dates and numbers for one reader (Babel, through :mod:`riskprompt.config.i18n`)."""

    locale: str
    timezone: str

    def when(self, moment: datetime | None) -> str:
        """A moment in the reader's time zone: ``2026年12月1日 09:00:00``; empty for None."""
        return "" if moment is None else format_when(moment, self.timezone, self.locale)

    def day(self, value: date | None) -> str:
        """A date: ``2026年12月1日``; empty for None."""
        return "" if value is None else format_day(value, self.locale)

    def month(self, period: str) -> str:
        """A period ``YYYY-MM``: ``2026年12月``."""
        return format_month(period, self.locale)

    def number(self, value: float) -> str:
        """A number with the reader's grouping: ``12,345``."""
        return format_number(value, self.locale)

    def list(self, items: Iterable[str]) -> str:
        """Items as the reader writes a list: ``财政局、审计局和税务局``."""
        return format_list(items, self.locale)

    def ratio(self, value: float | None) -> str:
        """A ratio as a percentage: ``50%``; ``–`` for None (nothing to divide)."""
        return "–" if value is None else format_ratio(value, self.locale)


@cache
def environment(locale: str) -> Environment:
    """The template environment of one language (built once per language)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translator(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def chosen_locale(request: Request) -> str | None:
    """The language asked for by ``?lang=`` or kept in the cookie, or None."""
    return normalise_locale(request.query_params.get(LANG_PARAM)) or normalise_locale(
        request.cookies.get(LANG_COOKIE)
    )


def console_locale(request: Request) -> str:
    """The language of the page (see the module's docstring)."""
    chosen = chosen_locale(request)
    if chosen is not None:
        return chosen
    user = getattr(request.state, "console_user", None)
    if user is not None:
        own = normalise_locale(user.person.locale)
        if own is not None:
            return own
    return web_context(request).settings.LOCALE


def gettext_for(request: Request) -> Any:
    """The ``gettext`` of the page's language (for messages built in a route)."""
    return translator(console_locale(request)).gettext


def app_url(request: Request, path: str) -> str:
    """``path`` of the app as the browser reaches it (a reverse proxy's ``root_path`` first)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{root}{path}"


def lang_url(request: Request, locale: str) -> str:
    """The current URL with ``?lang=locale`` (the other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != LANG_PARAM]
    params.append((LANG_PARAM, locale))
    return f"{request.url.path}?{urlencode(params)}"


def secure_cookies(request: Request) -> bool:
    """Whether cookies are marked ``Secure``: the public URL is https."""
    public = web_context(request).settings.PUBLIC_URL or ""
    return public.startswith("https://")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    block: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A console page (or, with ``block``, one block of it: an htmx partial).

    Args:
        request: the request being answered.
        template: the template's file name under ``templates/``.
        context: what the template needs besides what every page gets (see the
            module's docstring); ``active`` names the navigation entry to highlight.
        status: the HTTP status.
        block: render only this ``{% block %}`` of the template (the page's
            variables are all there; the layout around it is not).
        headers: more headers (the security headers are always set).
    """
    from riskprompt.web.console.routing import nav_items

    locale = console_locale(request)
    settings = web_context(request).settings
    user = getattr(request.state, "console_user", None)
    token = user.csrf_token if user is not None else getattr(request.state, "login_csrf", "")
    values: dict[str, Any] = {
        "request": request,
        "user": user,
        "locale": locale,
        "lang": locale.replace("_", "-"),
        "languages": LANGUAGES,
        "lang_url": lambda code: lang_url(request, code),
        "fmt": Formatter(locale, user.person.timezone if user is not None else settings.TIMEZONE),
        "csrf_token": token,
        "csrf_field": lambda: Markup(
            f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">'
        ),
        "csrf_header": CSRF_HEADER,
        "url": lambda path: app_url(request, path),
        "static": lambda name: app_url(request, f"{STATIC_URL}/{name}"),
        "nav": nav_items(user),
        "active": "",
        **(context or {}),
    }
    compiled = environment(locale).get_template(template)
    if block is None:
        html = compiled.render(values)
    else:
        html = "".join(compiled.blocks[block](compiled.new_context(values)))
    response = HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
    asked = normalise_locale(request.query_params.get(LANG_PARAM))
    if asked is not None and asked != normalise_locale(request.cookies.get(LANG_COOKIE)):
        response.set_cookie(
            LANG_COOKIE,
            asked,
            max_age=365 * 24 * 3600,
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure_cookies(request),
        )
    return response


__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LANGUAGES",
    "STATIC_DIR",
    "STATIC_URL",
    "SUPPORTED_LOCALES",
    "Formatter",
    "console_locale",
    "gettext_for",
    "render",
]
