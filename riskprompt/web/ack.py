"""The page behind every link: ``/ack/<token>`` (email) and ``/a/<token>`` (SMS).

``GET`` never changes anything: mail security scanners and chat previews fetch
links before people read them.  It shows, in the addressee's language, the whole
prompt (its unit, title, risk points high first with their measures, or the
special prompt's text) or warning (colour, form, reason, risk point, deadline,
status), what to do, an 已阅/Acknowledge button while there is something to
acknowledge and, while the warning allows one, a correction form (description
and files).

``POST`` to the same URL acknowledges (idempotent: a second one says when);
``POST .../correction`` (multipart) reports a correction through
:func:`riskprompt.models.warnings.submit_rectification`, the files checked and
stored by :mod:`riskprompt.models.evidence` as in chat.  A refused file answers
4xx with the reason and nothing is stored.

The signed token in the URL is the capability.  The forms carry a hidden key
derived from it (HMAC, :func:`~riskprompt.notifications.links.form_key`) so that a
cross-site form cannot post blindly, and an ``Origin`` or ``Referer`` that names
another site is refused.  A tampered token answers 400, an expired one 410, both
in the default language, and change nothing.  Tokens never reach the logs
(:class:`riskprompt.logs.LinkPathFilter`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from riskprompt.config.i18n import N_, format_when, normalise_locale, translator
from riskprompt.config.settings import Settings
from riskprompt.models import evidence
from riskprompt.models.acknowledging import Linked, acknowledge, load_linked
from riskprompt.models.codes import WarningAction, prompt_code, warning_actions, warning_code
from riskprompt.models.errors import DomainError, NotFound
from riskprompt.models.people import Person
from riskprompt.models.prompts import PromptStatus
from riskprompt.models.warnings import (
    STATUS_LABELS,
    WarningStatus,
    next_status,
    submit_rectification,
)
from riskprompt.notifications.links import (
    ACK_LINK_TTL,
    MAX_SHORT_TOKEN_LENGTH,
    AckTarget,
    LinkExpired,
    LinkInvalid,
    check_form_key,
    form_key,
    read_ack_token,
    read_short_token,
)
from riskprompt.notifications.quiet import reader_zone
from riskprompt.notifications.rendering import (
    MonthlyView,
    build_view,
    build_warning_view,
)
from riskprompt.web.context import WebContext, web_context
from riskprompt.web.errors import status_for

log = logging.getLogger(__name__)

router = APIRouter(tags=["links"])

TEMPLATES_DIR = Path(__file__).parent / "templates"

MAX_TOKEN_LENGTH = 512  # ours are ~60 characters (email) and ~25 (SMS)
#: The hidden field of the forms (see :func:`~riskprompt.notifications.links.form_key`).
FORM_KEY_FIELD = "k"
#: The headers of every page: never cached, never a referrer, no script, no framing.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

Form = Literal["long", "short"]
#: Each form of link: its path prefix, its reader, and the channel it came by (``via``).
LINK_FORMS: dict[Form, tuple[str, Callable[..., AckTarget], str]] = {
    "long": ("ack", read_ack_token, "email"),
    "short": ("a", read_short_token, "sms"),
}


@dataclass(frozen=True, slots=True)
class Banner:
    """A sentence at the top of the page: how an action went."""

    text: str
    ok: bool = True


@dataclass(slots=True)
class Page:
    """What a page says; ``item`` is the prompt or warning in full (None on a fault page)."""

    heading: str
    status: int = 200
    locale: str = "zh_CN"
    banner: Banner | None = None
    message: str = ""
    item: dict[str, Any] | None = None
    todo: str = ""
    ack_action: str = ""
    correction_action: str = ""
    form_key: str = ""
    description: str = ""
    limits: str = ""

    @property
    def ok(self) -> bool:
        """Whether it reports no fault."""
        return self.status < 400


@cache
def _environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translator(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(page: Page) -> HTMLResponse:
    """The page as HTML (autoescaped), with :data:`PAGE_HEADERS`."""
    html = (
        _environment(page.locale)
        .get_template("page.html.j2")
        .render(lang=page.locale.replace("_", "-"), page=page, ok=page.ok)
    )
    return HTMLResponse(html, status_code=page.status, headers=PAGE_HEADERS)


def _fault(locale: str, status: int, heading: str, message: str, **params: object) -> Page:
    gettext = translator(locale).gettext
    text = gettext(message) % params if params else gettext(message)
    return Page(gettext(heading), status, locale, message=text)


def _invalid(locale: str) -> Page:
    return _fault(
        locale,
        400,
        N_("This link is not valid"),
        N_("The link is damaged or incomplete. Open it again from the email."),
    )


def _expired(locale: str) -> Page:
    return _fault(
        locale,
        410,
        N_("This link has expired"),
        N_("Acknowledgement links work for %(days)s days. Reply in chat or by SMS instead."),
        days=ACK_LINK_TTL.days,
    )


def _nothing(locale: str, exc: DomainError | None = None) -> Page:
    page = _fault(
        locale,
        404,
        N_("Nothing to show"),
        N_("This prompt or warning no longer exists."),
    )
    if exc is not None:
        page.message = exc.translate(translator(locale).gettext)
    return page


# -- what the page shows ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """A link as read from a request: its token, target, channel and the page's paths."""

    token: str
    target: AckTarget
    via: str
    path: str

    @property
    def correction_path(self) -> str:
        """Where the correction form posts."""
        return f"{self.path}/correction"


