"""The root command: its options, and its commands loaded when they are used.

``riskprompt --help`` lists every command without importing any of them (the
domain, SQLAlchemy and the web stack take seconds to import); a command's module
is imported when that command is run or its own help is asked for.  The listing
below is the one place that says which command lives where and under which
heading it is shown; ``tests/riskprompt/test_cli_lazy.py`` checks that each help
line here is the command's own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from typer import _click as click  # typer carries its own click since 0.24
from typer.core import TyperCommand, TyperGroup

from riskprompt.config.i18n import N_, _, set_locale

PROMPTS = N_("Prompts and warnings")
CATALOGUE = N_("Catalogue and people")
SERVICE = N_("Running the service")
UPKEEP = N_("Upkeep")


@dataclass(frozen=True)
class Entry:
    """Where a top-level command lives, its help line and its heading."""

    module: str
    help: str
    panel: str


# In the order the help shows them; each module's ``register(app)`` adds its commands.
COMMANDS: dict[str, Entry] = {
    "cycle": Entry("prompts", N_("The monthly risk prompt cycle."), PROMPTS),
    "remind": Entry(
        "prompts", N_("Issue a special prompt (特别提示), now or at a given time."), PROMPTS
    ),
    "prompts": Entry("prompts", N_("Risk prompts (风险提示) and where they stand."), PROMPTS),
    "focus": Entry("prompts", N_("The month's key work (重点工作)."), PROMPTS),
    "warn": Entry(
        "warnings", N_("Issue a warning (预警) to a person, or to a unit's head."), PROMPTS
    ),
    "warnings": Entry("warnings", N_("Warnings (预警) and where they stand."), PROMPTS),
    "withdraw": Entry("warnings", N_("Withdraw an open warning."), PROMPTS),
    "ack": Entry(
        "web",
        N_("Acknowledge a prompt (已阅) or, with --warning, a warning, as its addressee."),
        PROMPTS,
    ),
    "review": Entry(
        "web",
        N_("Accept or reject a correction report (整改反馈); `review list` shows those waiting."),
        PROMPTS,
    ),
    "report": Entry(
        "report",
        N_("The assessment (考核评估) of a period per unit or per person, with a score."),
        PROMPTS,
    ),
    "import": Entry(
        "transfer", N_("Import the catalogue or people from a CSV or XLSX file."), CATALOGUE
    ),
    "export": Entry(
        "transfer", N_("Export the catalogue or people to a CSV or XLSX file."), CATALOGUE
    ),
    "units": Entry("catalogue", N_("Units (单位)."), CATALOGUE),
    "posts": Entry("catalogue", N_("Posts (岗位) and their risk points."), CATALOGUE),
    "people": Entry("catalogue", N_("People and the posts they hold."), CATALOGUE),
    "run": Entry(
        "run",
        N_(
            "Run the service until SIGINT or SIGTERM: the scheduler, the dispatcher, "
            "the bot and the web app (--role all), or one part of it."
        ),
        SERVICE,
    ),
    "tick": Entry(
        "tick",
        N_(
            "Run once everything due up to now (or --at): missed monthly cycles, due "
            "special prompts, reminders and escalations, and due deliveries."
        ),
        SERVICE,
    ),
    "dispatch": Entry(
        "dispatch",
        N_("Send the deliveries that are due now and record what came of them."),
        SERVICE,
    ),
    "deliveries": Entry("dispatch", N_("The outbox: deliveries and what came of them."), SERVICE),
    "web": Entry(
        "web",
        N_("Serve the web app alone: webhooks, acknowledgement links and the officer API."),
        SERVICE,
    ),
    "tokens": Entry(
        "web", N_("Officers' bearer tokens for the REST API (stored hashed)."), SERVICE
    ),
    "chat": Entry(
        "chat",
        N_("Chat with the bot in this terminal as a person (no Telegram needed)."),
        SERVICE,
    ),
    "demo": Entry("demo", N_("Run the embedded demo in ./demo/ (SQLite, file channel)."), SERVICE),
    "db": Entry("catalogue", N_("Create or migrate the database schema."), UPKEEP),
    "doctor": Entry(
        "doctor",
        N_(
            "Check the settings and the database and reach every configured channel; "
            "exit 1 when something fails."
        ),
        UPKEEP,
    ),
    "audit": Entry(
        "audit",
        N_("The tamper-evident audit log: check its hash chain, export its records."),
        UPKEEP,
    ),
}

# Commands of one module that add to a group of another (``people invite``).
ALSO_LOADS: dict[str, tuple[str, ...]] = {"people": ("chat", "accounts")}

_commands = typer.Typer(add_completion=False)
_loaded: set[str] = set()


@_commands.callback()
def _holder() -> None:
    """Holds the commands loaded so far (never invoked)."""


def load(name: str) -> click.Command:
    """The click command ``name``, importing the modules that define it once."""
    for module in (COMMANDS[name].module, *ALSO_LOADS.get(name, ())):
        if module not in _loaded:
            importlib.import_module(f"riskprompt.cli.{module}").register(_commands)
            _loaded.add(module)
    group = typer.main.get_command(_commands)
    assert isinstance(group, TyperGroup)
    return group.commands[name]


class LazyGroup(TyperGroup):
    """The root group: lists its commands from ``COMMANDS``, loads one when it is used."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order of ``COMMANDS``."""
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A stand-in with the help line while the help is shown, else the command."""
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return TyperCommand(cmd_name, help=_(entry.help), rich_help_panel=_(entry.panel))
        return load(cmd_name)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The root help, from the listing alone."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve as click does, suggesting names from the listing on a typo."""
        self.commands = dict.fromkeys(COMMANDS)  # type: ignore[assignment]  # names only
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=LazyGroup,
    name="riskprompt",
    help=_("Post power risk prevention: risk prompts, warnings and corrections."),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help=_("TOML settings file (or RISKPROMPT_CONFIG)."), show_default=False
        ),
    ] = None,
    locale: Annotated[
        str | None,
        typer.Option(
            "--locale", help=_("Language of the output: zh_CN or en."), show_default=False
        ),
    ] = None,
) -> None:
    """Load the settings once for every command."""
    from riskprompt.config.settings import SettingsError, load_settings
    from riskprompt.context import AppContext

    overrides = {"LOCALE": locale} if locale else {}
    try:
        settings = load_settings(config, **overrides)
    except SettingsError as exc:
        set_locale(locale)
        typer.echo(_("Invalid setting") + f" {exc.message(_)}", err=True)
        raise typer.Exit(2) from None
    set_locale(settings.LOCALE)
    context = AppContext(settings=settings)
    ctx.obj = context
    ctx.call_on_close(context.close)


__all__ = ["COMMANDS", "app", "load"]
