"""``riskprompt report``: the assessment (考核评估) as a table, CSV, XLSX, PNG or HTML."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import typer

from riskprompt.cli.common import app_context, reports_errors, table
from riskprompt.config.i18n import N_, _, format_number
from riskprompt.models.assessment import By, assess, parse_period, parse_weights
from riskprompt.models.errors import InvalidInput
from riskprompt.models.queries import resolve_unit
from riskprompt.reporting import (
    FORMATS,
    display_rows,
    render_html,
    render_png,
    report_table,
    write_csv,
    write_xlsx,
)


def _read_weights(path: Path, base: dict[str, float]) -> dict[str, float]:
    """The weights in a TOML file: top-level keys, or a ``[weights]`` table.

    Raises:
        InvalidInput: unreadable file, bad TOML or bad weights.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(
            N_("cannot read the weights file %(path)s: %(error)s"), path=str(path), error=str(exc)
        ) from None
    table_ = data.get("weights", data)
    if not isinstance(table_, dict):
        raise InvalidInput(N_("the weights must be a table of numbers"))
    return parse_weights(table_, base)


@reports_errors
def report(
    ctx: typer.Context,
    period: Annotated[str, typer.Option("--period", help=_("Period, YYYY-MM."))],
    unit: Annotated[
        str | None,
        typer.Option("--unit", help=_("Unit id or name (with its sub-units)."), show_default=False),
    ] = None,
    by: Annotated[str, typer.Option("--by", help=_("One row per unit or per person."))] = "unit",
    output_format: Annotated[
        str, typer.Option("--format", help=_("table, csv, xlsx, png or html."))
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option("--out", help=_("File to write (not for table)."), show_default=False),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help=_("TOML file with the score's weights."), show_default=False
        ),
    ] = None,
) -> None:
    """The assessment of a period per unit or per person."""
    context = app_context(ctx)
    chosen_format = output_format.strip().lower()
    if chosen_format not in FORMATS:
        raise InvalidInput(
            N_("unknown format %(value)r: use table, csv, xlsx, png or html"), value=output_format
        )
    view = by.strip().lower()
    if view not in ("unit", "person"):
        raise InvalidInput(N_("unknown view %(value)r: use unit or person"), value=by)
    checked_period = parse_period(period)
    chosen_weights = (
        _read_weights(weights, context.settings.ASSESSMENT_WEIGHTS) if weights else None
    )
    with context.session() as session:
        unit_id = resolve_unit(session, ref=unit).id if unit else None
        by_view: By = "person" if view == "person" else "unit"
        assessment = assess(
            session,
            period=checked_period,
            settings=context.settings,
            unit_id=unit_id,
            by=by_view,
            weights=chosen_weights,
        )
    report_ = report_table(assessment)
    if chosen_format == "table":
        out_table = table(report_.title, *report_.headers)
        for row in display_rows(report_):
            out_table.add_row(*row)
        context.console.print(out_table)
        context.console.print(
            _("%(n)s rows; score weights: %(weights)s")
            % {
                "n": format_number(len(assessment.rows)),
                "weights": ", ".join(f"{k}={v:g}" for k, v in assessment.weights.items()),
            }
        )
        return
    path = out or Path(f"report-{checked_period}.{chosen_format}")
    if chosen_format == "csv":
        write_csv(report_, path)
    elif chosen_format == "xlsx":
        write_xlsx(report_, path)
    elif chosen_format == "png":
        path.write_bytes(render_png(assessment))
    else:
        html = render_html(report_, chart_png=render_png(assessment))
        path.write_text(html, encoding="utf-8")
    context.console.print(str(path), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the report command to ``app``."""
    app.command(
        "report",
        help=_("The assessment (考核评估) of a period per unit or per person, with a score."),
    )(report)
