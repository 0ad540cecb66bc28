"""Rendering an :class:`~models.assessment.Assessment` for its reader.

The assessment is computed in ``riskprompt.models.assessment``; this package only turns it
into a table of cells (translated headers, Babel-formatted numbers) and writes that
table as CSV, XLSX or HTML.  The chart lives in :mod:`riskprompt.reporting.chart`.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from babel.dates import format_timedelta
from jinja2 import Environment, FileSystemLoader, select_autoescape

from riskprompt.config.i18n import _, babel_locale, current_locale, format_number, format_ratio
from riskprompt.models.assessment import Assessment, AssessmentRow
from riskprompt.models.warnings import WarningColour

FORMATS = ("table", "csv", "xlsx", "png", "html")
TEMPLATES = Path(__file__).parent / "templates"

Cell = int | float | str | None


@dataclass(slots=True)
class ReportTable:
    """The report as headers and rows of typed values (numbers stay numbers)."""

    title: str
    headers: list[str]
    rows: list[list[Cell]]
    totals: list[Cell]
    ratio_columns: frozenset[int]


def format_duration(value: timedelta | None, locale: str | None = None) -> str:
    """A duration for the reader (``3 hours``, ``3小时``); empty when there is none."""
    if value is None:
        return ""
    return format_timedelta(value, locale=babel_locale(locale))


def title_of(assessment: Assessment) -> str:
    """The report's title in the reader's language."""
    if assessment.by == "person":
        return _("Assessment by person, %(period)s") % {"period": assessment.period}
    return _("Assessment by unit, %(period)s") % {"period": assessment.period}


def _cells(row: AssessmentRow, by: str, *, total: bool = False) -> list[Cell]:
    first: list[Cell]
    if by == "person":
        first = [_("Total") if total else row.name, "" if total else row.unit]
    else:
        first = [_("Total") if total else row.name, row.people]
    return [
        *first,
        row.prompts,
        row.sent,
        row.ack_rate,
        format_duration(row.median_ack),
        *(row.warnings[colour] for colour in WarningColour),
        row.on_time,
        row.late,
        row.open,
        row.escalations,
        row.score,
    ]


def report_table(assessment: Assessment) -> ReportTable:
    """The assessment as a table for the current locale."""
    first = [_("Person"), _("Unit")] if assessment.by == "person" else [_("Unit"), _("People")]
    headers = [
        *first,
        _("Prompts issued"),
        _("Prompts sent"),
        _("Acknowledged (%)"),
        _("Median time to acknowledge"),
        *(_(colour.label) for colour in WarningColour),
        _("Corrections on time"),
        _("Corrections late"),
        _("Open warnings"),
        _("Escalations"),
        _("Score"),
    ]
    return ReportTable(
        title=title_of(assessment),
        headers=headers,
        rows=[_cells(row, assessment.by) for row in assessment.rows],
        totals=_cells(assessment.totals, assessment.by, total=True),
        ratio_columns=frozenset({4}),
    )


def display(value: Cell, *, ratio: bool = False) -> str:
    """One cell as text for the reader."""
    if value is None:
        return "–" if ratio else ""
    if ratio and isinstance(value, int | float):
        return format_ratio(value)
    if isinstance(value, int | float):
        return format_number(value)
    return value


def display_rows(table: ReportTable) -> list[list[str]]:
    """Every row, then the totals, as text."""
    return [
        [display(value, ratio=i in table.ratio_columns) for i, value in enumerate(row)]
        for row in [*table.rows, table.totals]
    ]


def write_csv(table: ReportTable, path: Path) -> None:
    """CSV in UTF-8 with a BOM (so that Excel reads the Chinese), numbers unformatted."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.headers)
        for row in [*table.rows, table.totals]:
            writer.writerow(["" if value is None else value for value in row])


def write_xlsx(table: ReportTable, path: Path) -> None:
    """An XLSX workbook with one sheet; ratios carry a percent format."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook has one sheet
    sheet.title = table.title[:31]  # Excel's limit on sheet names
    sheet.append(table.headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in [*table.rows, table.totals]:
        sheet.append(list(row))
        for index in table.ratio_columns:
            sheet.cell(row=sheet.max_row, column=index + 1).number_format = "0.0%"
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for index, header in enumerate(table.headers, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(10, 2 * len(header) + 2)
    book.save(path)


def render_html(table: ReportTable, *, chart_png: bytes | None) -> str:
    """A standalone HTML page with the table and the chart embedded as a PNG."""
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
        rows=display_rows(table),
        chart=chart,
        chart_alt=_("Acknowledged rate and open warnings per unit"),
    )


def render_png(assessment: Assessment) -> bytes:
    """The chart as PNG bytes (see :mod:`riskprompt.reporting.chart`)."""
    from riskprompt.reporting.chart import render_chart

    buffer = io.BytesIO()
    render_chart(assessment, buffer)
    return buffer.getvalue()


__all__ = [
    "FORMATS",
    "ReportTable",
    "display_rows",
    "format_duration",
    "render_html",
    "render_png",
    "report_table",
    "write_csv",
    "write_xlsx",
]
