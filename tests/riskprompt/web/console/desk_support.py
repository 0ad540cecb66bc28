"""What the warnings and corrections page tests share: evidence files, twins, outcomes.

A console action is compared with the same action from the CLI on a *twin*: a
person of the same unit, channels and supervisor, warned by the same officer.
:func:`outcome` reads what an action left (its audit record, its notices and, once
expanded, its messages) with every id of the twin's own rows put in words, so that
the two can be compared with ``==``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from riskprompt.config.settings import Settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.evidence import KINDS, store
from riskprompt.models.notices import Notice
from riskprompt.models.people import Person
from riskprompt.models.prompts import Delivery
from riskprompt.models.warnings import Rectification, Warning, submit_rectification
from riskprompt.notifications.notices import expand_notices
from tests.builders import make_person, make_warning

#: The rows an action may write: counted before and after a refusal.
WRITTEN = (Warning, Rectification, AuditEvent, Notice, Delivery)
DIGITS = re.compile(r"\d+")


def counts(engine: Engine) -> dict[str, int]:
    """How many rows each table an action writes holds."""
    with Session(engine) as session:
        return {
            model.__name__: int(session.exec(select(func.count()).select_from(model)).one())
            for model in WRITTEN
        }


def png_bytes(text: str = "整改照片") -> bytes:
    """A small PNG photo."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 200), (230, 240, 250))
    ImageDraw.Draw(image).rectangle((20, 20, 300, 180), outline=(139, 26, 26), width=6)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_bytes(pages: int = 2) -> bytes:
    """A PDF of ``pages`` A4 pages (matplotlib, a dependency already)."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        for number in range(1, pages + 1):
            figure = Figure(figsize=(8.27, 11.69))
            figure.text(0.1, 0.9, f"Rectification report, page {number}", fontsize=20)
            pdf.savefig(figure)
    return buffer.getvalue()


def docx_bytes() -> bytes:
    """A Word file with a paragraph and a table."""
    import docx

    document = docx.Document()
    document.add_paragraph("整改情况说明：已补齐会议纪要。")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "事项"
    table.cell(0, 1).text = "完成情况"
    table.cell(1, 0).text = "集体研究"
    table.cell(1, 1).text = "已完成"
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    """An Excel file with one sheet."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "整改台账"
    sheet.append(["日期", "整改事项"])
    sheet.append(["2026-12-01", "补充采购审批记录"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def kind(mime: str) -> Any:
    """The accepted kind of ``mime``."""
    return next(k for k in KINDS if k.mime == mime)


FILES: list[tuple[str, str, bytes]] = []  # filled lazily by evidence_set()


def evidence_set() -> list[tuple[str, str, bytes]]:
    """(name, mime, content) of one file of each kind shown on the page."""
    if not FILES:
        FILES.extend(
            [
                ("现场照片.png", "image/png", png_bytes()),
                ("整改报告.pdf", "application/pdf", pdf_bytes()),
                (
                    "情况说明.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    docx_bytes(),
                ),
                (
                    "整改台账.xlsx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    xlsx_bytes(),
                ),
            ]
        )
    return FILES


def submit(
    engine: Engine,
    settings: Settings,
    *,
    person: Person,
    officer: Person,
    at: datetime,
    files: list[tuple[str, str, bytes]] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> tuple[int, int]:
    """A warning from ``officer`` to ``person`` and a correction on it with ``files``
    stored as evidence (and ``extra`` items as recorded); (warning id, correction id)."""
    with Session(engine, expire_on_commit=False) as session:
        warning = make_warning(session, person=person, officer=officer, at=at)
        items = [
            store(
                settings.DATA_DIR,
                warning_id=warning.id or 0,
                kind=kind(mime),
                content=content,
                name=name,
            )
            for name, mime, content in (files or [])
        ]
        correction = submit_rectification(
            session,
            warning=warning,
            actor=person,
            description="已组织集体研究，补齐会议纪要。",
            evidence=items + (extra or []),
            clock=FixedClock(at),
        )
        session.commit()
        return warning.id or 0, correction.id or 0


def twin(engine: Engine, person: Person, staff_id: str, name: str) -> Person:
    """A person like ``person``: same unit, channels, addresses and supervisor."""
    with Session(engine, expire_on_commit=False) as session:
        made = make_person(
            session,
            unit=_unit(session, person),
            staff_id=staff_id,
            name=name,
            mobile=person.mobile,
            email=person.email,
            channels=person.channels,
        )
        made.supervisor_id = person.supervisor_id
        session.add(made)
        session.commit()
        return made


def _unit(session: Session, person: Person) -> Any:
    from riskprompt.models.catalog import Unit

    return session.get(Unit, person.unit_id)


@dataclass(frozen=True)
class Outcome:
    """What one action left, with the ids of its own rows in words."""

    audit: tuple[int | None, dict[str, Any]]
    notices: list[tuple[str, str, str, dict[str, Any]]]
    messages: list[tuple[str, str]]


def outcome(
    engine: Engine,
    *,
    action: str,
    warning_id: int,
    person: Person,
    settings: Settings,
    now: datetime,
    correction_id: int | None = None,
) -> Outcome:
    """The audit record of ``action`` on the warning, its notices and their messages
    (notices not expanded yet are expanded first, as the dispatcher would)."""
    with Session(engine) as session:
        expand_notices(session, now=now, settings=settings)
        session.commit()
        event = session.exec(
            select(AuditEvent)
            .where(AuditEvent.action == action, AuditEvent.subject_id == warning_id)
            .order_by(col(AuditEvent.id).desc())
        ).first()
        assert event is not None, f"no {action} record for W{warning_id}"
        own = {"person": (person.id, "person"), "rectification": (correction_id, "correction")}

        def plain(data: dict[str, Any]) -> dict[str, Any]:
            return {
                key: own[key][1] if key in own and value == own[key][0] else value
                for key, value in data.items()
            }

        event_name = action.replace("warning.", "")
        wanted = {
            "issued": "warning.issued",
            "withdrawn": "warning.withdrawn",
            "accepted": "correction.accepted",
            "rejected": "correction.rejected",
        }[event_name]
        notices = session.exec(
            select(Notice)
            .where(Notice.warning_id == warning_id, Notice.event == wanted)
            .order_by(col(Notice.id))
        ).all()
        told = [(n.event.value, n.role.value, n.reach.value, dict(n.data)) for n in notices]
        by_notice = {n.id: n for n in notices}
        deliveries = session.exec(
            select(Delivery)
            .where(col(Delivery.notice_id).in_(list(by_notice)))
            .order_by(col(Delivery.id))
        ).all()
        messages = sorted(
            (d.channel, by_notice[d.notice_id].role.value)
            for d in deliveries
            if d.notice_id is not None
        )
        return Outcome(
            audit=(event.actor_id, plain(dict(event.data))), notices=told, messages=messages
        )


def written_since(engine: Engine, before: dict[str, int]) -> dict[str, int]:
    """What was written since ``before`` (:func:`counts`), table by table."""
    after = counts(engine)
    return {name: after[name] - before[name] for name in after if after[name] != before[name]}


def text_of(html: str) -> str:
    """A page's text, tags out and white space squeezed (to look for phrases)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def stored(settings: Settings, path: str) -> Path:
    """Where an evidence item's relative path lies."""
    return settings.DATA_DIR / path
