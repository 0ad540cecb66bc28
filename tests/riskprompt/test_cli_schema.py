"""A command on a database that is not ready says which: new, or out of date."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.models.db import upgrade


@pytest.mark.parametrize(
    ("revision", "said"),
    [
        (None, "新数据库：请先运行 `riskprompt db upgrade` 建立数据库结构"),
        ("0004", "the database is not at the current schema"),
    ],
    ids=["new", "old"],
)
def test_a_database_not_ready_says_whether_it_is_new_or_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, revision: str | None, said: str
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    if revision is not None:
        upgrade(url, revision)
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", url)
    locale = ["--locale", "en"] if revision else []
    result = CliRunner().invoke(app, [*locale, "prompts", "list"])
    assert result.exit_code == 1
    assert said in result.output
    assert "Traceback" not in result.output
