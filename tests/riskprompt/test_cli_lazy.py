"""The root help lists every command from ``COMMANDS`` without importing them."""

from __future__ import annotations

import subprocess
import sys

import typer
from typer.core import TyperGroup

from riskprompt.cli import app as root
from riskprompt.config.i18n import _, translator


def test_the_listing_names_every_command_and_its_own_help_line() -> None:
    for name in root.COMMANDS:
        root.load(name)
    group = typer.main.get_command(root._commands)
    assert isinstance(group, TyperGroup)
    assert set(group.commands) == set(root.COMMANDS)
    for name, entry in root.COMMANDS.items():
        assert group.commands[name].help == _(entry.help), name


def test_every_help_line_and_heading_is_translated() -> None:
    chinese = translator("zh_CN")
    for entry in root.COMMANDS.values():
        for text in (entry.help, entry.panel):
            assert chinese.gettext(text) != text, text


def test_root_help_imports_no_command_module() -> None:
    script = (
        "import sys\n"
        "from riskprompt.cli import main\n"
        "sys.argv = ['riskprompt', '--help']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'riskprompt.models', 'fastapi', 'telegram')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert "HEAVY []" in done.stderr, done.stderr
    assert "岗位权力风险防控" in done.stdout
    assert "提示与预警" in done.stdout


def test_a_mistyped_command_is_refused_with_a_suggestion() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(root.app, ["wanrings"])
    assert result.exit_code == 2
    assert "warnings" in result.output
