"""SQL injection, control characters and oversized input in every free-text field.

Each free-text field of each front end (the CLI's ``warn --reason``, ``remind
--text``, ``focus set``, ``withdraw --reason``, ``review --reason``; the API's
special prompt text and review note; the chat's correction description) is fed
every payload below.  Each must be stored exactly as given (after trimming
surrounding space) or refused with a clear message: exit code 1 or 2 and one
line for the CLI, a 4xx with a ``detail`` for the API, a reply in chat.  Never a
500, a traceback or a crash, and every table is still there with its rows.
The import columns get the same payloads in ``test_imports_*``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from riskprompt.cli.app import app as cli_app
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import Post, Power, RiskPoint, Unit
from riskprompt.models.conversations import create_api_token
from riskprompt.models.people import Person
from riskprompt.models.prompts import Broadcast, FocusWork
from riskprompt.models.warnings import Rectification, Warning, submit_rectification
from tests.bot.conftest import CLERK_CHAT, OFFICER_CHAT
from tests.builders import make_warning
from tests.security.conftest import Front, row_counts

#: Stored verbatim: injection attempts are data, and data is what they stay.
INJECTIONS = [
    "'; DROP TABLE prompt; --",
    "Robert'); DELETE FROM person WHERE ('1'='1",
    "1' OR '1'='1' --",
    "%' UNION SELECT token_hash FROM apitoken --",
    "$$; TRUNCATE audit_event CASCADE; $$",
    "\\'; SELECT pg_sleep(5); --",
    "%(name)s %s {0} {{7*7}} ${jndi:ldap://x}",  # format strings are data too
    "<script>alert(1)</script><b>粗</b>&amp;",
    "\u202e反转\u200b零宽🙂 多行\n第二行",
]
#: Stored verbatim or refused with a message.
AWKWARD = [
    "a\x00b",  # NUL: PostgreSQL cannot store it
    "坏\ud800",  # a lone surrogate: not Unicode text
    "\x1b[31m红\x07",  # terminal escapes
    "长" * 100_000,  # far more than any field takes
]
PAYLOADS = INJECTIONS + AWKWARD


@dataclass(frozen=True)
class Outcome:
    """What a front end did with a payload."""

    stored: str | None  # the value read back (None: nothing stored)
    refusal: str | None = None  # the message of a refusal
    crashed: str | None = None  # a 500, a traceback or an exception


@dataclass
class Scene:
    front: Front
    cli: CliRunner
    token: str

    def invoke(self, *args: str) -> tuple[bool, str, str | None]:
        """(succeeded, output, crash) of a CLI command."""
        result = self.cli.invoke(cli_app, ["--locale", "en", *args])
        crash = None
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            crash = f"{type(result.exception).__name__}: {result.exception}"
        elif result.exit_code not in (0, 1, 2) or "Traceback" in result.output:
            crash = result.output
        return result.exit_code == 0, result.output, crash

    def session(self):  # type: ignore[no-untyped-def]
        return self.front.world.session()

    def person(self, staff_id: str) -> Person:
        return self.front.world.person(staff_id)

    def fresh_correction(self) -> int:
        """A new warning to the clerk with a submitted correction; the correction's id."""
        world = self.front.world
        with self.session() as session:
            clerk = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
            officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
            warning = make_warning(session, person=clerk, officer=officer, at=world.clock.now())
            correction = submit_rectification(
                session,
                warning=warning,
                actor=clerk,
                description="已整改",
                evidence=[],
                clock=world.clock,
            )
            session.commit()
            return correction.id or 0

    def fresh_warning(self) -> int:
        world = self.front.world
        with self.session() as session:
            clerk = session.exec(select(Person).where(Person.staff_id == "CW001")).one()
            officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
            warning = make_warning(session, person=clerk, officer=officer, at=world.clock.now())
            session.commit()
            return warning.id or 0


@pytest.fixture
async def scene(front: Front, cli: CliRunner) -> Scene:
    with front.world.session() as session:
        officer = session.exec(select(Person).where(Person.staff_id == "JJ001")).one()
        token = create_api_token(session, person=officer, clock=front.world.clock)
        session.commit()
    return Scene(front, cli, token)


def _cli_outcome(scene: Scene, args: list[str], read: Callable[[], str | None]) -> Outcome:
    ok, output, crash = scene.invoke(*args)
    if crash:
        return Outcome(None, crashed=crash)
    return Outcome(read(), None) if ok else Outcome(None, refusal=output.strip())


