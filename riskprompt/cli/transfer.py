"""``riskprompt import`` and ``riskprompt export``: the catalogue and people as CSV or XLSX."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlmodel import Session

from riskprompt.cli.common import INTERRUPTED, app_context, reports_errors, table
from riskprompt.config.i18n import _, current_locale, format_number, ngettext, pgettext
from riskprompt.context import AppContext
from riskprompt.models.exporting import export_catalog, export_people
from riskprompt.models.importing import (
    CATALOG_LAYOUT,
    KIND_LABELS,
    PEOPLE_LAYOUT,
    PHASES,
    Change,
    ImportResult,
    ProgressCallback,
    import_catalog,
    import_people,
)
from riskprompt.models.tabular import TableError

import_app = typer.Typer(
    help=_("Import the catalogue or people from a CSV or XLSX file."), no_args_is_help=True
)
export_app = typer.Typer(
    help=_("Export the catalogue or people to a CSV or XLSX file."), no_args_is_help=True
)

FileArgument = Annotated[Path, typer.Argument(help=_("A .csv or .xlsx file."), show_default=False)]
SheetOption = Annotated[
    str | None,
    typer.Option(
        "--sheet", help=_("Worksheet of an XLSX file (default: the first)."), show_default=False
    ),
]
DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help=_("Check the file and show what would change; write nothing.")),
]

_ACTION_MARKS = {"create": "+", "update": "~", "end": "-"}


def register(app: typer.Typer) -> None:
    """Add the import and export commands to ``app``."""
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")


@contextmanager
def progress_bar(console: Console) -> Iterator[ProgressCallback]:
    """A rich progress bar fed by an import's ``progress`` callback.

    It draws only on a terminal: piped output and logs get the summary alone.
    The bar is transient, so the summary printed afterwards stands on its own.
    """
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def report(phase: str, done: int, total: int | None) -> None:
        task = tasks.get(phase)
        if task is None:
            tasks[phase] = progress.add_task(_(PHASES[phase]), total=total, completed=done)
        else:
            progress.update(task, completed=done, total=total)

    with progress:
        yield report


def _run_import(
    context: AppContext, kind: str, file: Path, sheet: str | None, dry_run: bool
) -> None:
    """Import ``file`` in one transaction; Ctrl-C before it is committed writes nothing.

    The progress bar is drawn on stderr (stdout keeps the summary alone).
    """
    imported = False
    try:
        with context.session() as session, progress_bar(context.err) as progress:
            result = _import(context, session, kind, file, sheet, dry_run, progress)
            imported = True
    except KeyboardInterrupt:
        if imported:  # interrupted while committing: what was written is not known here
            raise
        context.err.print(
            _("Import cancelled: nothing was written."), highlight=False, markup=False
        )
        raise typer.Exit(INTERRUPTED) from None
    if not result.ok:
        _report_problems(context, result)
        raise typer.Exit(1)
    _report_counts(context, result)


def _import(
    context: AppContext,
    session: Session,
    kind: str,
    file: Path,
    sheet: str | None,
    dry_run: bool,
    progress: ProgressCallback,
) -> ImportResult:
    if kind == "catalog":
        return import_catalog(
            session,
            path=file,
            clock=context.clock,
            sheet=sheet,
            dry_run=dry_run,
            source=str(file),
            progress=progress,
        )
    return import_people(
        session,
        path=file,
        clock=context.clock,
        zone=context.settings.zone,
        default_locale=context.settings.LOCALE,
        default_timezone=context.settings.TIMEZONE,
        sheet=sheet,
        dry_run=dry_run,
        source=str(file),
        progress=progress,
    )


def _report_problems(context: AppContext, result: ImportResult) -> None:
    for problem in result.problems:
        context.err.print(problem.translate(_), markup=False, highlight=False, soft_wrap=True)
    n = len(result.problems)
    context.err.print(
        ngettext(
            "%(n)s problem in %(file)s: nothing was imported.",
            "%(n)s problems in %(file)s: nothing was imported.",
            n,
        )
        % {"n": format_number(n), "file": result.source},
        style="red",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _report_counts(context: AppContext, result: ImportResult) -> None:
    console = context.console
    params = {"file": result.source, "rows": format_number(result.rows)}
    if result.dry_run:
        title = _("Dry run of %(file)s (%(rows)s rows): nothing was written.") % params
    elif result.changed:
        title = _("Imported %(file)s (%(rows)s rows).") % params
    else:
        title = _("Imported %(file)s (%(rows)s rows): nothing to change.") % params
    console.print(title, markup=False, highlight=False, soft_wrap=True)
    # Counts, not times: "Created" alone is 创建时间 (when) in the catalogue.
    out = table(
        "",
        _("Records"),
        pgettext("count", "Created"),
        pgettext("count", "Updated"),
        pgettext("count", "Unchanged"),
    )
    for kind, counts in result.counts.items():
        out.add_row(
            _(KIND_LABELS[kind]),
            format_number(counts.created),
            format_number(counts.updated),
            format_number(counts.unchanged),
        )
    console.print(out)
    if result.dry_run and result.changes:
        total = sum(c.created + c.updated for c in result.counts.values())
        if total > len(result.changes):
            heading = _("Changes (the first %(n)s of %(total)s):") % {
                "n": format_number(len(result.changes)),
                "total": format_number(total),
            }
        else:
            heading = _("Changes:")
        console.print(heading, markup=False)
        for change in result.changes:
            console.print(_describe(change, result), markup=False, highlight=False, soft_wrap=True)


def _describe(change: Change, result: ImportResult) -> str:
    layout = CATALOG_LAYOUT if result.kind == "catalog" else PEOPLE_LAYOUT
    locale = current_locale()
    text = f"  {_ACTION_MARKS[change.action]} {_(KIND_LABELS[change.kind])}: {change.subject}"
    if change.fields:
        text += " (" + ", ".join(layout.column(f).label(locale) for f in change.fields) + ")"
    if change.row is not None:
        text += "  " + _("row %(row)s") % {"row": change.row}
    return text


@import_app.command(
    "catalog", help=_("Import units, posts, powers and risk points (one row per risk point).")
)
@reports_errors
def import_catalog_command(
    ctx: typer.Context, file: FileArgument, sheet: SheetOption = None, dry_run: DryRunOption = False
) -> None:
    """Import units, posts, powers and risk points (one row per risk point)."""
    _run_import(app_context(ctx), "catalog", file, sheet, dry_run)


@import_app.command(
    "people", help=_("Import people, their channels and the posts they hold (by staff id).")
)
@reports_errors
def import_people_command(
    ctx: typer.Context, file: FileArgument, sheet: SheetOption = None, dry_run: DryRunOption = False
) -> None:
    """Import people, their channels and the posts they hold (by staff id)."""
    _run_import(app_context(ctx), "people", file, sheet, dry_run)


@export_app.command(
    "catalog", help=_("Export the catalogue in the layout ``import catalog`` reads.")
)
@reports_errors
def export_catalog_command(ctx: typer.Context, file: FileArgument) -> None:
    """Export the catalogue in the layout ``import catalog`` reads."""
    context = app_context(ctx)
    with _file_errors(context), context.session() as session:
        n = export_catalog(session, path=file, locale=current_locale(), source=str(file))
    _report_export(context, file, n)


@export_app.command("people", help=_("Export people in the layout ``import people`` reads."))
@reports_errors
def export_people_command(ctx: typer.Context, file: FileArgument) -> None:
    """Export people in the layout ``import people`` reads."""
    context = app_context(ctx)
    today = context.clock.now().astimezone(context.settings.zone).date()
    with _file_errors(context), context.session() as session:
        n = export_people(
            session, path=file, locale=current_locale(), today=today, source=str(file)
        )
    _report_export(context, file, n)


@contextmanager
def _file_errors(context: AppContext) -> Iterator[None]:
    """A file that cannot be written: one ``file: message`` line, as import reports them."""
    try:
        yield
    except TableError as exc:
        context.err.print(exc.translate(_), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _report_export(context: AppContext, file: Path, n: int) -> None:
    context.console.print(
        ngettext("Wrote %(n)s row to %(file)s.", "Wrote %(n)s rows to %(file)s.", n)
        % {"n": format_number(n), "file": str(file)},
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
