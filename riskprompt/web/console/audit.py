"""``/audit``: the audit log (审计日志), for administrators.

Who may read it is the domain's rule (:func:`~riskprompt.models.auditing.require_audit_reader`:
administrators; an officer gets a 403 page that says why).  The log is filtered by GET
parameters, so that a view can be bookmarked:

- ``person``: a staff ID (or a name only one person has): the records they made and
  those about them, their prompts, warnings and deliveries;
- ``action``: one action (``warning.issued``);
- ``from``, ``to``: the first and last day (``YYYY-MM-DD``, the configured time zone);
- ``page``: pages of 50, newest first.

``POST /audit/verify`` checks the whole hash chain as ``riskprompt audit verify`` does
(:func:`~riskprompt.models.auditing.verify_log`, outside the request's transaction) and
answers with a banner: intact with the count and the time taken, or the first record
that is wrong.  With htmx only the banner is swapped in, and the button says that the
check is running; without JavaScript the page comes back with the banner.

``GET /audit/export.csv`` streams the records that match the filters in id order, in
the format of ``riskprompt audit export FILE.csv`` (UTF-8 with a BOM, the hashes
included), a batch at a time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from riskprompt.config.i18n import N_, translator
from riskprompt.models.auditing import (
    ACTION_LABELS,
    PER_PAGE,
    VERIFY_RATE,
    AuditFilter,
    audit_actions,
    count_records,
    day_span,
    describe,
    export_batch,
    export_csv_lines,
    page_audit,
    require_audit_reader,
    verify_log,
)
from riskprompt.models.errors import DomainError, InvalidInput
from riskprompt.models.queries import is_row_id
from riskprompt.models.refs import find_person, parse_day
from riskprompt.web.console.auth import ConsoleUser, Officer
from riskprompt.web.console.rendering import app_url, console_locale, render
from riskprompt.web.console.routing import error_page, router
from riskprompt.web.context import web_context
from riskprompt.web.errors import status_for

PATH = "/audit"
#: The filters' GET parameters (and the hidden fields of the verification's form).
FILTER_FIELDS = ("person", "action", "from", "to")
_ACTION = re.compile(r"^[a-z0-9_.]{1,64}$")


class BadFilter(Exception):
    """A filter that cannot be read or names nobody: its status and message (translated)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The filters as typed (to show them back) and as the domain reads them."""

    typed: dict[str, str]
    filters: AuditFilter
    person_label: str | None
    page: int

    def params(self, **changes: Any) -> dict[str, str]:
        """The GET parameters of this view (with ``changes``), for a link."""
        values: dict[str, Any] = {**self.typed, **changes}
        return {k: str(v) for k, v in values.items() if v is not None and v != ""}


def _typed(source: Any) -> dict[str, str]:
    return {name: str(source.get(name) or "").strip() for name in FILTER_FIELDS}


def _day(gettext: Callable[[str], str], field: str, text: str) -> date | None:
    if not text:
        return None
    try:
        return parse_day(text)
    except InvalidInput as exc:
        raise BadFilter(
            422,
            gettext("%(field)s: %(problem)s")
            % {"field": gettext(field), "problem": exc.translate(gettext)},
        ) from None


def read_filters(
    session: Session, typed: dict[str, str], page_text: str, request: Request
) -> AuditQuery:
    """The filters of ``typed`` (the GET parameters or the form), checked.

    Raises:
        BadFilter: 422 naming the field that cannot be read; 404 for a person not found.
    """
    gettext = translator(console_locale(request)).gettext
    settings = web_context(request).settings

    def field_problem(field: str, problem: str) -> str:
        return gettext("%(field)s: %(problem)s") % {"field": gettext(field), "problem": problem}

    first = _day(gettext, N_("First day"), typed["from"])
    last = _day(gettext, N_("Last day"), typed["to"])
    try:
        start, end = day_span(first, last, settings)
    except InvalidInput as exc:
        raise BadFilter(422, field_problem(N_("Last day"), exc.translate(gettext))) from None
    action = typed["action"] or None
    if action is not None and not _ACTION.match(action):
        raise BadFilter(
            422,
            field_problem(
                N_("Action"), gettext("%(value)r is not an action of the log") % {"value": action}
            ),
        )
    person_id = None
    person_label = None
    if typed["person"]:
        try:
            person = find_person(session, typed["person"])
        except DomainError as exc:
            raise BadFilter(
                status_for(exc), field_problem(N_("Person"), exc.translate(gettext))
            ) from None
        person_id = person.id
        person_label = f"{person.name} ({person.staff_id})"
    text = page_text.strip() or "1"
    if not is_row_id(text) or int(text) < 1:
        raise BadFilter(
            422,
            field_problem(N_("Page"), gettext("%(value)r is not a page number") % {"value": text}),
        )
    return AuditQuery(
        typed=typed,
        filters=AuditFilter(person_id=person_id, action=action, start=start, end=end),
        person_label=person_label,
        page=int(text),
    )


def summary(data: Any, limit: int = 160) -> str:
    """A record's data on one line (``key: value; ...``), cut at ``limit`` characters."""
    if not data:
        return ""
    if isinstance(data, dict):
        text = "; ".join(
            f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
            for key, value in sorted(data.items())
        )
    else:
        text = json.dumps(data, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _url(request: Request, path: str, params: dict[str, str]) -> str:
    return app_url(request, path) + (f"?{urlencode(params)}" if params else "")


def _reader(officer: ConsoleUser) -> None:
    """Refuse anyone but an administrator (a 403 page saying why)."""
    require_audit_reader(officer.person)


async def _page(
    request: Request,
    officer: ConsoleUser,
    typed: dict[str, str],
    page_text: str,
    *,
    verified: dict[str, Any] | None = None,
) -> Response:
    _reader(officer)
    context = web_context(request)

    def work(session: Session) -> dict[str, Any]:
        values: dict[str, Any] = {
            "actions": audit_actions(session),
            "records": count_records(session),
        }
        try:
            query = read_filters(session, typed, page_text, request)
        except BadFilter as exc:
            return {**values, "problem": exc.message, "status": exc.status, "query": None}
        page = page_audit(session, filters=query.filters, page=query.page, per_page=PER_PAGE)
        if page.total and query.page > page.pages:
            page = page_audit(session, filters=query.filters, page=page.pages, per_page=PER_PAGE)
        return {**values, "problem": None, "status": 200, "query": query, "log": page}

    values = await context.run(work)
    query: AuditQuery | None = values["query"]
    records = values["records"]
    values |= {
        "active": "audit",
        "typed": typed,
        "labels": ACTION_LABELS,
        "summary": summary,
        "verified": verified,
        "verify_seconds": max(1, round(records / VERIFY_RATE)),
        "export_url": _url(request, f"{PATH}/export.csv", query.params() if query else {}),
        "page_url": (lambda n: _url(request, PATH, query.params(page=n))) if query else None,
    }
    return render(request, "audit.html.j2", values, status=values.pop("status"))


@router.get(PATH)
async def audit_page(request: Request, officer: Officer) -> Response:
    """The audit log, filtered by person, action and days, 50 records a page."""
    return await _page(
        request, officer, _typed(request.query_params), request.query_params.get("page", "")
    )


@router.post(f"{PATH}/verify")
async def audit_verify(request: Request, officer: Officer) -> Response:
    """Check the whole chain; answer with the banner (htmx) or the page with it."""
    _reader(officer)
    context = web_context(request)
    locale = console_locale(request)
    began = time.perf_counter()
    report = await context.run_blocking(lambda: verify_log(context.engine))
    verified = {
        "ok": report.ok,
        "message": describe(report, locale),
        "seconds": time.perf_counter() - began,
        "at": context.clock.now(),
    }
    form = await request.form()
    typed = _typed(form)
    if request.headers.get("hx-request"):
        return render(
            request,
            "audit.html.j2",
            {"active": "audit", "verified": verified, "typed": typed},
            block="verify",
        )
    page_value = form.get("page")
    return await _page(
        request,
        officer,
        typed,
        page_value if isinstance(page_value, str) else "",
        verified=verified,
    )


@router.get(f"{PATH}/export.csv")
async def audit_export(request: Request, officer: Officer) -> Response:
    """The records that match the filters, as ``riskprompt audit export FILE.csv`` writes them."""
    _reader(officer)
    context = web_context(request)
    typed = _typed(request.query_params)
    try:
        query = await context.run(lambda s: read_filters(s, typed, "1", request))
    except BadFilter as exc:
        return error_page(request, exc.status, exc.message)
    filters = query.filters

    def lines() -> Iterator[bytes]:
        yield "\ufeff".encode()  # a BOM, so that a spreadsheet reads the Chinese as UTF-8
        yield from (line.encode() for line in export_csv_lines([], header=True))
        after = 0
        while True:
            batch = context.run_sync(
                lambda s, start=after: export_batch(s, filters=filters, after=start)
            )
            if not batch:
                return
            yield "".join(export_csv_lines(batch, header=False)).encode()
            after = batch[-1]["id"]

    stamp = context.clock.now().astimezone(context.settings.zone).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"',
        },
    )


__all__ = ["describe", "read_filters"]
