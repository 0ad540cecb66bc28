"""Settings: embedded defaults, environment, TOML file, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.config.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.DATABASE_URL == "sqlite:///./riskprompt.db"
    assert settings.LOCALE == "zh_CN"
    assert settings.TIMEZONE == "Asia/Shanghai"
    assert settings.OUTBOX_DIR == Path("./outbox")
    assert not settings.smtp_enabled
    assert not settings.twilio_enabled
    assert not settings.telegram_enabled


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("RISKPROMPT_LOCALE", "en")
    monkeypatch.setenv("RISKPROMPT_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("RISKPROMPT_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("RISKPROMPT_SMTP_PORT", "587")
    monkeypatch.setenv("RISKPROMPT_SMTP_STARTTLS", "true")
    monkeypatch.setenv("RISKPROMPT_TWILIO_ACCOUNT_SID", "AC123")
    monkeypatch.setenv("RISKPROMPT_TWILIO_AUTH_TOKEN", "secret")
    monkeypatch.setenv("RISKPROMPT_TWILIO_FROM", "+15005550006")
    monkeypatch.setenv("RISKPROMPT_TWILIO_API_URL", "http://127.0.0.1:9000/")
    monkeypatch.setenv("RISKPROMPT_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("RISKPROMPT_OUTBOX_DIR", "/tmp/box")
    settings = load_settings()
    assert settings.DATABASE_URL == "postgresql+psycopg://u@h/db"
    assert settings.LOCALE == "en"
    assert settings.TIMEZONE == "Europe/Berlin"
    assert settings.SMTP_PORT == 587
    assert settings.SMTP_STARTTLS is True
    assert settings.TWILIO_API_URL == "http://127.0.0.1:9000"
    assert settings.OUTBOX_DIR == Path("/tmp/box")
    assert settings.smtp_enabled and settings.twilio_enabled and settings.telegram_enabled


def test_locale_spellings_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKPROMPT_LOCALE", "zh-CN")
    assert load_settings().LOCALE == "zh_CN"


def test_toml_file_and_environment_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "riskprompt.toml"
    config.write_text(
        'database_url = "sqlite:///from-toml.db"\nLOCALE = "en"\nsmtp_port = 2525\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.DATABASE_URL == "sqlite:///from-toml.db"
    assert settings.LOCALE == "en"
    assert settings.SMTP_PORT == 2525

    monkeypatch.setenv("RISKPROMPT_LOCALE", "zh_CN")
    assert load_settings(config).LOCALE == "zh_CN"

    monkeypatch.setenv("RISKPROMPT_CONFIG", str(config))
    assert load_settings().SMTP_PORT == 2525


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("RISKPROMPT_SMTP_PORT", "abc", "whole number"),
        ("RISKPROMPT_SMTP_PORT", "70000", "65535"),
        ("RISKPROMPT_TIMEZONE", "Mars/Olympus", "time zone"),
        ("RISKPROMPT_LOCALE", "fr", "zh_CN or en"),
        ("RISKPROMPT_DATABASE_URL", "not a url", "database URL"),
        ("RISKPROMPT_DATABASE_URL", "mysql://root@localhost/x", "sqlite and postgresql"),
        ("RISKPROMPT_PUBLIC_URL", "ftp://example.org", "http"),
        ("RISKPROMPT_SMTP_STARTTLS", "maybe", "boolean"),
    ],
)
def test_an_invalid_value_names_the_setting_and_why(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, why: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.setting == variable
    assert why in str(caught.value)


def test_unknown_key_in_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('smtp_hots = "mail"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert caught.value.setting == "RISKPROMPT_SMTP_HOTS"


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path / "nope.toml")
    assert caught.value.setting == "RISKPROMPT_CONFIG"


def test_production_refuses_the_placeholder_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKPROMPT_ENVIRONMENT", "production")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert caught.value.setting == "RISKPROMPT_SECRET_KEY"
    monkeypatch.setenv("RISKPROMPT_SECRET_KEY", "a-real-secret-from-the-vault")
    assert load_settings().ENVIRONMENT == "production"


def test_cli_stops_with_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKPROMPT_TIMEZONE", "Mars/Olympus")
    result = CliRunner().invoke(app, ["units", "list"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "RISKPROMPT_TIMEZONE" in lines[0]
    assert "配置" in lines[0]  # the default locale is zh_CN

    result = CliRunner().invoke(app, ["--locale", "en", "units", "list"])
    assert "Invalid setting RISKPROMPT_TIMEZONE" in result.output
