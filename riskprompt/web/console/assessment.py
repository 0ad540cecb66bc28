"""``/assessment``: the assessment (考核评估) of a period within the officer's scope.

The same report as ``riskprompt report``: the figures of
:func:`~riskprompt.models.assessment.assess` (narrowed to the officer's supervision
scope by :func:`~riskprompt.models.assessing.assess_within`), the table of
:func:`~riskprompt.reporting.report_table`, the chart of
:func:`~riskprompt.reporting.render_png`, and the CSV and XLSX files of
:func:`~riskprompt.reporting.write_csv` / :func:`~riskprompt.reporting.write_xlsx`
(the very bytes the CLI writes for the same units and period).

Routes (GET parameters ``period`` ``YYYY-MM`` (default: this month), ``by`` ``unit`` or
``person``, ``unit`` a unit id of the scope (default: the whole scope), ``page``):

- ``/assessment``: the table (pages of 50 rows, the totals on every page) and the chart;
- ``/assessment/chart.png``: the chart;
- ``/assessment/report.csv``, ``/assessment/report.xlsx``: the downloads;
- ``/assessment/print``: every row on an A4 landscape sheet, with the units, the period,
  the day it was made and the reviewer's signature line (the structure of the CLI's
  HTML report), for the browser's print.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from sqlmodel import Session

from riskprompt.config.i18n import N_, current_locale, format_list, set_locale
from riskprompt.models.assessing import UnitChoice, assess_within, units_within
from riskprompt.models.assessment import Assessment, By
from riskprompt.models.errors import DomainError, InvalidInput
from riskprompt.models.periods import current_period, local_day, shift_period
from riskprompt.models.queries import is_row_id
from riskprompt.models.refs import parse_period
from riskprompt.reporting import (
    ReportTable,
    chart_title,
    display_rows,
    no_score_note,
    period_label,
    render_png,
    report_table,
    scope_label,
    weights_note,
    write_csv,
    write_xlsx,
)
from riskprompt.web.console.auth import ConsoleUser, Officer
from riskprompt.web.console.rendering import app_url, console_locale, gettext_for, render
from riskprompt.web.console.routing import error_page, router
from riskprompt.web.context import web_context
from riskprompt.web.errors import status_for

PATH = "/assessment"
#: Rows of the report per page on the screen (the print and the downloads have all).
PER_PAGE = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The headers of a download and of the chart: not kept, not sniffed.
FILE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@contextmanager
def reading_in(locale: str) -> Iterator[None]:
    """Translate the reporting's texts (``riskprompt.reporting``) into ``locale`` here."""
    before = current_locale()
    set_locale(locale)
    try:
        yield
    finally:
        set_locale(before)


