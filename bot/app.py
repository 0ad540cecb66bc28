"""The Telegram bot: the python-telegram-bot ``Application`` and how updates reach it.

Three ways in, one set of handlers:

* **polling** (a token and no ``PUBLIC_URL``): :func:`start_bot` starts PTB's
  updater on ``getUpdates``;
* **webhook** (``PUBLIC_URL`` set): :func:`start_bot` registers
  ``PUBLIC_URL + WEBHOOK_PATH`` with a ``secret_token``; the web app's route
  checks the header with :func:`verify_webhook_secret` (403 otherwise) and hands
  the JSON to :func:`process_update_json`;
* **console** (``riskprompt chat``): :mod:`riskprompt.bot.console` gives the application a
  bot whose requests an in-process Bot API emulator answers.

The handlers are plain ``CommandHandler``/``CallbackQueryHandler``/``MessageHandler``
objects; a message that is not a command goes to the step the chat is at, read
from the database (see :mod:`riskprompt.bot.state` for why not ``ConversationHandler``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from sqlalchemy import Engine
from telegram import Bot, BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from riskprompt.bot import binding, corrections, officers, people, warn
from riskprompt.bot import state as flows
from riskprompt.bot.turn import DEPS_KEY, BotDeps, Turn, step
from riskprompt.config.i18n import N_, SUPPORTED_LOCALES, translator
from riskprompt.config.settings import Settings
from riskprompt.models import codes
from riskprompt.models.clock import Clock

log = logging.getLogger(__name__)

#: Where the web app serves the webhook (``PUBLIC_URL + WEBHOOK_PATH``).
WEBHOOK_PATH = "/telegram/webhook"
#: The header Telegram puts the webhook's secret token in.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]

BotApplication = Application[Any, Any, Any, Any, Any, Any]

#: The commands shown in Telegram's menu, with their descriptions.
COMMANDS: list[tuple[str, str]] = [
    ("prompts", N_("Risk prompts waiting for your acknowledgement")),
    ("warnings", N_("Your open warnings")),
    ("help", N_("What this bot can do")),
    ("language", N_("中文 or English")),
    ("stop", N_("No more prompts in this chat")),
    ("resume", N_("Prompts in this chat again")),
    ("cancel", N_("Stop what you are doing")),
    ("remind", N_("Officers: issue a special prompt")),
    ("review", N_("Officers: review corrections")),
    ("warn", N_("Officers: issue a warning")),
    ("withdraw", N_("Officers: withdraw a warning")),
    ("status", N_("Officers: acknowledgements and overdue warnings")),
]


class InvalidUpdate(ValueError):
    """The JSON handed to :func:`process_update_json` is not a Telegram update."""


# -- routing messages by the chat's state ------------------------------------------------------

#: (flow, step) → what a text message means there.
TEXT_STEPS = {
    (flows.CORRECTION, flows.DESCRIBE): corrections.describe,
    (flows.CORRECTION, flows.EVIDENCE): corrections.expect_file,
    (flows.CORRECTION, flows.PREVIEW): corrections.expect_file,
    (flows.REMIND, flows.TARGET): officers.choose_target,
    (flows.REMIND, flows.TEXT): officers.write_text,
    (flows.REVIEW, flows.REASON): officers.reject_with_reason,
    (flows.WARN, flows.SUBJECT): warn.choose_subject,
    (flows.WARN, flows.REASON): warn.write_reason,
}


@step
async def receive_text(turn: Turn) -> None:
    """A text message: the answer to the step the chat is at, or a short reply."""
    handler = TEXT_STEPS.get((turn.state.flow or "", turn.state.step or ""), people.short_reply)
    await handler(turn)


async def report_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log an unexpected error and tell the person something went wrong."""
    log.error("error handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    settings = context.application.bot_data[DEPS_KEY].settings
    text = translator(settings.LOCALE).gettext(
        N_("Sorry, something went wrong. Please try again, or send /cancel.")
    )
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        else:
            await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError:
        log.warning("could not tell the chat about the error")


def add_handlers(application: BotApplication) -> None:
    """Register every command, button and message handler."""
    commands = {
        "start": binding.start,
        "unbind": binding.unbind,
        "help": people.show_help,
        "prompts": people.list_prompts,
        "warnings": people.list_warnings,
        "language": people.choose_language,
        "stop": people.stop_chat,
        "resume": people.resume_chat,
        "cancel": people.cancel,
        "done": corrections.finish_evidence,
        "remind": officers.begin_remind,
        "review": officers.begin_review,
        "status": officers.show_status,
        "warn": warn.begin_warn,
        "withdraw": warn.withdraw,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback))
    # The callback data and its patterns come from one place, where the buttons are built.
    buttons = [
        (codes.pattern(codes.ACK_PROMPT), people.acknowledge),
        (codes.pattern(codes.ACK_WARNING), people.acknowledge),
        (codes.pattern(codes.PAGE), people.turn_page),
        (codes.pattern(codes.LANGUAGE, r"[A-Za-z_]{1,16}"), people.choose_language),
        (codes.pattern(codes.CANCEL, ""), people.cancel),
        (codes.pattern(codes.REPORT_CORRECTION), corrections.begin_correction),
        (codes.pattern(codes.REPORT_DONE, ""), corrections.finish_evidence),
        (codes.pattern(codes.REPORT_SUBMIT, ""), corrections.submit_correction),
        (codes.pattern(codes.REMIND_TARGET, r"\w{1,32}"), officers.choose_target_button),
        (codes.pattern(codes.REMIND_SEND, ""), officers.send_remind),
        (codes.pattern(codes.REVIEW_ACCEPT), officers.accept_correction),
        (codes.pattern(codes.REVIEW_REJECT), officers.ask_reason),
        (codes.pattern(codes.REVIEW_NEXT), officers.skip_correction),
        (codes.pattern(codes.REVIEW_ONE), officers.show_correction),
        (codes.pattern(codes.WARN_COLOUR, r"\w{1,16}"), warn.choose_colour),
        (codes.pattern(codes.WARN_FORM, r"\w{1,16}"), warn.choose_form),
        (codes.pattern(codes.WARN_SEND, ""), warn.send_warn),
    ]
    for pattern, callback in buttons:
        application.add_handler(CallbackQueryHandler(callback, pattern=pattern))
    application.add_handler(CallbackQueryHandler(people.stale_button))
    application.add_handler(
        MessageHandler(filters.PHOTO | filters.Document.ALL, corrections.receive_file)
    )
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, receive_text))
    application.add_handler(MessageHandler(filters.COMMAND, people.unknown_command))
    application.add_error_handler(report_error)


