"""``riskprompt demo``: the whole routine on one machine, in ``./demo/``."""

from __future__ import annotations

import typer

from riskprompt.cli.common import app_context, reports_errors
from riskprompt.config.i18n import _
from riskprompt.demo import DEMO_DIR, Demo


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``."""
    app.command("demo", help=_("Run the embedded demo in ./demo/ (SQLite, file channel)."))(demo)


@reports_errors
def demo(ctx: typer.Context) -> None:
    """Run the embedded demo."""
    context = app_context(ctx)
    Demo.prepare(
        base=context.settings, clock=context.clock, console=context.console, folder=DEMO_DIR
    ).run()
