"""``/corrections``: the corrections (整改反馈) waiting for the officer's review.

- ``GET /corrections``: those waiting, oldest first; filters ``unit`` (a unit id,
  with the units below it), ``q`` (a name or staff ID) and ``page`` (50 a page).
- ``GET /corrections/R3``: one correction: what was done, its warning, the
  warning's history and the evidence shown on the page: images as they are, a
  PDF's first page rendered on the server, Word and Excel files as text, any other
  file as a download; and the review forms.
- ``GET /corrections/R3/files/1`` (and ``.../1/page1.png``, a PDF's first page): the
  evidence itself, always as an attachment with ``nosniff`` and a sandboxing CSP, so
  that a file is never run as a page of the console.
- ``POST /corrections/R3/review``: accept, or reject with a reason and a new
  deadline (a day), through :func:`riskprompt.models.warnings.review_rectification`
  (the CLI's and the API's rule: same audit record, same messages).

Only corrections of the officer's scope are shown, and their files; any other
number, of another unit or of nothing, is answered as not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import Form, Query, Request, Response
from fastapi import Path as FastPath
from fastapi.responses import FileResponse, RedirectResponse
from sqlmodel import Session

from riskprompt.config.i18n import N_
from riskprompt.models.codes import CodeKind
from riskprompt.models.desk import (
    CorrectionView,
    correction_desk,
    correction_for_officer,
    evidence_of,
)
from riskprompt.models.directory import unit_in_scope, visible_units
from riskprompt.models.errors import DomainError, InvalidInput
from riskprompt.models.evidence import KIND_LABELS, EvidenceFile, human_size, safe_file_name
from riskprompt.models.evidence_preview import (
    OfficeText,
    UnreadableEvidence,
    office_text,
    pdf_first_page_png,
    pdf_page_count,
    preview_kind,
)
from riskprompt.models.listings import get_rectification, next_correction, page_offset
from riskprompt.models.warnings import MAX_TEXT, RectificationStatus, review_rectification
from riskprompt.web.console.auth import ConsoleUser, Officer
from riskprompt.web.console.errors import PageError
from riskprompt.web.console.rendering import app_url, gettext_for, render
from riskprompt.web.console.routing import router
from riskprompt.web.console.warnings import (
    MAX_PAGE,
    PER_PAGE,
    code_id,
    page_context,
    unit_filter,
)
from riskprompt.web.context import web_context
from riskprompt.web.errors import status_for

#: The headers of an evidence file: a download, never sniffed, never a live page.
EVIDENCE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: The banner shown after a review (``?done=``).
DONE = {
    "accepted": N_(
        "Correction %(code)s was accepted: the warning is closed and the person is told."
    ),
    "rejected": N_(
        "Correction %(code)s was rejected: the warning is returned for a new correction "
        "and the person is told why."
    ),
}
#: What the review form's fields are called (errors name them).
REVIEW_FIELDS = {"reason": N_("Reason"), "deadline": N_("New deadline"), "decision": N_("Decision")}
#: The rule's refusals that are about the new deadline (the others are about the reason).
_DEADLINE_MSGIDS = frozenset({"the deadline must be in the future"})


def _url(correction_id: int, tail: str = "") -> str:
    return f"/corrections/R{correction_id}{tail}"


@router.get("/corrections")
async def corrections_page(
    request: Request,
    officer: Officer,
    unit: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The corrections waiting for the officer's review, oldest first."""
    unit_id = unit_filter(request, unit)
    context = web_context(request)

    def read(session: Session) -> dict[str, Any]:
        viewer = officer.in_session(session)
        if unit_id is not None:  # a unit of another scope is not found
            unit_in_scope(session, viewer=viewer, ref=str(unit_id))
        queue = correction_desk(
            session,
            officer=viewer,
            unit_id=unit_id,
            search=q,
            limit=PER_PAGE,
            offset=page_offset(page, PER_PAGE),
        )
        return {"queue": queue, "units": visible_units(session, viewer=viewer)}

    found = await context.run(read)
    now = context.clock.now()
    return render(
        request,
        "corrections.html.j2",
        {
            **page_context(request),
            **found,
            "active": "corrections",
            "filters": {"unit": unit_id, "q": q.strip()},
            "days_since": lambda moment: max(0, (now - moment).days),
        },
    )


