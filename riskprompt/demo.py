"""The embedded demo: the whole routine on one machine, with no accounts.

It works in ``./demo/`` (its own SQLite database and outbox), never on the
configured database, and sends only through the file channel.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from config.i18n import _, format_number, format_when
from config.settings import Settings, load_settings
from models.catalog import RiskLevel
from models.clock import Clock
from models.db import make_engine, session_scope, upgrade
from models.importing import ImportResult, import_catalog, import_people
from models.queries import count_by_level, count_by_role, list_units
from riskprompt.cli.common import table

SAMPLE_DIR = Path(__file__).parent / "sample"
DEMO_DIR = Path("demo")


@dataclass
class Demo:
    """One run of the demo: its settings, clock and console."""

    settings: Settings
    clock: Clock
    console: Console

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
        )
        return cls(settings=settings, clock=clock, console=console)

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