class BadQuery(Exception):
    """A query parameter that cannot be read (already translated, with its status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What the officer asked for: the period, the view, the unit and the page."""

    period: str
    by: By
    unit_id: int | None
    page: int

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this report (with ``changes``), for a link."""
        values: dict[str, Any] = {
            "period": self.period,
            "by": self.by,
            "unit": self.unit_id,
            **changes,
        }
        return {k: str(v) for k, v in values.items() if v is not None and v != ""}


def _field(gettext: Callable[[str], str], field: str, message: str) -> str:
    return gettext("%(field)s: %(problem)s") % {"field": gettext(field), "problem": message}


def read_query(request: Request) -> ReportQuery:
    """The report asked for by the GET parameters.

    Raises:
        BadQuery: 422 naming the parameter that cannot be read.
    """
    context = web_context(request)
    gettext = gettext_for(request)
    params = request.query_params
    text = (params.get("period") or "").strip()
    try:
        period = (
            parse_period(text)
            if text
            else current_period(clock=context.clock, settings=context.settings)
        )
    except InvalidInput as exc:  # the message names the period already
        raise BadQuery(422, exc.translate(gettext)) from None
    view = (params.get("by") or "unit").strip().lower()
    if view not in ("unit", "person"):
        raise BadQuery(
            422,
            _field(
                gettext,
                N_("View"),
                gettext("%(value)r is not a view: by unit or by person") % {"value": view},
            ),
        )
    by: By = "person" if view == "person" else "unit"
    unit_text = (params.get("unit") or "").strip()
    if unit_text and not is_row_id(unit_text):
        raise BadQuery(
            422,
            _field(
                gettext,
                N_("Unit"),
                gettext("%(value)r is not one of the units to choose from") % {"value": unit_text},
            ),
        )
    page_text = (params.get("page") or "1").strip()
    if not is_row_id(page_text) or int(page_text) < 1:
        raise BadQuery(
            422,
            _field(
                gettext,
                N_("Page"),
                gettext("%(value)r is not a page number") % {"value": page_text},
            ),
        )
    return ReportQuery(period, by, int(unit_text) if unit_text else None, int(page_text))


async def load(
    request: Request, officer: ConsoleUser, query: ReportQuery
) -> tuple[Assessment, list[UnitChoice]]:
    """The assessment asked for and the units to choose from, in one transaction.

    Raises:
        DomainError: the unit is not one of the scope (NotFound), or a bad period.
    """
    context = web_context(request)
    locale = console_locale(request)
    settings = context.settings

    def work(session: Session) -> tuple[Assessment, list[UnitChoice]]:
        supervised = officer.supervised
        assessment = assess_within(
            session,
            scope=officer.scope,
            scope_label=format_list(supervised, locale) if supervised else None,
            period=query.period,
            settings=settings,
            unit_id=query.unit_id,
            by=query.by,
        )
        return assessment, units_within(session, officer.scope)

    return await context.run(work)


def _url(request: Request, path: str, params: dict[str, str]) -> str:
    return app_url(request, path) + (f"?{urlencode(params)}" if params else "")


@dataclass(frozen=True, slots=True)
class ReportView:
    """The report as the templates show it (every text in the reader's language)."""

    title: str
    scope_line: str
    period_line: str
    headers: list[str]
    kinds: list[str]
    keys: list[str]
    rows: list[tuple[int, list[str]]]
    totals: list[str]
    notes: list[str]
    chart_alt: str
    count: int


def report_view(
    assessment: Assessment, table: ReportTable, rows: slice | None = None
) -> ReportView:
    """The table's rows (``rows``: some of them) and totals as text, with its heading."""
    texts = display_rows(table)
    body = list(zip((row.key for row in assessment.rows), texts[:-1], strict=True))
    notes = [weights_note(assessment.weights)]
    if assessment.totals.score is None or any(r.score is None for r in assessment.rows):
        notes.append(no_score_note())
    gettext_scope = scope_label(assessment)
    return ReportView(
        title=table.title,
        scope_line=gettext_scope,
        period_line=period_label(assessment.period),
        headers=table.headers,
        kinds=[c.kind for c in table.columns],
        keys=[c.key for c in table.columns],
        rows=body[rows] if rows is not None else body,
        totals=texts[-1],
        notes=notes,
        chart_alt=chart_title(assessment),
        count=len(body),
    )


def _links(request: Request, query: ReportQuery, locale: str) -> dict[str, str]:
    base = query.params()
    return {
        "chart": _url(request, f"{PATH}/chart.png", {**base, "lang": locale}),
        "csv": _url(request, f"{PATH}/report.csv", base),
        "xlsx": _url(request, f"{PATH}/report.xlsx", base),
        "print": _url(request, f"{PATH}/print", base),
        "page": _url(request, PATH, base),
    }


def _period_nav(request: Request, query: ReportQuery) -> dict[str, str]:
    return {
        "previous": _url(
            request, PATH, query.params(period=shift_period(query.period, -1), page=None)
        ),
        "next": _url(request, PATH, query.params(period=shift_period(query.period, 1), page=None)),
    }


def _form_values(request: Request) -> dict[str, str]:
    """What the officer typed, to show it back in the form."""
    params = request.query_params
    return {name: params.get(name, "") for name in ("period", "by", "unit")}


@router.get(PATH)
async def assessment_page(request: Request, officer: Officer) -> Response:
    """The report of a period: filters, the table (50 rows a page), the chart, the downloads."""
    locale = console_locale(request)
    gettext = gettext_for(request)
    values: dict[str, Any] = {"active": "assessment", "form": _form_values(request)}
    try:
        query = read_query(request)
    except BadQuery as exc:
        values |= {"problem": exc.message, "query": None, "units": [], "report": None}
        units = await web_context(request).run(lambda s: units_within(s, officer.scope))
        values["units"] = units
        return render(request, "assessment.html.j2", values, status=exc.status)
    values["query"] = query
    values["nav_links"] = _period_nav(request, query)
    try:
        assessment, units = await load(request, officer, query)
    except DomainError as exc:
        units = await web_context(request).run(lambda s: units_within(s, officer.scope))
        values |= {"problem": exc.translate(gettext), "units": units, "report": None}
        return render(request, "assessment.html.j2", values, status=status_for(exc))
    pages = max(1, -(-len(assessment.rows) // PER_PAGE))
    page = min(query.page, pages)
    start = (page - 1) * PER_PAGE
    with reading_in(locale):
        view = report_view(assessment, report_table(assessment), slice(start, start + PER_PAGE))
    values |= {
        "problem": None,
        "units": units,
        "report": view,
        "assessment": assessment,
        "links": _links(request, query, locale),
        "page": page,
        "pages": pages,
        "page_url": lambda number: _url(request, PATH, query.params(page=number)),
        "person_view_url": lambda unit_id: _url(
            request, PATH, query.params(by="person", unit=unit_id, page=None)
        ),
    }
    return render(request, "assessment.html.j2", values)


async def _checked(
    request: Request, officer: ConsoleUser
) -> tuple[ReportQuery, Assessment] | Response:
    """The query and its assessment, or the error page (4xx) that answers a bad one."""
    try:
        query = read_query(request)
        assessment, _units = await load(request, officer, query)
    except BadQuery as exc:
        return error_page(request, exc.status, exc.message)
    except DomainError as exc:
        return error_page(request, status_for(exc), exc.translate(gettext_for(request)))
    return query, assessment


def _file_name(query: ReportQuery, suffix: str) -> str:
    """``report-2026-12.csv`` as ``riskprompt report`` names it (the view and unit added)."""
    parts = ["report", query.period]
    if query.by == "person":
        parts.append("person")
    if query.unit_id is not None:
        parts.append(f"unit{query.unit_id}")
    return "-".join(parts) + suffix


def _written(write: Callable[[ReportTable, Path], None], table: ReportTable, suffix: str) -> bytes:
    """What ``write`` (the CLI's writer) puts in a file, as bytes."""
    with tempfile.TemporaryDirectory(prefix="riskprompt-report-") as folder:
        path = Path(folder) / f"report{suffix}"
        write(table, path)
        return path.read_bytes()


async def _download(request: Request, officer: ConsoleUser, suffix: str) -> Response:
    checked = await _checked(request, officer)
    if isinstance(checked, Response):
        return checked
    query, assessment = checked
    with reading_in(console_locale(request)):
        table = report_table(assessment, counts=True)
    if suffix == ".csv":
        data = await web_context(request).run_blocking(lambda: _written(write_csv, table, suffix))
        media = "text/csv; charset=utf-8"
    else:
        data = await web_context(request).run_blocking(lambda: _written(write_xlsx, table, suffix))
        media = XLSX_TYPE
    disposition = f'attachment; filename="{_file_name(query, suffix)}"'
    return Response(
        data, media_type=media, headers={**FILE_HEADERS, "Content-Disposition": disposition}
    )


@router.get(f"{PATH}/report.csv")
async def assessment_csv(request: Request, officer: Officer) -> Response:
    """The report as CSV (UTF-8 with a BOM), as ``riskprompt report --out FILE.csv``."""
    return await _download(request, officer, ".csv")


@router.get(f"{PATH}/report.xlsx")
async def assessment_xlsx(request: Request, officer: Officer) -> Response:
    """The report as XLSX, as ``riskprompt report --out FILE.xlsx``."""
    return await _download(request, officer, ".xlsx")


@router.get(f"{PATH}/chart.png")
async def assessment_chart(request: Request, officer: Officer) -> Response:
    """The chart of the report (PNG), as ``riskprompt report --out FILE.png``."""
    checked = await _checked(request, officer)
    if isinstance(checked, Response):
        return checked
    _query, assessment = checked
    locale = console_locale(request)

    def draw() -> bytes:
        with reading_in(locale):
            return render_png(assessment)

    data = await web_context(request).run_blocking(draw)
    return Response(data, media_type="image/png", headers=FILE_HEADERS)


@router.get(f"{PATH}/print")
async def assessment_print(request: Request, officer: Officer) -> Response:
    """Every row of the report on an A4 landscape sheet, for the browser's print."""
    checked = await _checked(request, officer)
    if isinstance(checked, Response):
        return checked
    query, assessment = checked
    context = web_context(request)
    locale = console_locale(request)
    made_on: date = local_day(context.clock.now(), context.settings)
    with reading_in(locale):
        view = report_view(assessment, report_table(assessment))
    return render(
        request,
        "assessment_print.html.j2",
        {
            "active": "assessment",
            "query": query,
            "report": view,
            "made_on": made_on,
            "links": _links(request, query, locale),
        },
    )