@dataclass(frozen=True, slots=True)
class ShownFile:
    """An evidence file as the page shows it.

    Attributes:
        number: its place in the correction, from 1 (its URL).
        file: the stored file.
        kind: ``image``, ``pdf``, ``docx``, ``xlsx`` or ``file`` (a download).
        pages: a PDF's page count.
        text: a Word or Excel file's text.
        unreadable: it cannot be shown (only downloaded).
    """

    number: int
    file: EvidenceFile
    kind: str
    size: str
    pages: int = 0
    text: OfficeText | None = None
    unreadable: bool = False

    @property
    def type_label(self) -> str:
        """The type as people call it."""
        return KIND_LABELS.get(self.file.mime, self.file.kind)


def _shown(number: int, file: EvidenceFile) -> ShownFile:
    """Read what the page shows of a file (blocking: in a worker thread)."""
    kind = preview_kind(file.mime)
    size = human_size(file.size)
    if not file.present or file.path is None:
        return ShownFile(number, file, "file", size)
    try:
        if kind == "pdf":
            return ShownFile(number, file, kind, size, pages=pdf_page_count(file.path))
        if kind in ("docx", "xlsx"):
            return ShownFile(number, file, kind, size, text=office_text(file.path, file.mime))
    except UnreadableEvidence:
        return ShownFile(number, file, kind, size, unreadable=True)
    return ShownFile(number, file, kind, size)


async def _detail_page(
    request: Request,
    officer: ConsoleUser,
    correction_id: int,
    *,
    error: str = "",
    field: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = web_context(request)

    def read(session: Session) -> tuple[CorrectionView, int | None, int]:
        viewer = officer.in_session(session)
        view = correction_for_officer(
            session,
            officer=viewer,
            correction_id=correction_id,
            data_dir=context.settings.DATA_DIR,
        )
        following, waiting = next_correction(session, officer=viewer, after_id=correction_id)
        next_id = following.id if following is not None and following.id != correction_id else None
        return view, next_id, waiting

    view, next_id, waiting = await context.run(read)
    files = await context.run_blocking(
        lambda: [_shown(n, f) for n, f in enumerate(view.detail.evidence, start=1)]
    )
    done = request.query_params.get("done", "")
    correction = view.detail.row.correction
    return render(
        request,
        "correction.html.j2",
        {
            **page_context(request),
            "active": "corrections",
            "view": view,
            "detail": view.detail,
            "files": files,
            "next_id": next_id,
            "waiting": waiting,
            "done": DONE.get(done, ""),
            "error": error,
            "field": field,
            "values": values or {},
            "reviewable": correction.status is RectificationStatus.SUBMITTED
            and correction.person_id != officer.person.id,
            "today": context.clock.now().astimezone(context.settings.zone).date(),
        },
        status=status,
    )


@router.get("/corrections/{code}")
async def correction_page(request: Request, officer: Officer, code: str) -> Response:
    """One correction: what was done, its warning and history, the evidence; the review."""
    return await _detail_page(request, officer, code_id(request, code, CodeKind.CORRECTION))


async def _evidence(request: Request, officer: ConsoleUser, code: str, number: int) -> EvidenceFile:
    correction_id = code_id(request, code, CodeKind.CORRECTION)
    context = web_context(request)

    def read(session: Session) -> EvidenceFile:
        return evidence_of(
            session,
            officer=officer.in_session(session),
            correction_id=correction_id,
            number=number,
            data_dir=context.settings.DATA_DIR,
        )

    return await context.run(read)


@router.get("/corrections/{code}/files/{number}")
async def evidence_file(
    request: Request, officer: Officer, code: str, number: Annotated[int, FastPath(ge=1, le=1000)]
) -> Response:
    """An evidence file, as an attachment (never sniffed, never a live page)."""
    file = await _evidence(request, officer, code, number)
    assert file.path is not None  # evidence_of answers stored files only
    mime = file.mime if file.mime in KIND_LABELS else "application/octet-stream"
    return FileResponse(
        file.path,
        media_type=mime,
        filename=safe_file_name(file.name, file.mime),
        content_disposition_type="attachment",
        headers=EVIDENCE_HEADERS,
    )


@router.get("/corrections/{code}/files/{number}/page1.png")
async def evidence_first_page(
    request: Request, officer: Officer, code: str, number: Annotated[int, FastPath(ge=1, le=1000)]
) -> Response:
    """A PDF's first page as a PNG image, rendered on the server."""
    file = await _evidence(request, officer, code, number)
    if preview_kind(file.mime) != "pdf" or file.path is None:
        raise PageError(404, N_("Only a PDF file has a first page to show."))
    path: Path = file.path
    png = await web_context(request).run_blocking(lambda: pdf_first_page_png(path))
    stem = Path(safe_file_name(file.name, file.mime)).stem or "page"
    return Response(
        png,
        media_type="image/png",
        headers={
            **EVIDENCE_HEADERS,
            "Content-Disposition": f'attachment; filename="{_ascii(stem)}-1.png"',
        },
    )


def _ascii(name: str) -> str:
    """A file name for a plain ``filename=`` (ASCII letters, digits, ``-_.``)."""
    kept = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)
    return kept.strip("._")[:60] or "page"


