"""``/``: the overview (总览) of the officer's scope, a heat map of units × what needs attention.

The figures are :func:`riskprompt.models.overview.scope_overview` (one call, a
handful of aggregate queries); this page only reads the query string, lays the
figures out and links each cell to its rows on the page that lists them.

Query parameters (all optional; a bad one answers a 4xx page): ``period``
(``YYYY-MM``, default the current one), ``q`` (a unit's name), ``sort`` (``tree`` or
``attention``), ``page`` (from 1).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from riskprompt.config.i18n import pgettext
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.overview import ORDERS, PER_PAGE, scope_overview
from riskprompt.models.periods import current_period, parse_period, shift_period
from riskprompt.models.warnings import WarningColour
from riskprompt.web.console.auth import Officer
from riskprompt.web.console.rendering import app_url, render
from riskprompt.web.console.routing import router
from riskprompt.web.context import web_context

#: The short colour names of the overview's header, which its template looks up as
#: ``pgettext("short", colour)``: written out here so that ``make i18n`` keeps them.
SHORT_COLOUR_NAMES = (
    pgettext("short", "yellow"),
    pgettext("short", "orange"),
    pgettext("short", "red"),
)

#: How many months back the period selector offers (the current one included).
PERIODS_OFFERED = 13
#: The largest page number accepted (beyond it the request is refused: 422).
MAX_PAGE = 100_000

Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Search = Annotated[str, Query(max_length=100)]


def period_choices(current: str, chosen: str) -> list[str]:
    """The periods the selector offers: the current one and the months before it,
    newest first, and ``chosen`` when it is not among them (kept where it sorts)."""
    offered = [shift_period(current, -n) for n in range(PERIODS_OFFERED)]
    if chosen not in offered:
        offered.append(chosen)
        offered.sort(reverse=True)
    return offered


def chosen_period(request: Request, period: str | None) -> tuple[str, str]:
    """The period asked for (checked; default: the current one) and the current one.

    Raises:
        InvalidInput: a malformed period (answered as a 422 page).
    """
    context = web_context(request)
    current = current_period(clock=context.clock, settings=context.settings)
    return (parse_period(period) if period else current), current


def link(request: Request, path: str, **params: object) -> str:
    """``path`` of the app with the query ``params`` that are not None or empty."""
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return app_url(request, path) + (f"?{query}" if query else "")


@router.get("/")
async def overview(
    request: Request,
    officer: Officer,
    period: str | None = None,
    q: Search = "",
    sort: str = "tree",
    page: Page = 1,
) -> Response:
    """The overview page: the scope's units as a heat map for the period chosen."""
    chosen, current = chosen_period(request, period)
    context = web_context(request)
    figures = await context.run(
        lambda session: scope_overview(
            session,
            officer=officer.person,
            period=chosen,
            settings=context.settings,
            now=context.clock.now(),
            search=q,
            order=sort,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
    )

    def cell(column: str, unit_id: int | None) -> str:
        """Where a cell drills down to (unit None: the whole scope)."""
        if column in {level.value for level in RiskLevel}:
            return link(request, "/catalogue", unit=unit_id, level=column)
        if column == "acknowledged":
            return link(request, "/unacknowledged", unit=unit_id, period=chosen)
        if column in {colour.value for colour in WarningColour}:
            return link(request, "/warnings", unit=unit_id, colour=column)
        if column == "overdue":  # the warnings page lists the overdue ones first
            return link(request, "/warnings", unit=unit_id)
        return link(request, "/corrections", unit=unit_id)

    def page_url(number: int) -> str:
        return link(request, "/", period=chosen, q=q, sort=sort, page=number)

    values: dict[str, Any] = {
        "active": "overview",
        "officer": officer,
        "overview": figures,
        "period": chosen,
        "periods": period_choices(current, chosen),
        "period_action": app_url(request, "/"),
        "period_keep": {"q": q, "sort": sort if sort != "tree" else ""},
        "q": q,
        "sort": sort,
        "orders": ORDERS,
        "levels": list(RiskLevel),
        "colours": list(WarningColour),
        "cell": cell,
        "page_url": page_url,
    }
    return render(request, "overview.html.j2", values)
