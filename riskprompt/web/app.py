"""The web app (FastAPI): Twilio and Telegram webhooks, acknowledgement links, the officer API.

:func:`create_app` is the only way in: the composition root (``riskprompt run``,
``riskprompt web``) and the tests build the app from the settings, an engine and
a clock.  Each area has its router; a router parses the request, calls one
domain function through :meth:`~riskprompt.web.context.WebContext.run` and
answers.  Domain errors become HTTP answers here, translated for the reader.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Engine

from riskprompt import __version__
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock
from riskprompt.models.errors import DomainError
from riskprompt.web import ack, api, health, metrics, telegram, twilio
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
        The ASGI app, with its OpenAPI documentation at ``/docs``.
    """
    app = FastAPI(
        title="riskprompt",
        version=__version__,
        summary="Post power risk prevention: webhooks, acknowledgement links and the officer API.",
        docs_url="/docs",
        redoc_url=None,
    )
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
    app.include_router(api.router)
    return app
