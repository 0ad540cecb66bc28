"""``/unacknowledged``: the people of the officer's scope who have not acknowledged (未阅).

The list is :func:`riskprompt.models.listings.unacknowledged_people` for the period
chosen: one row per person, the longest waiting first, pages of 50, filtered by unit
(``unit``: a unit of the scope with the units below it, as on the console's other
lists and the overview's rows) and by name or staff ID (``q``).  The officer selects
people and either reminds them now (POST ``/unacknowledged/remind``, the rule
:func:`riskprompt.models.reminding.request_reminders` through
:func:`riskprompt.notifications.reminding.resend_reminders`: the follow-up's reminder
on each one's next channel, audited) or writes them a special prompt (the composer
at ``/special?to=person:A,person:B``).

After a reminder the browser comes back to the list (303) with what was done in the
query string (``reminded``, ``waiting``, ``unreachable``), shown as a banner.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from babel.dates import format_timedelta
from fastapi import Query, Request, Response
from fastapi.responses import RedirectResponse

from riskprompt.config.i18n import N_, babel_locale
from riskprompt.models.listings import unacknowledged_people
from riskprompt.models.overview import scope_units, unit_in_scope
from riskprompt.models.reminding import MAX_PEOPLE
from riskprompt.notifications.reminding import resend_reminders
from riskprompt.web.console.auth import Officer
from riskprompt.web.console.errors import PageError
from riskprompt.web.console.overview import (
    Page,
    Search,
    chosen_period,
    link,
    period_choices,
)
from riskprompt.web.console.rendering import app_url, console_locale, render
from riskprompt.web.console.routing import router
from riskprompt.web.context import web_context

PATH = "/unacknowledged"
REMIND_PATH = "/unacknowledged/remind"
#: People per page.
PER_PAGE = 50
#: The largest count a banner parameter may carry.
MAX_COUNT = 100_000

Count = Annotated[int | None, Query(ge=0, le=MAX_COUNT)]
UnitId = Annotated[int | None, Query(ge=1, le=2**62)]


def age(moment: datetime | None, now: datetime, locale: str) -> str:
    """How long ago ``moment`` was, in the reader's words (``3天``, ``5小时``)."""
    if moment is None:
        return ""
    delta = max(now - moment, timedelta(0))
    return format_timedelta(delta, threshold=1.5, locale=babel_locale(locale))


@router.get(PATH)
async def unacknowledged(
    request: Request,
    officer: Officer,
    period: str | None = None,
    unit: UnitId = None,
    q: Search = "",
    page: Page = 1,
    reminded: Count = None,
    waiting: Count = None,
    unreachable: Count = None,
) -> Response:
    """The list of people who have not acknowledged the period's prompts."""
    chosen, current = chosen_period(request, period)
    context = web_context(request)
    now = context.clock.now()

    def read(session: Any) -> tuple[Any, Any, Any]:
        units = scope_units(session, officer=officer.person)
        picked = unit_in_scope(session, officer=officer.person, unit_id=unit) if unit else None
        people = unacknowledged_people(
            session,
            officer=officer.person,
            now=now,
            zone=context.settings.zone,
            period=chosen,
            unit_ids=picked.subtree if picked is not None else None,
            search=q,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
        return units, picked, people

    units, picked, people = await context.run(read)
    locale = console_locale(request)

    def page_url(number: int) -> str:
        return link(request, PATH, period=chosen, unit=unit, q=q, page=number)

    values: dict[str, Any] = {
        "active": "unacknowledged",
        "period": chosen,
        "periods": period_choices(current, chosen),
        "period_action": app_url(request, PATH),
        "period_keep": {"unit": unit or "", "q": q},
        "units": units,
        "unit": unit,
        "picked": picked,
        "q": q,
        "people": people,
        "page_url": page_url,
        "age": lambda moment: age(moment, now, locale),
        "done": {"reminded": reminded, "waiting": waiting, "unreachable": unreachable},
        "max_people": MAX_PEOPLE,
        "return_to": list_path(period=chosen, unit=unit, q=q, page=people.number),
    }
    return render(request, "unacknowledged.html.j2", values)


def list_path(**params: object) -> str:
    """The list's path with its filters (without the app's root: the form sends it back)."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{PATH}?{query}" if query else PATH


def _back(value: object) -> str:
    """Where to come back to after the form: a path of the list, else the list itself."""
    text = value if isinstance(value, str) else ""
    return text if text.startswith(PATH) and not text.startswith(REMIND_PATH) else PATH


@router.post(REMIND_PATH)
async def remind(request: Request, officer: Officer) -> Response:
    """Remind the people selected now, or go to the special-prompt composer with them."""
    form = await request.form()
    chosen = [v for v in form.getlist("staff") if isinstance(v, str) and v.strip()]
    action = form.get("action")
    if action not in ("remind", "special"):
        raise PageError(422, N_("Choose what to do with the people selected."))
    if not chosen:
        raise PageError(422, N_("Select at least one person first."))
    if len(chosen) > MAX_PEOPLE:
        raise PageError(422, N_("Select at most %(n)s people at once."), n=MAX_PEOPLE)
    if action == "special":
        targets = ",".join(f"person:{staff_id.strip()}" for staff_id in chosen)
        return RedirectResponse(
            app_url(request, f"/special?to={quote(targets, safe=':,')}"), status_code=303
        )
    period, _current = chosen_period(request, str(form.get("period") or "") or None)
    context = web_context(request)
    done = await context.run(
        lambda session: resend_reminders(
            session,
            officer=officer.person,
            staff_ids=chosen,
            period=period,
            clock=context.clock,
            settings=context.settings,
        )
    )
    back = _back(form.get("back"))
    joiner = "&" if "?" in back else "?"
    counts = (
        f"reminded={len(done.request.reminded)}&waiting={len(done.request.nothing_waiting)}"
        f"&unreachable={len(done.unreachable)}"
    )
    return RedirectResponse(app_url(request, f"{back}{joiner}{counts}"), status_code=303)


__all__ = ["PATH", "REMIND_PATH", "age", "list_path"]
