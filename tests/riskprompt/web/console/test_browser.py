"""The console in a real browser: Debian's chromium driven by Playwright for Python.

The real app is served by uvicorn on a loopback port (in a thread of the test
process) on a test database built with the console's fixtures; chromium is
Debian's (``/usr/bin/chromium``, no browser download), headless, with
``--no-sandbox`` (the tests run as root in CI).  An officer signs in with a real
password (``set_password``), reads the overview, issues a warning through the form
and its preview, reviews a correction whose evidence is a photo, and every page of
the console is photographed.

The screenshots go to ``$RISKPROMPT_TEST_SCREENS`` when it is set, else to
``tests-output/screens/`` under pytest's base temporary folder; every path is
printed in the test output.  The whole module is skipped when chromium or
Playwright is missing (``make test`` and ``.ci/run`` install chromium).

A flow whose page the app does not serve fails naming the page.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models import evidence
from riskprompt.models.accounts import set_password
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.clock import FixedClock
from riskprompt.models.people import Person
from riskprompt.models.prompts import DeliveryStatus
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningStatus,
    submit_rectification,
)
from riskprompt.web import create_app
from riskprompt.web.console.routing import NAV
from riskprompt.web.console.routing import router as console_router
from riskprompt.web.server import make_server
from tests.builders import (
    assign,
    make_person,
    make_post,
    make_prompt_with_delivery,
    make_risk_point,
    make_warning,
)
from tests.riskprompt.web.console.conftest import Office

CHROMIUM = Path("/usr/bin/chromium")

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: `make install` (as root) installs Debian's chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is missing: `make install`"
)

# One backend is enough here: the pages' queries run on both in the other console tests.
pytestmark = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

#: The officer's console password (set with the real ``set_password``).
PASSWORD = "纪检监察 correct horse battery"
#: An office screen; screenshots are of the whole page, however long.
VIEWPORT = {"width": 1366, "height": 900}
#: How long a page may take to answer in the browser (ms); generous on 2 shared cores.
TIMEOUT_MS = 20_000


# -- the folder of the screenshots ---------------------------------------------------------


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: ``$RISKPROMPT_TEST_SCREENS``, else under pytest's base
    temporary folder (which pytest removes after a few more runs: set the variable to
    keep them)."""
    chosen = os.environ.get("RISKPROMPT_TEST_SCREENS")
    folder = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "tests-output" / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


#: Load every image of the page (a lazy one too) and resolve once all have loaded.
LOAD_IMAGES = """() => Promise.all(Array.from(document.images).map(image => {
    image.loading = "eager";
    return image.complete ? null : new Promise(done => {
        image.addEventListener("load", done, {once: true});
        image.addEventListener("error", done, {once: true});
    });
}))"""


@pytest.fixture
def shoot(screens: Path, capsys: pytest.CaptureFixture[str]) -> Callable[[Any, str], Path]:
    """``shoot(page, name)``: a full-page screenshot, its path printed in the test output."""

    def take(page: Any, name: str) -> Path:
        path = screens / f"{name}.png"
        # every image loaded first (a lazy one too): the photo shows the whole page
        page.evaluate(LOAD_IMAGES)
        page.screenshot(path=str(path), full_page=True)
        with capsys.disabled():
            print(f"\nscreenshot: {path}")
        return path

    return take


# -- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, headless, for the whole module."""
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            # (the browser's own date and month fields keep the machine's locale: C here)
            args=["--no-sandbox", "--lang=zh-CN"],
            headless=True,
        )
        yield launched
        launched.close()


@dataclass
class Served:
    """The app served on a loopback port, and what the browser saw go wrong."""

    base: str
    paths: set[str]
    settings: Settings
    problems: list[str]

    def has(self, path: str) -> bool:
        """Whether the app serves a console route at ``path`` (a template such as
        ``/corrections/{code}`` included)."""
        return path in self.paths

    def need(self, *paths: str) -> None:
        """Fail, naming them, when pages this flow goes through are not served."""
        missing = [p for p in paths if not self.has(p)]
        assert not missing, f"the console serves no page at {', '.join(missing)}"


