"""The embedded demo: the whole routine on one machine, with no accounts.

It works in ``./demo/`` (its own SQLite database and outbox), never on the
configured database, and sends only through the file channel.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shlex
import shutil
import socket
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.rule import Rule
from sqlalchemy import func
from sqlmodel import Session, col, select

from riskprompt.bot.console import Exchange, scripted_conversation, write_sample_evidence
from riskprompt.cli.common import table
from riskprompt.cli.report import print_assessment
from riskprompt.cli.tick import follow_up_line
from riskprompt.config.i18n import _, format_deadline, format_month, format_number, format_when
from riskprompt.config.settings import ENV_PREFIX, Settings, load_settings
from riskprompt.models.accounts import set_password
from riskprompt.models.assessment import assess
from riskprompt.models.audit import AuditEvent
from riskprompt.models.catalog import RiskLevel
from riskprompt.models.clock import Clock, FixedClock
from riskprompt.models.conversations import bind_chat, create_binding_code
from riskprompt.models.db import make_engine, session_scope, upgrade
from riskprompt.models.importing import ImportResult, import_catalog, import_people
from riskprompt.models.listings import count_deliveries
from riskprompt.models.monthly import set_focus
from riskprompt.models.people import Channel, Person, Role
from riskprompt.models.periods import current_period
from riskprompt.models.prompts import Delivery, DeliveryStatus
from riskprompt.models.queries import count_by_level, count_by_role, list_units
from riskprompt.models.warnings import (
    OPEN_STATES,
    Rectification,
    Warning,
    issue_warning,
    review_rectification,
)
from riskprompt.notifications.channels import build_adapters
from riskprompt.notifications.dispatcher import Dispatcher
from riskprompt.notifications.escalation import run_follow_ups
from riskprompt.notifications.planning import issue_and_expand, plan_monthly_cycle
from riskprompt.reporting import render_png
from riskprompt.web import create_app
from riskprompt.web.server import make_server

SAMPLE_DIR = Path(__file__).parent / "sample"
DEMO_DIR = Path("demo")
#: Invented chat ids for the demo people who "have bound" Telegram.
DEMO_CHAT_BASE = 900_000_000
DEMO_BOUND_CHATS = 12
#: The port ``riskprompt web`` is suggested to serve the demo's database on.
DEMO_WEB_PORT = 8000
#: The console password the demo gives its first officer (printed at the end: a demo
#: database on the loopback only; ``riskprompt people password`` replaces it).
DEMO_PASSWORD = "binjiang-demo-2026"


@dataclass
class Demo:
    """One run of the demo: its settings, clock and console."""

    settings: Settings
    clock: Clock
    console: Console
    folder: Path = DEMO_DIR

    @classmethod
    def prepare(cls, *, base: Settings, clock: Clock, console: Console, folder: Path) -> Demo:
        """Start afresh in ``folder``: a new database and outbox, file channel only."""
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        settings = load_settings(
            DATABASE_URL=f"sqlite:///{folder / 'riskprompt.db'}",
            OUTBOX_DIR=folder / "outbox",
            DATA_DIR=folder / "data",
            LOCALE=base.LOCALE,
            TIMEZONE=base.TIMEZONE,
            LOCAL_CHANNEL="file",
            SMTP_HOST=None,
            TWILIO_ACCOUNT_SID=None,
            TELEGRAM_TOKEN=None,
            PUBLIC_URL=None,
            # links in the messages point at the web app the demo starts on this port
            WEB_HOST="127.0.0.1",
            WEB_PORT=_free_port(),
            # the demo shows every step at once, whatever the hour it is run at
            QUIET_HOURS="",
        )
        return cls(settings=settings, clock=clock, console=console, folder=folder)

    def step(self, title: str) -> None:
        """Announce the next step."""
        self.console.print(Rule(title, align="left"))

    def run(self) -> None:
        """Every step of the demo, in order."""
        console = self.console
        console.print(
            _("riskprompt demo — %(when)s")
            % {"when": format_when(self.clock.now(), self.settings.zone)},
            style="bold",
        )
        self.step(_("1. Create the database"))
        upgrade(self.settings.DATABASE_URL)
        console.print(_("SQLite database: %(path)s") % {"path": self.settings.DATABASE_URL})
        self.step(_("2. Import the sample catalogue and people"))
        self.import_samples()
        self.step(_("3. Summary"))
        self.summary()
        self.step(_("4. Chat bindings"))
        self.bind_some_chats()
        self.step(_("5. Monthly risk prompts"))
        self.monthly_cycle()
        self.step(_("6. A special prompt"))
        self.special_prompt()
        self.step(_("7. Delivery through the file channel"))
        asyncio.run(self.dispatch())
        self.show_messages()
        self.step(_("8. A conversation in the console chat"))
        asyncio.run(self.conversation())
        self.step(_("9. A warning escalates on an advanced clock"))
        asyncio.run(self.escalation())
        self.step(_("10. An SMS-only person answers through the page behind the link"))
        asyncio.run(self.correction_by_page())
        self.step(_("11. Assessment"))
        self.assessment()
        self.step(_("What next"))
        self.what_next()

    def import_samples(self) -> None:
        """Import the invented city's catalogue, then its people."""
        engine = make_engine(self.settings.DATABASE_URL)
        try:
            with session_scope(engine) as session:
                catalog = import_catalog(
                    session, path=SAMPLE_DIR / "catalog.csv", clock=self.clock, source="catalog.csv"
                )
                self._report(catalog)
            with session_scope(engine) as session:
                people = import_people(
                    session,
                    path=SAMPLE_DIR / "people.csv",
                    clock=self.clock,
                    zone=self.settings.zone,
                    default_locale=self.settings.LOCALE,
                    default_timezone=self.settings.TIMEZONE,
                    source="people.csv",
                )
                self._report(people)
        finally:
            engine.dispose()

    def _report(self, result: ImportResult) -> None:
        if not result.ok:  # the shipped samples are checked by the tests
            raise RuntimeError(f"sample {result.source} refused: {result.problems[:3]}")
        created = sum(c.created for c in result.counts.values())
        self.console.print(
            _("%(file)s: %(rows)s rows, %(created)s records created")
            % {
                "file": result.source,
                "rows": format_number(result.rows),
                "created": format_number(created),
            }
        )

    def summary(self) -> None:
        """Units, posts, risk points per level and people per role."""
        engine = make_engine(self.settings.DATABASE_URL)
        try:
            with session_scope(engine) as session:
                units = list_units(session)
                levels = count_by_level(session)
                roles = count_by_role(session)
        finally:
            engine.dispose()
        out = table(_("Units"), _("Unit"), _("Parent unit"), _("Posts"), _("People"))
        for row in units:
            out.add_row(
                row.unit.name, row.parent or "", format_number(row.posts), format_number(row.people)
            )
        self.console.print(out)
        totals = table(_("Totals"), _("What"), _("How many"))
        totals.add_row(_("Units"), format_number(len(units)))
        totals.add_row(_("Posts"), format_number(sum(r.posts for r in units)))
        totals.add_row(_("Risk points"), format_number(sum(levels.values())))
        for level in RiskLevel:
            totals.add_row(
                "  " + _("of which %(level)s") % {"level": _(level.label)},
                format_number(levels[level]),
            )
        totals.add_row(_("People"), format_number(sum(roles.values())))
        for role, count in roles.items():
            totals.add_row(
                "  " + _("of which %(role)s") % {"role": _(role.label)}, format_number(count)
            )
        self.console.print(totals)

    def _engine(self):  # noqa: ANN202 - a short-lived engine per step
        return make_engine(self.settings.DATABASE_URL)

    def bind_some_chats(self) -> None:
        """Bind invented Telegram chats for the first people who prefer chat.

        In real use each person opens their invitation link (``people invite``);
        here the same domain functions run with invented chat ids.
        """
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                people = session.exec(select(Person).order_by(col(Person.id))).all()
                chosen = [p for p in people if p.channels.startswith(Channel.TELEGRAM.value)]
                for offset, person in enumerate(chosen[:DEMO_BOUND_CHATS], start=1):
                    code = create_binding_code(session, person=person, clock=self.clock)
                    bind_chat(session, code=code, chat_id=DEMO_CHAT_BASE + offset, clock=self.clock)
                bound = min(len(chosen), DEMO_BOUND_CHATS)
        finally:
            engine.dispose()
        self.console.print(
            _("%(n)s people bound their Telegram chat with a single-use code.")
            % {"n": format_number(bound)}
        )

    def _officer(self, session: Session) -> Person:
        officer = session.exec(
            select(Person).where(Person.role == Role.OFFICER).order_by(col(Person.id))
        ).first()
        if officer is None:  # the shipped sample has officers
            raise RuntimeError("the sample people have no officer")
        return officer

    def _chat_person(self, session: Session) -> Person:
        """The staff member the console chat shows: the first one with a bound chat."""
        person = (
            session.exec(
                select(Person)
                .where(Person.role == Role.STAFF, col(Person.telegram_chat_id).is_not(None))
                .order_by(col(Person.id))
            ).first()
            or session.exec(select(Person).where(Person.role == Role.STAFF)).first()
        )
        if person is None:  # the shipped sample has staff
            raise RuntimeError("the sample people have no staff")
        return person

    def monthly_cycle(self) -> None:
        """An officer sets the month's key work; the monthly cycle plans the prompts."""
        period = current_period(clock=self.clock, settings=self.settings)
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                officer = self._officer(session)
                set_focus(
                    session,
                    actor=officer,
                    period=period,
                    text=_("Year-end centralised procurement and fund disbursement"),
                    clock=self.clock,
                )
                officer_name = officer.name
            result = plan_monthly_cycle(
                engine, period=period, clock=self.clock, settings=self.settings
            )
            again = plan_monthly_cycle(
                engine, period=period, clock=self.clock, settings=self.settings
            )
        finally:
            engine.dispose()
        self.console.print(
            _("%(officer)s set the key work of %(period)s.")
            % {"officer": officer_name, "period": format_month(period)}
        )
        self.console.print(
            _(
                "Monthly cycle %(period)s: %(prompts)s prompts, %(deliveries)s deliveries queued, "
                "%(unreachable)s people without a reachable channel."
            )
            % {
                "period": format_month(period),
                "prompts": format_number(result.prompts_created),
                "deliveries": format_number(result.deliveries_created),
                "unreachable": format_number(result.unreachable),
            }
        )
        self.console.print(
            _("Run again: %(created)s new prompts (the cycle is idempotent).")
            % {"created": format_number(again.prompts_created)}
        )

    def special_prompt(self) -> None:
        """An officer sends a special prompt to everyone holding a high-risk post."""
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                officer = self._officer(session)
                broadcast = issue_and_expand(
                    session,
                    actor=officer,
                    target="level:high",
                    text=_(
                        "Before the New Year and Spring Festival holidays: no gifts, no banquets, "
                        "no use of official cars for private purposes."
                    ),
                    clock=self.clock,
                    settings=self.settings,
                )
                count = broadcast.prompt_count
                name = officer.name
        finally:
            engine.dispose()
        self.console.print(
            _(
                "%(officer)s issued a special prompt to the holders of high-risk posts "
                "(level:high): %(n)s people."
            )
            % {"officer": name, "n": format_number(count)}
        )

    async def dispatch(self) -> None:
        """Drain the outbox through the file channel and print the counts."""
        engine = self._engine()
        try:
            adapters = build_adapters(self.settings)
            async with Dispatcher(engine, self.settings, self.clock, adapters, "demo") as worker:
                stats = await worker.drain()
            with session_scope(engine) as session:
                counts = count_deliveries(session)
        finally:
            engine.dispose()
        self.console.print(
            _("Sent %(sent)s, retried %(retried)s, failed %(failed)s.")
            % {
                "sent": format_number(stats.sent),
                "retried": format_number(stats.retried),
                "failed": format_number(stats.failed),
            }
        )
        out = table(_("Deliveries"), _("Channel"), _("Status"), _("How many"))
        for (status, channel), n in sorted(counts.items()):
            out.add_row(
                _(Channel(channel).label), _(DeliveryStatus(status).label), format_number(n)
            )
        self.console.print(out)

    async def conversation(self) -> None:
        """A person acknowledges, reports a correction with a file; an officer accepts it."""
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                officer = self._officer(session)
                person = self._chat_person(session)
                staff_id, officer_id = person.staff_id, officer.staff_id
            evidence = write_sample_evidence(
                Path(self.settings.DATA_DIR) / _("correction meeting minutes.pdf")
            )
            exchanges = await scripted_conversation(
                settings=self.settings,
                engine=engine,
                clock=self.clock,
                staff_id=staff_id,
                officer_id=officer_id,
                evidence=evidence,
                echo=lambda exchange: _print_exchange(self.console, exchange),
            )
            with session_scope(engine) as session:
                steps = session.exec(select(func.count()).select_from(AuditEvent)).one()
        finally:
            engine.dispose()
        self.console.print(
            _("%(n)s exchanges; the audit log now holds %(steps)s records.")
            % {"n": format_number(len(exchanges)), "steps": format_number(steps)}
        )

    async def escalation(self) -> None:
        """A yellow warning nobody answers: reminded, then orange, on a clock moved ahead."""
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                officer = self._officer(session)
                person = session.exec(
                    select(Person)
                    .where(Person.role == Role.STAFF, col(Person.supervisor_id).is_not(None))
                    .order_by(col(Person.id).desc())
                ).first()
                if person is None:  # the shipped sample has supervised staff
                    raise RuntimeError("the sample people have no supervised staff")
                warning = issue_warning(
                    session,
                    actor=officer,
                    person=person,
                    colour="yellow",
                    form="correct",
                    reason=_("Procurement approved without a collective decision"),
                    clock=self.clock,
                    settings=self.settings,
                )
                code, name, deadline = f"W{warning.id}", person.name, warning.deadline
            self.console.print(
                _("%(officer)s issued yellow warning %(code)s to %(name)s, deadline %(deadline)s.")
                % {
                    "officer": officer.name,
                    "code": code,
                    "name": name,
                    "deadline": format_deadline(deadline, self.settings.zone),
                }
            )
            later = FixedClock(self.clock.now())
            for moment in (
                deadline - timedelta(days=3),
                deadline - timedelta(days=1),
                deadline + timedelta(hours=1),
            ):
                later.current = moment
                stats = run_follow_ups(engine, clock=later, settings=self.settings)
                self.console.print(
                    f"{format_when(moment, self.settings.zone)}  {follow_up_line(stats)}",
                    highlight=False,
                )
            async with Dispatcher(
                engine, self.settings, later, build_adapters(self.settings), "demo"
            ) as worker:
                sent = (await worker.drain()).sent
            with session_scope(engine) as session:
                now = session.get(Warning, warning.id)
                assert now is not None
                colour, new_deadline = now.colour, now.deadline
        finally:
            engine.dispose()
        self.console.print(
            _("%(code)s is now %(colour)s, new deadline %(deadline)s; %(n)s messages sent.")
            % {
                "code": code,
                "colour": _(colour.label),
                "deadline": format_deadline(new_deadline, self.settings.zone),
                "n": format_number(sent),
            },
            highlight=False,
        )

    async def correction_by_page(self) -> None:
        """A person with SMS only: a warning by SMS, a correction through the page, rejected
        (the reason comes by SMS), reported again and accepted."""
        engine = self._engine()
        app = create_app(settings=self.settings, engine=engine, clock=self.clock)
        server = make_server(
            app, host=self.settings.WEB_HOST, port=self.settings.WEB_PORT, embedded=True
        )
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            with session_scope(engine) as session:
                officer = self._officer(session)
                person = session.exec(
                    select(Person)
                    .where(Person.role == Role.STAFF, Person.channels == Channel.SMS.value)
                    .order_by(col(Person.id))
                ).first()
                if person is None:  # the shipped sample has SMS-only staff
                    raise RuntimeError("the sample people have nobody on SMS only")
                warning = issue_warning(
                    session,
                    actor=officer,
                    person=person,
                    colour="yellow",
                    form="correct",
                    reason=_("Contract signed before the tender results were published"),
                    clock=self.clock,
                    settings=self.settings,
                )
                ids = _Ids(warning.id or 0, person.id or 0, officer.id or 0, person.name)
                self.console.print(
                    _("%(officer)s issued a yellow warning W%(id)s to %(name)s (SMS only).")
                    % {"officer": officer.name, "id": ids.warning, "name": person.name},
                    highlight=False,
                )
            sms = await self._sms_after_dispatch(engine, ids)
            link = _SHORT_LINK.search(sms)
            if link is None:  # the SMS renderer always puts the link in
                raise RuntimeError("the warning's SMS has no link")
            async with httpx.AsyncClient(timeout=10) as client:
                page = await client.get(link.group(0))
                self.console.print(
                    _("%(name)s opens the link: HTTP %(status)s, %(title)s")
                    % {
                        "name": ids.name,
                        "status": page.status_code,
                        "title": _page_title(page.text),
                    },
                    highlight=False,
                )
                await self._report_on_page(client, link.group(0), page.text, first=True)
                self._review(engine, ids, accept=False)
                await self._sms_after_dispatch(engine, ids)
                page = await client.get(link.group(0))
                await self._report_on_page(client, link.group(0), page.text, first=False)
                self._review(engine, ids, accept=True)
                await self._sms_after_dispatch(engine, ids)
        finally:
            server.should_exit = True
            await serving
            engine.dispose()

    async def _report_on_page(
        self, client: httpx.AsyncClient, link: str, page: str, *, first: bool
    ) -> None:
        """Post the correction form of the page, with a file, as the person would."""
        key = _FORM_KEY.search(page)
        if key is None:  # the page shows the form while the warning allows a report
            raise RuntimeError("the page has no correction form")
        text = (
            _("The contract was suspended and the tender results published.")
            if first
            else _("The contract was re-signed after publication; the minutes are attached.")
        )
        evidence = write_sample_evidence(Path(self.settings.DATA_DIR) / _("correction report.pdf"))
        answer = await client.post(
            f"{link}/correction",
            data={"k": key.group(1), "description": text},
            files={"files": (evidence.name, evidence.read_bytes(), "application/pdf")},
        )
        self.console.print(
            _("The page takes the report with %(file)s: HTTP %(status)s, %(title)s")
            % {
                "file": evidence.name,
                "status": answer.status_code,
                "title": _page_title(answer.text),
            },
            highlight=False,
        )

    def _review(self, engine: Any, ids: _Ids, *, accept: bool) -> None:
        """The officer reviews the waiting correction: the same rule as chat, CLI and API."""
        with session_scope(engine) as session:
            officer = session.get(Person, ids.officer)
            report = session.exec(
                select(Rectification)
                .where(Rectification.warning_id == ids.warning)
                .order_by(col(Rectification.id).desc())
            ).first()
            assert officer is not None and report is not None
            review_rectification(
                session,
                rectification=report,
                actor=officer,
                accept=accept,
                clock=self.clock,
                note=""
                if accept
                else _("The evidence does not show the tender results published."),
                settings=self.settings,
            )
            self.console.print(
                (
                    _("%(officer)s accepts the correction.")
                    if accept
                    else _("%(officer)s rejects the correction, with a reason.")
                )
                % {"officer": officer.name},
                highlight=False,
            )

    async def _sms_after_dispatch(self, engine: Any, ids: _Ids) -> str:
        """Drain the outbox and print the newest SMS the person got about the warning."""
        async with Dispatcher(
            engine, self.settings, self.clock, build_adapters(self.settings), "demo"
        ) as worker:
            await worker.drain()
        with session_scope(engine) as session:
            sms = session.exec(
                select(Delivery)
                .where(
                    Delivery.person_id == ids.person,
                    Delivery.warning_id == ids.warning,
                    Delivery.channel == Channel.SMS.value,
                )
                .order_by(col(Delivery.id).desc())
            ).first()
            text = sms.body if sms is not None else ""
        self.console.print(Rule(_("The SMS %(name)s reads") % {"name": ids.name}, align="left"))
        self.console.print(text, highlight=False, markup=False)
        return text

    def assessment(self) -> None:
        """The period's assessment per unit as a table, and its chart as a PNG."""
        period = current_period(clock=self.clock, settings=self.settings)
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                result = assess(session, period=period, settings=self.settings)
        finally:
            engine.dispose()
        # The same table as `riskprompt report`: the columns that fit the terminal.
        print_assessment(self.console, result, zone=self.settings.zone)
        chart = Path(self.settings.DATA_DIR).parent / f"report-{period}.png"
        chart.write_bytes(render_png(result))
        self.console.print(_("Chart: %(path)s") % {"path": chart}, highlight=False)

    def what_next(self) -> None:
        """How to go on exploring the demo's database with the other commands.

        The commands are shell lines, each under a ``#`` comment saying what it
        shows, so the block can be copied whole; none is wrapped, whatever the width.
        It ends with the officers' console: its URL once ``riskprompt web`` serves the
        demo's database, and the sign-in of the demo's first officer, whose password
        (:data:`DEMO_PASSWORD`) is set here through the same domain function as
        ``riskprompt people password``.
        """
        period = current_period(clock=self.clock, settings=self.settings)
        engine = self._engine()
        try:
            with session_scope(engine) as session:
                officer = self._officer(session)
                set_password(
                    session, person=officer, password=DEMO_PASSWORD, clock=self.clock, via="demo"
                )
                warned = session.exec(
                    select(Warning)
                    .where(col(Warning.status).in_(OPEN_STATES))
                    .order_by(col(Warning.id))
                ).first()
                staff = (
                    session.get(Person, warned.person_id) if warned is not None else None
                ) or self._chat_person(session)
                open_code = f"W{warned.id}" if warned is not None else ""
                names = {
                    "staff": (staff.staff_id, staff.name),
                    "officer": (officer.staff_id, officer.name),
                }
        finally:
            engine.dispose()
        environment = {
            f"{ENV_PREFIX}DATABASE_URL": self.settings.DATABASE_URL,
            f"{ENV_PREFIX}DATA_DIR": str(self.settings.DATA_DIR),
            f"{ENV_PREFIX}OUTBOX_DIR": str(self.settings.OUTBOX_DIR),
        }
        console = self.console
        console.print(
            _(
                "The demo's database, files and outbox stay in %(folder)s/. To explore them, "
                "point riskprompt at them in this shell:"
            )
            % {"folder": self.folder.as_posix()},
            highlight=False,
        )
        for name, value in environment.items():
            _print_command(console, _set_variable(name, value))
        console.print(_("then try:"), highlight=False)
        staff_id, staff_name = names["staff"]
        officer_id, officer_name = names["officer"]
        console_url = f"http://127.0.0.1:{DEMO_WEB_PORT}/"
        commands = [
            (_("this month's risk prompts and their states"), f"prompts list --period {period}"),
            (_("the warnings and where each stands"), "warnings list"),
            (_("what was sent to whom, on which channel"), "deliveries list"),
            (_("the assessment of the month, per person"), f"report --period {period} --by person"),
            (
                _("chat with the bot as %(name)s, whose warning %(code)s is still open")
                % {"name": staff_name, "code": open_code}
                if open_code
                else _("chat with the bot as %(name)s") % {"name": staff_name},
                f"chat --as {staff_id}",
            ),
            (
                _("chat as the officer %(name)s, who issued the warnings") % {"name": officer_name},
                f"chat --as {officer_id}",
            ),
            (
                _("the web app; its API documentation at %(url)s") % {"url": f"{console_url}docs"},
                f"web --port {DEMO_WEB_PORT}",
            ),
        ]
        for comment, command in commands:
            _print_command(console, f"# {comment}")
            _print_command(console, f"riskprompt {command}")
        if os.name != "nt":
            console.print(_("or one command at a time:"), highlight=False)
            database = f"{ENV_PREFIX}DATABASE_URL"
            _print_command(
                console, f"{database}={shlex.quote(environment[database])} riskprompt warnings list"
            )
        console.print(
            _("`riskprompt demo` starts afresh each time: it deletes %(folder)s/ first.")
            % {"folder": self.folder.as_posix()},
            highlight=False,
        )
        console.print(
            _("The officers' console: once `riskprompt web --port %(port)s` runs, open")
            % {"port": DEMO_WEB_PORT},
            highlight=False,
        )
        _print_command(console, console_url)
        console.print(
            _("then sign in as the officer %(name)s:") % {"name": officer_name}, highlight=False
        )
        _print_command(console, _("staff ID: %(staff_id)s") % {"staff_id": officer_id})
        _print_command(console, _("password: %(password)s") % {"password": DEMO_PASSWORD})
        console.print(
            _("(`riskprompt people password %(staff_id)s` sets another password.)")
            % {"staff_id": officer_id},
            highlight=False,
        )

    def show_messages(self) -> None:
        """One rendered message of each channel, as the file channel wrote it."""
        outbox = Path(self.settings.OUTBOX_DIR)
        self.console.print(_("Outbox folder: %(path)s") % {"path": outbox})
        for channel in Channel:
            ext = "eml" if channel is Channel.EMAIL else "json"
            sample = next(iter(sorted(outbox.glob(f"*-{channel.value}.{ext}"))), None)
            if sample is None:
                continue
            self.console.print(Rule(_("One %(channel)s message") % {"channel": _(channel.label)}))
            self.console.print(_render_sample(sample), highlight=False, markup=False)


