"""``/corrections``: the review queue, a correction with its evidence, and the review.

Officer A never sees unit B's corrections or their files (a guessed URL is not
found); evidence is shown on the page (a photo, a PDF's first page rendered on the
server, Word and Excel files as text) and served as attachments that are never
sniffed nor run; accepting and rejecting write what the CLI writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.config.settings import Settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.warnings import (
    Rectification,
    RectificationStatus,
    Warning,
    WarningStatus,
    deadline_on,
)
from tests.builders import make_person
from tests.riskprompt.web.console.conftest import ConsoleClients, Office
from tests.riskprompt.web.console.desk_support import (
    counts,
    evidence_set,
    outcome,
    submit,
    text_of,
    twin,
)
from tests.riskprompt.web.console.test_access import UNIT_B_MARKERS

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli_now() -> datetime:
    """A moment after everything the CLI did (it runs on the real clock)."""
    return datetime.now(UTC) + timedelta(minutes=1)


def test_the_queue_is_the_scopes_oldest_first(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        other = make_person(session, unit=office.unit_a, staff_id="KJ007", name="刘会计")
        session.commit()
    now = clock.now()
    _, newer = submit(engine, web_settings, person=office.staff, officer=office.officer_a, at=now)
    _, older = submit(
        engine, web_settings, person=other, officer=office.officer_a, at=now - timedelta(days=4)
    )
    _, theirs = submit(
        engine, web_settings, person=office.staff_b, officer=office.officer_b, at=now
    )
    client = console.as_role("officer_a")
    page = client.get("/corrections")
    assert page.status_code == 200
    html = page.text
    assert html.index(f">R{older}<") < html.index(f">R{newer}<")
    assert f">R{theirs}<" not in html
    assert [m for m in UNIT_B_MARKERS if m in html] == []
    text = text_of(html)
    assert "共 2 条整改反馈待您审核" in text and "4 天" in text

    def listed(query: str) -> set[int]:
        response = client.get(f"/corrections?{query}")
        assert response.status_code == 200
        return {c for c in (newer, older, theirs) if f">R{c}<" in response.text}

    assert listed("q=刘") == {older}
    assert listed("q=cw001") == {newer}
    assert listed(f"unit={office.unit_a_sub.id}") == {newer}
    assert client.get(f"/corrections?unit={office.unit_b.id}").status_code == 404
    assert f">R{theirs}<" in console.as_role("officer_b").get("/corrections").text
    bad = client.get("/corrections?unit=x1")
    assert bad.status_code == 422 and "单位" in text_of(bad.text)


def test_the_evidence_is_shown_on_the_page(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    _, correction = submit(
        engine,
        web_settings,
        person=office.staff,
        officer=office.officer_a,
        at=clock.now(),
        files=evidence_set(),
        extra=[
            {
                "name": "旧格式.zip",
                "path": "evidence/1/old.zip",
                "mime": "application/zip",
                "size": 3,
            }
        ],
    )
    legacy = web_settings.DATA_DIR / "evidence" / "1" / "old.zip"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(b"PK\x03\x04")
    page = console.as_role("officer_a").get(f"/corrections/R{correction}")
    assert page.status_code == 200
    html = page.text
    base = f"/corrections/R{correction}/files"
    assert f'<img class="evidence-image" src="{base}/1"' in html  # the photo
    assert f'src="{base}/2/page1.png"' in html  # the PDF's first page
    text = text_of(html)
    assert "共 2 页" in text  # the PDF has two
    assert "整改情况说明：已补齐会议纪要。" in text and "集体研究" in text  # Word, its table too
    assert "整改台账" in text and "补充采购审批记录" in text  # Excel
    assert "此类文件不在页面中显示" in text and f'href="{base}/5"' in html  # a download only
    # the warning and its history
    assert "采购审批未经集体研究" in text and "下发预警" in text and "反馈整改" in text
    assert "审核通过" in text and "退回整改" in text  # the review forms


def test_evidence_is_served_as_an_attachment_never_run(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    files = evidence_set()
    _, correction = submit(
        engine,
        web_settings,
        person=office.staff,
        officer=office.officer_a,
        at=clock.now(),
        files=files,
    )
    client = console.as_role("officer_a")
    for number, (name, mime, content) in enumerate(files, start=1):
        response = client.get(f"/corrections/R{correction}/files/{number}")
        assert response.status_code == 200, name
        assert response.content == content
        assert response.headers["content-type"].startswith(mime)
        assert response.headers["content-disposition"].startswith("attachment;")
        assert "filename*=utf-8''" in response.headers["content-disposition"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
    page = client.get(f"/corrections/R{correction}/files/2/page1.png")
    assert page.status_code == 200
    assert page.headers["content-type"] == "image/png" and page.content.startswith(PNG_MAGIC)
    assert page.headers["content-disposition"].startswith("attachment;")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["content-security-policy"] == "sandbox; default-src 'none'"
    import io

    from PIL import Image

    width, height = Image.open(io.BytesIO(page.content)).size
    assert 995 <= width <= 1005 and 1350 < height < 1450  # A4, upright
    # not a PDF: no first page to render; no such file: not found
    assert client.get(f"/corrections/R{correction}/files/1/page1.png").status_code == 404
    assert client.get(f"/corrections/R{correction}/files/9").status_code == 404
    assert client.get(f"/corrections/R{correction}/files/0").status_code == 422


def test_nothing_of_another_unit_is_served(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    _, theirs = submit(
        engine,
        web_settings,
        person=office.staff_b,
        officer=office.officer_b,
        at=clock.now(),
        files=evidence_set()[:2],
    )
    client = console.as_role("officer_a")
    for path in (
        f"/corrections/R{theirs}",
        f"/corrections/R{theirs}/files/1",
        f"/corrections/R{theirs}/files/2/page1.png",
        f"/corrections/{theirs}/files/1",
        "/corrections/R999/files/1",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert [m for m in UNIT_B_MARKERS if m in response.text] == []
        assert "attachment" not in response.headers.get("content-disposition", "")
    before = counts(engine)
    refused = client.post_form(f"/corrections/R{theirs}/review", {"decision": "accept"})
    assert refused.status_code == 404 and counts(engine) == before
    # their own officer gets them
    own = console.as_role("officer_b")
    assert own.get(f"/corrections/R{theirs}/files/1").status_code == 200


@SQLITE_ONLY
def test_a_recorded_path_outside_the_evidence_folder_is_never_followed(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    secret = web_settings.DATA_DIR / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("settings")
    _, correction = submit(
        engine,
        web_settings,
        person=office.staff,
        officer=office.officer_a,
        at=clock.now(),
        extra=[{"name": "x.png", "path": "evidence/../secret.txt", "mime": "image/png", "size": 8}],
    )
    client = console.as_role("officer_a")
    page = client.get(f"/corrections/R{correction}")
    assert page.status_code == 200 and "佐证材料目录中找不到此文件" in text_of(page.text)
    assert client.get(f"/corrections/R{correction}/files/1").status_code == 404


def test_accepting_writes_what_the_cli_writes(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    cli: CliRunner,
    web_settings: Settings,
) -> None:
    other = twin(engine, office.staff, "CW002", "钱出纳")
    warning, mine = submit(
        engine, web_settings, person=office.staff, officer=office.officer_a, at=clock.now()
    )
    its_warning, its_twin = submit(
        engine, web_settings, person=other, officer=office.officer_a, at=clock.now()
    )
    client = console.as_role("officer_a")
    done = client.post_form(f"/corrections/R{mine}/review", {"decision": "accept"})
    assert done.status_code == 303
    assert done.headers["location"] == f"/corrections/R{mine}?done=accepted"
    page = text_of(client.get(done.headers["location"]).text)
    assert f"整改反馈 R{mine} 已审核通过" in page and "下一条待审" in page
    assert "退回整改" not in page  # reviewed: no form any more
    again = client.post_form(f"/corrections/R{mine}/review", {"decision": "accept"})
    assert again.status_code == 409
    result = cli.invoke(cli_app, ["review", f"R{its_twin}", "--as", "JJA01", "--accept"])
    assert result.exit_code == 0, result.output
    now = cli_now()
    console_side = outcome(
        engine,
        action="warning.accepted",
        warning_id=warning,
        person=office.staff,
        settings=web_settings,
        now=now,
        correction_id=mine,
    )
    cli_side = outcome(
        engine,
        action="warning.accepted",
        warning_id=its_warning,
        person=other,
        settings=web_settings,
        now=now,
        correction_id=its_twin,
    )
    assert console_side == cli_side
    assert console_side.audit[1]["rectification"] == "correction"
    with Session(engine) as session:
        closed = session.get(Warning, warning)
        assert closed is not None and closed.status is WarningStatus.CLOSED


def test_rejecting_writes_what_the_cli_writes(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    cli: CliRunner,
    web_settings: Settings,
) -> None:
    other = twin(engine, office.staff, "CW002", "钱出纳")
    warning, mine = submit(
        engine, web_settings, person=office.staff, officer=office.officer_a, at=clock.now()
    )
    its_warning, its_twin = submit(
        engine, web_settings, person=other, officer=office.officer_a, at=clock.now()
    )
    client = console.as_role("officer_a")
    done = client.post_form(
        f"/corrections/R{mine}/review",
        {"decision": "reject", "reason": "缺少会议纪要原件", "deadline": "2099-12-31"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/corrections/R{mine}?done=rejected"
    result = cli.invoke(
        cli_app,
        [
            "review", f"R{its_twin}", "--as", "JJA01", "--reject",
            "--reason", "缺少会议纪要原件", "--deadline", "2099-12-31",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    now = cli_now()
    console_side = outcome(
        engine,
        action="warning.rejected",
        warning_id=warning,
        person=office.staff,
        settings=web_settings,
        now=now,
        correction_id=mine,
    )
    cli_side = outcome(
        engine,
        action="warning.rejected",
        warning_id=its_warning,
        person=other,
        settings=web_settings,
        now=now,
        correction_id=its_twin,
    )
    assert console_side == cli_side
    assert console_side.notices[0][3]["reason"] == "缺少会议纪要原件"
    with Session(engine) as session:
        returned = session.get(Warning, warning)
        report = session.get(Rectification, mine)
        assert returned is not None and report is not None
        assert returned.status is WarningStatus.RETURNED
        # a whole day: 23:59:59 of 2099-12-31 in the office's time zone
        assert returned.deadline == deadline_on(
            datetime(2099, 12, 31, 12, tzinfo=UTC), web_settings
        )
        assert report.status is RectificationStatus.REJECTED
        assert report.review_note == "缺少会议纪要原件"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"decision": "reject", "reason": " "}, "原因"),
        ({"decision": "reject", "reason": "缺材料", "deadline": "12/31/2099"}, "新的整改期限"),
        ({"decision": "reject", "reason": "缺材料", "deadline": "2026-11-01"}, "新的整改期限"),
        ({"decision": "maybe"}, "审核结论"),
    ],
)
@SQLITE_ONLY
def test_bad_review_input_is_a_page_naming_the_field(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
    fields: dict[str, str],
    named: str,
) -> None:
    _, mine = submit(
        engine, web_settings, person=office.staff, officer=office.officer_a, at=clock.now()
    )
    client = console.as_role("officer_a")
    before = counts(engine)
    response = client.post_form(f"/corrections/R{mine}/review", fields)
    assert response.status_code == 422
    assert named in text_of(response.text) and "Traceback" not in response.text
    assert counts(engine) == before
    if fields.get("reason", "").strip():
        assert fields["reason"] in response.text  # kept in the form


@SQLITE_ONLY
def test_a_review_without_the_csrf_token_changes_nothing(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    _, mine = submit(
        engine, web_settings, person=office.staff, officer=office.officer_a, at=clock.now()
    )
    client = console.as_role("officer_a")
    before = counts(engine)
    response = client.post(f"/corrections/R{mine}/review", data={"decision": "accept"})
    assert response.status_code == 403
    assert counts(engine) == before
    with Session(engine) as session:
        report = session.get(Rectification, mine)
        assert report is not None and report.status is RectificationStatus.SUBMITTED


@SQLITE_ONLY
def test_nobody_reviews_their_own_correction(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    _, own = submit(
        engine, web_settings, person=office.officer_a, officer=office.admin, at=clock.now()
    )
    client = console.as_role("officer_a")
    assert f">R{own}<" not in client.get("/corrections").text
    page = client.get(f"/corrections/R{own}")
    assert page.status_code == 200 and "审核通过" not in text_of(page.text)
    before = counts(engine)
    assert (
        client.post_form(f"/corrections/R{own}/review", {"decision": "accept"}).status_code == 403
    )
    assert counts(engine) == before


@SQLITE_ONLY
def test_a_damaged_pdf_is_offered_as_a_download_only(
    console: ConsoleClients,
    office: Office,
    engine: Engine,
    clock: FixedClock,
    web_settings: Settings,
) -> None:
    _, correction = submit(
        engine,
        web_settings,
        person=office.staff,
        officer=office.officer_a,
        at=clock.now(),
        files=[("坏文件.pdf", "application/pdf", b"%PDF-1.4 damaged")],
    )
    client = console.as_role("officer_a")
    page = client.get(f"/corrections/R{correction}")
    assert page.status_code == 200
    assert "此文件无法在页面中显示" in text_of(page.text) and "page1.png" not in page.text
    assert client.get(f"/corrections/R{correction}/files/1").status_code == 200
    assert client.get(f"/corrections/R{correction}/files/1/page1.png").status_code == 422
