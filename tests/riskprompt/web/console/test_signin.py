"""The console's sign-in, sign-out, cookies, redirects, CSRF and error pages over HTTP."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from riskprompt.config.i18n import N_
from riskprompt.models.accounts import ConsoleSession, SignInAttempt
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import NotFound
from riskprompt.web.console.routing import make_router
from tests.riskprompt.web.conftest import audit_count
from tests.riskprompt.web.console.conftest import (
    PASSWORD,
    ConsoleClients,
    Office,
    give_password,
)

SESSION = "__Host-rp_console"


def set_cookie_headers(response) -> dict[str, str]:
    """The ``Set-Cookie`` headers by cookie name."""
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


def sign_in_form(client, staff_id: str, password: str, **extra: str):
    token = client.login_token()
    return client.post(
        "/login",
        data={"csrf_token": token, "staff_id": staff_id, "password": password, **extra},
    )


def test_anonymous_visitors_are_sent_to_sign_in_with_where_they_were_going(
    console: ConsoleClients,
) -> None:
    client = console.anonymous()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["location"] == "/login"
    response = client.get("/?period=2026-11")
    assert response.status_code == 302
    parts = urlsplit(response.headers["location"])
    assert parts.path == "/login" and parse_qs(parts.query) == {"next": ["/?period=2026-11"]}


def test_an_htmx_request_of_an_anonymous_visitor_redirects_the_whole_page(
    console: ConsoleClients,
) -> None:
    client = console.anonymous()
    response = client.get(
        "/", headers={"HX-Request": "true", "HX-Current-URL": "https://testserver/?unit=3"}
    )
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login?next=%2F%3Funit%3D3"


def test_the_sign_in_page_is_chinese_and_protected(console: ConsoleClients) -> None:
    client = console.anonymous()
    response = client.get("/login")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="zh-CN">' in page
    for text in ("纪检监察工作台", "登录", "工号", "密码", "验证码", "English"):
        assert text in page
    assert "总览" not in page  # no navigation before signing in
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    cookie = set_cookie_headers(response)["__Host-rp_login"]
    for flag in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert flag in cookie
    token = client.cookies["__Host-rp_login"]
    assert f'name="csrf_token" value="{token}"' in page


def test_an_officer_signs_in_and_reaches_the_page_asked_for(
    console: ConsoleClients, engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    client = console.anonymous()
    response = sign_in_form(client, "JJA01", PASSWORD, next="/?period=2026-11")
    assert response.status_code == 303
    assert response.headers["location"] == "/?period=2026-11"
    cookie = set_cookie_headers(response)[SESSION]
    for flag in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert flag in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()  # ends with the browser
    page = client.get("/")
    assert page.status_code == 200
    for text in ("总览", "王纪检", "纪检监察", "未阅", "预警", "整改审核", "特别提示"):
        assert text in page.text
    for text in ("目录与人员", "考核评估", "退出", "财政局"):
        assert text in page.text
    assert 'href="/audit"' not in page.text  # the audit log is the admins' (may_read_audit)
    assert audit_count(engine, "console.signed_in") == 1
    # Signed in, the sign-in page sends the officer on.
    assert client.get("/login?next=/").headers["location"] == "/"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil", "x"])
def test_only_local_pages_are_gone_to_after_sign_in(
    console: ConsoleClients, engine: Engine, office: Office, clock: FixedClock, target: str
) -> None:
    give_password(engine, office.admin, clock)
    response = sign_in_form(console.anonymous(), "AD001", PASSWORD, next=target)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_a_wrong_password_shows_the_form_again_and_is_audited(
    console: ConsoleClients, engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    client = console.anonymous()
    response = sign_in_form(client, "JJA01", "not it at all")
    assert response.status_code == 400
    assert "工号、密码或验证码不正确" in response.text
    assert 'value="JJA01"' in response.text  # the staff ID is kept, the password is not
    assert "not it at all" not in response.text
    assert SESSION not in client.cookies
    assert audit_count(engine, "console.sign_in_failed") == 1


def test_an_empty_form_is_refused_without_an_attempt(
    console: ConsoleClients, engine: Engine
) -> None:
    response = sign_in_form(console.anonymous(), " ", "")
    assert response.status_code == 400 and "请输入工号和密码" in response.text
    assert audit_count(engine, "console.sign_in_failed") == 0


def test_repeated_failures_lock_the_sign_in(
    console: ConsoleClients, engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    client = console.anonymous()
    statuses = [sign_in_form(client, "JJA01", f"wrong {i}").status_code for i in range(5)]
    assert statuses == [400, 400, 400, 400, 429]
    response = sign_in_form(client, "JJA01", PASSWORD)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(15 * 60)
    assert "登录已锁定至 2026年12月1日 09:15:00" in response.text
    assert audit_count(engine, "console.locked") == 1
    clock.advance(timedelta(minutes=15))
    assert sign_in_form(client, "JJA01", PASSWORD).status_code == 303


def test_staff_cannot_sign_in_even_with_a_password(
    console: ConsoleClients, engine: Engine, office: Office, clock: FixedClock
) -> None:
    from riskprompt.models.people import Person, Role

    give_password(engine, office.officer_b, clock)
    with Session(engine) as s:
        person = s.get(Person, office.officer_b.id)
        assert person is not None
        person.role = Role.STAFF
        s.add(person)
        s.commit()
    response = sign_in_form(console.anonymous(), "JJB01", PASSWORD)
    assert response.status_code == 403
    assert "只有纪检监察干部和管理员可以登录工作台" in response.text


def test_signed_in_staff_get_a_refusal_page_not_the_console(console: ConsoleClients) -> None:
    response = console.as_role("staff").get("/")
    assert response.status_code == 403
    assert "工作台仅供纪检监察干部和管理员使用" in response.text
    assert "纪检监察工作台" in response.text and "退出" in response.text
    assert "整改审核" not in response.text  # no navigation
    assert "Traceback" not in response.text


def test_each_officer_sees_their_own_scope(console: ConsoleClients) -> None:
    assert "财政局（均含下属单位）" in console.as_role("officer_a").get("/").text
    assert "审计局（均含下属单位）" in console.as_role("officer_b").get("/").text
    assert "全部单位" in console.as_role("admin").get("/").text


def test_sign_out_ends_the_session(console: ConsoleClients, engine: Engine) -> None:
    client = console.as_role("officer_a")
    response = client.post_form("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?signed_out=1"
    assert "Max-Age=0" in set_cookie_headers(response)[SESSION]
    assert "您已退出登录" in client.get("/login?signed_out=1").text
    assert client.get("/").status_code == 302
    with Session(engine) as s:
        assert s.exec(select(ConsoleSession)).one().end_reason == "signed_out"
    assert audit_count(engine, "console.signed_out") == 1


def test_the_htmx_header_carries_the_csrf_token_too(
    console: ConsoleClients, engine: Engine
) -> None:
    client = console.as_role("admin")
    page = client.get("/").text
    assert f'hx-headers=\'{{"X-CSRF-Token": "{client.csrf_token}"}}\'' in page
    response = client.post("/logout", headers={"X-CSRF-Token": client.csrf_token})
    assert response.status_code == 303
    assert audit_count(engine, "console.signed_out") == 1


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_a_post_without_the_right_csrf_token_is_refused_and_changes_nothing(
    console: ConsoleClients, engine: Engine, token: str | None
) -> None:
    client = console.as_role("officer_a")
    data = {} if token is None else {"csrf_token": token}
    response = client.post("/logout", data=data)
    assert response.status_code == 403
    assert "表单已过期或并非来自工作台，未执行任何操作" in response.text
    assert client.get("/").status_code == 200  # still signed in
    assert audit_count(engine, "console.signed_out") == 0
    # Another session's token is no better.
    other = console.as_role("officer_b")
    assert client.post("/logout", headers={"X-CSRF-Token": other.csrf_token}).status_code == 403
    assert audit_count(engine, "console.signed_out") == 0


def test_a_sign_in_without_the_form_token_is_refused_and_records_nothing(
    console: ConsoleClients, engine: Engine, office: Office, clock: FixedClock
) -> None:
    give_password(engine, office.officer_a, clock)
    client = console.anonymous()
    client.get("/login")
    response = client.post("/login", data={"staff_id": "JJA01", "password": PASSWORD})
    assert response.status_code == 403
    assert SESSION not in client.cookies
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(SignInAttempt)).one() == 0
    assert audit_count(engine, "console.signed_in") == 0


def test_an_idle_session_sends_the_officer_back_to_sign_in(
    console: ConsoleClients, clock: FixedClock
) -> None:
    client = console.as_role("officer_a")
    clock.advance(timedelta(minutes=29))
    assert client.get("/").status_code == 200
    clock.advance(timedelta(minutes=30))
    response = client.get("/")
    assert response.status_code == 302 and response.headers["location"] == "/login"
    assert "Max-Age=0" in set_cookie_headers(response)[SESSION]  # the stale cookie is dropped


def test_a_stale_sign_out_form_just_goes_to_sign_in(
    console: ConsoleClients, clock: FixedClock
) -> None:
    client = console.as_role("officer_a")
    clock.advance(timedelta(hours=1))
    assert client.post_form("/logout").status_code == 303


def test_english_by_the_switch_then_by_the_cookie(console: ConsoleClients) -> None:
    client = console.as_role("officer_a")
    page = client.get("/")
    assert 'href="/?lang=en"' in page.text
    english = client.get("/?lang=en")
    assert '<html lang="en">' in english.text
    assert "Discipline Inspection Workbench" in english.text and "Overview" in english.text
    assert "rp_lang=en" in english.headers["set-cookie"]
    again = client.get("/")
    assert "Overview" in again.text and "总览" not in again.text
    assert "总览" in client.get("/?lang=zh_CN").text


def test_the_assets_are_served_by_the_app_and_no_page_loads_anything_from_elsewhere(
    console: ConsoleClients,
) -> None:
    client = console.as_role("admin")
    for page in (client.get("/").text, console.anonymous().get("/login").text):
        assert 'src="/static/console/htmx.min.js"' in page
        assert 'href="/static/console/console.css"' in page
        assert "http://" not in page and "https://" not in page
    script = client.get("/static/console/htmx.min.js")
    assert script.status_code == 200 and script.text.startswith("/*! htmx 2.")
    assert "Zero-Clause BSD" in script.text.splitlines()[0]
    css = client.get("/static/console/console.css")
    assert css.status_code == 200 and "Noto Sans CJK SC" in css.text


def _failing_app(app: FastAPI) -> FastAPI:
    broken = make_router()  # as the console's own, but only in this app

    @broken.get("/test-broken")
    async def fails() -> None:
        raise RuntimeError("a bug with a secret in it")

    @broken.get("/test-missing")
    async def missing() -> None:
        raise NotFound(N_("no person with staff id %(staff_id)r"), staff_id="ZZ9")

    @broken.get("/test-number")
    async def number(n: int) -> None:
        return None

    app.include_router(broken)
    return app


def test_failures_are_pages_in_the_layout_never_a_traceback(
    console_app: FastAPI, console: ConsoleClients
) -> None:
    _failing_app(console_app)
    client = console.as_role("officer_a")
    response = client.get("/test-broken")
    assert response.status_code == 500
    assert "出现错误" in response.text and "王纪检" in response.text
    assert "secret" not in response.text and "Traceback" not in response.text
    response = client.get("/test-missing")
    assert response.status_code == 404 and "ZZ9" in response.text and "未找到" in response.text
    response = client.get("/test-number?n=x")
    assert response.status_code == 422 and "n" in response.text
    assert "<html" in response.text
