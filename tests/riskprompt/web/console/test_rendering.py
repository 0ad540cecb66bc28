"""The console's rendering helpers: dates and numbers per reader, htmx partials."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import FastAPI, Request, Response

from riskprompt.web.console.auth import Officer
from riskprompt.web.console.rendering import Formatter, render
from riskprompt.web.console.routing import make_router
from tests.riskprompt.web.console.conftest import ConsoleClients


def test_dates_and_numbers_are_formatted_for_the_reader() -> None:
    moment = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    zh = Formatter("zh_CN", "Asia/Shanghai")
    assert zh.when(moment) == "2026年12月1日 09:00:00"
    assert zh.day(date(2026, 12, 1)) == "2026年12月1日"
    assert zh.month("2026-12") == "2026年12月"
    assert zh.number(12345) == "12,345"
    assert zh.ratio(0.5) == "50%"
    assert zh.ratio(None) == "–"
    assert zh.list(["财政局", "审计局", "税务局"]) == "财政局、审计局和税务局"
    assert zh.when(None) == ""
    en = Formatter("en", "Asia/Shanghai")
    assert en.month("2026-12") == "December 2026"
    assert en.list(["A", "B", "C"]) == "A, B, and C"


def test_a_block_renders_alone_for_htmx(console_app: FastAPI, console: ConsoleClients) -> None:
    pages = make_router()

    @pages.get("/test-partial")
    async def partial(request: Request, officer: Officer) -> Response:
        block = "content" if request.headers.get("hx-request") else None
        context = {"heading": "标题", "message": officer.person.name, "status": 200}
        return render(request, "error.html.j2", context, block=block)

    console_app.include_router(pages)
    client = console.as_role("officer_a")
    whole = client.get("/test-partial").text
    assert whole.startswith("<!DOCTYPE html>") and "王纪检" in whole
    part = client.get("/test-partial", headers={"HX-Request": "true"}).text
    assert "<html" not in part and "<h1>标题</h1>" in part and "王纪检" in part
