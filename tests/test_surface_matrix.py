"""Issue 11's matrix: every action on every surface that offers it has one outcome.

Each case is one action (acknowledge, submit, accept, reject, withdraw, escalate)
taken on one surface (chat through the Telegram stand-in, the CLI, the officer
API, the page behind a link, an SMS reply through the signed Twilio webhook, the
follow-up service) for one addressee: a chat person, an SMS-only person or an
email-only person.  The surface helpers only translate: each calls its surface
(an update to the bot, a command line, an HTTP request) and never the domain, so
a surface that forgets a rule fails its row.  For every case:

1. the warning and its correction end in the action's state (status, colour,
   deadline moved or not, the correction's review);
2. the audit record written is the action's, with the same data (ids, times and
   ``via`` aside);
3. one pass of the real dispatcher, with the real channel adapters pointed at the
   SMTP, Twilio and Telegram stand-ins, tells exactly the action's readers, each on
   their own channel, with what the action says.

The setup (issuing the warning, a correction waiting for review, the deadline
passing) goes through the domain: it is not what a row tests.

Surfaces that do not offer an action are not rows: the API is the officers' (no
acknowledge, no correction report), the CLI has no correction report, chat no
withdrawal.  A person can act only on a surface that reaches them: chat for the
chat person, an SMS reply for the SMS-only one, the page behind the link in the
SMS or the email for those two (a chat message carries buttons, not a link).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from babel.dates import format_date, format_datetime
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from riskprompt.bot.app import BotApplication, build_application, process_update_json
from riskprompt.cli.app import app as cli_app
from riskprompt.config.settings import Settings, load_settings
from riskprompt.models.audit import AuditEvent
from riskprompt.models.clock import FixedClock
from riskprompt.models.conversations import bind_chat, create_api_token, create_binding_code
from riskprompt.models.db import session_scope
from riskprompt.models.people import Person, Role
from riskprompt.models.warnings import (
    Rectification,
    Warning,
    acknowledge_warning,
    submit_rectification,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.escalation import run_follow_ups
from riskprompt.web import create_app
from tests.builders import make_person, make_unit, make_warning
from tests.conftest import BACKENDS
from tests.standins.fixtures import standin_overrides
from tests.standins.smtp import SmtpStandin
from tests.standins.telegram import TelegramCall, TelegramStandin
from tests.standins.twilio import TwilioStandin

PUBLIC_URL = "https://riskprompt.example.gov.cn"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PERSON_CHAT = 701
OFFICER_CHAT = 702
ISSUER = "JJ001"  # the officer who issued the warning and reviews: in chat
COLLEAGUE = "JJ002"  # another officer supervising the person: email only
ADDRESSEE = "CW001"
COLLEAGUE_EMAIL = "jj002@example.gov.cn"
MOBILE = "+8613800138011"
EMAIL = "cw001@example.gov.cn"
DESCRIPTION = "已组织集体研究，补齐会议纪要。"
REJECT_REASON = "缺少会议纪要原件"
WITHDRAW_REASON = "经核实系误报"
FORM_KEY = re.compile(r'name="k" value="([0-9a-f]+)"')
LINKS = {
    "sms": re.compile(r"/a/([A-Za-z0-9._~-]+)"),
    "email": re.compile(r"/ack/([A-Za-z0-9._~-]+)"),
}
#: The addressee of each kind: their channels and addresses.
ADDRESSEES: dict[str, dict[str, Any]] = {
    "chat": {"channels": "telegram", "mobile": None, "email": None},
    "sms": {"channels": "sms", "mobile": MOBILE, "email": None},
    "email": {"channels": "email", "mobile": None, "email": EMAIL},
}
#: The channel each kind of addressee is told on.
CHANNEL = {"chat": "telegram", "sms": "sms", "email": "email"}
_SIDS = itertools.count(1)
DIGITS = re.compile(r"\d+")
TOKENS = re.compile(r"/(ack|a)/[A-Za-z0-9._~-]+")
#: (action, addressee) → (surface, messages) of the first case run: the others must match.
_TOLD: dict[tuple[str, str], tuple[str, dict[str, list[tuple[str, str]]]]] = {}


# -- the world: an organisation, its bot, its web app, the three stand-ins ------------------


@dataclass
class World:
    """Everything a case acts on, and what it reads back."""

    kind: str  # the addressee's: chat, sms or email
    settings: Settings
    engine: Engine
    clock: FixedClock
    telegram: TelegramStandin
    twilio: TwilioStandin
    smtp: SmtpStandin
    bot: BotApplication
    http: httpx.AsyncClient
    cli: CliRunner
    token: str  # the issuer's API token
    warning_id: int = 0
    correction_id: int = 0
    deadline: datetime | None = None  # the warning's deadline before the action
    names: dict[str, str] = field(default_factory=dict)  # address → staff ID

    # -- the outbox ------------------------------------------------------------------------

    async def dispatch(self) -> None:
        """One pass of the dispatcher with the real adapters (the CLI ran on the real clock)."""
        self.clock.current = max(self.clock.current, datetime.now(UTC))
        adapters = build_adapters(self.settings)
        async with Dispatcher(self.engine, self.settings, self.clock, adapters, "matrix") as d:
            await d.drain(until_idle=False)

    def mark(self) -> tuple[int, int, int]:
        """Where the stand-ins' records stand now."""
        return len(self.telegram.calls), len(self.twilio.messages), len(self.smtp.messages)

    def received(self, since: tuple[int, int, int]) -> dict[str, list[tuple[str, str]]]:
        """Staff ID → (channel, text) of every message the stand-ins took since ``since``."""
        out: dict[str, list[tuple[str, str]]] = {}
        calls, texts, mails = since
        for call in self.telegram.calls[calls:]:
            if call.method == "sendMessage" and call.ok:
                who = self.names.get(f"chat:{call.chat_id}", f"chat:{call.chat_id}")
                out.setdefault(who, []).append(("telegram", str(call.params["text"])))
        for sms in self.twilio.messages[texts:]:
            out.setdefault(self.names.get(sms.to, sms.to), []).append(("sms", sms.body))
        for mail in self.smtp.messages[mails:]:
            body = mail.message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            for rcpt in mail.rcpt_tos:
                out.setdefault(self.names.get(rcpt, rcpt), []).append(("email", text))
        return out

    # -- the database ----------------------------------------------------------------------

    def last_audit_id(self) -> int:
        """The newest audit record's id (0: none)."""
        with Session(self.engine) as session:
            ids = session.exec(select(AuditEvent.id).order_by(col(AuditEvent.id).desc())).first()
            return int(ids or 0)

    def audit_since(self, after: int) -> list[tuple[str, dict[str, Any]]]:
        """(action, normalised data) of the audit records written after id ``after``."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(AuditEvent).where(col(AuditEvent.id) > after).order_by(col(AuditEvent.id))
            ).all()
            return [(row.action, normalised(row.data or {})) for row in rows]

    def snapshot(self) -> dict[str, Any]:
        """Where the warning and its latest correction stand, without ids or times."""
        with Session(self.engine) as session:
            warning = session.get(Warning, self.warning_id)
            assert warning is not None
            latest = session.exec(
                select(Rectification)
                .where(col(Rectification.warning_id) == self.warning_id)
                .order_by(col(Rectification.id).desc())
            ).first()
            return {
                "status": warning.status.value,
                "colour": warning.colour.value,
                "acknowledged": warning.acknowledged_at is not None,
                "deadline moved": warning.deadline != self.deadline,
                "correction": latest.status.value if latest is not None else None,
            }

    def current_deadline(self) -> datetime:
        """The warning's deadline as stored now."""
        with Session(self.engine) as session:
            warning = session.get(Warning, self.warning_id)
            assert warning is not None
            return warning.deadline

    # -- surfaces' plumbing ----------------------------------------------------------------

    async def update(self, data: dict[str, Any]) -> None:
        """Hand a Telegram update to the bot as the webhook route does."""
        await process_update_json(self.bot, data)

    def message_with(self, chat_id: int, data: str) -> int:
        """The newest message to ``chat_id`` with a button carrying ``data``."""
        for call in reversed(self.telegram.sent(chat_id)):
            if data in button_data(call):
                return int(call.result["message_id"])
        raise AssertionError(f"no message to {chat_id} has a button {data!r}")

    async def tap(self, chat_id: int, data: str) -> None:
        """The user of ``chat_id`` taps the button ``data`` on the message that has it."""
        message_id = self.message_with(chat_id, data)
        await self.update(self.telegram.callback_update(chat_id, data, message_id=message_id))

    async def say(self, chat_id: int, text: str) -> None:
        """The user of ``chat_id`` sends ``text``."""
        await self.update(self.telegram.message_update(chat_id, text))

    async def send_document(self, chat_id: int) -> None:
        """The user of ``chat_id`` sends a PDF."""
        update = self.telegram.message_update(chat_id, "-")
        del update["message"]["text"]
        update["message"]["document"] = {
            "file_id": self.telegram.add_file(PDF, f"documents/minutes{next(_SIDS)}.pdf"),
            "file_unique_id": f"minutes{next(_SIDS)}",
            "file_name": "会议纪要.pdf",
            "mime_type": "application/pdf",
            "file_size": len(PDF),
        }
        await self.update(update)

    def run_cli(self, *args: str) -> str:
        """Run ``riskprompt ARGS`` (in English); its output, after checking it succeeded."""
        result = self.cli.invoke(cli_app, ["--locale", "en", *args])
        assert result.exit_code == 0, result.output
        return result.output

    def link(self) -> str:
        """The path of the link in the message that reached the addressee (SMS or email)."""
        if self.kind == "sms":
            texts = [m.body for m in self.twilio.messages if m.to == MOBILE]
        else:
            texts = []
            for mail in self.smtp.to(EMAIL):
                body = mail.message.get_body(preferencelist=("plain",))
                texts.append(body.get_content() if body is not None else "")
        for text in reversed(texts):
            found = LINKS[self.kind].search(text)
            if found is not None:
                return found.group(0)
        raise AssertionError(f"no link reached the {self.kind} person: {texts}")

    async def open_link(self) -> tuple[str, str]:
        """GET the page behind the addressee's link: (its path, the form key on it)."""
        path = self.link()
        page = await self.http.get(path)
        assert page.status_code == 200, page.text
        key = FORM_KEY.search(page.text)
        assert key is not None, page.text
        return path, key.group(1)


