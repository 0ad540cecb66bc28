"""Rendering an :class:`~models.assessment.Assessment` for its reader.

The assessment is computed in ``riskprompt.models.assessment``; this package only turns it
into a table of cells (translated headers, Babel-formatted numbers) and writes that
table as CSV, XLSX or HTML.  The chart lives in :mod:`riskprompt.reporting.chart`.

What a reader sees means what it says: a rate is a percentage (``93.3%``) and the
exports put its counts beside it (已阅 14, 应阅 15); a row with nothing to assess
has no score and no rank, shown as ``—`` (never 100, never 0).
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from babel.dates import format_skeleton, format_timedelta
from babel.numbers import format_percent
from jinja2 import Environment, FileSystemLoader, select_autoescape

from riskprompt.config.i18n import N_, _, babel_locale, current_locale, format_day, format_number
from riskprompt.models.assessment import Assessment, AssessmentRow
from riskprompt.models.periods import period_bounds
from riskprompt.models.warnings import WarningColour

FORMATS = ("table", "csv", "xlsx", "png", "html")
TEMPLATES = Path(__file__).parent / "templates"
NO_VALUE = "—"
"""What a cell without a value shows (no score, no rank, no rate)."""

Cell = int | float | str | None
Kind = Literal["text", "count", "ratio", "duration", "score", "rank"]

_COLOUR_HEADERS = {
    WarningColour.YELLOW: N_("Yellow warnings"),
    WarningColour.ORANGE: N_("Orange warnings"),
    WarningColour.RED: N_("Red warnings"),
}
_WEIGHT_NAMES = {
    "acknowledged": N_("acknowledged rate"),
    "on_time": N_("corrections on time"),
    "open_warnings": N_("open warnings"),
    "escalations": N_("escalations"),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the report: its key, translated header and kind of value."""

    key: str
    header: str
    kind: Kind


@dataclass(slots=True)
class ReportTable:
    """The report as columns and rows of typed values (numbers stay numbers)."""

    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    totals: list[Cell]

    @property
    def headers(self) -> list[str]:
        """The translated headers, in order."""
        return [column.header for column in self.columns]

    @property
    def ratio_columns(self) -> frozenset[int]:
        """The indexes of the columns that hold a ratio (0–1)."""
        return frozenset(i for i, column in enumerate(self.columns) if column.kind == "ratio")


def format_duration(value: timedelta | None, locale: str | None = None) -> str | None:
    """A duration for the reader (``3 hours``, ``3小时``); None when there is none."""
    if value is None:
        return None
    return format_timedelta(value, locale=babel_locale(locale))


def format_rate(value: float, locale: str | None = None) -> str:
    """A ratio as a percentage with at most one decimal: ``93.3%``, ``50%``."""
    return format_percent(value, format="#,##0.#%", locale=babel_locale(locale))


def period_label(period: str, locale: str | None = None) -> str:
    """The period as the reader writes it: ``2026年12月``, ``December 2026``."""
    first, _last = period_bounds(period)
    return format_skeleton("yMMMM", first, locale=babel_locale(locale))


def title_of(assessment: Assessment) -> str:
    """The report's title in the reader's language."""
    if assessment.by == "person":
        return _("Assessment by person, %(period)s") % {"period": assessment.period}
    return _("Assessment by unit, %(period)s") % {"period": assessment.period}


def scope_label(assessment: Assessment) -> str:
    """The units the report covers, for its heading."""
    if assessment.scope is None:
        return _("All units")
    return _("%(unit)s and its sub-units") % {"unit": assessment.scope}


def weights_label(weights: Mapping[str, float]) -> str:
    """The score's weights by their translated names: ``已阅率 50%、按期整改 50%…``."""
    parts = [
        f"{_(_WEIGHT_NAMES.get(key, key))} {format_rate(value)}" for key, value in weights.items()
    ]
    return _(", ").join(parts)