def _newest(scene: Scene, column):  # type: ignore[no-untyped-def]
    def read() -> str | None:
        table = column.class_
        with scene.session() as session:
            return session.exec(select(column).order_by(col(table.id).desc()).limit(1)).first()

    return read


async def cli_warn(scene: Scene, text: str) -> Outcome:
    args = [
        "warn",
        "--as",
        "JJ001",
        "--person",
        "CW002",
        "--colour",
        "yellow",
        "--form",
        "prompt",
        "--reason",
        text,
    ]
    return _cli_outcome(scene, args, _newest(scene, Warning.reason))


async def cli_remind(scene: Scene, text: str) -> Outcome:
    args = ["remind", "--as", "JJ001", "--to", "person:CW002", "--text", text]
    return _cli_outcome(scene, args, _newest(scene, Broadcast.text))


async def cli_focus(scene: Scene, text: str) -> Outcome:
    args = ["focus", "set", "2026-12", text, "--as", "JJ001"]
    return _cli_outcome(scene, args, _newest(scene, FocusWork.text))


async def cli_withdraw(scene: Scene, text: str) -> Outcome:
    warning_id = scene.fresh_warning()
    args = ["withdraw", str(warning_id), "--as", "JJ001", "--reason", text]

    def read() -> str | None:
        with scene.session() as session:
            event = session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "warning.withdrawn", AuditEvent.subject_id == warning_id
                )
            ).first()
            return None if event is None else str(event.data.get("reason"))

    return _cli_outcome(scene, args, read)


async def cli_review(scene: Scene, text: str) -> Outcome:
    correction_id = scene.fresh_correction()
    args = ["review", str(correction_id), "--as", "JJ001", "--reject", "--reason", text]
    return _cli_outcome(scene, args, _review_note(scene, correction_id))


def _review_note(scene: Scene, correction_id: int) -> Callable[[], str | None]:
    def read() -> str | None:
        with scene.session() as session:
            found = session.get(Rectification, correction_id)
            return None if found is None else found.review_note

    return read


async def _api(scene: Scene, method: str, path: str, body: dict[str, object]) -> Outcome | None:
    # ASCII JSON: a lone surrogate travels as the escape ``\\ud800``, as any client may send it.
    response = await scene.front.http.request(
        method,
        path,
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {scene.token}", "Content-Type": "application/json"},
    )
    if response.status_code >= 500:
        return Outcome(None, crashed=f"{response.status_code} {response.text}")
    if response.status_code >= 400:
        detail = response.json().get("detail")
        return Outcome(None, refusal=str(detail) if detail else None)
    return None


async def api_special_prompt(scene: Scene, text: str) -> Outcome:
    body = {"target": "person:CW002", "text": text}
    refused = await _api(scene, "POST", "/api/v1/special-prompts", body)
    return refused or Outcome(_newest(scene, Broadcast.text)())


async def api_review(scene: Scene, text: str) -> Outcome:
    correction_id = scene.fresh_correction()
    body = {"accept": False, "note": text}
    refused = await _api(scene, "POST", f"/api/v1/corrections/{correction_id}/review", body)
    return refused or Outcome(_review_note(scene, correction_id)())


async def chat_correction(scene: Scene, text: str) -> Outcome:
    world = scene.front.world
    warning_id = scene.fresh_warning()
    await scene.front.webhook(world.api.message_update(CLERK_CHAT, "/cancel"))
    # The button of the warning's own message ("report a correction").
    await scene.front.webhook(world.api.callback_update(CLERK_CHAT, f"rc:{warning_id}"))
    await scene.front.webhook(world.api.message_update(CLERK_CHAT, text))
    reply = world.last_text(CLERK_CHAT)
    for data in ("rc:done", "rc:ok"):
        try:
            message_id = world.message_with(CLERK_CHAT, data)
        except AssertionError:
            return Outcome(None, refusal=reply)  # the description was refused
        await scene.front.webhook(
            world.api.callback_update(CLERK_CHAT, data, message_id=message_id)
        )
    with scene.session() as session:
        stored = session.exec(
            select(Rectification.description).where(Rectification.warning_id == warning_id)
        ).first()
    return Outcome(stored, refusal=None if stored is not None else world.last_text(CLERK_CHAT))


