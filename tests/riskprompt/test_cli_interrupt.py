"""Ctrl-C: the real ``riskprompt`` in a subprocess, sent SIGINT while it works.

``chat`` ends at once while it waits for a line (stdin left open: nothing is typed
after Ctrl-C); an import interrupted while it writes says that nothing was written,
and nothing was.  Both exit with 130 and one line on stderr, no traceback.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from riskprompt.models.people import Person
from tests.builders import make_person, make_post, make_unit

pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

RISKPROMPT = [sys.executable, "-c", "from riskprompt.cli import main; main()"]
#: Enough rows for the import to be still writing when the signal arrives.
ROWS = 50_000


def _env(database: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "RISKPROMPT_DATABASE_URL": database, "COLUMNS": "100", **extra}


def _read_until(stream: int, marker: bytes, seen: bytearray) -> None:
    """Read ``stream`` into ``seen`` until ``marker`` is in it (fails at its end)."""
    while marker not in seen:
        chunk = os.read(stream, 65536)
        assert chunk, f"ended before {marker.decode()!r}: {seen.decode(errors='replace')[-2000:]}"
        seen.extend(chunk)


def _people(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Person)).one()


def test_ctrl_c_ends_the_chat_at_once(
    database: str, engine: Engine, session: Session, tmp_path: Path
) -> None:
    make_person(session, unit=make_unit(session), staff_id="CW001", name="张出纳")
    session.commit()
    process = subprocess.Popen(
        [*RISKPROMPT, "chat", "--as", "CW001"],
        env=_env(database, RISKPROMPT_DATA_DIR=str(tmp_path / "data")),
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        seen = bytearray()
        _read_until(process.stdout.fileno(), b"/quit", seen)  # the console's help: it waits
        process.send_signal(signal.SIGINT)
        # stdin stays open: the chat must not wait for a line before it ends
        returncode = process.wait(timeout=15)
        errors = process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert returncode == 130, errors
    assert errors == "对话已结束。\n"
    with Session(engine) as check:  # the console still unbound the chat it bound
        person = check.exec(select(Person).where(Person.staff_id == "CW001")).one()
        assert person.telegram_chat_id is None


def test_ctrl_c_during_an_import_writes_nothing(
    database: str, engine: Engine, session: Session, tmp_path: Path
) -> None:
    unit = make_unit(session, name="财务科")
    make_post(session, unit=unit, name="会计岗")
    session.commit()
    before = _people(engine)
    path = tmp_path / "people.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "工号", "单位", "岗位", "角色"])
        writer.writerows(
            [f"人员{i}", f"X{i:06d}", "财务科", "会计岗", "工作人员"] for i in range(ROWS)
        )
    process = subprocess.Popen(
        [*RISKPROMPT, "import", "people", str(path)],
        # a terminal as far as the progress bar can tell: it is drawn (on stderr)
        env=_env(database, TTY_COMPATIBLE="1", TTY_INTERACTIVE="1"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        seen = bytearray()
        # The write phase has started (one batch is written, uncommitted): Ctrl-C.
        _read_until(process.stderr.fileno(), "写入中".encode(), seen)
        process.send_signal(signal.SIGINT)
        output, rest = process.communicate(timeout=60)
        seen.extend(rest)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    errors = seen.decode()
    assert process.returncode == 130, errors[-2000:]
    assert "Traceback" not in errors
    assert errors.rstrip("\n").splitlines()[-1].endswith("导入已取消：未写入任何内容。")
    assert output == b""  # no summary: nothing was imported
    assert _people(engine) == before