def _when(linked: Linked, moment: Any, locale: str) -> str:
    return format_when(moment, linked.person.timezone, locale) if moment is not None else ""


def _limits(locale: str) -> str:
    return translator(locale).gettext(N_("%(types)s; at most %(max)s files of %(mb)s MB each.")) % {
        "types": evidence.ALLOWED_LABEL,
        "max": evidence.MAX_EVIDENCE_FILES,
        "mb": evidence.MAX_EVIDENCE_BYTES // (1024 * 1024),
    }


def _prompt_page(linked: Linked, link: Link, locale: str, key: str) -> Page:
    prompt = linked.prompt
    assert prompt is not None
    gettext = translator(locale).gettext
    view = build_view(kind=prompt.kind, content=prompt.content, locale=locale)
    item: dict[str, Any] = {"kind": "prompt", "code": prompt_code(prompt.id), "view": view}
    if isinstance(view, MonthlyView):
        item["unit"], item["monthly"] = view.unit, True
    else:
        item["unit"], item["monthly"] = view.issuer_unit, False
    page = Page(view.title, locale=locale, item=item, form_key=key)
    if prompt.status is PromptStatus.ACKNOWLEDGED:
        page.todo = gettext(N_("Acknowledged on %(when)s.")) % {
            "when": _when(linked, prompt.acknowledged_at, locale)
        }
    elif prompt.status is PromptStatus.CANCELLED:
        page.todo = gettext(N_("This prompt was withdrawn; nothing is asked of you."))
    elif not prompt.requires_ack:
        page.todo = gettext(N_("This prompt is for your information; no answer is asked."))
    else:
        page.todo = gettext(
            N_("Read the risk points and their control measures, then press Acknowledge.")
        )
        page.ack_action = link.path
    return page


def _warning_todo(linked: Linked, locale: str) -> str:
    warning = linked.warning
    assert warning is not None
    gettext = translator(locale).gettext
    status = warning.status
    if status is WarningStatus.ISSUED:
        return gettext(
            N_(
                "Acknowledge this warning, then report the correction you have taken, "
                "with evidence, before the deadline."
            )
        )
    if status in (WarningStatus.ACKNOWLEDGED, WarningStatus.RETURNED):
        note = linked.rectification.review_note if linked.rectification is not None else None
        text = gettext(
            N_("Report the correction you have taken, with evidence, before the deadline.")
        )
        if note:
            text = (
                gettext(N_("Your last report was rejected: %(reason)s")) % {"reason": note}
                + " "
                + text
            )
        return text
    if status is WarningStatus.SUBMITTED:
        submitted = linked.rectification.submitted_at if linked.rectification else None
        return gettext(
            N_("Your correction report was submitted on %(when)s; an officer will review it.")
        ) % {"when": _when(linked, submitted, locale)}
    if status is WarningStatus.CLOSED:
        return gettext(N_("Your correction was accepted; this warning is closed."))
    return gettext(N_("This warning was withdrawn; nothing is asked of you."))


