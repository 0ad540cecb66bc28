"""What every command needs: settings, the clock, the database and the consoles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from sqlalchemy import Engine
from sqlmodel import Session

from riskprompt.config.i18n import N_
from riskprompt.config.settings import Settings
from riskprompt.models.clock import Clock, SystemClock
from riskprompt.models.db import current_revision, head_revision, make_engine, session_scope
from riskprompt.models.errors import DomainError


class SchemaNotReady(DomainError):
    """The database has not been created or migrated to this version."""


@dataclass
class AppContext:
    """Built once per CLI invocation from the loaded settings."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The engine for ``DATABASE_URL`` (created on first use)."""
        if self._engine is None:
            self._engine = make_engine(self.settings.DATABASE_URL)
        return self._engine

    def ready_engine(self) -> Engine:
        """The engine, after checking that the schema is at the packaged head.

        Raises:
            SchemaNotReady: the database needs ``riskprompt db upgrade``.
        """
        engine = self.engine
        current = current_revision(engine)
        if current is None:
            raise SchemaNotReady(N_("new database: run `riskprompt db upgrade` to create it"))
        if current != head_revision():
            raise SchemaNotReady(
                N_("the database is not at the current schema: run `riskprompt db upgrade` first")
            )
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction on the ready database: commits on success, rolls back on error."""
        with session_scope(self.ready_engine()) as session:
            yield session

    def close(self) -> None:
        """Release the database connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
