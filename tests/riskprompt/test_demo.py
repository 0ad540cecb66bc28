"""The embedded demo runs on a fresh folder with no configuration, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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