@router.post("/corrections/{code}/review")
async def review(
    request: Request,
    officer: Officer,
    code: str,
    decision: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=MAX_TEXT + 100)] = "",
    deadline: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Accept the correction (the warning closes), or reject it with a reason and a
    new deadline (the warning goes back to the person)."""
    correction_id = code_id(request, code, CodeKind.CORRECTION)
    gettext = gettext_for(request)
    values = {"decision": decision, "reason": reason, "deadline": deadline}

    async def problem(field: str, message: str, status: int = 422) -> Response:
        text = gettext("%(field)s: %(problem)s") % {
            "field": gettext(REVIEW_FIELDS[field]),
            "problem": message,
        }
        return await _detail_page(
            request, officer, correction_id, error=text, field=field, values=values, status=status
        )

    if decision not in ("accept", "reject"):
        return await problem("decision", gettext("Choose to accept or to reject the correction."))
    accept = decision == "accept"
    new_deadline: date | None = None
    if not accept and deadline.strip():
        try:
            new_deadline = date.fromisoformat(deadline.strip())
        except ValueError:
            return await problem(
                "deadline",
                gettext("Write a day as YYYY-MM-DD, e.g. %(example)s.") % {"example": "2026-12-31"},
            )
    context = web_context(request)

    def work(session: Session) -> None:
        viewer = officer.in_session(session)
        correction_for_officer(  # of the scope, else not found
            session, officer=viewer, correction_id=correction_id, data_dir=context.settings.DATA_DIR
        )
        review_rectification(
            session,
            rectification=get_rectification(session, rectification_id=correction_id),
            actor=viewer,
            accept=accept,
            clock=context.clock,
            note="" if accept else reason,
            new_deadline=new_deadline,
            settings=context.settings,
        )

    try:
        await context.run(work)
    except InvalidInput as exc:
        field = "deadline" if exc.msgid in _DEADLINE_MSGIDS else "reason"
        return await problem(field, exc.translate(gettext), status_for(exc))
    except DomainError:
        raise  # not found, not allowed, already reviewed: the error page says which
    done = "accepted" if accept else "rejected"
    return RedirectResponse(app_url(request, _url(correction_id, f"?done={done}")), 303)
