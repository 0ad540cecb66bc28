"""Helpers shared by the CLI commands: the context, errors and tables."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.table import Table
from sqlalchemy.exc import OperationalError

from riskprompt.config.i18n import _
from riskprompt.context import AppContext
from riskprompt.models.errors import DomainError

P = ParamSpec("P")
R = TypeVar("R")

#: The exit code of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def app_context(ctx: typer.Context) -> AppContext:
    """The context built by the root callback."""
    obj = ctx.find_root().obj  # typer hands over its own Context subclass
    if not isinstance(obj, AppContext):  # pragma: no cover - the callback always sets it
        raise RuntimeError("the root callback did not run")
    return obj


def reports_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a domain error (or a database out of reach) into one line on stderr, exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (DomainError, OperationalError) as exc:
            label = _("Error")
            if isinstance(exc, DomainError):
                message = f"{label}: {exc.translate(_)}"
            else:  # the driver's own words, first line: no URL, so no password
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                message = f"{label}: " + _("the database cannot be used: %(reason)s") % {
                    "reason": reason
                }
            ctx = kwargs.get("ctx")
            if ctx is not None and hasattr(ctx, "find_root"):
                app_context(ctx).err.print(
                    message, style="red", highlight=False, markup=False, soft_wrap=True
                )
            else:
                typer.echo(message, err=True)
            raise typer.Exit(1) from None

    return wrapper


def table(title: str, *columns: str, **kwargs: Any) -> Table:
    """A rich table with the house style."""
    result = Table(title=title, title_justify="left", header_style="bold", **kwargs)
    for column in columns:
        result.add_column(column)
    return result