def same_words(text: str) -> str:
    """``text`` with its links' tokens and its figures masked (they carry the moment)."""
    return DIGITS.sub("#", TOKENS.sub(r"/\1/<token>", text))


def button_data(call: TelegramCall) -> list[str]:
    """The callback data of a recorded message's inline buttons."""
    markup = call.params.get("reply_markup") or {}
    return [
        str(button.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for button in row
    ]


#: Audit data keys whose values are ids or times: compared by presence only.
_VARYING = frozenset({"rectification", "person", "overdue_since", "deadline"})


def normalised(data: dict[str, Any]) -> dict[str, Any]:
    """Audit data without ``via`` and with ids and times as placeholders."""
    return {
        key: ("<varies>" if key in _VARYING else value)
        for key, value in data.items()
        if key != "via"
    }


@asynccontextmanager
async def open_world(
    kind: str,
    *,
    database: str,
    engine: Engine,
    smtp: SmtpStandin,
    telegram: TelegramStandin,
    twilio: TwilioStandin,
    cli: CliRunner,
    tmp_path: Path,
    locale: str = "zh_CN",
) -> AsyncIterator[World]:
    """Two officers (English readers), one addressee of ``kind`` (reading ``locale``), and a
    yellow ordered correction already delivered to them."""
    settings = load_settings(
        **standin_overrides(smtp=smtp, telegram=telegram, twilio=twilio),
        DATABASE_URL=database,
        PUBLIC_URL=PUBLIC_URL,
        SECRET_KEY="surface-matrix-secret",
        OUTBOX_DIR=tmp_path / "outbox",
        DATA_DIR=tmp_path / "data",
    )
    # The CLI runs on the real clock: the others start there too, so that "now" agrees.
    clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
    with session_scope(engine) as session:
        unit = make_unit(session, name="财政局")
        issuer = make_person(
            session, unit=unit, staff_id=ISSUER, name="王纪检", role=Role.OFFICER,
            channels="telegram", mobile=None, email=None, locale="en",
        )  # fmt: skip
        make_person(
            session, unit=unit, staff_id=COLLEAGUE, name="赵纪检", role=Role.OFFICER,
            channels="email", mobile=None, email=COLLEAGUE_EMAIL, locale="en",
        )  # fmt: skip
        person = make_person(
            session, unit=unit, staff_id=ADDRESSEE, name="张出纳", locale=locale,
            **ADDRESSEES[kind],
        )  # fmt: skip
        bind_chat(
            session,
            code=create_binding_code(session, person=issuer, clock=clock),
            chat_id=OFFICER_CHAT,
            clock=clock,
        )
        if kind == "chat":
            bind_chat(
                session,
                code=create_binding_code(session, person=person, clock=clock),
                chat_id=PERSON_CHAT,
                clock=clock,
            )
        token = create_api_token(session, person=issuer, clock=clock)
        warning = make_warning(session, person=person, officer=issuer, at=clock.now())
        warning_id = warning.id or 0
    bot = build_application(settings=settings, engine=engine, clock=clock)
    await bot.initialize()
    web = create_app(settings=settings, engine=engine, clock=clock)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url=PUBLIC_URL
        ) as http:
            world = World(
                kind=kind, settings=settings, engine=engine, clock=clock, telegram=telegram,
                twilio=twilio, smtp=smtp, bot=bot, http=http, cli=cli, token=token,
                warning_id=warning_id,
                names={
                    f"chat:{OFFICER_CHAT}": ISSUER, f"chat:{PERSON_CHAT}": ADDRESSEE,
                    MOBILE: ADDRESSEE, EMAIL: ADDRESSEE, COLLEAGUE_EMAIL: COLLEAGUE,
                },
            )  # fmt: skip
            await world.dispatch()  # the warning reaches the addressee
            yield world
    finally:
        await bot.shutdown()


