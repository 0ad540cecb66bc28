"""Settings from the environment (``RISKPROMPT_*``) and an optional TOML file.

Precedence, highest first: explicit overrides, environment variables, the TOML
file (``--config FILE`` or ``RISKPROMPT_CONFIG``), the embedded defaults.  The
defaults run everything on one machine: SQLite and the file channel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from riskprompt.config.i18n import N_, SUPPORTED_LOCALES, normalise_locale

ENV_PREFIX = "RISKPROMPT_"
PLACEHOLDER_SECRET = "change-me"


class SettingsError(Exception):
    """The configuration is invalid; ``setting`` names the variable, ``reason`` says why."""

    def __init__(self, setting: str, reason: str, **params: object) -> None:
        super().__init__(f"{setting}: {reason % params if params else reason}")
        self.setting = setting
        self.reason = reason
        self.params = params

    def message(self, gettext: Callable[[str], str]) -> str:
        """The one line shown to a person, translated with ``gettext``."""
        reason = gettext(self.reason)
        return f"{self.setting}: {reason % self.params if self.params else reason}"


class Settings(BaseSettings):
    """Every setting of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        extra="forbid",
        validate_default=True,
    )

    ENVIRONMENT: Literal["development", "production"] = "development"
    DATABASE_URL: str = "sqlite:///./riskprompt.db"
    LOCALE: str = "zh_CN"
    TIMEZONE: str = "Asia/Shanghai"
    DATA_DIR: Path = Path("./data")
    OUTBOX_DIR: Path = Path("./outbox")

    SMTP_HOST: str | None = None
    SMTP_PORT: int = Field(default=25, ge=1, le=65535)
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS: bool = False
    SMTP_TLS: bool = False
    SMTP_FROM: str = "riskprompt@localhost"

    TWILIO_ACCOUNT_SID: str | None = None
    TWILIO_AUTH_TOKEN: str | None = None
    TWILIO_FROM: str | None = None
    TWILIO_API_URL: str | None = None

    # The SMS channel's provider: Twilio, or Alibaba Cloud SMS (registered templates).
    SMS_PROVIDER: Literal["twilio", "aliyun"] = "twilio"
    ALIYUN_SMS_API_URL: str | None = "https://dysmsapi.aliyuncs.com"
    ALIYUN_SMS_ACCESS_KEY_ID: str | None = None
    ALIYUN_SMS_ACCESS_KEY_SECRET: str | None = None
    ALIYUN_SMS_SIGN_NAME: str | None = None
    # Template code per kind of message (a JSON object in the environment:
    # RISKPROMPT_ALIYUN_SMS_TEMPLATES='{"prompt": "SMS_123", "warning": "SMS_456"}').
    ALIYUN_SMS_TEMPLATES: dict[str, str] = Field(default_factory=dict)

    TELEGRAM_TOKEN: str | None = None
    TELEGRAM_API_URL: str | None = None

    # WeCom (企业微信; 政务微信 and private deployments: another API URL, paths
    # /cgi-bin/... below it): the self-built app sending the messages, and its callback
    # (receive messages: the Token and the 43-character EncodingAESKey).
    WECOM_API_URL: str = "https://qyapi.weixin.qq.com"
    WECOM_CORP_ID: str | None = None
    WECOM_AGENT_ID: int | None = None
    WECOM_SECRET: str | None = None
    WECOM_TOKEN: str | None = None
    WECOM_AES_KEY: str | None = None
    # DingTalk (钉钉; 浙政钉 and private deployments: another API URL, paths /gettoken,
    # /topapi/... below it): the internal app's key, secret and agent, and its callback.
    DINGTALK_API_URL: str = "https://oapi.dingtalk.com"
    DINGTALK_APP_KEY: str | None = None
    DINGTALK_APP_SECRET: str | None = None
    DINGTALK_AGENT_ID: int | None = None
    DINGTALK_TOKEN: str | None = None
    DINGTALK_AES_KEY: str | None = None

    PUBLIC_URL: str | None = None
    SECRET_KEY: str = PLACEHOLDER_SECRET
    # Where `riskprompt run` and `riskprompt web` serve the web app (webhooks, links, API).
    WEB_HOST: str = "127.0.0.1"
    WEB_PORT: int = Field(default=8000, ge=0, le=65535)  # 0: any free port (tests)

    # Operators' log lines on stderr: plain text, or one JSON object per line.
    LOG_FORMAT: Literal["text", "json"] = "text"
    # Where a channel without credentials writes: one file per message, or the console.
    LOCAL_CHANNEL: Literal["file", "console"] = "file"
    # Outbox and dispatch.
    DISPATCH_INTERVAL_SECONDS: float = Field(default=5.0, gt=0)
    DISPATCH_BATCH_SIZE: int = Field(default=200, ge=1, le=10_000)
    DELIVERY_MAX_ATTEMPTS: int = Field(default=6, ge=1, le=50)
    RETRY_BASE_SECONDS: float = Field(default=60.0, gt=0)
    RETRY_MAX_SECONDS: float = Field(default=3600.0, gt=0)
    # Provider limits: Telegram 30 messages/s per bot and 1/s per chat; Twilio per account.
    RATE_LIMITS: bool = True
    TELEGRAM_RATE_PER_SEC: float = Field(default=30.0, gt=0)
    TELEGRAM_CHAT_INTERVAL_SECONDS: float = Field(default=1.0, ge=0)
    TWILIO_RATE_PER_SEC: float = Field(default=1.0, gt=0)
    SMTP_POOL_SIZE: int = Field(default=4, ge=1, le=64)
    SMTP_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    # The monthly cycle's clock (crontab: minute hour day month weekday), in TIMEZONE.
    MONTHLY_CRON: str = "0 9 1 * *"
    # A warning's deadline when the officer gives none: days from issue, per colour.
    WARNING_DEADLINE_DAYS_RED: int = Field(default=5, ge=1, le=365)
    WARNING_DEADLINE_DAYS_ORANGE: int = Field(default=10, ge=1, le=365)
    WARNING_DEADLINE_DAYS_YELLOW: int = Field(default=15, ge=1, le=365)
    # Reminders and escalation (one policy).  An unacknowledged prompt is re-sent on
    # the next channel every PROMPT_REMIND_AFTER_HOURS (0: never), PROMPT_REMINDERS
    # times; then the officers get the list of people who have not acknowledged.
    PROMPT_REMIND_AFTER_HOURS: float = Field(default=24.0, ge=0, le=24 * 90)
    PROMPT_REMINDERS: int = Field(default=2, ge=0, le=20)
    # A warning reminds its addressee so many days before its deadline, per colour
    # (a JSON list in the environment: RISKPROMPT_WARNING_REMIND_DAYS_RED='[2, 1]').
    WARNING_REMIND_DAYS_YELLOW: list[float] = Field(default=[3.0, 1.0], max_length=10)
    WARNING_REMIND_DAYS_ORANGE: list[float] = Field(default=[3.0, 1.0], max_length=10)
    WARNING_REMIND_DAYS_RED: list[float] = Field(default=[3.0, 1.0], max_length=10)
    # Non-urgent messages wait for the morning in the reader's time zone
    # ("HH:MM-HH:MM", empty: never); red warnings ignore it.
    QUIET_HOURS: str = "22:00-08:00"
    # How often `run` looks for due reminders and escalations.
    FOLLOW_UP_INTERVAL_SECONDS: float = Field(default=60.0, gt=0)
    # The assessment score's weights (models/assessment.py): positive ones reward,
    # negative ones penalise (a JSON object in the environment).
    ASSESSMENT_WEIGHTS: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_ASSESSMENT_WEIGHTS)
    )
    # The officers' web console (models/accounts.py): a session ends after so many
    # minutes without a request, or so many hours after sign-in; so many failed
    # sign-ins of one staff ID (or from one address) within the window lock it.
    CONSOLE_IDLE_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    CONSOLE_SESSION_HOURS: int = Field(default=12, ge=1, le=24 * 30)
    CONSOLE_MAX_FAILURES: int = Field(default=5, ge=1, le=1000)
    CONSOLE_MAX_FAILURES_PER_ADDRESS: int = Field(default=20, ge=1, le=10_000)
    CONSOLE_FAILURE_WINDOW_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    CONSOLE_LOCK_MINUTES: int = Field(default=15, ge=1, le=24 * 60)
    CONSOLE_PASSWORD_MIN_LENGTH: int = Field(default=12, ge=8, le=128)

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(N_("not a database URL such as sqlite:///./riskprompt.db")) from exc
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError(N_("only sqlite and postgresql databases are supported"))
        return value

    @field_validator("MONTHLY_CRON")
    @classmethod
    def _cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(N_("not a crontab expression such as '0 9 1 * *'")) from exc
        return value

    @field_validator("LOCALE")
    @classmethod
    def _locale(cls, value: str) -> str:
        locale = normalise_locale(value)
        if locale is None:
            raise ValueError(N_("unsupported locale; use zh_CN or en"))
        return locale

    @field_validator("TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(N_("unknown time zone; use a name such as Asia/Shanghai")) from exc
        return value

    @field_validator("QUIET_HOURS")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value.strip()

    @field_validator("ASSESSMENT_WEIGHTS")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(DEFAULT_ASSESSMENT_WEIGHTS))
        if unknown:
            raise ValueError(
                N_("unknown weight; use acknowledged, on_time, open_warnings, escalations")
            )
        weights = {**DEFAULT_ASSESSMENT_WEIGHTS, **value}
        if not any(w > 0 for w in weights.values()):
            raise ValueError(N_("at least one weight must be positive"))
        return weights

    @field_validator(
        "WARNING_REMIND_DAYS_YELLOW", "WARNING_REMIND_DAYS_ORANGE", "WARNING_REMIND_DAYS_RED"
    )
    @classmethod
    def _remind_days(cls, value: list[float]) -> list[float]:
        if any(days <= 0 or days > 365 for days in value):
            raise ValueError(N_("every number of days must be above 0 and at most 365"))
        return sorted(set(value), reverse=True)

    @field_validator("ALIYUN_SMS_TEMPLATES")
    @classmethod
    def _sms_templates(cls, value: dict[str, str]) -> dict[str, str]:
        if set(value) - set(SMS_TEMPLATE_KINDS):
            raise ValueError(N_("unknown kind of message; use prompt, warning, reminder, notice"))
        if not all(code.strip() for code in value.values()):
            raise ValueError(N_("every kind needs its template code (SMS_...)"))
        return {kind: code.strip() for kind, code in value.items()}

    @field_validator("PUBLIC_URL", "TWILIO_API_URL", "TELEGRAM_API_URL", "ALIYUN_SMS_API_URL")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(N_("must start with http:// or https://"))
        return value.rstrip("/")

    @field_validator("WECOM_API_URL", "DINGTALK_API_URL")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(N_("must start with http:// or https://"))
        return value.rstrip("/")

    @field_validator("WECOM_AES_KEY", "DINGTALK_AES_KEY")
    @classmethod
    def _aes_key(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not is_encoding_aes_key(value):
            raise ValueError(N_("not an EncodingAESKey: 43 letters and digits"))
        return value

    @field_validator(
        "WECOM_CORP_ID",
        "WECOM_SECRET",
        "WECOM_TOKEN",
        "DINGTALK_APP_KEY",
        "DINGTALK_APP_SECRET",
        "DINGTALK_TOKEN",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def zone(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.TIMEZONE)

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        """The quiet hours (start, end) in the reader's time zone, or None."""
        return parse_quiet_hours(self.QUIET_HOURS)

    def warning_remind_days(self, colour: str) -> list[float]:
        """Days before a deadline at which a warning of ``colour`` reminds, furthest first."""
        return {
            "yellow": self.WARNING_REMIND_DAYS_YELLOW,
            "orange": self.WARNING_REMIND_DAYS_ORANGE,
            "red": self.WARNING_REMIND_DAYS_RED,
        }[str(colour)]

    @property
    def smtp_enabled(self) -> bool:
        """Email goes through SMTP (otherwise through the file channel)."""
        return bool(self.SMTP_HOST)

    @property
    def twilio_enabled(self) -> bool:
        """SMS goes through Twilio (otherwise through the file channel)."""
        return self.SMS_PROVIDER == "twilio" and bool(
            self.TWILIO_ACCOUNT_SID and self.TWILIO_AUTH_TOKEN and self.TWILIO_FROM
        )

    @property
    def aliyun_sms_enabled(self) -> bool:
        """SMS goes through Alibaba Cloud SMS (otherwise through the file channel)."""
        return self.SMS_PROVIDER == "aliyun" and bool(
            self.ALIYUN_SMS_ACCESS_KEY_ID
            and self.ALIYUN_SMS_ACCESS_KEY_SECRET
            and self.ALIYUN_SMS_SIGN_NAME
        )

    @property
    def sms_enabled(self) -> bool:
        """SMS goes through its provider (``SMS_PROVIDER``), not the file channel."""
        return self.twilio_enabled or self.aliyun_sms_enabled

    @property
    def telegram_enabled(self) -> bool:
        """Chat goes through Telegram (otherwise through the file channel)."""
        return bool(self.TELEGRAM_TOKEN)

    @property
    def wecom_enabled(self) -> bool:
        """WeCom messages go through the app (otherwise through the file channel)."""
        return bool(self.WECOM_CORP_ID and self.WECOM_AGENT_ID is not None and self.WECOM_SECRET)

    @property
    def wecom_callbacks_enabled(self) -> bool:
        """The WeCom callback (buttons, replies) can be verified and decrypted."""
        return bool(self.WECOM_CORP_ID and self.WECOM_TOKEN and self.WECOM_AES_KEY)

    @property
    def dingtalk_enabled(self) -> bool:
        """DingTalk work notifications go through the app (otherwise the file channel)."""
        app = self.DINGTALK_APP_KEY and self.DINGTALK_APP_SECRET
        return bool(app and self.DINGTALK_AGENT_ID is not None)

    @property
    def dingtalk_callbacks_enabled(self) -> bool:
        """The DingTalk HTTP callback can be verified and decrypted."""
        return bool(self.DINGTALK_APP_KEY and self.DINGTALK_TOKEN and self.DINGTALK_AES_KEY)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _CONFIG_FILE.get("path")
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


#: The 43 characters of an EncodingAESKey (WeCom, DingTalk): base64 of 32 bytes, no "=".
_AES_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def is_encoding_aes_key(value: str) -> bool:
    """Whether ``value`` is an EncodingAESKey: 43 base64 characters that decode to 32 bytes."""
    return len(value) == 43 and set(value) <= _AES_KEY_CHARS


#: The kinds of SMS a registered template exists for (``ALIYUN_SMS_TEMPLATES``).
SMS_TEMPLATE_KINDS = ("prompt", "warning", "reminder", "notice")

#: The assessment score's measures and their default weights.
DEFAULT_ASSESSMENT_WEIGHTS: dict[str, float] = {
    "acknowledged": 0.5,
    "on_time": 0.5,
    "open_warnings": -0.25,
    "escalations": -0.25,
}


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """``"22:00-08:00"`` → (22:00, 08:00); an empty value → None.

    Raises:
        ValueError: anything else, with a translatable reason.
    """
    text = value.strip()
    if not text:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(N_("not quiet hours such as 22:00-08:00 (or empty for none)")) from None
    if start == end:
        raise ValueError(N_("quiet hours must start and end at different times"))
    return start, end


# The TOML path is chosen at run time (--config or RISKPROMPT_CONFIG); pydantic-settings
# reads sources from a classmethod, so the choice is handed over here for one load.
_CONFIG_FILE: dict[str, Path | None] = {"path": None}


# pydantic's own messages are English; the common ones get a translatable reason.
_REASONS: dict[str, str] = {
    "int_parsing": N_("not a whole number"),
    "int_type": N_("not a whole number"),
    "bool_parsing": N_("not a boolean (use true or false)"),
    "bool_type": N_("not a boolean (use true or false)"),
    "greater_than_equal": N_("must be at least %(ge)s"),
    "less_than_equal": N_("must be at most %(le)s"),
    "literal_error": N_("must be one of %(expected)s"),
    "extra_forbidden": N_("unknown setting"),
    "string_type": N_("not a text value"),
    "path_type": N_("not a path"),
}


def _reason(error: Any) -> tuple[str, dict[str, object]]:
    """A translatable reason and its parameters for one pydantic error."""
    ctx = error.get("ctx") or {}
    if error["type"] == "value_error" and "error" in ctx:
        return str(ctx["error"]), {}
    msgid = _REASONS.get(error["type"])
    if msgid is None:
        return str(error["msg"]), {}
    return msgid, {k: str(v) for k, v in ctx.items()}


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Load and check the settings.

    Args:
        config_file: a TOML file; defaults to ``RISKPROMPT_CONFIG`` when set.
        overrides: values that win over every source (used by tests and the demo).

    Raises:
        SettingsError: naming the first invalid setting and why.
    """
    path = config_file or os.environ.get(f"{ENV_PREFIX}CONFIG") or None
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SettingsError(
                f"{ENV_PREFIX}CONFIG", N_("file not found: %(path)s"), path=str(path)
            )
    _CONFIG_FILE["path"] = path
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        reason, params = _reason(error)
        raise SettingsError(f"{ENV_PREFIX}{field.upper()}", reason, **params) from None
    except ValueError as exc:  # a TOML file that does not parse
        raise SettingsError(f"{ENV_PREFIX}CONFIG", str(exc)) from None
    finally:
        _CONFIG_FILE["path"] = None
    if settings.ENVIRONMENT == "production" and settings.SECRET_KEY == PLACEHOLDER_SECRET:
        raise SettingsError(f"{ENV_PREFIX}SECRET_KEY", N_("set a secret key in production"))
    return settings


__all__ = ["SUPPORTED_LOCALES", "Settings", "SettingsError", "load_settings"]
