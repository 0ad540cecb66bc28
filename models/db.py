"""Engine, sessions and schema migrations (Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, create_engine

import riskprompt.models  # noqa: F401 - registers every table on SQLModel.metadata
from riskprompt.models.audit import sqlite_sha256_hex

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
metadata = SQLModel.metadata


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # WAL with synchronous=NORMAL: a commit survives a crash of the process; only a
    # power loss may take the last commits back (SQLite is the embedded default).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # The audit chain hashes in SQL (models.audit.record); PostgreSQL has sha256().
    dbapi_connection.create_function("sha256_hex", 1, sqlite_sha256_hex, deterministic=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets its folder, WAL, foreign keys and ``sha256_hex``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No ``pool_pre_ping``: a ping is one more round trip on every checkout.  Connections
    # are recycled before a server or a firewall drops them for idleness; a connection
    # found dead (a database restart) invalidates the whole pool, so the next checkout
    # connects afresh, and :func:`is_disconnect` lets a caller retry a transaction.
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_SECONDS)
    return create_engine(url, **kwargs)


#: Connections older than this are replaced at checkout (PostgreSQL).
POOL_RECYCLE_SECONDS = 1800


def is_disconnect(error: BaseException) -> bool:
    """Whether ``error`` says the database connection was lost (the pool then reconnects).

    A transaction that failed this way before its commit was sent was rolled back
    with the connection, so it can be run again on a new one.
    """
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` using the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Create or migrate the schema at ``url`` up to ``revision``."""
    make_engine(url).dispose()  # creates the SQLite folder when needed
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None when never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision the package ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
