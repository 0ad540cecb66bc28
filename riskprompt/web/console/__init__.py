"""The officers' web console (纪检监察工作台): server-rendered pages at ``/``.

:func:`install` adds it to the app: the console's router (sign-in at ``/login``,
the pages at ``/`` and below) and its static files at
:data:`~riskprompt.web.console.rendering.STATIC_URL` (served by the app: an office
intranet has no CDN).

A page is a module here that declares its routes on
:data:`~riskprompt.web.console.routing.router` (listed in :data:`PAGES` so that it
is imported), takes the signed-in officer with
:data:`~riskprompt.web.console.auth.Officer`, calls the domain through
``web_context(request).run(...)`` and answers with
:func:`~riskprompt.web.console.rendering.render`.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from riskprompt.web.console.rendering import STATIC_DIR, STATIC_URL
from riskprompt.web.console.routing import router

#: The modules that declare the console's routes (imported by :func:`install`).
PAGES: tuple[str, ...] = (
    "signin",
    "overview",
    "unacknowledged",
    "assessment",
    "audit",
    "special",
    "catalogue",
    "warnings",
    "corrections",
)


def install(app: FastAPI) -> None:
    """Serve the console from ``app``: its static files and its pages."""
    for name in PAGES:
        importlib.import_module(f"{__name__}.{name}")
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(router)


__all__ = ["PAGES", "install", "router"]