def weights_note(weights: Mapping[str, float]) -> str:
    """The sentence that gives the score's weights."""
    return _(
        "Score weights: %(weights)s; a measure with nothing to measure counts neither way."
    ) % {"weights": weights_label(weights)}


def no_score_note() -> str:
    """The sentence that says what ``—`` in the score column means."""
    return _(
        "%(none)s: nothing to assess this period (no prompt to acknowledge, no correction "
        "accepted), so no score and no rank."
    ) % {"none": NO_VALUE}


def _columns(by: str, *, counts: bool) -> list[Column]:
    first = (
        [Column("person", _("Person"), "text"), Column("unit", _("Unit"), "text")]
        if by == "person"
        else [Column("unit", _("Unit"), "text"), Column("people", _("Headcount"), "count")]
    )
    ack_counts = (
        [
            Column("acknowledged", _("Prompts acknowledged"), "count"),
            Column("requiring_ack", _("Prompts requiring acknowledgement"), "count"),
        ]
        if counts
        else []
    )
    last = [Column("rank", _("Rank"), "rank")] if by == "person" else []
    return [
        *first,
        Column("prompts", _("Prompts issued"), "count"),
        Column("sent", _("Prompts sent"), "count"),
        *ack_counts,
        Column("ack_rate", _("Acknowledged (%)"), "ratio"),
        Column("median_ack", _("Median time to acknowledge"), "duration"),
        *(Column(c.value, _(_COLOUR_HEADERS[c]), "count") for c in WarningColour),
        Column("on_time", _("Corrections on time"), "count"),
        Column("late", _("Corrections late"), "count"),
        Column("open", _("Open warnings"), "count"),
        Column("escalations", _("Escalations"), "count"),
        Column("score", _("Score"), "score"),
        *last,
    ]


def _value(row: AssessmentRow, key: str) -> Cell:
    if key == "person":
        return row.name
    if key == "median_ack":
        return format_duration(row.median_ack)
    if key in {c.value for c in WarningColour}:
        return row.warnings[WarningColour(key)]
    value = getattr(row, key)
    return value if value is None or isinstance(value, int | float | str) else str(value)


def report_table(assessment: Assessment, *, counts: bool = False) -> ReportTable:
    """The assessment as a table for the current locale.

    ``counts`` adds the raw counts beside the acknowledged rate (已阅, 应阅): the
    exports carry them so that every percentage can be checked.
    """
    columns = _columns(assessment.by, counts=counts)
    rows = [[_value(row, column.key) for column in columns] for row in assessment.rows]
    totals = [_value(assessment.totals, column.key) for column in columns]
    totals[0] = _("Total")
    for index, column in enumerate(columns):
        if column.key == "unit" and assessment.by == "person":
            totals[index] = ""
        if column.kind == "rank":
            totals[index] = None
    return ReportTable(title=title_of(assessment), columns=columns, rows=rows, totals=totals)


def display(value: Cell, *, ratio: bool = False, kind: Kind | None = None) -> str:
    """One cell as text for the reader; ``—`` where there is no value."""
    if value is None:
        return NO_VALUE if (kind or ("ratio" if ratio else "text")) != "text" else ""
    if isinstance(value, int | float) and (ratio or kind == "ratio"):
        return format_rate(value)
    if isinstance(value, int | float):
        return format_number(value)
    return value


def display_rows(table: ReportTable) -> list[list[str]]:
    """Every row, then the totals, as text."""
    return [
        [display(value, kind=column.kind) for value, column in zip(row, table.columns, strict=True)]
        for row in [*table.rows, table.totals]
    ]


def _export_cell(value: Cell, kind: Kind) -> int | float | str:
    """A cell for CSV: numbers unformatted, rates as ``93.3%``, no value as ``—``."""
    if value is None:
        return "" if kind == "text" else NO_VALUE
    if kind == "ratio" and isinstance(value, int | float):
        return format_rate(value, "en")  # the same digits in every locale, Excel reads it
    return value


