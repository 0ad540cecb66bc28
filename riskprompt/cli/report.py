"""``riskprompt report``: the assessment (考核评估) as a table, CSV, XLSX, PNG or HTML."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from riskprompt.cli import params
from riskprompt.cli.common import app_context, reports_errors
from riskprompt.cli.listing import Column, Listing, WideOption, show
from riskprompt.config.i18n import N_, _, format_number
from riskprompt.context import AppContext
from riskprompt.models.assessment import Assessment, By, assess, parse_period, parse_weights
from riskprompt.models.errors import InvalidInput
from riskprompt.models.periods import local_day
from riskprompt.models.queries import resolve_unit
from riskprompt.reporting import (
    FORMATS,
    csv_text,
    display_rows,
    no_score_note,
    render_html,
    render_png,
    report_table,
    weights_label,
    write_csv,
    write_xlsx,
)
from riskprompt.reporting.chart import DEFAULT_TOP


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


SUFFIXES = {".csv": "csv", ".xlsx": "xlsx", ".png": "png", ".html": "html", ".htm": "html"}
"""The file suffixes ``--out`` understands, and the format each one means."""


def _usage_error(context: AppContext, message: str) -> NoReturn:
    """One line on stderr (the message already translated), exit code 2."""
    context.err.print(
        f"{_('Error')}: {message}", style="red", highlight=False, markup=False, soft_wrap=True
    )
    raise typer.Exit(2)


def choose_format(context: AppContext, output_format: str | None, out: Path | None) -> str:
    """The format from ``--format`` and the suffix of ``--out``, which must agree.

    No ``--format``: the suffix chooses (the table when there is no ``--out``).
    A usage error (exit 2) when the format is unknown, when the two disagree, when
    the suffix names no format, or when ``--out`` is given for the table.
    """
    given = output_format.strip().lower() if output_format is not None else None
    if given is not None and given not in FORMATS:
        _usage_error(
            context,
            _("unknown format %(value)r for --format: use table, csv, xlsx, png or html")
            % {"value": output_format},
        )
    if out is None:
        return given or "table"
    suffix = out.suffix.lower()
    by_suffix = SUFFIXES.get(suffix)
    if given is None:
        if by_suffix is None:
            _usage_error(
                context,
                _(
                    "cannot tell the format from the suffix of --out %(path)s: "
                    "end it in .csv, .xlsx, .png or .html, or give --format"
                )
                % {"path": str(out)},
            )
        return by_suffix
    if given == "table":
        _usage_error(
            context,
            _(
                "--format table prints to the screen: "
                "leave out --out %(path)s, or give a file format"
            )
            % {"path": str(out)},
        )
    if suffix and by_suffix != given:
        _usage_error(
            context,
            _(
                "--format %(format)s does not match the suffix of --out %(path)s (%(suffix)s): "
                "make them agree, or leave out --format"
            )
            % {"format": given, "path": str(out), "suffix": suffix},
        )
    return given


#: How much each column of the on-screen table matters (0: always shown); the
#: rest are dropped, least important first, when the terminal is narrow.
KEEP = {
    "person": 0,
    "unit": 0,
    "ack_rate": 0,
    "score": 0,
    "rank": 0,
    "open": 1,
    "people": 2,
    "prompts": 3,
    "on_time": 4,
    "late": 4,
    "red": 5,
    "orange": 5,
    "yellow": 5,
    "escalations": 6,
    "sent": 7,
    "median_ack": 7,
}


def _keep(key: str, assessment: Assessment) -> int:
    if key == "unit" and assessment.by == "person":  # the person's unit: useful, not the key
        return 2
    return KEEP.get(key, 5)


def print_assessment(
    console: Console, assessment: Assessment, *, zone: ZoneInfo, wide: bool = False
) -> None:
    """The report on the screen, its columns chosen by the terminal's width."""
    report_ = report_table(assessment)
    listing = Listing(
        report_.title,
        [
            Column(c.key, c.header, keep=_keep(c.key, assessment), numeric=c.kind != "text")
            for c in report_.columns
        ],
        zone,
    )
    for row in display_rows(report_):
        listing.add(*row)
    notes = [
        _("%(n)s rows; score weights: %(weights)s")
        % {
            "n": format_number(len(assessment.rows)),
            "weights": weights_label(assessment.weights),
        }
    ]
    if any(row.score is None for row in assessment.rows) or assessment.totals.score is None:
        notes.append(no_score_note())
    show(listing, console, wide=wide, form="table", notes=notes)


@reports_errors
def report(
    ctx: typer.Context,
    period: Annotated[
        str, params.option("--period", read=params.period, help=_("Period, YYYY-MM."))
    ],
    unit: Annotated[
        str | None,
        params.option("--unit", read=params.unit, help=_("Unit id or name (with its sub-units).")),
    ] = None,
    by: Annotated[str, typer.Option("--by", help=_("One row per unit or per person."))] = "unit",
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help=_(
                "table, csv, xlsx, png or html (default: from the suffix of --out, else table)."
            ),
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help=_("File to write; its suffix chooses the format. Without it csv prints here."),
            show_default=False,
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help=_("TOML file with the score's weights."), show_default=False
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option("--top", min=1, help=_("Rows in the chart at most (lowest scores first).")),
    ] = DEFAULT_TOP,
    wide: WideOption = False,
) -> None:
    """The assessment of a period per unit or per person."""
    context = app_context(ctx)
    chosen_format = choose_format(context, output_format, out)
    view = by.strip().lower()
    if view not in ("unit", "person"):
        _usage_error(
            context, _("unknown view %(value)r for --by: use unit or person") % {"value": by}
        )
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
    if chosen_format == "table":
        print_assessment(context.console, assessment, zone=context.settings.zone, wide=wide)
        return
    if chosen_format == "csv" and out is None:  # plain CSV on stdout, for a pipe or a look
        typer.echo(csv_text(report_table(assessment, counts=True)), nl=False)
        return
    path = out or Path(f"report-{checked_period}.{chosen_format}")
    if chosen_format == "csv":
        write_csv(report_table(assessment, counts=True), path)
    elif chosen_format == "xlsx":
        write_xlsx(report_table(assessment, counts=True), path)
    elif chosen_format == "png":
        path.write_bytes(render_png(assessment, top=top))
    else:
        html = render_html(
            report_table(assessment),
            assessment,
            chart_png=render_png(assessment, top=top),
            made_on=local_day(context.clock.now(), context.settings),
        )
        path.write_text(html, encoding="utf-8")
    context.console.print(str(path), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the report command to ``app``."""
    app.command(
        "report",
        help=_("The assessment (考核评估) of a period per unit or per person, with a score."),
    )(report)
