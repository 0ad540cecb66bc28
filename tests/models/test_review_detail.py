"""Looking before deciding: a correction with its warning, history and evidence; a rejected
warning is returned (已退回), not acknowledged; deadlines are whole days; the officers'
list of people who have not acknowledged names each once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from riskprompt.config.i18n import translator
from riskprompt.config.settings import load_settings
from riskprompt.models.clock import FixedClock
from riskprompt.models.errors import PermissionDenied
from riskprompt.models.evidence import KINDS, copy_out, evidence_files, safe_file_name, store
from riskprompt.models.listings import correction_detail, unacknowledged_people
from riskprompt.models.people import Channel, Role
from riskprompt.models.prompts import DeliveryStatus, PromptStatus
from riskprompt.models.scope import Supervision
from riskprompt.models.warnings import (
    STATUS_LABELS,
    WarningStatus,
    deadline_on,
    issue_warning,
    review_rectification,
    submit_rectification,
)
from tests.builders import assign, make_person, make_post, make_prompt_with_delivery, make_unit

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = next(kind for kind in KINDS if kind.mime == "application/pdf")


@pytest.fixture
def cast(session: Session, clock: FixedClock) -> dict:
    unit = make_unit(session, name="财政局")
    other = make_unit(session, name="税务局")
    officer = make_person(session, unit=unit, staff_id="JJ001", name="王纪检", role=Role.OFFICER)
    scoped = make_person(session, unit=other, staff_id="JS001", name="税纪检", role=Role.OFFICER)
    session.add(Supervision(officer_id=scoped.id or 0, unit_id=other.id or 0))
    clerk = make_person(session, unit=unit, staff_id="CW001", name="张出纳")
    peer = make_person(session, unit=unit, staff_id="CW002", name="李会计")
    session.commit()
    return {"unit": unit, "officer": officer, "scoped": scoped, "clerk": clerk, "peer": peer}


def test_a_day_is_a_deadline_at_its_end_in_the_offices_zone() -> None:
    settings = load_settings()
    end = datetime(2026, 12, 24, 23, 59, 59, tzinfo=SHANGHAI)
    assert deadline_on(datetime(2026, 12, 24).date(), settings) == end
    # a moment stands for its day in Shanghai: 20:00 UTC on the 23rd is the 24th there
    assert deadline_on(datetime(2026, 12, 23, 20, 0, tzinfo=UTC), settings) == end
    assert deadline_on(end, settings) == end


@SQLITE_ONLY
def test_rejected_warning_is_returned_with_a_whole_day_deadline(
    session: Session, cast: dict, clock: FixedClock, tmp_path: Path
) -> None:
    settings = load_settings()
    warning = issue_warning(
        session,
        actor=cast["officer"],
        person=cast["clerk"],
        colour="yellow",
        form="correct",
        reason="采购审批未经集体研究",
        deadline=clock.now().date() + timedelta(days=7),  # a day, not a moment
        clock=clock,
        settings=settings,
    )
    assert warning.deadline == datetime(2026, 12, 8, 23, 59, 59, tzinfo=SHANGHAI)
    first = submit_rectification(
        session,
        warning=warning,
        actor=cast["clerk"],
        description="已整改",
        evidence=[],
        clock=clock,
    )
    review_rectification(
        session,
        rectification=first,
        actor=cast["officer"],
        accept=False,
        note="缺少会议记录",
        new_deadline=clock.now() + timedelta(days=3),  # a moment: its day's end
        clock=clock,
        settings=settings,
    )
    assert warning.status is WarningStatus.RETURNED
    assert warning.deadline == datetime(2026, 12, 4, 23, 59, 59, tzinfo=SHANGHAI)
    labels = {
        locale: translator(locale).gettext(STATUS_LABELS[warning.status])
        for locale in ("zh_CN", "en")
    }
    assert labels == {"zh_CN": "已退回（待整改）", "en": "returned for correction"}
    # a returned warning takes a new report, and that one can be accepted
    second = submit_rectification(
        session,
        warning=warning,
        actor=cast["clerk"],
        description="补齐会议记录",
        evidence=[],
        clock=clock,
    )
    assert warning.status is WarningStatus.SUBMITTED
    review_rectification(
        session, rectification=second, actor=cast["officer"], accept=True, clock=clock
    )
    assert warning.status is WarningStatus.CLOSED


@SQLITE_ONLY
def test_the_detail_has_the_history_and_the_files(
    session: Session, cast: dict, clock: FixedClock, tmp_path: Path
) -> None:
    settings = load_settings()
    warning = issue_warning(
        session,
        actor=cast["officer"],
        person=cast["clerk"],
        colour="orange",
        form="correct",
        reason="采购审批未经集体研究",
        clock=clock,
        settings=settings,
    )
    first = submit_rectification(
        session,
        warning=warning,
        actor=cast["clerk"],
        description="初次整改",
        evidence=[],
        clock=clock,
    )
    clock.advance(timedelta(hours=2))
    review_rectification(
        session,
        rectification=first,
        actor=cast["officer"],
        accept=False,
        note="证据不足",
        clock=clock,
        settings=settings,
    )
    stored = store(
        tmp_path,
        warning_id=warning.id or 0,
        kind=PDF,
        content=b"%PDF-1.4 minutes",
        name="会议记录.pdf",
    )
    gone = store(tmp_path, warning_id=warning.id or 0, kind=PDF, content=b"%PDF-1.4", name="x.pdf")
    (tmp_path / gone["path"]).unlink()
    escape = {**stored, "name": "../../etc/passwd", "path": "../outside.pdf"}
    clock.advance(timedelta(hours=2))
    second = submit_rectification(
        session,
        warning=warning,
        actor=cast["clerk"],
        description="补齐会议记录",
        evidence=[stored, gone, escape],
        clock=clock,
    )
    session.commit()

    detail = correction_detail(
        session, correction_id=second.id or 0, data_dir=tmp_path, viewer=cast["officer"]
    )
    assert detail.row.correction.id == second.id
    assert detail.row.warning.id == warning.id
    assert detail.issuer.staff_id == "JJ001"
    steps = [
        (e.action, e.actor.staff_id if e.actor else None, e.correction_id, e.note)
        for e in detail.history
    ]
    assert steps == [
        ("warning.issued", "JJ001", None, ""),
        ("warning.submitted", "CW001", first.id, ""),
        ("warning.rejected", "JJ001", first.id, "证据不足"),
        ("warning.submitted", "CW001", second.id, ""),
    ]
    assert [(f.name, f.kind, f.size, f.present) for f in detail.evidence] == [
        ("会议记录.pdf", "PDF", 16, True),
        ("x.pdf", "PDF", 8, False),
        ("passwd", "PDF", 16, False),  # its path leaves the evidence folder: never followed
    ]
    assert detail.evidence[2].path is None

    # the author sees their own; an officer outside the scope and a colleague do not
    assert (
        correction_detail(
            session, correction_id=second.id or 0, data_dir=tmp_path, viewer=cast["clerk"]
        ).row.person.staff_id
        == "CW001"
    )
    for viewer in (cast["scoped"], cast["peer"]):
        with pytest.raises(PermissionDenied):
            correction_detail(
                session, correction_id=second.id or 0, data_dir=tmp_path, viewer=viewer
            )


def test_files_are_copied_out_under_safe_names_never_overwriting(tmp_path: Path) -> None:
    data = tmp_path / "data"
    items = [
        store(data, warning_id=1, kind=PDF, content=b"%PDF-1 a", name="整改报告.pdf"),
        store(data, warning_id=1, kind=PDF, content=b"%PDF-1 b", name="整改报告.pdf"),
        store(data, warning_id=1, kind=PDF, content=b"%PDF-1 c", name="..\\..\\.bashrc"),
        store(data, warning_id=1, kind=PDF, content=b"%PDF-1 d", name=".."),
    ]
    out = tmp_path / "out"
    out.mkdir()
    (out / "整改报告.pdf").write_bytes(b"mine")
    copied = copy_out(evidence_files(data, items), out)
    names = [target.name for _file, target in copied if target is not None]
    assert names == ["整改报告 (2).pdf", "整改报告 (3).pdf", "bashrc", "file.pdf"]
    assert (out / "整改报告.pdf").read_bytes() == b"mine"  # not overwritten
    assert (out / "整改报告 (3).pdf").read_bytes() == b"%PDF-1 b"
    assert all(path.parent == out for path in out.iterdir())
    assert safe_file_name("a:b.pdf") == "a_b.pdf"
    assert safe_file_name("", "image/png") == "file.png"


@SQLITE_ONLY
def test_the_unacknowledged_list_names_each_person_once(
    session: Session, cast: dict, clock: FixedClock
) -> None:
    now = clock.now()
    post = make_post(session, unit=cast["unit"], name="出纳岗")
    assign(session, person=cast["clerk"], post=post)
    first, sent = make_prompt_with_delivery(
        session, person=cast["clerk"], at=now, channel=Channel.TELEGRAM
    )
    first.post_id = post.id
    sent.status, sent.sent_at = DeliveryStatus.SENT, now
    second, reminder = make_prompt_with_delivery(
        session, person=cast["clerk"], at=now + timedelta(minutes=1), channel=Channel.SMS
    )
    reminder.status, reminder.sent_at = DeliveryStatus.SENT, now + timedelta(hours=24)
    reminder.extra = {"reminder": 1}
    read, _ = make_prompt_with_delivery(session, person=cast["peer"], at=now)
    read.status, read.acknowledged_at = PromptStatus.ACKNOWLEDGED, now
    waiting, _ = make_prompt_with_delivery(
        session, person=cast["peer"], at=now + timedelta(minutes=2)
    )
    session.add_all([first, sent, reminder, read])
    session.commit()

    page = unacknowledged_people(
        session, officer=cast["officer"], now=now + timedelta(days=1), zone=SHANGHAI
    )
    assert page.total == 2
    clerk, peer = page.rows
    assert (clerk.person.staff_id, clerk.unit, clerk.posts) == ("CW001", "财政局", ["出纳岗"])
    assert clerk.prompt_ids == [first.id, second.id]
    assert (clerk.reminders, clerk.last_channel) == (1, Channel.SMS)
    assert (peer.person.staff_id, peer.prompt_ids, peer.posts) == ("CW002", [waiting.id], [])
    assert (peer.reminders, peer.last_channel) == (0, None)
    # another scope sees nobody of this unit
    elsewhere = unacknowledged_people(
        session, officer=cast["scoped"], now=now + timedelta(days=1), zone=SHANGHAI
    )
    assert elsewhere.total == 0