async def chat_special_prompt(scene: Scene, text: str) -> Outcome:
    world = scene.front.world
    before = _newest(scene, Broadcast.id)()
    await scene.front.webhook(world.api.message_update(OFFICER_CHAT, "/cancel"))
    await scene.front.webhook(world.api.message_update(OFFICER_CHAT, "/remind"))
    await scene.front.webhook(world.api.message_update(OFFICER_CHAT, "person:CW002"))
    await scene.front.webhook(world.api.message_update(OFFICER_CHAT, text))
    reply = world.last_text(OFFICER_CHAT)
    try:
        message_id = world.message_with(OFFICER_CHAT, "rm:ok")
    except AssertionError:
        return Outcome(None, refusal=reply)
    await scene.front.webhook(
        world.api.callback_update(OFFICER_CHAT, "rm:ok", message_id=message_id)
    )
    if _newest(scene, Broadcast.id)() == before:
        return Outcome(None, refusal=world.edits()[-1].params["text"] if world.edits() else reply)
    return Outcome(_newest(scene, Broadcast.text)())


async def api_warning(scene: Scene, text: str) -> Outcome:
    body = {"person": "CW002", "colour": "yellow", "form": "prompt", "reason": text}
    refused = await _api(scene, "POST", "/api/v1/warnings", body)
    return refused or Outcome(_newest(scene, Warning.reason)())


async def chat_warning(scene: Scene, text: str) -> Outcome:
    world = scene.front.world
    before = _newest(scene, Warning.id)()
    for step in ("/cancel", "/warn", "CW002"):
        await scene.front.webhook(world.api.message_update(OFFICER_CHAT, step))
    for data in ("wn:c:yellow", "wn:f:prompt"):
        message_id = world.message_with(OFFICER_CHAT, data)
        await scene.front.webhook(
            world.api.callback_update(OFFICER_CHAT, data, message_id=message_id)
        )
    await scene.front.webhook(world.api.message_update(OFFICER_CHAT, text))
    reply = world.last_text(OFFICER_CHAT)
    try:
        message_id = world.message_with(OFFICER_CHAT, "wn:ok")
    except AssertionError:
        return Outcome(None, refusal=reply)
    await scene.front.webhook(
        world.api.callback_update(OFFICER_CHAT, "wn:ok", message_id=message_id)
    )
    if _newest(scene, Warning.id)() == before:
        return Outcome(None, refusal=world.edits()[-1].params["text"] if world.edits() else reply)
    return Outcome(_newest(scene, Warning.reason)())


FIELDS: dict[str, Callable[[Scene, str], Awaitable[Outcome]]] = {
    "cli warn --reason": cli_warn,
    "cli remind --text": cli_remind,
    "cli focus set TEXT": cli_focus,
    "cli withdraw --reason": cli_withdraw,
    "cli review --reason": cli_review,
    "api special prompt text": api_special_prompt,
    "api review note": api_review,
    "chat correction description": chat_correction,
    "chat special prompt text": chat_special_prompt,
    "api warning reason": api_warning,
    "chat warning reason": chat_warning,
}


@pytest.mark.parametrize("field", list(FIELDS))
async def test_free_text_is_stored_verbatim_or_refused_clearly(scene: Scene, field: str) -> None:
    attempt = FIELDS[field]
    people_before = {p: c for p, c in row_counts(scene.front.world).items() if p in KEPT}
    problems: list[str] = []
    for payload in PAYLOADS:
        outcome = await attempt(scene, payload)
        shown = repr(payload[:40])
        if outcome.crashed:
            problems.append(f"{shown}: crashed: {outcome.crashed[:300]}")
        elif outcome.stored is None:
            if not outcome.refusal:
                problems.append(f"{shown}: neither stored nor refused in words")
            elif payload in INJECTIONS:
                problems.append(f"{shown}: refused ({outcome.refusal[:120]})")
        elif outcome.stored != payload.strip():
            problems.append(f"{shown}: stored as {outcome.stored[:40]!r}")
    assert problems == []
    after = row_counts(scene.front.world)  # every table still answers
    assert {p: c for p, c in after.items() if p in KEPT} == people_before


#: Tables no free text of these fields may touch.
KEPT = {"person", "unit", "post", "power", "risk_point", "api_token", "assignment"}


# -- import columns ---------------------------------------------------------------------------

