"""Operators' log lines: plain text or one JSON object per line, never a secret.

``RISKPROMPT_LOG_FORMAT=text`` (the default) writes
``2026-12-01 09:00:00,123 INFO riskprompt.run: ...``; ``json`` writes one object
per line with ``time``, ``level``, ``logger`` and ``message`` (and ``exc_info``,
and any ``extra=`` fields), for a log shipper.  Either way the formatted line is
passed through a :class:`Redactor` last, so a secret of the settings (the bot
token, the Twilio auth token, the SMTP password, the secret key, the database
password) never reaches the log, whoever wrote the line: our code, a library
logging a URL with the bot token in it, or a traceback.

The token of a link (``/ack/<token>``, ``/a/<token>``) is a capability: whoever
holds it may act for its addressee.  It is shown as ``/ack/<redacted>`` by the
same redactor, and :class:`LinkPathFilter` rewrites uvicorn's access-log records
before any handler sees them (ours, pytest's, a log shipper's).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable

from pythonjsonlogger.json import JsonFormatter
from sqlalchemy.engine import make_url

from riskprompt.config.settings import PLACEHOLDER_SECRET, Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
REDACTED = "***"
#: Shorter values are not secrets worth the name, and replacing them would garble lines.
MIN_SECRET_LENGTH = 6
#: A Telegram bot token in a Bot API URL (``.../bot123456:AAE.../getMe``), whoever logs it.
BOT_TOKEN_IN_URL = re.compile(r"(?<=/bot)\d+:[A-Za-z0-9_-]+")
#: An access token in a query string (WeCom's and DingTalk's ``?access_token=...``).
ACCESS_TOKEN_IN_URL = re.compile(r"(?<=access_token=)[^&\s\"']+")
#: The token of a link to the page of a prompt or warning (``/ack/<token>``, ``/a/<token>``).
LINK_TOKEN_IN_PATH = re.compile(r"(/(?:ack|a)/)[^/?#\s\"']+")
LINK_REDACTED = r"\1<redacted>"


def redact_link_paths(text: str) -> str:
    """``text`` with the token of every link path replaced (``/ack/<redacted>``)."""
    return LINK_TOKEN_IN_PATH.sub(LINK_REDACTED, text)


class LinkPathFilter(logging.Filter):
    """Rewrites the link tokens in a record's message and arguments (uvicorn's access log).

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with the path as an argument;
    the filter replaces the token there, so every handler gets the redacted line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact, and let the record through."""
        if isinstance(record.msg, str):
            record.msg = redact_link_paths(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_link_paths(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: redact_link_paths(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return True


#: The loggers that log request paths: each gets a :class:`LinkPathFilter`.
PATH_LOGGERS = ("uvicorn.access", "uvicorn.error")


def install_link_filters() -> None:
    """Give each logger of :data:`PATH_LOGGERS` a :class:`LinkPathFilter` (once)."""
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, LinkPathFilter) for f in logger.filters):
            logger.addFilter(LinkPathFilter())


def secrets_of(settings: Settings) -> list[str]:
    """The values of ``settings`` that must never appear in a log line."""
    values = [
        settings.TELEGRAM_TOKEN,
        settings.TWILIO_AUTH_TOKEN,
        settings.ALIYUN_SMS_ACCESS_KEY_SECRET,
        settings.WECOM_SECRET,
        settings.WECOM_TOKEN,
        settings.WECOM_AES_KEY,
        settings.DINGTALK_APP_SECRET,
        settings.DINGTALK_TOKEN,
        settings.DINGTALK_AES_KEY,
        settings.SMTP_PASSWORD,
        settings.SECRET_KEY if settings.SECRET_KEY != PLACEHOLDER_SECRET else None,
        make_url(settings.DATABASE_URL).password,
    ]
    return [str(v) for v in values if v]


class Redactor:
    """Replaces each secret (and a bot token in a URL) by ``***`` in a piece of text.

    Args:
        secrets: the values to hide; those shorter than :data:`MIN_SECRET_LENGTH` are ignored.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            forms.add(secret)
            # As it reads inside a JSON string (a quote or a backslash in a password).
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        # Longest first: a secret that contains another is replaced whole.
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        text = ACCESS_TOKEN_IN_URL.sub(REDACTED, BOT_TOKEN_IN_URL.sub(REDACTED, text))
        return redact_link_paths(text)


class TextFormatter(logging.Formatter):
    """The plain-text line, redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line with every secret replaced."""
        return self.redact(super().format(record))


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line (python-json-logger), redacted."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )
        self.redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line with every secret replaced."""
        return self.redact(super().format(record))


def make_formatter(settings: Settings) -> logging.Formatter:
    """The formatter ``LOG_FORMAT`` asks for, hiding the secrets of ``settings``."""
    redactor = Redactor(secrets_of(settings))
    if settings.LOG_FORMAT == "json":
        return JsonLineFormatter(redactor)
    return TextFormatter(redactor)


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Our stderr handler (told apart so that a second configuration replaces it)."""


def configure_logging(level: int, settings: Settings) -> None:
    """Send log lines of ``level`` and above to stderr in the configured format.

    Like :func:`logging.basicConfig`, it leaves a root logger alone that someone
    else has already given handlers (pytest, an embedding application); a
    second call replaces the handler of the first.

    Args:
        level: the root logger's level.
        settings: ``LOG_FORMAT`` and the secrets to hide are read.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _OurHandler)]
    if len(ours) != len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    install_link_filters()
    handler = _OurHandler(sys.stderr)
    handler.setFormatter(make_formatter(settings))
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler logs every job run at INFO, httpx and twilio every request: noise.
    for noisy in ("apscheduler", "httpx", "httpcore", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


__all__ = [
    "JsonLineFormatter",
    "LinkPathFilter",
    "Redactor",
    "TextFormatter",
    "configure_logging",
    "install_link_filters",
    "make_formatter",
    "redact_link_paths",
    "secrets_of",
]
