"""``/``: the overview (总览) of the officer's scope (a placeholder until its page is built)."""

from __future__ import annotations

from fastapi import Request, Response

from riskprompt.web.console.auth import Officer
from riskprompt.web.console.rendering import render
from riskprompt.web.console.routing import router


@router.get("/")
async def overview(request: Request, officer: Officer) -> Response:
    """The overview page inside the layout."""
    return render(request, "overview.html.j2", {"active": "overview", "officer": officer})
