"""Every help screen and every parameter error reads in one language.

typer's and click's own words (``Usage:``, the panel titles, ``[required]``, the
type labels, the error messages) go through our catalogue
(:mod:`riskprompt.cli.framework_i18n`).  The walk goes through click's
``list_commands``/``get_command`` from the root, so it reaches every command
however the root loads them.  It runs in a fresh interpreter per locale: our own
help texts are translated when their module is imported.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskprompt.cli.app import app
from riskprompt.cli.framework_i18n import translate_message, value_error_message
from riskprompt.config.i18n import set_locale

# Walks the command tree and prints every help screen with the texts that are ours
# (names, options, help lines, metavars, defaults, choices).
WALK = r"""
import json, os
from riskprompt.config.i18n import set_locale
set_locale(os.environ["RISKPROMPT_LOCALE"])
import typer
from typer.testing import CliRunner
from riskprompt.cli.app import app

root = typer.main.get_command(app)
ours, paths = [], []

def collect(command, ctx):
    help_option = command.get_help_option(ctx)
    ours.extend(help_option.opts if help_option is not None else [])  # its words are typer's
    ours.extend(str(t) for t in (command.name, command.help, command.short_help,
                                 command.epilog, getattr(command, "rich_help_panel", None)) if t)
    for param in command.params:
        texts = [param.name, param.metavar, getattr(param, "help", None),
                 *param.opts, *param.secondary_opts]
        envvar = param.envvar
        texts.extend([envvar] if isinstance(envvar, str) else list(envvar or ()))
        if not callable(param.default) and param.default is not None:
            texts.append(str(param.default))
        descriptor = getattr(param, "type_descriptor", None)
        choices = getattr(descriptor, "choices", None) or ()
        texts.extend(str(getattr(c, "value", c)) for c in choices)
        ours.extend(str(t) for t in texts if t)

def walk(command, path, ctx):
    paths.append(path)
    collect(command, ctx)
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                walk(sub, [*path, name], sub.context_class(sub, info_name=name, parent=ctx))

walk(root, [], root.context_class(root, info_name="riskprompt"))
runner = CliRunner()
screens = {}
for path in paths:
    result = runner.invoke(app, [*path, "--help"], prog_name="riskprompt")
    screens[" ".join(path)] = {"code": result.exit_code, "output": result.output}
