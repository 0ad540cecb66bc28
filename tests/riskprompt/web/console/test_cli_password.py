"""``riskprompt people password STAFF_ID``: from standard input, at a terminal, with --totp."""

from __future__ import annotations

import os
import pty
import select
import sys
import time

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from sqlmodel import select as sql_select
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.accounts import ConsoleAccount, SignInStatus, sign_in
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from tests.riskprompt.web.console.conftest import Office

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
NEW = "a long enough password"
#: How both prompts end in Chinese (新密码：, 再次输入新密码：).
PROMPT = "密码："


def account(engine: Engine) -> ConsoleAccount | None:
    with Session(engine) as s:
        return s.exec(sql_select(ConsoleAccount)).first()


def test_one_line_of_standard_input_sets_the_password(
    cli: CliRunner, engine: Engine, office: Office, clock: FixedClock
) -> None:
    result = cli.invoke(app, ["people", "password", "JJA01"], input=f"{NEW}\n")
    assert result.exit_code == 0, result.output
    assert "已为王纪检（JJA01）设置工作台密码。" in result.output
    assert NEW not in result.output
    with Session(engine) as s:
        outcome = sign_in(s, staff_id="JJA01", password=NEW, clock=clock)
        assert outcome.status is SignInStatus.SIGNED_IN
        [event] = s.exec(
            sql_select(AuditEvent).where(AuditEvent.action == "console.password_set")
        ).all()
        assert event.actor_id is None and event.data["via"] == "cli"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["JJA01"], "short\n", "密码：请至少输入 12 个字符"),
        (["JJA01"], "", "密码：标准输入为空，未作任何更改"),
        (["NOBODY"], f"{NEW}\n", "NOBODY"),
        (["CW001"], f"{NEW}\n", "只有他们可以登录工作台"),
    ],
    ids=["too short", "no input", "unknown person", "staff"],
)
def test_a_refused_password_says_why_and_changes_nothing(
    cli: CliRunner, engine: Engine, office: Office, args: list[str], stdin: str, message: str
) -> None:
    result = cli.invoke(app, ["people", "password", *args], input=stdin)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert account(engine) is None


def test_totp_prints_the_uri_to_scan(cli: CliRunner, engine: Engine, office: Office) -> None:
    result = cli.invoke(
        app, ["--locale", "en", "people", "password", "AD001", "--totp"], input=f"{NEW}\n"
    )
    assert result.exit_code == 0, result.output
    found = account(engine)
    assert found is not None and found.totp_secret is not None
    assert f"otpauth://totp/riskprompt:AD001?secret={found.totp_secret}" in result.output
    assert "authenticator app" in result.output


def test_the_command_is_listed_under_people(cli: CliRunner) -> None:
    result = cli.invoke(app, ["people", "--help"])
    assert result.exit_code == 0 and "password" in result.output


def run_at_terminal(args: list[str], env: dict[str, str], answers: list[str]) -> tuple[int, str]:
    """Run ``riskprompt ARGS`` on a new pseudo-terminal, answering each prompt in turn."""
    pid, master = pty.fork()
    if pid == 0:  # the child: its stdin, stdout and /dev/tty are the terminal
        os.execve(
            sys.executable,
            [sys.executable, "-c", "from riskprompt.cli import main; main()", *args],
            env,
        )
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _w, _x = select.select([master], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        # getpass turns echo off (and drops what was typed ahead) before it prompts:
        # answer each prompt once it is shown, not before.
        asked = output.count(PROMPT.encode())
        if pending and asked > len(answers) - len(pending) and output.endswith(PROMPT.encode()):
            os.write(master, (pending.pop(0) + "\n").encode())
    os.close(master)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


@SQLITE_ONLY
def test_at_a_terminal_the_password_is_asked_twice_and_must_match(
    database: str, engine: Engine, office: Office
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RISKPROMPT_")},
        "RISKPROMPT_DATABASE_URL": database,
    }
    code, output = run_at_terminal(["people", "password", "JJA01"], env, [NEW, NEW + "!"])
    assert code == 1, output
    assert "新密码：" in output and "再次输入新密码：" in output
    assert "两次输入的密码不一致" in output
    assert NEW not in output  # never echoed
    assert account(engine) is None
    code, output = run_at_terminal(["people", "password", "JJA01"], env, [NEW, NEW])
    assert code == 0, output
    assert "设置工作台密码" in output
    assert account(engine) is not None
