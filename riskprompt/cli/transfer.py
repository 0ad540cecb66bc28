"""``riskprompt import`` and ``riskprompt export`` (filled in by the import work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the import and export commands to ``app``."""