print(json.dumps({"screens": screens, "ours": ours}))
"""

# Names that stay as they are in either language.
PRODUCT_NAMES = {
    "riskprompt", "Telegram", "SMS", "CSV", "XLSX", "JSON", "URL", "API", "TOML",
    "PostgreSQL", "SQLite", "HTML", "PNG", "REST", "Bearer", "Webhook", "Web", "CPU",
    "SIGINT", "SIGTERM", "UUID",
}  # fmt: skip
# What typer and click would print if a word slipped past the catalogue.
FRAMEWORK_WORDS = (
    "Usage", "OPTIONS", "COMMAND", "ARGS", "Options", "Commands", "Arguments",
    "Show this message", "[required]", "[default:", "[env var:", "Error", "Try '",
    "<str>", "<int", "<bool>", "<path>", "<text>", "<integer>", "<float>", "<datetime>",
)  # fmt: skip
ASCII_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CJK_RUN = re.compile(r"[\u2e80-\u9fff\u3000-\u303f\uff00-\uffef]+")


@dataclass(frozen=True)
class Walk:
    screens: dict[str, tuple[int, str]]
    ours: str


def _walk(locale: str, tmp_path: Path) -> Walk:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RISKPROMPT_")
        and k not in ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH")
    }
    env.update(
        RISKPROMPT_LOCALE=locale,
        RISKPROMPT_DATABASE_URL=f"sqlite:///{tmp_path / 'help.db'}",
        COLUMNS="200",  # wide enough that rich cuts no word
        NO_COLOR="1",
    )
    done = subprocess.run(
        [sys.executable, "-c", WALK],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    screens = {path: (s["code"], s["output"]) for path, s in data["screens"].items()}
    return Walk(screens=screens, ours="\n".join(data["ours"]))


@pytest.fixture(scope="module")
def chinese(tmp_path_factory: pytest.TempPathFactory) -> Walk:
    return _walk("zh_CN", tmp_path_factory.mktemp("help_zh"))


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> Walk:
    return _walk("en", tmp_path_factory.mktemp("help_en"))


def _words(text: str) -> set[str]:
    return {w for w in ASCII_WORD.findall(text) if sum(c.isalpha() for c in w) >= 3}


def test_the_walk_reaches_every_command(chinese: Walk) -> None:
    assert len(chinese.screens) > 40
    for name in ("", "db", "db upgrade", "prompts list", "warnings list", "audit export"):
        assert name in chinese.screens, name
    failed = {path: out for path, (code, out) in chinese.screens.items() if code != 0 or not out}
    assert not failed, failed


def test_every_help_screen_reads_in_chinese(chinese: Walk) -> None:
    allowed = _words(chinese.ours) | PRODUCT_NAMES
    left: dict[str, list[str]] = {}
    for path, (_code, output) in chinese.screens.items():
        strays = sorted(_words(output) - allowed)
        strays += [w for w in FRAMEWORK_WORDS if w in output]
        if strays:
            left[f"riskprompt {path} --help"] = strays
    assert not left, "English left from click/typer:\n" + "\n".join(
        f"{where}: {words}" for where, words in left.items()
    )
    root = chinese.screens[""][1]
    assert "用法：riskprompt [选项] 命令 [参数]..." in root
    assert "╭─ 选项" in root
    assert "显示本帮助并退出。" in root


def test_every_help_screen_reads_in_english(english: Walk) -> None:
    # Our English help texts name some terms in Chinese too (预警, 工号); nothing else may be.
    left: dict[str, list[str]] = {}
    for path, (_code, output) in english.screens.items():
        strays = [run for run in CJK_RUN.findall(output) if run not in english.ours]
        if strays:
            left[f"riskprompt {path} --help"] = strays
    assert not left, "Chinese in the English help:\n" + "\n".join(
        f"{where}: {runs}" for where, runs in left.items()
    )
    root = english.screens[""][1]
    assert "Usage: riskprompt [OPTIONS] COMMAND [ARGS]..." in root
    assert "Show this message and exit." in root


def _run(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, list(args), env={"COLUMNS": "200"}, prog_name="riskprompt")
    return result.exit_code, result.output


def _no_framework_english(output: str) -> None:
    for word in ("Usage", "Try '", "Error", "Invalid value", "Missing", "Input should", "No such"):
        assert word not in output, (word, output)


def test_a_bad_integer_is_refused_in_chinese(cli: CliRunner) -> None:
    code, output = _run(cli, "--locale", "zh_CN", "audit", "verify", "--batch-size", "abc")
    assert code == 2
    assert "'--batch-size' 的值无效：'abc' 不是有效的整数。" in output
    assert "用法：riskprompt audit verify [选项]" in output
    assert "运行 'riskprompt audit verify --help' 查看帮助。" in output
    assert "╭─ 错误" in output
    _no_framework_english(output)


def test_a_missing_option_is_refused_in_chinese(cli: CliRunner, tmp_path: Path) -> None:
    out = str(tmp_path / "audit.csv")
    code, output = _run(cli, "--locale", "zh_CN", "audit", "export", out, "--to", "2026-12-01")
    assert code == 2
    assert "缺少选项 '--from'。" in output
    _no_framework_english(output)


def test_a_missing_argument_a_bound_and_a_typo_are_refused_in_chinese(cli: CliRunner) -> None:
    code, output = _run(cli, "--locale", "zh_CN", "audit", "export")
    assert code == 2
    assert "缺少参数 'file'。" in output
    _no_framework_english(output)

    code, output = _run(cli, "--locale", "zh_CN", "deliveries", "list", "--limit", "0")
    assert code == 2
    assert "'--limit' 的值无效：0 不能小于 1。" in output
    _no_framework_english(output)

    code, output = _run(cli, "--locale", "zh_CN", "deliveries", "lst")
    assert code == 2
    assert "没有名为 'lst' 的命令。是否要输入 'list'？" in output
    _no_framework_english(output)

    code, output = _run(cli, "--locale", "zh_CN", "deliveries", "list", "--bogus")
    assert code == 2
    assert "没有此选项：--bogus" in output


def test_the_same_errors_read_in_english_after_the_locale_changes(cli: CliRunner) -> None:
    # Installed in zh_CN at import; the root callback sets en: the labels follow.
    code, output = _run(cli, "--locale", "en", "audit", "verify", "--batch-size", "abc")
    assert code == 2
    assert "Invalid value for '--batch-size': 'abc' is not a valid integer." in output
    assert "Usage: riskprompt audit verify [OPTIONS]" in output
    assert "╭─ Error" in output
    assert not CJK_RUN.search(output), output

    code, output = _run(cli, "--locale", "en", "deliveries", "lst")
    assert "No such command 'lst'. Did you mean 'list'?" in output
    assert not CJK_RUN.search(output), output


@pytest.mark.parametrize(
    ("message", "chinese"),
    [
        ("Option '--at' requires an argument.", "选项 '--at' 需要一个值。"),
        ("Option '--at' does not take a value.", "选项 '--at' 不接受值。"),
        ("Got unexpected extra argument(s) (2 3)", "多余的参数：2 3"),
        ("file 'a.csv' does not exist.", "文件 'a.csv' 不存在。"),
        ("dir 'out' is a file.", "目录 'out' 是文件。"),
        ("'x' is not one of 'csv', 'json'.", "'x' 不在可选值之列（'csv', 'json'）。"),
        ("已经是中文的消息", "已经是中文的消息"),
    ],
)
def test_typer_messages_are_translated(message: str, chinese: str) -> None:
    set_locale("zh_CN")
    assert translate_message(message) == chinese
    set_locale("en")
    assert not CJK_RUN.search(translate_message(message)) or message == chinese


@pytest.mark.parametrize(
    ("error", "chinese"),
    [
        ({"type": "int_parsing", "input": "P3x"}, "'P3x' 不是有效的整数。"),
        (
            {"type": "less_than_equal", "input": 70000, "ctx": {"le": 65535}},
            "70000 不能大于 65535。",
        ),
        ({"type": "datetime_parsing", "input": "tomorrow"}, "'tomorrow' 不是有效的日期时间。"),
        (
            {"type": "enum", "input": "blue", "ctx": {"expected": "'red', 'orange' or 'yellow'"}},
            "'blue' 不在可选值之列（'red', 'orange', 'yellow'）。",
        ),
        ({"type": "something_new", "input": "?"}, "'?' 不是有效的值。"),
    ],
)
def test_pydantic_errors_are_written_from_their_type(
    error: dict[str, object], chinese: str
) -> None:
    set_locale("zh_CN")
    assert value_error_message(error) == chinese