# -- building and running -----------------------------------------------------------------------


def build_application(
    *,
    settings: Settings,
    engine: Engine,
    clock: Clock,
    bot: Bot | None = None,
    polling: bool = False,
) -> BotApplication:
    """The bot's application with every handler, not yet initialised.

    Args:
        settings: ``TELEGRAM_TOKEN`` and ``TELEGRAM_API_URL`` (another Bot API server,
            or the test stand-in) when no ``bot`` is given; ``DATA_DIR`` for evidence.
        engine: the database.
        clock: the clock.
        bot: a ready bot (the console emulator's); default: one made from the settings.
        polling: give it PTB's updater for ``getUpdates``; without it, updates come
            through :func:`process_update_json` (webhook, console, tests).

    Raises:
        ValueError: no ``bot`` and no ``TELEGRAM_TOKEN``.
    """
    builder = ApplicationBuilder().job_queue(None)
    if bot is not None:
        builder = builder.bot(bot)
    else:
        if not settings.TELEGRAM_TOKEN:
            raise ValueError("RISKPROMPT_TELEGRAM_TOKEN is not set")
        builder = builder.token(settings.TELEGRAM_TOKEN)
        if settings.TELEGRAM_API_URL:
            url = settings.TELEGRAM_API_URL
            builder = builder.base_url(f"{url}/bot").base_file_url(f"{url}/file/bot")
    if not polling:
        builder = builder.updater(None)
    application = builder.build()
    application.bot_data[DEPS_KEY] = BotDeps(settings=settings, engine=engine, clock=clock)
    add_handlers(application)
    return application


