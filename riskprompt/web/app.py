"""The web app (FastAPI): Twilio and Telegram webhooks, acknowledgement links, the officer API.

:func:`create_app` is the only way in: the composition root (``riskprompt run``,
``riskprompt web``) and the tests build the app from the settings, an engine and
a clock.  Each area has its router; a router parses the request, calls one
domain function through :meth:`~riskprompt.web.context.WebContext.run` and
answers.  Domain errors become HTTP answers here, translated for the reader.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from riskprompt import __version__
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.errors import DomainError
from riskprompt.web import ack, api, console, dingtalk, health, metrics, telegram, twilio, wecom
from riskprompt.web.context import TelegramHandler, WebContext
from riskprompt.web.errors import domain_error_handler, validation_error_handler


def create_app(
    *,
    settings: Settings,
    engine: Engine,
    clock: Clock,
    telegram_handler: TelegramHandler | None = None,
) -> FastAPI:
    """Build the web app.

    Args:
        settings: the loaded settings (``TWILIO_AUTH_TOKEN``, ``PUBLIC_URL``,
            ``SECRET_KEY``, ``TELEGRAM_TOKEN`` and ``LOCALE`` are read here).
        engine: the engine on the migrated database; the app does not dispose it.
        clock: the clock every rule is given.
        telegram_handler: ``async (update_json) -> None`` for updates posted to
            ``/telegram/webhook``; None answers that route with 404.

    Returns:
        The ASGI app, with its OpenAPI documentation at ``/docs`` (no ReDoc).
    """
    app = FastAPI(
        title="riskprompt",
        version=__version__,
        summary="Post power risk prevention: webhooks, acknowledgement links and the officer API.",
        docs_url=None,  # served offline by _add_docs
        redoc_url=None,
    )
    _add_docs(app)
    app.state.context = WebContext(
        settings=settings, engine=engine, clock=clock, telegram_handler=telegram_handler
    )
    app.state.metrics = metrics.make_registry(engine, clock)
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(twilio.router)
    app.include_router(ack.router)
    app.include_router(telegram.router)
    app.include_router(wecom.router)
    app.include_router(dingtalk.router)
    app.include_router(api.router)
    console.install(app)  # the officers' web console at / (sign-in at /login)
    return app


#: Where the Swagger UI assets are served from (the app's own, never a CDN).
DOCS_ASSETS_URL = "/docs/assets"


def _docs_assets_dir() -> Path:
    """The Swagger UI bundle, stylesheet and favicon that ``fastapi-offline`` ships."""
    return Path(str(files("fastapi_offline") / "static"))


def _add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the app's own assets, so it works on an offline intranet.

    FastAPI's default page loads Swagger UI from a CDN and its favicon from the
    internet; here the JavaScript, CSS and favicon are mounted under
    :data:`DOCS_ASSETS_URL`, and the online spec validator is turned off.  URLs
    carry the ``root_path`` of a reverse proxy.
    """
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=_docs_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = "/docs/oauth2-redirect"
    parameters = {"validatorUrl": None}

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_ui_parameters=parameters,
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
