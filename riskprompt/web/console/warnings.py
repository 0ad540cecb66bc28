"""``/warnings``: the three-colour warnings (三色预警) of the officer's scope.

- ``GET /warnings``: the warnings by colour, overdue first, each with its deadline
  countdown; filters ``colour``, ``status`` (``open`` by default, ``overdue``,
  ``all`` or a state), ``unit`` (a unit id, with the units below it), ``q`` (a
  name or staff ID) and ``page`` (50 a page), all in the URL.
- ``GET /warnings/new``: the form to issue one (``?person=CW001`` fills it in);
  ``POST /warnings/new`` with ``step=preview`` shows who would get which message
  on which channel (:func:`riskprompt.notifications.warning_preview.preview_warning`:
  the rule and the expansion the CLI uses, rolled back), ``step=issue`` issues it
  through :func:`riskprompt.models.warnings.issue_warning` (the CLI's and the
  API's rule: same audit record, same messages), ``step=edit`` goes back to the form.
- ``GET /warnings/W7``: one warning: its facts, history, corrections and messages.
- ``POST /warnings/W7/withdraw``: withdraw it with a reason
  (:func:`riskprompt.models.warnings.withdraw_warning`).

Everything of another unit is answered as not found (nothing of it is told).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlmodel import Session

from riskprompt.config.i18n import N_
from riskprompt.models.codes import CodeKind, parse_code
from riskprompt.models.desk import (
    Countdown,
    Namesakes,
    find_person,
    risk_point_in_scope,
    unit_name,
    warning_desk,
    warning_detail,
    warning_in_scope,
)
from riskprompt.models.directory import unit_in_scope, visible_units
from riskprompt.models.errors import DomainError, InvalidInput
from riskprompt.models.listings import page_offset
from riskprompt.models.people import CHANNEL_LABELS
from riskprompt.models.queries import is_row_id
from riskprompt.models.refs import correction_status_label
from riskprompt.models.warnings import (
    MAX_TEXT,
    RectificationStatus,
    WarningColour,
    WarningForm,
    WarningStatus,
    default_deadline,
    issue_warning,
    parse_colour,
    parse_form,
    withdraw_warning,
)
from riskprompt.notifications.warning_preview import preview_warning
from riskprompt.web.console.auth import ConsoleUser, Officer
from riskprompt.web.console.errors import PageError
from riskprompt.web.console.rendering import (
    Formatter,
    app_url,
    console_locale,
    gettext_for,
    render,
)
from riskprompt.web.console.routing import router
from riskprompt.web.context import web_context
from riskprompt.web.errors import status_for

PER_PAGE = 50
#: The last page number a URL may ask for.
MAX_PAGE = 1_000_000
#: The colours, the most serious first (the order of the page's counts and choices).
COLOURS = (WarningColour.RED, WarningColour.ORANGE, WarningColour.YELLOW)
#: The ``status`` filter's choices besides the states themselves.
STATE_FILTERS: dict[str, str] = {
    "open": N_("not closed yet"),
    "overdue": N_("overdue"),
    "all": N_("every state"),
}
#: The longest value taken from a form field (the rule checks the text itself).
MAX_FIELD = MAX_TEXT + 100
#: What each field of the issue form is called on the page (errors name it).
FIELD_LABELS = {
    "person": N_("Person"),
    "colour": N_("Colour"),
    "form": N_("Form"),
    "reason": N_("Grounds"),
    "withdraw_reason": N_("Reason"),
    "risk_point": N_("Risk point"),
    "deadline": N_("Deadline"),
    "unit": N_("Unit"),
    "status": N_("Status"),
}
#: The banner shown after a redirect (``?done=``).
DONE = {
    "issued": N_("Warning %(code)s was issued; its messages are on their way."),
    "withdrawn": N_("Warning %(code)s was withdrawn; the person is told why."),
}


# -- helpers shared with the corrections page ----------------------------------------------


def query_link(request: Request, **changes: str | int | None) -> str:
    """The current page's URL with some query parameters changed (None: dropped).

    Changing a filter goes back to the first page (``page`` is dropped unless given).
    """
    params = {k: v for k, v in request.query_params.items() if k not in ("page", "done")}
    if "page" in changes and changes["page"] == 1:
        changes["page"] = None
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return app_url(request, request.url.path) + (f"?{query}" if query else "")


def field_error(request: Request, field: str, message: str, **params: object) -> PageError:
    """A 422 page naming ``field`` (a key of :data:`FIELD_LABELS`) and what is wrong."""
    gettext = gettext_for(request)
    text = gettext(message) % params if params else gettext(message)
    return PageError(
        422,
        N_("%(field)s: %(problem)s"),
        field=gettext(FIELD_LABELS.get(field, field)),
        problem=text,
    )


def unit_filter(request: Request, value: str) -> int | None:
    """The ``unit`` filter: empty, or a unit id.

    Raises:
        PageError: 422, naming the field, for anything else.
    """
    text = value.strip()
    if not text:
        return None
    if not is_row_id(text) or int(text) == 0:
        raise field_error(request, "unit", N_("%(value)s is not a unit number."), value=text[:40])
    return int(text)


def code_id(request: Request, code: str, kind: CodeKind) -> int:
    """The id a path's code names: ``W7`` or ``7`` (``R3`` or ``3``).

    Raises:
        PageError: 404 when it is not such a code.
        InvalidInput: it reads as one but its number cannot be (``W0``).
    """
    if is_row_id(code) and int(code) > 0:
        return int(code)
    parsed = parse_code(code, kinds=frozenset({kind}))
    if parsed is None:
        raise PageError(404, N_("There is nothing with the code %(code)s."), code=code[:40])
    return parsed.id


def deadline_text(fmt: Formatter, zone: ZoneInfo) -> Callable[[datetime | None], str]:
    """How a page writes a deadline: its day when it ends that day (they all do), else
    the day and time."""

    def text(moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(zone)
        if (local.hour, local.minute) == (23, 59):
            return str(fmt.day(local.date()))
        return str(fmt.when(moment))

    return text


def page_context(request: Request) -> dict[str, Any]:
    """What the desk's templates need besides their own values."""
    settings = web_context(request).settings
    user = getattr(request.state, "console_user", None)
    timezone = user.person.timezone if user is not None else settings.TIMEZONE
    fmt = Formatter(console_locale(request), timezone)
    return {
        "link": lambda **changes: query_link(request, **changes),
        "colours": COLOURS,
        "colour_names": {c.value: c.label for c in WarningColour},
        "channel_labels": {c.value: label for c, label in CHANNEL_LABELS.items()},
        "correction_labels": {s: correction_status_label(s) for s in RectificationStatus},
        "countdown_class": countdown_class,
        "deadline": deadline_text(fmt, settings.zone),
    }