async def process_update_json(application: BotApplication, data: dict[str, Any]) -> None:
    """Handle one update received as JSON (the webhook's body, after its secret was checked).

    The application must be initialised (:func:`start_bot`, or ``await
    application.initialize()``).  Handlers' own errors are logged and answered, not
    raised.

    Raises:
        InvalidUpdate: ``data`` is not an update.
    """
    if not isinstance(data, dict) or "update_id" not in data:
        raise InvalidUpdate("not a Telegram update")
    try:
        update = Update.de_json(data, application.bot)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidUpdate(f"not a Telegram update: {exc}") from exc
    await application.process_update(update)


def webhook_secret(settings: Settings) -> str:
    """The webhook's secret token, derived from ``SECRET_KEY`` (the same on every instance)."""
    key = settings.SECRET_KEY.encode("utf-8")
    return hmac.new(key, b"riskprompt telegram webhook", hashlib.sha256).hexdigest()


def verify_webhook_secret(settings: Settings, header: str | None) -> bool:
    """Whether a webhook request carries our secret token (compared in constant time)."""
    if not header:
        return False
    return hmac.compare_digest(header.encode("utf-8"), webhook_secret(settings).encode("utf-8"))


def webhook_url(settings: Settings) -> str:
    """Where Telegram posts updates: ``PUBLIC_URL + WEBHOOK_PATH``.

    Raises:
        ValueError: ``PUBLIC_URL`` is not set.
    """
    if not settings.PUBLIC_URL:
        raise ValueError("RISKPROMPT_PUBLIC_URL is not set")
    return settings.PUBLIC_URL.rstrip("/") + WEBHOOK_PATH


async def publish_commands(application: BotApplication, settings: Settings) -> None:
    """Set the command menu in each language (best effort)."""
    bot = application.bot
    try:
        for locale in (None, *SUPPORTED_LOCALES):
            gettext = translator(locale or settings.LOCALE).gettext
            menu = [BotCommand(name, gettext(text)) for name, text in COMMANDS]
            await bot.set_my_commands(menu, language_code=locale.split("_")[0] if locale else None)
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


async def start_bot(
    *, settings: Settings, engine: Engine, clock: Clock, poll_timeout: float = 30.0
) -> BotApplication | None:
    """Start the bot the way the settings say; None when there is no ``TELEGRAM_TOKEN``.

    With ``PUBLIC_URL`` the webhook is registered (updates then come through the
    web app and :func:`process_update_json`); otherwise polling starts.  Stop it
    with :func:`stop_bot`.

    Args:
        settings: the settings.
        engine: the database.
        clock: the clock.
        poll_timeout: seconds one ``getUpdates`` long poll waits.
    """
    if not settings.telegram_enabled:
        return None
    webhook = bool(settings.PUBLIC_URL)
    application = build_application(
        settings=settings, engine=engine, clock=clock, polling=not webhook
    )
    await application.initialize()
    await publish_commands(application, settings)
    if webhook:
        await application.bot.set_webhook(
            url=webhook_url(settings),
            secret_token=webhook_secret(settings),
            allowed_updates=ALLOWED_UPDATES,
        )
        log.info("Telegram webhook at %s", webhook_url(settings))
    else:
        assert application.updater is not None
        await application.updater.start_polling(
            timeout=int(poll_timeout), allowed_updates=ALLOWED_UPDATES
        )
        log.info("Telegram polling started")
    await application.start()
    return application


async def stop_bot(application: BotApplication) -> None:
    """Stop polling (if it runs), the application, and close its connections."""
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()


def run_polling_forever(*, settings: Settings, engine: Engine, clock: Clock) -> None:
    """Run the bot alone in this process, polling, until interrupted (Ctrl-C)."""
    application = build_application(settings=settings, engine=engine, clock=clock, polling=True)

    async def menu(app: BotApplication) -> None:
        await publish_commands(app, settings)

    application.post_init = menu
    application.run_polling(allowed_updates=ALLOWED_UPDATES)
