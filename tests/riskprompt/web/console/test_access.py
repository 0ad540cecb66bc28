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
    if response.status_code in (200, 403):
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
