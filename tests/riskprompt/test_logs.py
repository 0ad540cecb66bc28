"""Log lines as text or JSON (``RISKPROMPT_LOG_FORMAT``), with every secret taken out."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from riskprompt.config.settings import SettingsError, load_settings
from riskprompt.logs import (
    JsonLineFormatter,
    Redactor,
    TextFormatter,
    configure_logging,
    make_formatter,
    secrets_of,
)

TOKEN = "123456789:AAE-secret_bot_token-xyz"
SECRETS = {
    "TELEGRAM_TOKEN": TOKEN,
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "twilio-auth-token-0123",
    "TWILIO_FROM": "+15005550006",
    "SMTP_HOST": "smtp.example.gov.cn",
    "SMTP_USERNAME": "mailer",
    "SMTP_PASSWORD": 'p@ss"word\\with-quote',
    "SECRET_KEY": "the-production-secret-key",
    "DATABASE_URL": "postgresql+psycopg://app:db-password-42@db.internal/riskprompt",
}


def record_of(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "riskprompt.test",
        logging.WARNING,
        __file__,
        1,
        message,
        args,
        (type(exc), exc, exc.__traceback__) if exc is not None else None,
    )


def leaky_record() -> logging.LogRecord:
    """A line that quotes every secret: in the message, its arguments and a traceback."""
    try:
        raise RuntimeError(f"login failed with {SECRETS['SMTP_PASSWORD']}")
    except RuntimeError as exc:
        return record_of(
            "calling https://api.telegram.org/bot%s/getMe with %s, key %s, url %s",
            TOKEN,
            SECRETS["TWILIO_AUTH_TOKEN"],
            SECRETS["SECRET_KEY"],
            SECRETS["DATABASE_URL"],
            exc=exc,
        )


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_a_line(log_format):
    settings = load_settings(LOG_FORMAT=log_format, **SECRETS)
    line = make_formatter(settings).format(leaky_record())

    for name in ("TELEGRAM_TOKEN", "TWILIO_AUTH_TOKEN", "SMTP_PASSWORD", "SECRET_KEY"):
        assert SECRETS[name] not in line, name
    assert "db-password-42" not in line
    assert json.dumps(SECRETS["SMTP_PASSWORD"])[1:-1] not in line  # nor JSON-escaped
    assert "***" in line
    if log_format == "json":
        payload = json.loads(line)
        assert payload["level"] == "WARNING" and payload["logger"] == "riskprompt.test"
        assert "RuntimeError" in payload["exc_info"]


def test_the_json_line_has_the_fields_a_shipper_reads():
    settings = load_settings(LOG_FORMAT="json")
    record = record_of("dispatch pass: %s", {"sent": 3})
    record.__dict__["worker"] = "host:42"  # an extra= field
    payload = json.loads(make_formatter(settings).format(record))

    assert payload["message"] == "dispatch pass: {'sent': 3}"
    assert payload["level"] == "WARNING"
    assert payload["logger"] == "riskprompt.test"
    assert payload["time"]
    assert payload["worker"] == "host:42"
    chinese = json.loads(make_formatter(settings).format(record_of("正在补发 %s", "2026-10")))
    assert chinese["message"] == "正在补发 2026-10"


def test_the_text_line_is_the_usual_one():
    settings = load_settings()
    formatter = make_formatter(settings)
    assert isinstance(formatter, TextFormatter)
    line = formatter.format(record_of("riskprompt stopped"))
    assert line.endswith(" WARNING riskprompt.test: riskprompt stopped")
    assert isinstance(make_formatter(load_settings(LOG_FORMAT="json")), JsonLineFormatter)


def test_a_bot_token_in_a_url_is_hidden_even_when_not_configured():
    redact = Redactor([])
    assert redact("POST http://127.0.0.1:81/bot987654:ABC_def-123/sendMessage") == (
        "POST http://127.0.0.1:81/bot***/sendMessage"
    )


def test_short_values_and_the_placeholder_are_not_secrets():
    assert secrets_of(load_settings()) == []
    assert Redactor(["abc"])("abc stays") == "abc stays"


def test_an_unknown_log_format_is_refused():
    with pytest.raises(SettingsError) as error:
        load_settings(LOG_FORMAT="xml")
    assert error.value.setting == "RISKPROMPT_LOG_FORMAT"


def test_configure_logging_replaces_its_own_handler_and_respects_others(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    configure_logging(logging.INFO, load_settings(LOG_FORMAT="json"))
    configure_logging(logging.INFO, load_settings(LOG_FORMAT="text"))
    assert len(root.handlers) == 1 and root.level == logging.INFO
    assert isinstance(root.handlers[0].formatter, TextFormatter)
    assert root.handlers[0].stream is sys.stderr  # type: ignore[attr-defined]

    foreign = logging.NullHandler()
    monkeypatch.setattr(root, "handlers", [foreign])
    configure_logging(logging.DEBUG, load_settings())
    assert root.handlers == [foreign] and root.level == logging.INFO


# -- link tokens ------------------------------------------------------------------------------


def test_link_tokens_are_redacted_in_access_records_and_in_our_lines() -> None:
    from riskprompt.logs import LinkPathFilter

    token = "eyJrIjoicCIsImkiOjcsInUiOjN9.Z0xYzw.sig-nature_x"
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/ack/{token}?utm=1", "1.1", 200),
        None,
    )
    assert LinkPathFilter().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /ack/<redacted>?utm=1 HTTP/1.1" 200'
    line = TextFormatter(Redactor([])).format(
        record_of("posted %s", "/a/p7.3.kx0aAbCdEfGhIjK/correction")
    )
    assert "/a/<redacted>/correction" in line and "kx0a" not in line
    assert "/api/v1/prompts" in TextFormatter(Redactor([])).format(
        record_of("GET %s", "/api/v1/prompts")
    )


def test_configure_logging_filters_the_access_log(monkeypatch: pytest.MonkeyPatch) -> None:
    from riskprompt.logs import LinkPathFilter, install_link_filters

    install_link_filters()
    install_link_filters()
    filters = logging.getLogger("uvicorn.access").filters
    assert sum(isinstance(f, LinkPathFilter) for f in filters) == 1