CATALOG_HEADER = [
    "单位",
    "岗位",
    "职权名称",
    "职权内容",
    "法律依据",
    "风险点",
    "风险等级",
    "防控措施",
]
PEOPLE_HEADER = ["姓名", "工号", "单位", "岗位", "手机", "邮箱", "角色", "上级工号", "语言", "渠道"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


CATALOG_ROW = [
    "审计局",
    "采购岗",
    "采购审批",
    "审批采购事项",
    "《政府采购法》",
    "未经集体研究",
    "高",
    "集体研究",
]
#: Catalogue columns whose text is kept whole (the measures are split at ；/; by design).
CATALOG_KEPT = {
    0: (Unit, "name"),
    1: (Post, "name"),
    2: (Power, "name"),
    5: (RiskPoint, "description"),
}


@pytest.mark.parametrize("column", range(len(CATALOG_HEADER)), ids=CATALOG_HEADER)
def test_imports_take_injections_in_any_catalogue_column_as_data(
    scene: Scene, tmp_path: Path, column: int
) -> None:
    rows = []
    for n, payload in enumerate(INJECTIONS):
        row = list(CATALOG_ROW)
        row[2], row[5] = f"采购审批{n}", f"未经集体研究{n}"  # one power, one risk point per row
        row[column] = payload.replace("\n", " ") if column < 5 else payload
        rows.append(row)
    before = row_counts(scene.front.world)
    path = _write(tmp_path / "catalog.csv", CATALOG_HEADER, rows)

    ok, output, crash = scene.invoke("import", "catalog", str(path))

    assert crash is None, crash
    if column == 6:  # not a level: every row named, nothing written
        assert not ok and "catalog.csv:2:" in output and "catalog.csv:10:" in output
        assert row_counts(scene.front.world) == before
        return
    assert ok, output
    if column in CATALOG_KEPT:
        table, name = CATALOG_KEPT[column]
        with scene.session() as session:
            stored = set(session.exec(select(getattr(table, name))).all())
        assert {row[column].strip() for row in rows} <= stored
    after = row_counts(scene.front.world)
    assert after["person"] == before["person"] and after["api_token"] == before["api_token"]

    # A NUL character (no database stores it) in the column: refused, nothing written.
    row = list(CATALOG_ROW)
    row[column] = "a\x00b"
    path = _write(tmp_path / "nul.csv", CATALOG_HEADER, [row])
    ok, output, crash = scene.invoke("import", "catalog", str(path))
    assert crash is None, crash
    assert not ok and "nul.csv" in output
    assert row_counts(scene.front.world) == after


PEOPLE_ROW = [
    "赵科员",
    "ZK001",
    "财政局",
    "",
    "+8613900000001",
    "zk@example.org",
    "工作人员",
    "",
    "zh_CN",
    "sms,email",
]


@pytest.mark.parametrize("column", [0, 1, 4, 5, 9], ids=lambda c: PEOPLE_HEADER[c])
def test_imports_refuse_or_keep_hostile_people_columns(
    scene: Scene, tmp_path: Path, column: int
) -> None:
    # A lone surrogate cannot even be written to a UTF-8 file: not an import input.
    for batch in (INJECTIONS, [AWKWARD[0]], [AWKWARD[2]], ["长" * 5000]):
        rows = []
        for n, payload in enumerate(batch):
            row = list(PEOPLE_ROW)
            row[1] = f"ZK{len(payload)}{n:03d}"
            row[4] = f"+86139{len(batch):02d}{n:06d}"
            row[column] = payload.replace("\n", " ") if column == 0 else payload
            rows.append(row)
        before = row_counts(scene.front.world)
        path = _write(tmp_path / "people.csv", PEOPLE_HEADER, rows)

        ok, output, crash = scene.invoke("import", "people", str(path))

        assert crash is None, crash
        if ok:
            with scene.session() as session:
                stored = set(session.exec(select(getattr(Person, PEOPLE_FIELDS[column]))).all())
            assert {row[column].strip() for row in rows} <= stored
        else:
            # the problems are named by file, row and column; nothing is half-imported
            assert "people.csv:" in output and "nothing was imported" in output
            assert row_counts(scene.front.world) == before  # checked whole before writing
        if batch is INJECTIONS and column == 0:
            assert ok, output  # a name is free text: injections are names like any other


PEOPLE_FIELDS = {0: "name", 1: "staff_id", 4: "mobile", 5: "email", 9: "channels"}
