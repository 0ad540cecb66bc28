"""``riskprompt audit verify`` and ``audit export``: the tamper-evident audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors
from riskprompt.config.i18n import N_, _, current_locale, format_number, ngettext
from riskprompt.context import AppContext
from riskprompt.models.audit import (
    count_events,
    iter_events,
    verify_chain,
)
from riskprompt.models.auditing import describe, export_csv_lines
from riskprompt.models.errors import InvalidInput

audit_app = typer.Typer(
    help=_("The tamper-evident audit log: check its hash chain, export its records."),
    no_args_is_help=True,
)
EXPORT_SUFFIXES = (".csv", ".json")


def register(app: typer.Typer) -> None:
    """Add the ``audit`` commands to ``app``."""
    app.add_typer(audit_app, name="audit")


@contextmanager
def _progress(console: Console, description: str) -> Iterator[Progress]:
    """A transient progress bar, drawn only on a terminal."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    bar.add_task(description, total=None)
    with bar:
        yield bar


@audit_app.command(
    "verify",
    help=_(
        "Check the audit log's hash chain; name the first altered, removed or reordered "
        "record (exit code 1)."
    ),
)
@reports_errors
def verify(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help=_("Records read per query."))
    ] = 5000,
) -> None:
    """Check the audit log's hash chain; name the first altered, removed or reordered record."""
    context = app_context(ctx)
    with context.session() as session, _progress(context.err, _("Checking")) as bar:
        task = bar.task_ids[0]
        report = verify_chain(
            session,
            batch_size=batch_size,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if report.ok:
        context.console.print(describe(report, current_locale()), highlight=False, soft_wrap=True)
        return
    context.err.print(
        describe(report, current_locale()),
        style="red",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _span(context: AppContext, start_day: date, end_day: date) -> tuple[datetime, datetime]:
    """From the start of day ``start_day`` to the end of day ``end_day`` in the configured zone."""
    if end_day < start_day:
        raise InvalidInput(
            N_("--to %(end)s is before --from %(start)s"), start=start_day, end=end_day
        )
    zone = context.settings.zone
    return (
        datetime.combine(start_day, time(), tzinfo=zone),
        datetime.combine(end_day + timedelta(days=1), time(), tzinfo=zone),
    )


def _write_csv(handle: TextIO, records: Iterator[dict[str, Any]], advance: Any) -> int:
    count = 0
    for count, line in enumerate(export_csv_lines(records)):
        handle.write(line)
        if count:
            advance(count)
    return count


def _write_json(handle: TextIO, records: Iterator[dict[str, Any]], advance: Any) -> int:
    # Written record by record, so that memory stays flat on a large export.
    handle.write("[")
    count = 0
    for record in records:
        handle.write(",\n" if count else "\n")
        handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True))
        count += 1
        advance(count)
    handle.write("\n]\n" if count else "]\n")
    return count


@audit_app.command(
    "export",
    help=_(
        "Write the audit records of a span of days to FILE: .csv or .json, with their "
        "hashes, so that the export can be checked on its own."
    ),
)
@reports_errors
def export(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help=_("The file to write: .csv or .json."), show_default=False)
    ],
    first: Annotated[
        date,
        params.option(
            "--from",
            read=params.day,
            help=_("First day, YYYY-MM-DD (in the configured time zone)."),
        ),
    ],
    last: Annotated[
        date,
        params.option(
            "--to",
            read=params.day,
            help=_("Last day, YYYY-MM-DD (included)."),
        ),
    ],
) -> None:
    """Write the audit records of a span of days to FILE (.csv or .json)."""
    context = app_context(ctx)
    start, end = _span(context, first, last)
    suffix = file.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InvalidInput(
            N_("unsupported file type %(suffix)r: use .csv or .json"), suffix=suffix or ""
        )
    write = _write_csv if suffix == ".csv" else _write_json
    # CSV with a BOM, so that a spreadsheet reads the Chinese as UTF-8.
    encoding = "utf-8-sig" if suffix == ".csv" else "utf-8"
    try:
        with (
            context.session() as session,
            _progress(context.err, _("Exporting")) as bar,
            file.open("w", encoding=encoding, newline="") as handle,
        ):
            task = bar.task_ids[0]
            bar.update(task, total=count_events(session, start=start, end=end))
            count = write(
                handle,
                iter_events(session, start=start, end=end),
                lambda done: bar.update(task, completed=done) if done % 1000 == 0 else None,
            )
    except OSError as exc:
        raise InvalidInput(
            N_("cannot write %(file)s: %(error)s"), file=str(file), error=exc.strerror or str(exc)
        ) from None
    context.console.print(
        ngettext(
            "Exported %(n)s audit record to %(file)s.",
            "Exported %(n)s audit records to %(file)s.",
            count,
        )
        % {"n": format_number(count), "file": file},
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