# -- what each action needs first (through the domain: setup, not under test) ----------------


async def nothing_first(world: World) -> None:
    """The warning as issued and delivered."""


async def correction_waiting(world: World) -> None:
    """The addressee acknowledged and reported a correction; the officers were told."""
    with session_scope(world.engine) as session:
        warning = session.get(Warning, world.warning_id)
        person = session.exec(select(Person).where(Person.staff_id == ADDRESSEE)).one()
        assert warning is not None
        acknowledge_warning(session, warning=warning, actor=person, clock=world.clock, via="cli")
        report = submit_rectification(
            session,
            warning=warning,
            actor=person,
            description=DESCRIPTION,
            evidence=[],
            clock=world.clock,
        )
        world.correction_id = report.id or 0
    await world.dispatch()


async def deadline_passed(world: World) -> None:
    """The follow-up planned the warning's steps and reminded; then the deadline passed."""
    deadline = world.current_deadline()
    run_follow_ups(world.engine, clock=world.clock, settings=world.settings)
    world.clock.current = deadline - timedelta(hours=1)
    run_follow_ups(world.engine, clock=world.clock, settings=world.settings)
    await world.dispatch()
    world.clock.current = deadline + timedelta(hours=1)


# -- the surfaces: each only translates the action into its own terms -----------------------