def countdown_class(value: Countdown | None) -> str:
    """The CSS class of a countdown: overdue, soon (at most 2 days left) or plain."""
    if value is None:
        return ""
    if value.overdue:
        return "overdue"
    return "soon" if value.days <= 2 else ""


# -- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateFilter:
    """The ``status`` filter read: a state, or open / overdue / all."""

    value: str
    status: WarningStatus | None = None
    open_only: bool = False
    overdue_only: bool = False


def state_filter(request: Request, value: str) -> StateFilter:
    """Read the ``status`` filter (empty: ``open``).

    Raises:
        PageError: 422, naming the field, for an unknown value.
    """
    text = value.strip().lower() or "open"
    if text == "open":
        return StateFilter(text, open_only=True)
    if text == "overdue":
        return StateFilter(text, overdue_only=True)
    if text == "all":
        return StateFilter(text)
    try:
        return StateFilter(text, status=WarningStatus(text))
    except ValueError:
        raise field_error(
            request, "status", N_("%(value)s is not one of the choices."), value=value[:40]
        ) from None


@router.get("/warnings")
async def warnings_page(
    request: Request,
    officer: Officer,
    colour: Annotated[str, Query(max_length=20)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    unit: Annotated[str, Query(max_length=20)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The warnings of the officer's scope, overdue first."""
    chosen_colour = parse_colour(colour) if colour.strip() else None
    state = state_filter(request, status)
    unit_id = unit_filter(request, unit)
    context = web_context(request)

    def read(session: Session) -> dict[str, Any]:
        viewer = officer.in_session(session)
        if unit_id is not None:  # a unit of another scope is not found
            unit_in_scope(session, viewer=viewer, ref=str(unit_id))
        desk = warning_desk(
            session,
            officer=viewer,
            now=context.clock.now(),
            zone=context.settings.zone,
            colour=chosen_colour,
            status=state.status,
            open_only=state.open_only,
            overdue_only=state.overdue_only,
            unit_id=unit_id,
            search=q,
            limit=PER_PAGE,
            offset=page_offset(page, PER_PAGE),
        )
        return {"desk": desk, "units": visible_units(session, viewer=viewer)}

    found = await context.run(read)
    return render(
        request,
        "warnings.html.j2",
        {
            **page_context(request),
            **found,
            "active": "warnings",
            "filters": {
                "colour": chosen_colour.value if chosen_colour else "",
                "status": state.value,
                "unit": unit_id,
                "q": q.strip(),
            },
            "state_filters": STATE_FILTERS,
            "statuses": list(WarningStatus),
        },
    )


# -- one warning ---------------------------------------------------------------------------


async def _detail_page(
    request: Request,
    officer: ConsoleUser,
    warning_id: int,
    *,
    error: str = "",
    reason: str = "",
    status: int = 200,
) -> Response:
    context = web_context(request)

    def read(session: Session) -> Any:
        return warning_detail(
            session,
            officer=officer.in_session(session),
            warning_id=warning_id,
            now=context.clock.now(),
            zone=context.settings.zone,
        )

    detail = await context.run(read)
    done = request.query_params.get("done", "")
    return render(
        request,
        "warning.html.j2",
        {
            **page_context(request),
            "active": "warnings",
            "detail": detail,
            "done": DONE.get(done, ""),
            "error": error,
            "reason": reason,
        },
        status=status,
    )


# -- issuing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueForm:
    """What the issue form holds, as typed."""

    person: str = ""
    colour: str = ""
    form: str = ""
    reason: str = ""
    risk_point: str = ""
    deadline: str = ""


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """The issue form read: the values the rule takes (the person still as typed)."""

    colour: WarningColour
    form: WarningForm
    reason: str
    risk_point_id: int | None
    deadline: date | None


class FormProblem(Exception):
    """A field of the issue form that cannot be read: its key and the message (a msgid)."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.params = params


def read_issue_form(values: IssueForm) -> IssueRequest:
    """Read the form's fields (the rule checks the rest: scope, reason, deadline ahead).

    Raises:
        FormProblem: a field missing or not readable, named.
    """
    if not values.person.strip():
        raise FormProblem("person", N_("Enter the staff ID or the name of the person."))
    if not values.colour.strip():
        raise FormProblem("colour", N_("Choose a colour."))
    try:
        colour = parse_colour(values.colour)
    except DomainError:
        raise FormProblem("colour", N_("Choose a colour.")) from None
    if not values.form.strip():
        raise FormProblem("form", N_("Choose a form."))
    try:
        form = parse_form(values.form)
    except DomainError:
        raise FormProblem("form", N_("Choose a form.")) from None
    if not values.reason.strip():
        raise FormProblem("reason", N_("Write the reason the person will read."))
    risk_point_id = None
    point = values.risk_point.strip().upper().removeprefix("#")
    if point:
        if not is_row_id(point) or int(point) == 0:
            raise FormProblem(
                "risk_point", N_("%(value)s is not a risk point number."), value=point[:40]
            )
        risk_point_id = int(point)
    deadline = None
    if values.deadline.strip():
        try:
            deadline = date.fromisoformat(values.deadline.strip())
        except ValueError:
            raise FormProblem(
                "deadline", N_("Write a day as YYYY-MM-DD, e.g. %(example)s."), example="2026-12-31"
            ) from None
    return IssueRequest(colour, form, values.reason.strip(), risk_point_id, deadline)


def _form_page(
    request: Request,
    values: IssueForm,
    *,
    error: str = "",
    field: str = "",
    namesakes: list[dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    context = web_context(request)
    now = context.clock.now()
    defaults = {c: default_deadline(c, now=now, settings=context.settings).date() for c in COLOURS}
    return render(
        request,
        "warning_new.html.j2",
        {
            **page_context(request),
            "active": "warnings",
            "values": values,
            "error": error,
            "field": field,
            "namesakes": namesakes or [],
            "forms": list(WarningForm),
            "defaults": defaults,
            "today": now.astimezone(context.settings.zone).date(),
        },
        status=status,
    )


@router.get("/warnings/new")
async def new_warning(
    request: Request,
    officer: Officer,
    person: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The form to issue a warning."""
    return _form_page(request, IssueForm(person=person.strip()))


@router.post("/warnings/new")
async def issue(
    request: Request,
    officer: Officer,
    person: Annotated[str, Form(max_length=200)] = "",
    colour: Annotated[str, Form(max_length=20)] = "",
    form: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    risk_point: Annotated[str, Form(max_length=40)] = "",
    deadline: Annotated[str, Form(max_length=40)] = "",
    step: Annotated[str, Form(max_length=20)] = "preview",
) -> Response:
    """Preview the warning (who gets what, on which channel), or issue it once confirmed."""
    values = IssueForm(person, colour, form, reason, risk_point, deadline)
    gettext = gettext_for(request)
    if step == "edit":
        return _form_page(request, values)
    if step not in ("preview", "issue"):
        raise PageError(400, N_("This request cannot be handled"))
    try:
        asked = read_issue_form(values)
    except FormProblem as problem:
        text = gettext(problem.message)
        if problem.params:
            text = text % problem.params
        message = gettext("%(field)s: %(problem)s") % {
            "field": gettext(FIELD_LABELS[problem.field]),
            "problem": text,
        }
        return _form_page(request, values, error=message, field=problem.field, status=422)
    context = web_context(request)

    def work(session: Session) -> Any:
        viewer = officer.in_session(session)
        subject = find_person(session, officer=viewer, ref=values.person)
        if asked.risk_point_id is not None:
            risk_point_in_scope(session, officer=viewer, risk_point_id=asked.risk_point_id)
        arguments: dict[str, Any] = {
            "actor": viewer,
            "person": subject,
            "colour": asked.colour,
            "form": asked.form,
            "reason": asked.reason,
            "deadline": asked.deadline,
            "risk_point_id": asked.risk_point_id,
            "clock": context.clock,
            "settings": context.settings,
        }
        if step == "issue":
            return issue_warning(session, **arguments).id
        preview = preview_warning(session, **arguments)
        return {"preview": preview, "unit": unit_name(session, subject.unit_id)}

    try:
        outcome = await context.run(work)
    except Namesakes as exc:
        people = [{"staff_id": staff_id, "name": name} for staff_id, name in exc.people]
        message = gettext("%(field)s: %(problem)s") % {
            "field": gettext(FIELD_LABELS["person"]),
            "problem": exc.translate(gettext),
        }
        return _form_page(
            request, values, error=message, field="person", namesakes=people, status=422
        )
    except DomainError as exc:
        return _form_page(request, values, error=exc.translate(gettext), status=status_for(exc))
    if isinstance(outcome, int):
        return RedirectResponse(app_url(request, f"/warnings/W{outcome}?done=issued"), 303)
    preview = outcome["preview"]
    confirmed = replace(
        values,
        person=preview.person.staff_id,
        colour=preview.colour.value,
        form=preview.form.value,
        reason=preview.reason,
        risk_point=str(asked.risk_point_id or ""),
        deadline=preview.deadline.astimezone(context.settings.zone).date().isoformat(),
    )
    return render(
        request,
        "warning_preview.html.j2",
        {
            **page_context(request),
            "active": "warnings",
            "preview": preview,
            "unit": outcome["unit"],
            "hidden": asdict(confirmed),
        },
    )


# -- one warning, and withdrawing it (after /warnings/new: "new" is not a code) ------------


@router.get("/warnings/{code}")
async def warning_page(request: Request, officer: Officer, code: str) -> Response:
    """One warning: its facts, history, corrections and messages; withdraw it if open."""
    return await _detail_page(request, officer, code_id(request, code, CodeKind.WARNING))


@router.post("/warnings/{code}/withdraw")
async def withdraw(
    request: Request,
    officer: Officer,
    code: str,
    reason: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    """Withdraw the warning with a reason: the person is told, pending messages cancelled."""
    warning_id = code_id(request, code, CodeKind.WARNING)
    context = web_context(request)
    gettext = gettext_for(request)

    def work(session: Session) -> int:
        viewer = officer.in_session(session)
        warning = warning_in_scope(session, officer=viewer, warning_id=warning_id)
        return withdraw_warning(
            session, warning=warning, actor=viewer, clock=context.clock, reason=reason
        )

    try:
        await context.run(work)
    except DomainError as exc:
        if not isinstance(exc, InvalidInput):
            raise  # not found, or no longer open: the error page says which
        message = gettext("%(field)s: %(problem)s") % {
            "field": gettext(FIELD_LABELS["withdraw_reason"]),
            "problem": exc.translate(gettext),
        }
        return await _detail_page(
            request,
            officer,
            warning_id,
            error=message,
            reason=reason,
            status=status_for(exc),
        )
    return RedirectResponse(app_url(request, f"/warnings/W{warning_id}?done=withdrawn"), 303)