def csv_text(table: ReportTable) -> str:
    """The table as CSV text (no BOM): the header row, the rows, then the totals."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.headers)
    for row in [*table.rows, table.totals]:
        writer.writerow([_export_cell(v, c.kind) for v, c in zip(row, table.columns, strict=True)])
    return buffer.getvalue()


def write_csv(table: ReportTable, path: Path) -> None:
    """CSV in UTF-8 with a BOM (so that Excel reads the Chinese), numbers unformatted."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write(csv_text(table).replace("\n", "\r\n"))


def write_xlsx(table: ReportTable, path: Path) -> None:
    """An XLSX workbook with one sheet; rates are numbers shown as ``93.3%``."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = table.title[:31]  # Excel's limit on sheet names
    sheet.append(table.headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in [*table.rows, table.totals]:
        values = [
            NO_VALUE if value is None and column.kind != "text" else value
            for value, column in zip(row, table.columns, strict=True)
        ]
        sheet.append(values)
        for index, column in enumerate(table.columns, start=1):
            cell = sheet.cell(row=sheet.max_row, column=index)
            if column.kind == "ratio":
                cell.number_format = "0.0%"
            if cell.value == NO_VALUE:
                cell.alignment = Alignment(horizontal="right")
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for index, header in enumerate(table.headers, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(10, 2 * len(header) + 2)
    sheet.freeze_panes = "B2"
    book.save(path)


def render_html(
    table: ReportTable, assessment: Assessment, *, chart_png: bytes | None, made_on: date
) -> str:
    """A standalone HTML page that prints on A4 landscape: heading, table, chart, signature.

    Args:
        table: the report's table (:func:`report_table`).
        assessment: for the heading (units, period) and the score's weights.
        chart_png: the chart, embedded as a PNG; None for none.
        made_on: the day the report was made, in the office's time zone.
    """
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    chart = base64.b64encode(chart_png).decode("ascii") if chart_png else None
    return env.get_template("report.html.j2").render(
        lang=current_locale().replace("_", "-"),
        title=table.title,
        headers=table.headers,
        kinds=[column.kind for column in table.columns],
        rows=display_rows(table),
        chart=chart,
        chart_alt=chart_title(assessment),
        scope_line=_("Units: %(units)s") % {"units": scope_label(assessment)},
        period_line=_("Period: %(period)s") % {"period": period_label(assessment.period)},
        made_line=_("Made on: %(date)s") % {"date": format_day(made_on)},
        notes=[
            weights_note(assessment.weights),
            *([no_score_note()] if _has_unscored(assessment) else []),
        ],
        reviewer_label=_("Reviewed by:"),
        date_label=_("Date:"),
    )


def _has_unscored(assessment: Assessment) -> bool:
    return assessment.totals.score is None or any(row.score is None for row in assessment.rows)


def chart_title(assessment: Assessment) -> str:
    """The chart's title (also the HTML image's text alternative)."""
    return _("Score, acknowledged rate and open warnings, %(period)s") % {
        "period": assessment.period
    }


def render_png(assessment: Assessment, *, top: int | None = None) -> bytes:
    """The chart as PNG bytes (see :mod:`riskprompt.reporting.chart`)."""
    from riskprompt.reporting.chart import DEFAULT_TOP, render_chart

    buffer = io.BytesIO()
    render_chart(assessment, buffer, top=top or DEFAULT_TOP)
    return buffer.getvalue()


__all__ = [
    "FORMATS",
    "NO_VALUE",
    "Column",
    "ReportTable",
    "chart_title",
    "csv_text",
    "display_rows",
    "format_duration",
    "format_rate",
    "no_score_note",
    "period_label",
    "render_html",
    "render_png",
    "report_table",
    "weights_label",
    "weights_note",
    "write_csv",
    "write_xlsx",
]