@pytest.fixture
def served(web_settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[Served]:
    """The whole app on ``127.0.0.1:<free port>``, served by uvicorn in a thread.

    The socket is bound and listening before the server starts, so the browser's
    first connection waits in the backlog: no polling for the server to be up.
    The public URL is the served http one (cookies without ``Secure``, as behind no
    TLS on a loopback demo).
    """
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(128)
    base = f"http://127.0.0.1:{listening.getsockname()[1]}"
    settings = web_settings.model_copy(update={"PUBLIC_URL": base})
    app = create_app(settings=settings, engine=engine, clock=clock)
    server = make_server(app, host="127.0.0.1", port=0, embedded=True, access_log=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    # the console's routes (the app includes the console's router: its pages once installed)
    paths = {r.path for r in console_router.routes if isinstance(r, APIRoute)}
    try:
        yield Served(base=base, paths=paths, settings=settings, problems=[])
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listening.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh browser context (no cookies) in Chinese, watching for errors.

    Console errors (a CSP violation, a failed script) and failed requests of the
    app's own assets are collected in ``served.problems``; each test asserts none.
    """
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=served.base)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.on("console", lambda m: _console_problem(served.problems, m))
    tab.on("pageerror", lambda e: served.problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: _failed_request(served.problems, r))
    tab.on("response", lambda r: _asset_problem(served.problems, r))
    yield tab
    context.close()


#: The app serves no icon; the browser asks for one anyway.
IGNORED_PATHS = ("/favicon.ico",)


def _console_problem(problems: list[str], message: Any) -> None:
    """A console error (a CSP violation, a script error); a failed load is seen as a response."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(f"console error: {message.text}")


def _failed_request(problems: list[str], request: Any) -> None:
    """A request that got no answer; one the browser dropped itself (it went on to the
    next page before an image had loaded) is not the app's doing."""
    if request.failure != "net::ERR_ABORTED":
        problems.append(f"request failed ({request.failure}): {request.url}")


def _asset_problem(problems: list[str], response: Any) -> None:
    """An asset (style, script, image, htmx request) the app did not serve.

    Pages answered 4xx on purpose (a refused sign-in) are documents, not assets.
    """
    request = response.request
    if response.status < 400 or request.resource_type == "document":
        return
    if any(request.url.endswith(path) for path in IGNORED_PATHS):
        return
    problems.append(f"HTTP {response.status}: {request.resource_type} {request.url}")


# -- the office's data ---------------------------------------------------------------------


def photo_png(width: int = 320, height: int = 200) -> bytes:
    """A small PNG "photo": a colour gradient with a dark frame (made here, no library)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # no filter
        for x in range(width):
            edge = x < 6 or y < 6 or x >= width - 6 or y >= height - 6
            rows += (
                bytes((40, 40, 40)) if edge else bytes((x * 255 // width, y * 255 // height, 170))
            )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


@dataclass
class Desk:
    """What the office holds for the browser: a second staff member, a prompt not
    acknowledged, a warning with a correction (a photo) waiting for review."""

    colleague: Person
    warning_id: int
    correction_id: int


@pytest.fixture
def desk(engine: Engine, office: Office, clock: FixedClock, served: Served) -> Desk:
    """Posts and risk points in unit A, prompts not acknowledged, a correction waiting.

    Everything is written through the domain functions (the correction by the
    staff member, its photo stored as the chat and the link page store evidence).
    """
    data_dir = Path(served.settings.DATA_DIR)
    with Session(engine, expire_on_commit=False) as session:
        cashier = make_post(session, unit=office.unit_a_sub, name="出纳岗")
        buyer = make_post(session, unit=office.unit_a, name="政府采购岗")
        for post, level, text in (
            (cashier, RiskLevel.HIGH, "资金支付未经复核，违规转出公款"),
            (cashier, RiskLevel.MEDIUM, "现金日记账登记不及时"),
            (buyer, RiskLevel.HIGH, "采购需求设置倾向性条款"),
            (buyer, RiskLevel.LOW, "采购档案归档不完整"),
        ):
            make_risk_point(session, post=post, level=level, description=text)
        colleague = make_person(session, unit=office.unit_a, staff_id="CG001", name="刘采购")
        assign(session, person=office.staff, post=cashier)
        assign(session, person=colleague, post=buyer)
        sent_at = clock.now() - timedelta(minutes=50)  # this month's, in Shanghai
        for person in (office.staff, colleague, office.staff_b):
            _prompt, delivery = make_prompt_with_delivery(
                session,
                person=person,
                at=sent_at,
                title="年底集中采购特别提示",
                body="年底集中采购前请自查采购需求是否设置倾向性条款。",
            )
            delivery.status, delivery.sent_at, delivery.attempts = DeliveryStatus.SENT, sent_at, 1
            session.add(delivery)
        warning = make_warning(
            session,
            person=office.staff,
            officer=office.officer_a,
            at=clock.now() - timedelta(days=2),
            reason="资金支付未经双人复核",
        )
        content = photo_png()
        kind = evidence.check_upload(name="整改现场照片.png", mime="image/png", content=content)
        item = evidence.store(
            data_dir,
            warning_id=warning.id or 0,
            kind=kind,
            content=content,
            name="整改现场照片.png",
        )
        correction = submit_rectification(
            session,
            warning=warning,
            actor=office.staff,
            description="已建立双人复核制度，附整改现场照片。",
            evidence=[item],
            clock=clock,
        )
        session.commit()
        return Desk(colleague, warning.id or 0, correction.id or 0)


def sign_in(page: Any, staff_id: str, password: str, *, next_path: str = "/") -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"/login?next={next_path}")
    page.fill("#staff_id", staff_id)
    page.fill("#password", password)
    submit(page, page.locator("main form button[type=submit]"))


def give_password(engine: Engine, person: Person, clock: FixedClock) -> str:
    """Set the officer's console password with the real ``set_password``."""
    with Session(engine, expire_on_commit=False) as session:
        set_password(session, person=person, password=PASSWORD, clock=clock)
        session.commit()
    return PASSWORD


def choose(form: Any, name: str, value: str) -> None:
    """Pick ``value`` for the field ``name``: a select's option or a radio button."""
    field = form.locator(f"[name={name}]")
    if field.first.evaluate("e => e.tagName") == "SELECT":
        field.first.select_option(value)
    else:
        form.locator(f"[name={name}][value={value}]").check()


def submit(page: Any, button: Any) -> None:
    """Click a form's button and wait for the page it leads to (a plain form post)."""
    with page.expect_navigation():
        button.click()


def first_text(page: Any) -> str:
    """The text of the page's main area."""
    return str(page.inner_text("main"))


# -- the flows -----------------------------------------------------------------------------


def test_an_officer_signs_in_and_reads_the_overview(
    page: Any,
    served: Served,
    engine: Engine,
    office: Office,
    clock: FixedClock,
    desk: Desk,
    shoot: Callable[[Any, str], Path],
) -> None:
    password = give_password(engine, office.officer_a, clock)
    page.goto("/")
    assert "/login" in page.url  # signed out: sent to the sign-in page
    shoot(page, "01-login")

    sign_in(page, "JJA01", "wrong password, long enough")
    assert page.locator(".banner.bad").is_visible()
    shoot(page, "01-login-refused")

    sign_in(page, "JJA01", password)
    assert page.url.rstrip("/") == served.base
    assert "王纪检" in page.inner_text("header")
    main = first_text(page)
    shoot(page, "02-overview")
    assert "审计局" not in main and "陈审计" not in main  # unit B is not in the scope
    assert "财政局" in main and "国库科" in main  # unit A and its sub-unit, as rows
    assert served.problems == []


def test_an_officer_issues_a_warning_through_the_form_and_its_preview(
    page: Any,
    served: Served,
    engine: Engine,
    office: Office,
    clock: FixedClock,
    desk: Desk,
    shoot: Callable[[Any, str], Path],
) -> None:
    served.need("/warnings", "/warnings/new")
    sign_in(page, "JJA01", give_password(engine, office.officer_a, clock))
    page.goto("/warnings/new")
    shoot(page, "04-warning-form")
    form = page.locator("main form.issue-form")
    form.locator("[name=person]").fill("CG001")
    choose(form, "colour", "orange")
    choose(form, "form", "correct")
    form.locator("[name=reason]").fill("政府采购需求设置倾向性条款，限期整改")
    submit(page, form.locator("button[name=step][value=preview]"))
    preview = first_text(page)
    shoot(page, "05-warning-preview")
    assert "刘采购" in preview  # who gets it
    assert re.search("短信|邮件|Telegram", preview)  # on which channel
    with Session(engine) as session:  # the preview writes nothing
        assert not session.exec(select(Warning).where(Warning.person_id == desk.colleague.id)).all()
    submit(page, page.locator("main button[name=step][value=issue]"))
    shoot(page, "06-warning-issued")
    with Session(engine) as session:
        issued = session.exec(select(Warning).where(Warning.person_id == desk.colleague.id)).one()
        assert issued.colour == "orange" and issued.status is WarningStatus.ISSUED
        assert issued.issued_by_id == office.officer_a.id
    page.goto("/warnings")
    assert "刘采购" in first_text(page)
    shoot(page, "03-warnings")
    assert served.problems == []


def test_an_officer_reviews_a_correction_with_a_photo(
    page: Any,
    served: Served,
    engine: Engine,
    office: Office,
    clock: FixedClock,
    desk: Desk,
    shoot: Callable[[Any, str], Path],
) -> None:
    served.need("/corrections", "/corrections/{code}")
    sign_in(page, "JJA01", give_password(engine, office.officer_a, clock))
    page.goto("/corrections")
    listed = first_text(page)
    assert "张出纳" in listed
    shoot(page, "07-corrections")
    page.goto(f"/corrections/R{desk.correction_id}")
    shoot(page, "08-correction-review")
    photo = page.locator("main img").first
    photo.wait_for()
    # the photo is shown inline, and the browser decoded it
    assert photo.evaluate("i => i.complete && i.naturalWidth") == 320
    review = page.locator("main form").filter(has=page.locator("[name=reason]"))
    review.locator("[name=reason]").fill("照片未显示复核记录，请补充双人复核签字记录")
    review.locator("[name=deadline]").fill((clock.now() + timedelta(days=10)).date().isoformat())
    reject = review.locator("button[name=decision][value=reject]")
    if reject.count():
        submit(page, reject)
    else:
        review.locator("[name=decision][value=reject]").check()
        submit(page, review.locator("button[type=submit]").last)
    shoot(page, "09-correction-rejected")
    with Session(engine) as session:
        correction = session.get(Rectification, desk.correction_id)
        warning = session.get(Warning, desk.warning_id)
        assert correction is not None and warning is not None
        assert correction.status is RectificationStatus.REJECTED
        assert correction.reviewed_by_id == office.officer_a.id
        assert "双人复核签字" in (correction.review_note or "")
        assert warning.status is WarningStatus.RETURNED
    assert served.problems == []


#: Every page of the console, as the navigation lists it (the audit log is the admins').
PAGES = [(item.key, item.path) for item in NAV]
#: Who reads which page in the screenshots: an officer of unit A, or the admin.
ADMIN_ONLY = {"/audit"}
#: The special prompt composer's dry run: everyone in the scope, now, asking for 已阅.
SPECIAL = urlencode(
    {"kind": "all", "text": "年底前请自查公务接待和资金支付情况。", "when": "now", "ack": "yes"}
)


def test_every_console_page_in_a_screenshot(
    page: Any,
    served: Served,
    engine: Engine,
    office: Office,
    clock: FixedClock,
    desk: Desk,
    shoot: Callable[[Any, str], Path],
) -> None:
    """Each page of the navigation and the pages behind them, in Chinese, photographed
    whole; nothing of unit B on the pages of unit A's officer."""
    behind = [
        ("warnings-new", "/warnings/new", "/warnings/new"),
        ("warning", f"/warnings/W{desk.warning_id}", "/warnings/{code}"),
        ("correction", f"/corrections/R{desk.correction_id}", "/corrections/{code}"),
        ("assessment-print", "/assessment/print", "/assessment/print"),
        ("special-preview", f"/special/preview?{SPECIAL}", "/special/preview"),
    ]
    pages = [(key, path, path) for key, path in PAGES] + behind
    shown, missing = [], []
    for reader, staff_id in ((office.officer_a, "JJA01"), (office.admin, "AD001")):
        admin = reader is office.admin
        sign_in(page, staff_id, give_password(engine, reader, clock))
        for number, (key, path, route) in enumerate(pages, start=10):
            if (path in ADMIN_ONLY) != admin:
                continue
            if not served.has(route):
                missing.append(path)
                continue  # the other pages are still photographed
            answer = page.goto(path)
            assert answer is not None and answer.status == 200, (path, answer and answer.status)
            text = first_text(page)
            assert re.search(r"[\u4e00-\u9fff]", text), f"{path} shows no Chinese"
            if not admin:
                assert "审计局" not in text and "陈审计" not in text, f"{path} shows unit B"
            shoot(page, f"{number:02d}-{key}")
            shown.append(path)
            if key == "assessment-print":  # as the printer gets it: an A4 landscape sheet
                page.emulate_media(media="print")
                shoot(page, f"{number:02d}-{key}-as-printed")
                page.emulate_media(media="screen")
        if not admin:  # the same overview in English, through the switch
            page.goto("/?lang=en")
            assert "Overview" in first_text(page)
            shoot(page, "30-overview-en")
            page.goto("/?lang=zh_CN")
        submit(page, page.locator('header form[action$="/logout"] button'))  # sign out
    assert served.problems == []
    assert not missing, f"the console serves no page at {', '.join(missing)}"
    assert len(shown) == len(pages)


def test_nothing_is_cut_on_a_narrow_screen(
    page: Any,
    served: Served,
    engine: Engine,
    office: Office,
    clock: FixedClock,
    desk: Desk,
    shoot: Callable[[Any, str], Path],
) -> None:
    """At 1024 px wide no page is wider than the screen but for its tables' own scroll."""
    sign_in(page, "JJA01", give_password(engine, office.officer_a, clock))
    page.set_viewport_size({"width": 1024, "height": 768})
    too_wide = []
    for key, path in PAGES:
        if not served.has(path):
            continue
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 1024:
            too_wide.append(f"{path}: {width}px")
            shoot(page, f"narrow-{key}")
    assert not too_wide, too_wide
    with Session(engine) as session:  # nothing the pages showed changed the data
        assert session.exec(
            select(Rectification).where(col(Rectification.status) == "submitted")
        ).all()
