"""The role × route matrix: who may open each console route, and unit B stays hidden from A.

Add a row to :data:`ROUTES` for each new page (the status each role gets), and the
page's unit-B rows to :data:`UNIT_B_MARKERS` when it lists people or units.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.riskprompt.web.console.conftest import ROLES, ConsoleClient

OFFICERS = {"officer_a": 200, "officer_b": 200, "admin": 200}
#: (method, path, status per role); a POST carries the client's CSRF token.
ROUTES: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/?lang=en", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/login",
        {"anonymous": 200, "staff": 200, "officer_a": 302, "officer_b": 302, "admin": 302},
    ),
    ("POST", "/logout", dict.fromkeys(ROLES, 303)),
    ("GET", "/?period=2026-11&sort=attention", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/?period=2026-13", {"anonymous": 302, "staff": 403, **dict.fromkeys(OFFICERS, 422)}),
    ("GET", "/unacknowledged", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/unacknowledged?period=2026-11&q=CW", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/unacknowledged?unit=3",  # unit 3: B (审计局)
        {"anonymous": 302, "staff": 403, "officer_a": 404, "officer_b": 200, "admin": 200},
    ),
    (
        "POST",  # the token alone: nobody selected
        "/unacknowledged/remind",
        {"anonymous": 403, "staff": 403, **dict.fromkeys(OFFICERS, 422)},
    ),
    ("GET", "/assessment", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/assessment?period=2026-11&by=person", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/assessment/print?by=person", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/assessment?period=2026-13",
        {"anonymous": 302, "staff": 403, **dict.fromkeys(OFFICERS, 422)},
    ),
    ("GET", "/audit", {**dict.fromkeys(ROLES, 403), "anonymous": 302, "admin": 200}),
    ("POST", "/audit/verify", {**dict.fromkeys(ROLES, 403), "admin": 200}),
    ("GET", "/special", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/special?to=person:CW001,person:JJA01", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/special/preview?kind=all&text=x", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/special/preview?kind=unit&unit=3&sub=1&text=x",  # unit 3: B (审计局)
        {"anonymous": 302, "staff": 403, "officer_a": 403, "officer_b": 200, "admin": 200},
    ),
    ("POST", "/special", {"anonymous": 403, "staff": 403, **dict.fromkeys(OFFICERS, 422)}),
    ("GET", "/catalogue", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/catalogue?tab=posts&level=high", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/catalogue?tab=units&q=%E5%B1%80", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/catalogue/export?what=people&format=csv",
        {**dict.fromkeys(ROLES, 403), "anonymous": 302, "admin": 200},
    ),
    ("POST", "/catalogue/import", {**dict.fromkeys(ROLES, 403), "admin": 422}),
    ("GET", "/warnings", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/warnings?colour=red&status=all&q=CW", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/warnings?unit=3&status=overdue",  # unit 3: B (审计局)
        {"anonymous": 302, "staff": 403, "officer_a": 404, "officer_b": 200, "admin": 200},
    ),
    (
        "GET",
        "/warnings?status=nope",
        {"anonymous": 302, "staff": 403, **dict.fromkeys(OFFICERS, 422)},
    ),
    ("GET", "/warnings/new", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("GET", "/warnings/new?person=CW001", {"anonymous": 302, "staff": 403, **OFFICERS}),
    ("POST", "/warnings/new", {"anonymous": 403, "staff": 403, **dict.fromkeys(OFFICERS, 422)}),
    ("GET", "/warnings/W1", {"anonymous": 302, "staff": 403, **dict.fromkeys(OFFICERS, 404)}),
    (
        "POST",
        "/warnings/W1/withdraw",
        {"anonymous": 403, "staff": 403, **dict.fromkeys(OFFICERS, 404)},
    ),
    ("GET", "/corrections", {"anonymous": 302, "staff": 403, **OFFICERS}),
    (
        "GET",
        "/corrections?unit=3&q=SJ",  # unit 3: B (审计局)
        {"anonymous": 302, "staff": 403, "officer_a": 404, "officer_b": 200, "admin": 200},
    ),
    ("GET", "/corrections/R1", {"anonymous": 302, "staff": 403, **dict.fromkeys(OFFICERS, 404)}),
    (
        "GET",
        "/corrections/R1/files/1",
        {"anonymous": 302, "staff": 403, **dict.fromkeys(OFFICERS, 404)},
    ),
    (
        "POST",
        "/corrections/R1/review",
        {"anonymous": 403, "staff": 403, **dict.fromkeys(OFFICERS, 404)},
    ),
]
#: What of unit B (审计局, its officer and staff) officer A must never see.
UNIT_B_MARKERS = ("审计局", "陈审计", "SJ001", "李纪检")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_each_role_gets_what_it_may(
    client_for: Callable[[str], ConsoleClient],
    role: str,
    method: str,
    path: str,
    expected: dict[str, int],
) -> None:
    client = client_for(role)
    response = client.get(path) if method == "GET" else client.post_form(path)
    assert response.status_code == expected[role], response.text[:500]
    if response.status_code == 302 and role == "anonymous":
        assert response.headers["location"].startswith("/login")
    if response.status_code in (200, 403) and "html" in response.headers["content-type"]:
        assert "<html" in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "expected"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_nothing_of_unit_b_reaches_officer_a(
    client_for: Callable[[str], ConsoleClient], method: str, path: str, expected: dict[str, int]
) -> None:
    if method != "GET" or expected["officer_a"] != 200:
        return
    page = client_for("officer_a").get(path).text
    assert [m for m in UNIT_B_MARKERS if m in page] == []
