"""``/catalogue``: the catalogue and people (目录与人员).

- ``GET /catalogue``: browse and search, within the officer's supervision scope
  (:mod:`riskprompt.models.directory`): ``tab=people`` (default: name, staff ID,
  unit, posts held today and their risk levels), ``tab=posts`` (each post's risk
  points, high first, and control measures) or ``tab=units``; filters ``q``,
  ``unit`` (with its sub-units), ``level``; ``page`` (50 a page).  Every filter is
  a GET parameter: the URL can be kept.
- ``POST /catalogue/import`` (multipart): an administrator uploads a catalogue or
  people file (.xlsx or .csv), imported as ``riskprompt import catalog|people``
  does it (:func:`riskprompt.models.directory.import_table`): a file with any
  problem writes nothing and every problem is listed on the page (file, row,
  column, message); "check only" writes nothing either way.
- ``GET /catalogue/export?what=catalog|people&format=xlsx|csv``: the file
  ``riskprompt export catalog|people`` writes, as a download (for those who see
  every unit: :func:`riskprompt.models.directory.may_export`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import FileResponse
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.datastructures import UploadFile

from riskprompt.config.i18n import N_
from riskprompt.models.catalog import RiskLevel, Unit, join_measures
from riskprompt.models.directory import (
    MAX_QUERY,
    TableKind,
    directory_totals,
    export_table,
    import_table,
    may_export,
    may_import,
    page_people,
    page_posts,
    page_units,
    require_import_right,
    unit_in_scope,
    visible_units,
)
from riskprompt.models.importing import CATALOG_LAYOUT, KIND_LABELS, PEOPLE_LAYOUT, ImportResult
from riskprompt.web.console.auth import ConsoleUser, Officer
from riskprompt.web.console.errors import PageError
from riskprompt.web.console.rendering import console_locale, gettext_for, render
from riskprompt.web.console.routing import router
from riskprompt.web.context import web_context

TABS = ("people", "posts", "units")
#: The largest file an import takes (a city's people fit in a few MB).
MAX_IMPORT_BYTES = 20 * 1024 * 1024
#: Problems an import report lists on the page (all are counted).
MAX_PROBLEMS_SHOWN = 500
MAX_PAGE = 100_000
FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
_ACTION_MARKS = {"create": "+", "update": "~", "end": "−"}


@dataclass(frozen=True, slots=True)
class Filters:
    """The directory's GET parameters, as typed."""

    tab: str = "people"
    q: str = ""
    unit: str = ""
    level: str = ""
    page: int = 1

    @classmethod
    def read(cls, request: Request) -> Filters:
        """The filters of the request's query string.

        Raises:
            PageError: 422 for a tab or page that is not one.
        """
        params = request.query_params
        tab = params.get("tab", "people") or "people"
        raw_page = params.get("page", "1") or "1"
        bad = [
            name
            for name, ok in (
                ("tab", tab in TABS),
                (
                    "page",
                    raw_page.isascii() and raw_page.isdigit() and 0 < int(raw_page) <= MAX_PAGE,
                ),
            )
            if not ok
        ]
        if bad:
            raise PageError(
                422, N_("These fields are missing or not valid: %(fields)s"), fields=", ".join(bad)
            )
        return cls(
            tab=tab,
            q=params.get("q", "").strip()[:MAX_QUERY],
            unit=params.get("unit", "").strip()[:MAX_QUERY],
            level=params.get("level", "").strip()[:16],
            page=int(raw_page),
        )

    def url(self, request: Request, **changes: Any) -> str:
        """This page's URL with some parameters changed (empty ones left out)."""
        values = {
            "tab": self.tab,
            "q": self.q,
            "unit": self.unit,
            "level": self.level,
            "page": str(self.page),
            **{k: str(v) for k, v in changes.items()},
        }
        if values["page"] == "1":
            del values["page"]
        query = urlencode([(k, v) for k, v in values.items() if v])
        return f"{request.url.path}?{query}" if query else request.url.path


def _today(request: Request) -> Any:
    context = web_context(request)
    return context.clock.now().astimezone(context.settings.zone).date()


def _browse(
    session: Session, officer: ConsoleUser, filters: Filters, request: Request
) -> dict[str, Any]:
    """What the directory page shows for ``filters`` (within the officer's scope)."""
    me = officer.in_session(session)
    unit: Unit | None = (
        unit_in_scope(session, viewer=me, ref=filters.unit) if filters.unit else None
    )
    level = RiskLevel.parse(filters.level) if filters.level else None
    if filters.tab == "units":
        rows: Any = page_units(session, viewer=me, q=filters.q, page=filters.page)
    elif filters.tab == "posts":
        rows = page_posts(
            session, viewer=me, q=filters.q, unit=unit, level=level, page=filters.page
        )
    else:
        rows = page_people(
            session,
            viewer=me,
            on=_today(request),
            q=filters.q,
            unit=unit,
            level=level,
            page=filters.page,
        )
    return {
        "rows": rows,
        "units": [(str(u.id), u.name) for u in visible_units(session, viewer=me)],
        "totals": directory_totals(session, viewer=me),
        "chosen_unit": unit,
        "chosen_level": level,
        "may_import": may_import(me),
        "may_export": may_export(session, viewer=me),
    }