def _warning_page(linked: Linked, link: Link, locale: str, key: str, settings: Settings) -> Page:
    warning = linked.warning
    assert warning is not None
    gettext = translator(locale).gettext
    view = build_warning_view(
        warning=warning,
        locale=locale,
        zone=reader_zone(linked.person.timezone, settings.zone),
        issuer=linked.issuer.name if linked.issuer is not None else "",
        issuer_unit=linked.issuer_unit.name if linked.issuer_unit is not None else "",
        risk_point=linked.risk_point,
    )
    item: dict[str, Any] = {
        "kind": "warning",
        "code": warning_code(warning.id),
        "view": view,
        "unit": view.issuer_unit,
        "status": gettext(STATUS_LABELS[warning.status]),
        "acknowledged": _when(linked, warning.acknowledged_at, locale),
    }
    page = Page(view.title, locale=locale, item=item, form_key=key)
    page.todo = _warning_todo(linked, locale)
    actions = warning_actions(warning)
    if WarningAction.ACKNOWLEDGE in actions:
        page.ack_action = link.path
    if WarningAction.REPORT_CORRECTION in actions:
        page.correction_action = link.correction_path
        page.limits = _limits(locale)
    return page


def show(session: Session, link: Link, *, settings: Settings, locale: str | None = None) -> Page:
    """The page of ``link``'s prompt or warning, as it stands (reads only).

    Args:
        session: an open session (nothing is written).
        link: the link read from the request.
        settings: the settings (``SECRET_KEY``, the default zone and locale).
        locale: the page's language; default: the addressee's.
    """
    try:
        linked = load_linked(
            session, target=(link.target.kind, link.target.id), person_id=link.target.person_id
        )
    except NotFound as exc:
        return _nothing(locale or settings.LOCALE, exc if locale else None)
    locale = locale or normalise_locale(linked.person.locale) or settings.LOCALE
    key = form_key(settings.SECRET_KEY, link.token)
    if linked.prompt is not None:
        return _prompt_page(linked, link, locale, key)
    return _warning_page(linked, link, locale, key, settings)


def _person_locale(session: Session, link: Link, settings: Settings) -> str:
    try:
        linked = load_linked(
            session, target=(link.target.kind, link.target.id), person_id=link.target.person_id
        )
    except NotFound:
        return settings.LOCALE
    return normalise_locale(linked.person.locale) or settings.LOCALE


def acknowledge_link(session: Session, link: Link, *, context: WebContext) -> Page:
    """Acknowledge what ``link`` names as its addressee; the page with how it went."""
    settings = context.settings
    locale = _person_locale(session, link, settings)
    gettext = translator(locale).gettext
    try:
        done = acknowledge(
            session,
            actor=_addressee(session, link),
            target=(link.target.kind, link.target.id),
            via=link.via,
            clock=context.clock,
        )
    except DomainError as exc:
        session.rollback()
        page = show(session, link, settings=settings, locale=locale)
        if page.ok:
            page.status = status_for(exc)
        page.banner = Banner(exc.translate(gettext), ok=False)
        return page
    page = show(session, link, settings=settings, locale=locale)
    person = _addressee(session, link)
    moment = format_when(done.at, person.timezone, locale) if done.at is not None else ""
    if done.newly:
        text = gettext(N_("Acknowledged on %(when)s. Thank you.")) % {"when": moment}
        page.heading = gettext(N_("Acknowledged, thank you"))
    else:
        text = gettext(N_("This was acknowledged on %(when)s; nothing has changed.")) % {
            "when": moment
        }
        page.heading = gettext(N_("Already acknowledged"))
    page.banner = Banner(text)
    return page


def _addressee(session: Session, link: Link) -> Person:
    linked = load_linked(
        session, target=(link.target.kind, link.target.id), person_id=link.target.person_id
    )
    return linked.person


# -- reading a request -----------------------------------------------------------------------