@dataclass(frozen=True)
class _Ids:
    """The rows one demo step follows."""

    warning: int
    person: int
    officer: int
    name: str


_SHORT_LINK = re.compile(r"https?://\S+/a/[A-Za-z0-9._-]+")
_FORM_KEY = re.compile(r'name="k" value="([^"]+)"')
_TITLE = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)


def _page_title(page: str) -> str:
    """The page's heading, as text."""
    found = _TITLE.search(page)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else ""


def _free_port() -> int:
    """A free port on the loopback, for the demo's web app."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _set_variable(name: str, value: str) -> str:
    """The shell line that sets an environment variable: POSIX shells, or PowerShell."""
    if os.name == "nt":
        return f'$env:{name} = "{value}"'
    return f"export {name}={shlex.quote(value)}"


def _print_command(console: Console, line: str) -> None:
    """One line to copy, indented, never wrapped (a wrapped command does not paste)."""
    console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _print_exchange(console: Console, exchange: Exchange) -> None:
    console.print(f"[bold]{exchange.who}[/bold] › {exchange.action}", highlight=False)
    for line in exchange.replies.splitlines():
        console.print(f"    {line}", highlight=False, markup=False)


def _render_sample(path: Path) -> str:
    """A readable view of one outbox file."""
    if path.suffix == ".eml":
        mail = message_from_bytes(path.read_bytes(), policy=email_policy.default)
        body = mail.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        return f"To: {mail['To']}\nSubject: {mail['Subject']}\n\n{text}"
    record = json.loads(path.read_text(encoding="utf-8"))
    parts = record.get("parts") or [record.get("text", "")]
    buttons = " ".join(f"[{b['label']}]" for b in record.get("buttons", []))
    return (
        f"{record.get('address')}\n" + "\n---\n".join(parts) + (f"\n{buttons}" if buttons else "")
    )