async def _page(
    request: Request,
    officer: ConsoleUser,
    filters: Filters,
    *,
    report: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    data = await web_context(request).run(lambda s: _browse(s, officer, filters, request))
    return render(
        request,
        "catalogue.html.j2",
        {
            "active": "catalogue",
            "filters": filters,
            "tabs": TABS,
            "levels": list(RiskLevel),
            "kinds": list(TableKind),
            "tab_url": lambda tab: filters.url(request, tab=tab, page=1),
            "page_url": lambda n: filters.url(request, page=n),
            "join_measures": join_measures,
            "report": report,
            **data,
        },
        status=status,
    )


@router.get("/catalogue")
async def catalogue(request: Request, officer: Officer) -> Response:
    """The directory: people, posts or units in the officer's scope."""
    return await _page(request, officer, Filters.read(request))


def _report(result: ImportResult, request: Request) -> dict[str, Any]:
    """An import's outcome as the page shows it: problems, or counts and changes."""
    gettext = gettext_for(request)
    locale = console_locale(request)
    layout = CATALOG_LAYOUT if result.kind == "catalog" else PEOPLE_LAYOUT
    problems = [
        {
            "file": p.source,
            "row": p.row,
            "column": p.column,
            "message": gettext(p.msgid) % p.params if p.params else gettext(p.msgid),
        }
        for p in result.problems[:MAX_PROBLEMS_SHOWN]
    ]
    changes = [
        {
            "mark": _ACTION_MARKS[c.action],
            "kind": KIND_LABELS[c.kind],
            "subject": c.subject,
            "fields": [layout.column(f).label(locale) for f in c.fields],
            "row": c.row,
        }
        for c in result.changes
    ]
    return {
        "source": result.source,
        "rows": result.rows,
        "ok": result.ok,
        "dry_run": result.dry_run,
        "changed": result.changed,
        "problems": problems,
        "problem_count": len(result.problems),
        "counts": [(KIND_LABELS[k], c) for k, c in result.counts.items()],
        "changes": changes,
        "change_total": sum(c.created + c.updated for c in result.counts.values()),
    }


def _file_name(upload: UploadFile) -> str:
    """The uploaded file's own name (no folders), for the report and the audit record."""
    raw = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "".join(c for c in raw if c.isprintable())[:200]


def _suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return suffix if 1 < len(suffix) <= 8 and suffix[1:].isalnum() else ""


@router.post("/catalogue/import")
async def catalogue_import(request: Request, officer: Officer) -> Response:
    """Import an uploaded catalogue or people file (administrators only)."""
    require_import_right(officer.person)  # before reading what was sent: 403, not 422
    filters = Filters()
    form = await request.form()
    kind_text = form.get("kind")
    upload = form.get("file")
    missing = []
    if kind_text not in {k.value for k in TableKind}:
        missing.append("kind")
    if not isinstance(upload, UploadFile) or not _file_name(upload):
        missing.append("file")
    if missing:
        raise PageError(
            422, N_("These fields are missing or not valid: %(fields)s"), fields=", ".join(missing)
        )
    assert isinstance(upload, UploadFile) and isinstance(kind_text, str)
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise PageError(
            413,
            N_("The file is too large: an import takes at most %(mb)s MB."),
            mb=MAX_IMPORT_BYTES // (1024 * 1024),
        )
    name = _file_name(upload)
    check_only = form.get("check") == "1"
    context = web_context(request)
    folder = Path(tempfile.mkdtemp(prefix="rp-import-"))
    try:
        path = folder / f"upload{_suffix(name)}"
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out)
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise PageError(
                413,
                N_("The file is too large: an import takes at most %(mb)s MB."),
                mb=MAX_IMPORT_BYTES // (1024 * 1024),
            )

        def work(session: Session) -> ImportResult:
            me = officer.in_session(session)
            result = import_table(
                session,
                actor=me,
                kind=TableKind(kind_text),
                path=path,
                source=name,
                clock=context.clock,
                zone=context.settings.zone,
                default_locale=context.settings.LOCALE,
                default_timezone=context.settings.TIMEZONE,
                dry_run=check_only,
            )
            if not result.ok:
                session.rollback()  # a refused file writes nothing (the importer wrote nothing)
            return result

        result = await context.run(work)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = _report(result, request)
    report["kind"] = TableKind(kind_text)
    return await _page(request, officer, filters, report=report, status=200 if result.ok else 422)


@router.get("/catalogue/export")
async def catalogue_export(request: Request, officer: Officer) -> Response:
    """Download the catalogue or people file (``riskprompt export``'s)."""
    what = request.query_params.get("what", "")
    form = request.query_params.get("format", "xlsx")
    bad = [n for n, ok in (("what", what in set(TableKind)), ("format", form in FORMATS)) if not ok]
    if bad:
        raise PageError(
            422, N_("These fields are missing or not valid: %(fields)s"), fields=", ".join(bad)
        )
    kind = TableKind(what)
    context = web_context(request)
    today = _today(request)
    locale = console_locale(request)
    folder = Path(tempfile.mkdtemp(prefix="rp-export-"))
    stem = "catalog" if kind is TableKind.CATALOG else "people"
    path = folder / f"riskprompt-{stem}-{today.strftime('%Y%m%d')}.{form}"

    def work(session: Session) -> int:
        me = officer.in_session(session)
        return export_table(session, viewer=me, kind=kind, path=path, locale=locale, today=today)

    try:
        await context.run(work)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        path,
        media_type=FORMATS[form],
        filename=path.name,
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


__all__ = ["Filters"]