def _read_link(request: Request, token: str, form: Form) -> Link | Page:
    """The link of ``token`` in the URL, or the fault page (400, 410) in the default language."""
    context = web_context(request)
    default = context.settings.LOCALE
    prefix, reader, via = LINK_FORMS[form]
    limit = MAX_TOKEN_LENGTH if form == "long" else MAX_SHORT_TOKEN_LENGTH
    try:
        if len(token) > limit:
            raise LinkInvalid("too long")
        target = reader(context.settings.SECRET_KEY, token, now=context.clock.now())
    except LinkInvalid:
        return _invalid(default)
    except LinkExpired:
        return _expired(default)
    root = request.scope.get("root_path", "").rstrip("/")
    return Link(token=token, target=target, via=via, path=f"{root}/{prefix}/{token}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _same_site(request: Request, settings: Settings) -> bool:
    """Whether the request's ``Origin`` (else ``Referer``), when given, is this site.

    ``Origin: null`` is what browsers send for a page served with
    ``Referrer-Policy: no-referrer``: it says nothing, and the form key decides.
    """
    claimed = request.headers.get("origin")
    if claimed is None or claimed == "null":
        referer = request.headers.get("referer")
        if not referer:
            return True
        claimed = _origin(referer)
    allowed = {_origin(str(request.base_url))}
    if settings.PUBLIC_URL:
        allowed.add(_origin(settings.PUBLIC_URL))
    return claimed.lower().rstrip("/") in allowed


def _forbidden(locale: str) -> Page:
    return _fault(
        locale,
        403,
        N_("This form cannot be sent from here"),
        N_("Open the link from your message again and use the page's own buttons."),
    )


async def _checked_link(request: Request, token: str, form: Form, key: str | None) -> Link | Page:
    link = _read_link(request, token, form)
    if isinstance(link, Page):
        return link
    context = web_context(request)
    if not _same_site(request, context.settings) or not check_form_key(
        context.settings.SECRET_KEY, token, key
    ):
        locale = await context.run(lambda s: _person_locale(s, link, context.settings))
        return _forbidden(locale)
    return link


# -- routes ----------------------------------------------------------------------------------


async def _get(request: Request, token: str, form: Form) -> HTMLResponse:
    link = _read_link(request, token, form)
    if isinstance(link, Page):
        return render(link)
    context = web_context(request)
    return render(await context.run(lambda s: show(s, link, settings=context.settings)))


async def _post(request: Request, token: str, form: Form) -> HTMLResponse:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > 16 * 1024:
        return render(_invalid(web_context(request).settings.LOCALE))
    fields = await request.form(max_files=0, max_fields=4)
    key = fields.get(FORM_KEY_FIELD)
    link = await _checked_link(request, token, form, key if isinstance(key, str) else None)
    if isinstance(link, Page):
        return render(link)
    context = web_context(request)
    return render(await context.run(lambda s: acknowledge_link(s, link, context=context)))


@router.get("/ack/{token}", summary="The page behind an email link", include_in_schema=False)
async def show_email_link(token: str, request: Request) -> HTMLResponse:
    """Show the prompt or warning of a signed email link (changes nothing)."""
    return await _get(request, token, "long")


@router.post("/ack/{token}", summary="Acknowledge from the page", include_in_schema=False)
async def acknowledge_email_link(token: str, request: Request) -> HTMLResponse:
    """Acknowledge the prompt or warning of the page (the form's button)."""
    return await _post(request, token, "long")


@router.get("/a/{token}", summary="The page behind an SMS link", include_in_schema=False)
async def show_sms_link(token: str, request: Request) -> HTMLResponse:
    """Show the prompt or warning of a short SMS link (changes nothing)."""
    return await _get(request, token, "short")


@router.post("/a/{token}", summary="Acknowledge from the page", include_in_schema=False)
async def acknowledge_sms_link(token: str, request: Request) -> HTMLResponse:
    """Acknowledge the prompt or warning of the page (the form's button)."""
    return await _post(request, token, "short")


# -- the correction form ---------------------------------------------------------------------


class _TooLarge(Exception):
    """The body is larger than a correction form may post."""


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Upload:
    name: str
    mime: str
    content: bytes


def _refused(session: Session, link: Link, context: WebContext, status: int, **kw: Any) -> Page:
    """The page again, with the form, the reason it was refused and what was written."""
    settings = context.settings
    locale = _person_locale(session, link, settings)
    gettext = translator(locale).gettext
    page = show(session, link, settings=settings, locale=locale)
    if "error" in kw:
        exc: DomainError = kw["error"]
        page.banner = Banner(exc.translate(gettext), ok=False)
        page.status = status_for(exc) if status == 0 else status
    else:
        page.banner = Banner(gettext(kw["msgid"]) % kw.get("params", {}), ok=False)
        page.status = status
    page.description = str(kw.get("description") or "")
    return page


def _refusal_status(exc: DomainError) -> int:
    """413 for a file too large, 415 for a type not accepted, 422 for another refused file."""
    if not isinstance(exc, evidence.EvidenceRefused):
        return 0  # as the rule's error says (status_for)
    if exc.msgid == evidence.TOO_LARGE:
        return 413
    if exc.msgid in (evidence.NOT_ACCEPTED, evidence.NAME_MISMATCH):
        return 415
    return 422


def submit_link_correction(
    session: Session,
    link: Link,
    *,
    context: WebContext,
    description: str,
    uploads: list[_Upload],
) -> Page:
    """Check and store the files, and submit the correction as the link's addressee.

    Every file is checked before any is stored; a refusal stores nothing.  Files
    stored for a submission the rules then refuse are removed again.
    """
    settings = context.settings
    if link.target.kind != "warning":
        return _nothing(_person_locale(session, link, settings))
    try:
        linked = load_linked(
            session, target=(link.target.kind, link.target.id), person_id=link.target.person_id
        )
        warning = linked.warning
        assert warning is not None
        next_status(warning, "submit")  # before the files: the rule says why not, if not
        if len(uploads) > evidence.MAX_EVIDENCE_FILES:
            raise evidence.EvidenceRefused(
                N_("A report carries at most %(max)s files."), max=evidence.MAX_EVIDENCE_FILES
            )
        kinds = [
            evidence.check_upload(name=u.name, mime=u.mime, content=u.content) for u in uploads
        ]
    except DomainError as exc:
        session.rollback()
        return _refused(
            session, link, context, _refusal_status(exc), error=exc, description=description
        )
    stored: list[dict[str, Any]] = []
    try:
        for upload, kind in zip(uploads, kinds, strict=True):
            stored.append(
                evidence.store(
                    settings.DATA_DIR,
                    warning_id=warning.id or 0,
                    kind=kind,
                    content=upload.content,
                    name=upload.name,
                )
            )
        rectification = submit_rectification(
            session,
            warning=warning,
            actor=linked.person,
            description=description,
            evidence=stored,
            clock=context.clock,
        )
        session.flush()
    except DomainError as exc:
        session.rollback()
        evidence.discard(settings.DATA_DIR, stored)
        return _refused(session, link, context, 0, error=exc, description=description)
    except BaseException:
        evidence.discard(settings.DATA_DIR, stored)
        raise
    locale = normalise_locale(linked.person.locale) or settings.LOCALE
    gettext = translator(locale).gettext
    page = show(session, link, settings=settings, locale=locale)
    page.heading = gettext(N_("Correction submitted, thank you"))
    page.banner = Banner(
        gettext(N_("Submitted on %(when)s with %(files)s file(s). An officer will review it."))
        % {"when": _when(linked, rectification.submitted_at, locale), "files": len(stored)}
    )
    return page


async def _post_correction(request: Request, token: str, form: Form) -> HTMLResponse:
    context = web_context(request)
    link = _read_link(request, token, form)
    if isinstance(link, Page):
        return render(link)
    length = request.headers.get("content-length", "")
    too_large = length.isdigit() and int(length) > evidence.MAX_REPORT_BYTES
    body = b""
    if not too_large:
        try:
            body = await _read_body(request, evidence.MAX_REPORT_BYTES)
        except _TooLarge:
            too_large = True
    if too_large:
        page = await context.run(
            lambda s: _refused(
                s,
                link,
                context,
                413,
                msgid=N_("The files are too large together: at most %(max)s files of %(mb)s MB."),
                params={
                    "max": evidence.MAX_EVIDENCE_FILES,
                    "mb": evidence.MAX_EVIDENCE_BYTES // (1024 * 1024),
                },
            )
        )
        return render(page)
    request._body = body  # the form parser reads the body already taken in
    try:
        fields = await request.form(
            max_files=evidence.MAX_EVIDENCE_FILES + 1, max_fields=8, max_part_size=64 * 1024
        )
    except MultiPartException:
        return render(_invalid(context.settings.LOCALE))
    key = fields.get(FORM_KEY_FIELD)
    checked = await _checked_link(request, token, form, key if isinstance(key, str) else None)
    if isinstance(checked, Page):
        return render(checked)
    text = fields.get("description")
    description = text if isinstance(text, str) else ""
    uploads = []
    for item in fields.getlist("files"):
        if isinstance(item, UploadFile) and (item.filename or item.size):
            content = await item.read()
            uploads.append(_Upload(item.filename or "", item.content_type or "", content))
    page = await context.run(
        lambda s: submit_link_correction(
            s, checked, context=context, description=description, uploads=uploads
        )
    )
    return render(page)


@router.post(
    "/ack/{token}/correction", summary="Report a correction from the page", include_in_schema=False
)
async def correct_from_email_link(token: str, request: Request) -> HTMLResponse:
    """Report a correction, with files, on the warning of the page."""
    return await _post_correction(request, token, "long")


@router.post(
    "/a/{token}/correction", summary="Report a correction from the page", include_in_schema=False
)
async def correct_from_sms_link(token: str, request: Request) -> HTMLResponse:
    """Report a correction, with files, on the warning of the page."""
    return await _post_correction(request, token, "short")
