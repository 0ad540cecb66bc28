"""``riskprompt doctor``: settings, database and every channel, reached through the stand-ins.

The stand-ins serve in the test's event loop while the CLI (which runs its own
loop) runs in a thread.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskprompt.cli.app import app
from tests.builders import make_person, make_unit
from tests.conftest import BACKENDS
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramStandin
from tests.standins.twilio import TwilioStandin
from tests.standins.wecom import WeComStandin, settings_values

ONE_BACKEND = pytest.mark.parametrize("database", BACKENDS[:1], indirect=True)
SMTP_LOGIN = ("mailer", "smtp-password-123")
SECRET_KEY = "a-long-production-secret-key"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")


@pytest.fixture
async def smtp_auth():
    async with SmtpStandin(credentials=SMTP_LOGIN) as server:
        yield server


def configure(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    *,
    smtp: SmtpStandin | None = None,
    telegram: TelegramStandin | None = None,
    twilio: TwilioStandin | None = None,
    wecom: WeComStandin | None = None,
    **extra: str,
) -> None:
    """Point the CLI's settings (environment) at the stand-ins."""
    values = standin_overrides(smtp=smtp, telegram=telegram, twilio=twilio)
    if wecom is not None:
        values |= settings_values(wecom)
    values |= {
        "SECRET_KEY": SECRET_KEY,
        "PUBLIC_URL": "https://riskprompt.example.gov.cn",
        "DATA_DIR": str(tmp_path / "data"),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    if smtp is not None:
        values |= {"SMTP_USERNAME": SMTP_LOGIN[0], "SMTP_PASSWORD": SMTP_LOGIN[1]}
    values |= extra
    for name, value in values.items():
        monkeypatch.setenv(f"RISKPROMPT_{name}", str(value))


async def doctor(cli: CliRunner, *args: str):
    return await asyncio.to_thread(cli.invoke, app, ["--locale", "en", "doctor", *args])


def rows(output: str) -> dict[str, tuple[str, str]]:
    """The table's rows: check name -> (result, details)."""
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 3 and cells[1] in {"OK", "WARN", "FAIL"}:
            found[cells[0]] = (cells[1], cells[2])
    return found


@ONE_BACKEND
async def test_everything_reachable_passes(
    cli, monkeypatch, tmp_path, smtp_auth, telegram_api, twilio_api, wecom_api
):
    configure(
        monkeypatch,
        tmp_path,
        smtp=smtp_auth,
        telegram=telegram_api,
        twilio=twilio_api,
        wecom=wecom_api,
    )
    result = await doctor(cli)

    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert table["Secret key"][0] == "OK"
    assert table["Public URL"] == ("OK", "https://riskprompt.example.gov.cn")
    # over 60 characters with this URL: long SMS would take one more segment
    assert table["SMS links"][0] == "WARN" and "with this public URL" in table["SMS links"][1]
    assert table["Database"][0] == "OK" and table["Schema"][0] == "OK"
    assert table["Data folder"][0] == "OK"
    assert table["Email (SMTP)"] == ("OK", f"127.0.0.1:{smtp_auth.port}: logged in")
    assert table["Telegram"][0] == "OK" and "answers" in table["Telegram"][1]
    assert table["SMS (Twilio)"] == ("OK", "account Stand-in account is active")
    assert table["WeCom"] == ("OK", f"app 风险提示 (agent {wecom_api.agent_id}) answers")
    assert table["WeCom callback"] == ("OK", "https://riskprompt.example.gov.cn/wecom/callback")
    assert wecom_api.token_fetches == 1 and wecom_api.count == 0  # a token, nothing sent
    # DingTalk has no adapter yet: its messages go to the outbox folder, which is checked
    assert table["DingTalk"][0] == "WARN" and "RISKPROMPT_DINGTALK_APP_KEY" in table["DingTalk"][1]
    assert table["File channel"][0] == "OK"
    # "all passed" only when nothing warns: the long SMS links and DingTalk warn here
    assert "13 checks: 11 passed, 2 warnings." in result.output
    assert smtp_auth.failed_logins == [] and smtp_auth.count == 0  # connected, sent nothing


@ONE_BACKEND
async def test_wrong_credentials_and_a_server_down_fail_without_showing_secrets(
    cli, monkeypatch, tmp_path, telegram_api, twilio_api, wecom_api
):
    smtp = SmtpStandin(credentials=SMTP_LOGIN)
    await smtp.start()
    port = smtp.port
    await smtp.stop()  # nobody listens there any more
    configure(
        monkeypatch,
        tmp_path,
        telegram=telegram_api,
        twilio=twilio_api,
        wecom=wecom_api,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(port),
        SMTP_PASSWORD="wrong-smtp-password",
        TELEGRAM_TOKEN="987654321:wrong-token-abcdefghijk",
        TWILIO_AUTH_TOKEN="wrong-twilio-auth-token",
        WECOM_SECRET="wrong-wecom-secret-abcdefghijk",
    )
    result = await doctor(cli)

    assert result.exit_code == 1, result.output
    table = rows(result.output)
    assert table["Email (SMTP)"][0] == "FAIL" and f"127.0.0.1:{port}" in table["Email (SMTP)"][1]
    assert table["Telegram"][0] == "FAIL"
    assert table["SMS (Twilio)"][0] == "FAIL" and "401" in table["SMS (Twilio)"][1]
    assert table["WeCom"][0] == "FAIL" and "40001" in table["WeCom"][1]
    assert "4 of 12 checks failed." in result.output
    for secret in (
        "wrong-smtp-password",
        "wrong-token-abcdefghijk",
        "wrong-twilio-auth-token",
        "wrong-wecom-secret-abcdefghijk",
    ):
        assert secret not in result.output


@ONE_BACKEND
async def test_a_wrong_smtp_password_fails(cli, monkeypatch, tmp_path, smtp_auth):
    configure(monkeypatch, tmp_path, smtp=smtp_auth, SMTP_PASSWORD="not-the-password")
    result = await doctor(cli)

    assert result.exit_code == 1, result.output
    status, reason = rows(result.output)["Email (SMTP)"]
    assert status == "FAIL" and "SMTPAuthenticationError" in reason
    assert set(smtp_auth.failed_logins) == {"mailer"}  # each AUTH mechanism it tried
    assert "not-the-password" not in result.output


@ONE_BACKEND
async def test_an_unmigrated_database_and_an_unwritable_folder_fail(cli, monkeypatch, tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    configure(
        monkeypatch,
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}",
        OUTBOX_DIR=str(blocked / "outbox"),
        PUBLIC_URL="",
        SECRET_KEY="change-me",
    )
    result = await doctor(cli, "--send-test", "CW001")

    assert result.exit_code == 1, result.output
    table = rows(result.output)
    assert table["Schema"][0] == "FAIL" and "riskprompt db upgrade" in table["Schema"][1]
    assert table["File channel"][0] == "FAIL"
    assert table["Secret key"][0] == "WARN"
    # no public URL: the links of SMS and email open nowhere else
    assert table["Public URL"][0] == "WARN" and "links in SMS and email" in table["Public URL"][1]
    # every channel without its provider says which setting to set
    assert table["Email"][0] == "WARN" and "RISKPROMPT_SMTP_HOST" in table["Email"][1]
    assert "RISKPROMPT_TWILIO_ACCOUNT_SID" in table["SMS"][1]
    assert "RISKPROMPT_TELEGRAM_TOKEN" in table["Telegram"][1]
    assert "checks failed." in result.output and "checks warn." in result.output
    assert table["Test message to CW001"] == ("FAIL", "not sent: the database is not ready")


async def test_send_test_reaches_the_person_on_each_channel(
    cli,
    database,
    engine,
    session,
    monkeypatch,
    tmp_path,
    smtp_auth,
    telegram_api,
    twilio_api,
    wecom_api,
):
    unit = make_unit(session)
    person = make_person(
        session,
        unit=unit,
        staff_id="CW001",
        channels="wecom,telegram,sms,email",
        mobile="+8613800138000",
        email="cw001@example.gov.cn",
    )
    person.telegram_chat_id = 5151
    person.wecom_userid = "cw001"
    session.commit()
    configure(
        monkeypatch,
        tmp_path,
        smtp=smtp_auth,
        telegram=telegram_api,
        twilio=twilio_api,
        wecom=wecom_api,
        DATABASE_URL=database,
    )
    result = await doctor(cli, "--send-test", "CW001")

    assert result.exit_code == 0, result.output
    table = rows(result.output)
    for channel in ("WeCom", "Telegram", "SMS", "Email"):
        assert table[f"Test message to CW001: {channel}"][0] == "OK", channel
    [wecom] = wecom_api.sent_to("cw001")
    assert wecom.msgtype == "text" and "测试消息" in wecom.content
    [chat] = telegram_api.sent(5151)
    assert "测试消息" in chat.params["text"]  # in the person's language (zh_CN)
    assert [m.to for m in twilio_api.messages] == ["+8613800138000"]
    assert [m.rcpt_tos for m in smtp_auth.messages] == [("cw001@example.gov.cn",)]

    unknown = await doctor(cli, "--send-test", "NOBODY")
    assert unknown.exit_code == 1


@ONE_BACKEND
@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://localhost", "http://[::1]"])
async def test_a_public_url_on_this_machine_warns(cli, monkeypatch, tmp_path, url, smtp_auth):
    configure(monkeypatch, tmp_path, smtp=smtp_auth, PUBLIC_URL=url)
    result = await doctor(cli)
    table = rows(result.output)
    assert table["Public URL"][0] == "WARN", result.output
    assert "nobody else can open the links" in table["Public URL"][1]
    assert "All " not in result.output.splitlines()[-1]
