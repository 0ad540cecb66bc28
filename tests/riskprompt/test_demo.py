"""The embedded demo runs on a fresh folder with no configuration, in both languages."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from riskprompt.cli.app import app


def _number_after(label: str, output: str) -> int:
    match = re.search(rf"{re.escape(label)}\s*│\s*([\d,]+)", output)
    assert match, f"{label!r} not in the summary"
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize(
    ("locale", "labels"),
    [
        ("en", {"units": "Units", "posts": "Posts", "points": "Risk points", "people": "People"}),
        ("zh_CN", {"units": "单位", "posts": "岗位", "points": "风险点", "people": "人员"}),
    ],
)
def test_demo_imports_the_sample_city_and_prints_the_summary(
    locale: str, labels: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKPROMPT_LOCALE", locale)
    result = CliRunner().invoke(app, ["demo"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "riskprompt.db").is_file()
    assert _number_after(labels["units"], result.output) >= 5
    assert _number_after(labels["posts"], result.output) >= 20
    assert _number_after(labels["points"], result.output) >= 60
    assert _number_after(labels["people"], result.output) >= 30


def test_demo_starts_afresh_each_time(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["demo"]).exit_code == 0
    second = runner.invoke(app, ["--locale", "en", "demo"], terminal_width=200)
    assert second.exit_code == 0, second.output
    assert "catalog.csv: 97 rows" in second.output


def _what_next(output: str, heading: str) -> list[str]:
    """The lines of the demo's closing "what next" block."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    return lines[start:]


@pytest.mark.parametrize(
    ("locale", "heading", "said"),
    [
        ("en", "What next", "then try:"),
        ("zh_CN", "接下来", "然后试试："),
    ],
)
def test_the_demo_ends_with_what_to_run_next_within_80_columns(
    locale: str, heading: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKPROMPT_LOCALE", locale)
    result = CliRunner().invoke(app, ["demo"], terminal_width=80)
    assert result.exit_code == 0, result.output
    block = _what_next(result.output, heading)
    assert said in block
    assert all(cell_len(line) <= 80 for line in block), "\n".join(block)
    commands = [line.strip() for line in block if line.startswith("  riskprompt ")]
    assert "  export RISKPROMPT_DATABASE_URL=sqlite:///demo/riskprompt.db" in block
    assert "  export RISKPROMPT_DATA_DIR=demo/data" in block
    assert (
        "  RISKPROMPT_DATABASE_URL=sqlite:///demo/riskprompt.db riskprompt warnings list" in block
    )
    shown = {" ".join(c.split()[1:3]) for c in commands}
    assert {"prompts list", "warnings list", "deliveries list", "web --port"} <= shown
    assert any(c.startswith("riskprompt report --period 20") for c in commands)
    assert any(c.startswith("riskprompt chat --as ") for c in commands)
    # every comment line above a command is in the demo's language
    comments = [line.strip() for line in block if line.startswith("  # ")]
    assert len(comments) == len(commands)
    if locale == "zh_CN":
        assert all(re.search(r"[\u4e00-\u9fff]", c) for c in comments)
    else:
        assert not any(re.search(r"[\u4e00-\u9fff]", c.split(" as ")[0]) for c in comments)


def test_the_commands_the_demo_suggests_work_on_its_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--locale", "en", "demo"], terminal_width=80)
    assert result.exit_code == 0, result.output
    block = _what_next(result.output, "What next")
    for line in block:
        if line.startswith("  export "):
            name, value = line.removeprefix("  export ").split("=", 1)
            monkeypatch.setenv(name, value)
    commands = [line.split()[1:] for line in block if line.startswith("  riskprompt ")]
    for command in commands:
        if command[0] == "web":  # serves until stopped
            continue
        answer = runner.invoke(app, command, input="/quit\n", terminal_width=80)
        assert answer.exit_code == 0, (command, answer.output)
        assert "new database" not in answer.output and "out of date" not in answer.output
    listed = runner.invoke(app, ["warnings", "list", "--format", "csv"])
    assert listed.exit_code == 0 and "W2" in listed.output  # the demo's own warnings


#: The `riskprompt` command, run by this interpreter.
RISKPROMPT = [sys.executable, "-c", "from riskprompt.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _after(label: str, block: list[str]) -> str:
    """The value printed on the indented line ``label: value``."""
    return next(line.split(label, 1)[1].strip() for line in block if line.startswith(f"  {label}"))


@pytest.mark.parametrize(
    ("locale", "heading", "labels"),
    [
        ("en", "What next", ("staff ID:", "password:", "officers' console")),
        ("zh_CN", "接下来", ("工号：", "密码：", "纪检监察工作台")),
    ],
)
def test_the_demo_ends_with_the_console_and_a_sign_in_that_riskprompt_web_serves(
    locale: str,
    heading: str,
    labels: tuple[str, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKPROMPT_LOCALE", locale)
    result = CliRunner().invoke(app, ["demo"], terminal_width=80)
    assert result.exit_code == 0, result.output
    block = _what_next(result.output, heading)
    staff_label, password_label, console_label = labels
    # the last lines: the console, its URL, the officer's staff ID and password
    tail = block[-7:]
    assert any(console_label in line for line in tail), "\n".join(tail)
    assert "  http://127.0.0.1:8000/" in tail
    staff_id, password = _after(staff_label, tail), _after(password_label, tail)
    assert staff_id == "BJ0040" and len(password) >= 12
    assert f"riskprompt people password {staff_id}" in tail[-1]
    assert all(len(line) <= 80 for line in tail)
    if locale == "en":  # once is enough: `riskprompt web` takes a couple of seconds to start
        _sign_in_to_the_served_demo(block, tmp_path, staff_id, password)


def _sign_in_to_the_served_demo(
    block: list[str], folder: Path, staff_id: str, password: str
) -> None:
    """`riskprompt web` on the demo's variables serves the console; the printed sign-in works."""
    env = dict(os.environ)
    for line in block:
        if line.startswith("  export "):
            name, value = line.removeprefix("  export ").split("=", 1)
            env[name] = value
    port = _free_port()
    process = subprocess.Popen(
        [*RISKPROMPT, "web", "--port", str(port), "--no-access-log"],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:  # wait until the server accepts connections (bounded)
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "riskprompt web did not start"
                time.sleep(0.05)
        with httpx.Client(base_url=base) as browser:
            form = browser.get("/login")
            assert form.status_code == 200
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token, form.text
            signed = browser.post(
                "/login",
                data={
                    "csrf_token": token.group(1),
                    "staff_id": staff_id,
                    "password": password,
                    "next": "/",
                },
            )
            assert signed.status_code == 303, signed.text
            overview = browser.get("/")
            assert overview.status_code == 200
            assert "薛振国" in overview.text  # the demo's officer, signed in
    finally:
        process.terminate()
        process.communicate(timeout=20)