async def chat_acknowledge(world: World) -> None:
    """The addressee taps Acknowledge on the warning's message."""
    await world.tap(PERSON_CHAT, f"ack:w:{world.warning_id}")


async def cli_acknowledge(world: World) -> None:
    """``riskprompt ack --warning ID --as STAFF_ID``."""
    output = world.run_cli("ack", "--warning", str(world.warning_id), "--as", ADDRESSEE)
    assert "acknowledged" in output, output


async def link_acknowledge(world: World) -> None:
    """The addressee opens the link of their SMS or email and presses the button."""
    path, key = await world.open_link()
    response = await world.http.post(path, data={"k": key})
    assert response.status_code == 200, response.text


async def sms_acknowledge(world: World) -> None:
    """The addressee replies ``W<id>`` by SMS (Twilio's signed webhook)."""
    form = {
        "MessageSid": f"SM{next(_SIDS):032d}",
        "From": MOBILE,
        "To": "+15005550006",
        "Body": f"W{world.warning_id}",
    }
    validator = RequestValidator(world.settings.TWILIO_AUTH_TOKEN or "")
    signature = validator.compute_signature(PUBLIC_URL + "/twilio/sms", form)
    response = await world.http.post(
        "/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200 and "<Response>" in response.text, response.text


async def chat_submit(world: World) -> None:
    """The addressee reports the correction from the warning's message, with a file."""
    await world.tap(PERSON_CHAT, f"rc:{world.warning_id}")
    await world.say(PERSON_CHAT, DESCRIPTION)
    await world.send_document(PERSON_CHAT)
    await world.tap(PERSON_CHAT, "rc:done")
    await world.tap(PERSON_CHAT, "rc:ok")


async def link_submit(world: World) -> None:
    """The addressee fills in the correction form on the page behind their link."""
    path, key = await world.open_link()
    response = await world.http.post(
        f"{path}/correction",
        data={"k": key, "description": DESCRIPTION},
        files=[("files", ("会议纪要.pdf", PDF, "application/pdf"))],
    )
    assert response.status_code == 200, response.text


async def chat_accept(world: World) -> None:
    """The officer opens /review and taps Accept."""
    await world.say(OFFICER_CHAT, "/review")
    await world.tap(OFFICER_CHAT, f"rv:a:{world.correction_id}")


async def chat_reject(world: World) -> None:
    """The officer opens /review, taps Reject and gives the reason."""
    await world.say(OFFICER_CHAT, "/review")
    await world.tap(OFFICER_CHAT, f"rv:r:{world.correction_id}")
    await world.say(OFFICER_CHAT, REJECT_REASON)


async def cli_accept(world: World) -> None:
    """``riskprompt review ID --as STAFF_ID --accept``."""
    world.run_cli("review", str(world.correction_id), "--as", ISSUER, "--accept")


async def cli_reject(world: World) -> None:
    """``riskprompt review ID --as STAFF_ID --reject --reason TEXT``."""
    world.run_cli(
        "review", str(world.correction_id), "--as", ISSUER, "--reject", "--reason", REJECT_REASON
    )


async def _api(world: World, path: str, body: dict[str, Any]) -> None:
    response = await world.http.post(
        path, json=body, headers={"Authorization": f"Bearer {world.token}"}
    )
    assert response.status_code == 200, response.text


async def api_accept(world: World) -> None:
    """``POST /api/v1/corrections/<id>/review`` accepting."""
    await _api(world, f"/api/v1/corrections/{world.correction_id}/review", {"accept": True})


async def api_reject(world: World) -> None:
    """``POST /api/v1/corrections/<id>/review`` rejecting with a note."""
    body = {"accept": False, "note": REJECT_REASON}
    await _api(world, f"/api/v1/corrections/{world.correction_id}/review", body)


async def chat_withdraw(world: World) -> None:
    """The officer sends ``/withdraw W<id> reason``."""
    await world.say(OFFICER_CHAT, f"/withdraw W{world.warning_id} {WITHDRAW_REASON}")


async def cli_withdraw(world: World) -> None:
    """``riskprompt withdraw ID --as STAFF_ID --reason TEXT``."""
    world.run_cli("withdraw", str(world.warning_id), "--as", ISSUER, "--reason", WITHDRAW_REASON)


async def api_withdraw(world: World) -> None:
    """``POST /api/v1/warnings/<id>/withdraw``."""
    await _api(world, f"/api/v1/warnings/{world.warning_id}/withdraw", {"reason": WITHDRAW_REASON})


async def service_escalate(world: World) -> None:
    """The follow-up service runs after the deadline passed."""
    run_follow_ups(world.engine, clock=world.clock, settings=world.settings)


# -- what each action must come to, whatever the surface -------------------------------------


def when(moment: datetime, width: str) -> str:
    """``moment`` as the addressee (zh_CN, in Shanghai) reads it (Babel's ``width`` format)."""
    return format_datetime(moment, width, tzinfo=load_settings().zone, locale="zh_CN")


def deadline_words(world: World, channel: str) -> str:
    """The current deadline as the addressee's channel writes it (SMS: the short form);
    a deadline that ends its day is written as the date alone."""
    deadline = world.current_deadline()
    local = deadline.astimezone(load_settings().zone)
    width = "short" if channel == "sms" else "long"
    if (local.hour, local.minute) == (23, 59):
        return format_date(local.date(), width, locale="zh_CN")
    return when(deadline, "short" if channel == "sms" else "medium")


Told = Callable[[World], dict[str, list[tuple[str, list[str]]]]]


@dataclass(frozen=True)
class Action:
    """One action's outcome: the state, the audit record and who is told what."""

    name: str
    before: Callable[[World], Awaitable[None]]
    state: dict[str, Any]
    audit: list[tuple[str, dict[str, Any]]]
    told: Told


def _addressee_told(*words: str) -> Told:
    def told(world: World) -> dict[str, list[tuple[str, list[str]]]]:
        return {ADDRESSEE: [(CHANNEL[world.kind], [*words])]}

    return told


def _rejected(world: World) -> dict[str, list[tuple[str, list[str]]]]:
    channel = CHANNEL[world.kind]
    return {ADDRESSEE: [(channel, [REJECT_REASON, deadline_words(world, channel)])]}


def _submitted(world: World) -> dict[str, list[tuple[str, list[str]]]]:
    said = f"reported a correction on W{world.warning_id}"
    return {ISSUER: [("telegram", [said])], COLLEAGUE: [("email", [said])]}


def _escalated(world: World) -> dict[str, list[tuple[str, list[str]]]]:
    channel = CHANNEL[world.kind]
    words = ["橙色", deadline_words(world, channel)]
    return {ADDRESSEE: [(channel, words)], ISSUER: [("telegram", ["orange"])]}


YELLOW = {"colour": "yellow"}
ACTIONS = {
    "acknowledge": Action(
        "acknowledge",
        nothing_first,
        state={
            "status": "acknowledged",
            "colour": "yellow",
            "acknowledged": True,
            "deadline moved": False,
            "correction": None,
        },
        audit=[("warning.acknowledged", {"status": "acknowledged", **YELLOW})],
        told=lambda world: {},
    ),
    "submit": Action(
        "submit",
        nothing_first,
        state={
            "status": "submitted",
            "colour": "yellow",
            "acknowledged": True,
            "deadline moved": False,
            "correction": "submitted",
        },
        audit=[
            (
                "warning.submitted",
                {"status": "submitted", **YELLOW, "rectification": "<varies>", "files": 1},
            )
        ],
        told=_submitted,
    ),
    "accept": Action(
        "accept",
        correction_waiting,
        state={
            "status": "closed",
            "colour": "yellow",
            "acknowledged": True,
            "deadline moved": False,
            "correction": "accepted",
        },
        audit=[
            (
                "warning.accepted",
                {"status": "closed", **YELLOW, "rectification": "<varies>", "note": ""},
            )
        ],
        told=_addressee_told("已通过"),
    ),
    "reject": Action(
        "reject",
        correction_waiting,
        state={
            "status": "returned",
            "colour": "yellow",
            "acknowledged": True,
            "deadline moved": False,
            "correction": "rejected",
        },
        audit=[
            (
                "warning.rejected",
                {
                    "status": "returned",
                    **YELLOW,
                    "rectification": "<varies>",
                    "note": REJECT_REASON,
                },
            )
        ],
        told=_rejected,
    ),
    "withdraw": Action(
        "withdraw",
        nothing_first,
        state={
            "status": "withdrawn",
            "colour": "yellow",
            "acknowledged": False,
            "deadline moved": False,
            "correction": None,
        },
        audit=[("warning.withdrawn", {"status": "withdrawn", **YELLOW, "reason": WITHDRAW_REASON})],
        told=_addressee_told("已撤回", WITHDRAW_REASON),
    ),
    "escalate": Action(
        "escalate",
        deadline_passed,
        state={
            "status": "issued",
            "colour": "orange",
            "acknowledged": False,
            "deadline moved": True,
            "correction": None,
        },
        audit=[
            (
                "warning.escalated",
                {
                    "status": "issued",
                    "from": "yellow",
                    "colour": "orange",
                    "overdue_since": "<varies>",
                    "deadline": "<varies>",
                },
            )
        ],
        told=_escalated,
    ),
}


# -- the table --------------------------------------------------------------------------------

ALL = ("chat", "sms", "email")


@dataclass(frozen=True)
class Surface:
    """One surface offering one action, and the addressees it reaches."""

    action: str
    name: str
    act: Callable[[World], Awaitable[None]]
    addressees: tuple[str, ...] = ALL
    #: the addressees whose case also runs on PostgreSQL
    postgres: tuple[str, ...] = ()
    #: why a case fails today because the product is wrong: xfail(strict) with the reason
    broken: str = ""


SURFACES = [
    Surface("acknowledge", "chat", chat_acknowledge, ("chat",), postgres=("chat",)),
    Surface("acknowledge", "cli", cli_acknowledge),
    Surface("acknowledge", "link", link_acknowledge, ("sms", "email")),
    Surface("acknowledge", "sms-reply", sms_acknowledge, ("sms",)),
    Surface("submit", "chat", chat_submit, ("chat",)),
    Surface("submit", "link", link_submit, ("sms", "email"), postgres=("sms",)),
    Surface("accept", "chat", chat_accept, postgres=("email",)),
    Surface("accept", "cli", cli_accept),
    Surface("accept", "api", api_accept),
    Surface("reject", "chat", chat_reject),
    Surface("reject", "cli", cli_reject),
    Surface("reject", "api", api_reject, postgres=("sms",)),
    Surface("withdraw", "chat", chat_withdraw),
    Surface("withdraw", "cli", cli_withdraw),
    Surface("withdraw", "api", api_withdraw, postgres=("chat",)),
    Surface("escalate", "service", service_escalate, postgres=("email",)),
]


def _cases() -> list[Any]:
    cases = []
    for surface in SURFACES:
        for kind in surface.addressees:
            backends = ["sqlite", "postgres"] if kind in surface.postgres else ["sqlite"]
            for backend in (b for b in backends if b in BACKENDS):
                marks = (
                    [pytest.mark.xfail(strict=True, reason=surface.broken)]
                    if surface.broken
                    else []
                )
                cases.append(
                    pytest.param(
                        surface,
                        kind,
                        backend,
                        marks=marks,
                        id=f"{surface.action}-{surface.name}-{kind}-{backend}",
                    )
                )
    return cases


@pytest.mark.parametrize(("surface", "kind", "database"), _cases(), indirect=["database"])
async def test_every_surface_comes_to_the_same_outcome(
    surface: Surface,
    kind: str,
    database: str,
    engine: Engine,
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    cli: CliRunner,
    tmp_path: Path,
) -> None:
    action = ACTIONS[surface.action]
    async with open_world(
        kind,
        database=database,
        engine=engine,
        smtp=smtp_server,
        telegram=telegram_api,
        twilio=twilio_api,
        cli=cli,
        tmp_path=tmp_path,
    ) as world:
        await action.before(world)
        world.deadline = world.current_deadline()
        audited = world.last_audit_id()

        await surface.act(world)

        assert world.snapshot() == action.state
        assert world.audit_since(audited) == action.audit
        since = world.mark()
        await world.dispatch()
        received = world.received(since)
        expected = action.told(world)
        assert {who: [c for c, _ in got] for who, got in received.items()} == {
            who: [c for c, _ in want] for who, want in expected.items()
        }, received
        for who, wanted in expected.items():
            for (channel, text), (_channel, words) in zip(received[who], wanted, strict=True):
                missing = [w for w in words if w not in text]
                assert not missing, f"{who} on {channel} lacks {missing}: {text}"
    # Word for word what the first surface of this action said to this addressee (the
    # CLI runs on the real clock: figures and the links' stamped tokens aside).
    told = {who: [(c, same_words(t)) for c, t in got] for who, got in received.items()}
    first = _TOLD.setdefault((surface.action, kind), (surface.name, told))
    assert told == first[1], f"{surface.name} told otherwise than {first[0]}"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_an_english_sms_reader_learns_the_whole_short_reason(
    database: str,
    engine: Engine,
    smtp_server: SmtpStandin,
    telegram_api: TelegramStandin,
    twilio_api: TwilioStandin,
    cli: CliRunner,
    tmp_path: Path,
) -> None:
    async with open_world(
        "sms",
        database=database,
        engine=engine,
        smtp=smtp_server,
        telegram=telegram_api,
        twilio=twilio_api,
        cli=cli,
        tmp_path=tmp_path,
        locale="en",
    ) as world:
        await correction_waiting(world)
        await cli_reject(world)
        since = world.mark()
        await world.dispatch()
        [(channel, text)] = world.received(since)[ADDRESSEE]
    assert channel == "sms" and "rejected" in text
    assert REJECT_REASON in text, text
