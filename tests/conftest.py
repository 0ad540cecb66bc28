"""Fixtures: a clean, migrated database on SQLite and on PostgreSQL, the clock, the CLI.

Every test that takes ``database`` (or ``engine``/``session``) runs once per
backend.  PostgreSQL is the server at ``RISKPROMPT_TEST_POSTGRES_URL``; a scratch
database is created there for the run and dropped afterwards.  A server that
cannot be reached fails the run: it is never skipped silently.
``RISKPROMPT_TEST_BACKENDS=sqlite`` narrows the run while developing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session
from typer.testing import CliRunner

from riskprompt.config.i18n import set_locale
from riskprompt.models.clock import FixedClock
from riskprompt.models.db import make_engine, metadata, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("RISKPROMPT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
pytest_plugins = ["tests.standins.fixtures"]

BACKENDS = [
    b.strip()
    for b in os.environ.get("RISKPROMPT_TEST_BACKENDS", "sqlite,postgres").split(",")
    if b.strip()
]


@pytest.fixture(autouse=True)
def _default_locale() -> Iterator[None]:
    """Each test starts in the default locale (zh_CN)."""
    set_locale("zh_CN")
    yield
    set_locale("zh_CN")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RISKPROMPT_* setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("RISKPROMPT_") and not name.startswith("RISKPROMPT_TEST_"):
            monkeypatch.delenv(name)
    # Tests that run the real `riskprompt` on the real clock would otherwise depend on
    # the hour they run at (quiet hours hold messages at night in Asia/Shanghai); the
    # quiet-hours tests give their own QUIET_HOURS.
    monkeypatch.setenv("RISKPROMPT_QUIET_HOURS", "")
    monkeypatch.chdir(tmp_path)


def postgres_scratch_url(base_url: str = POSTGRES_URL) -> Iterator[str]:
    """Create a scratch database on the test server; yield its URL; drop it."""
    base = make_url(base_url)
    name = f"rp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {base_url} is not reachable ({exc.__class__.__name__}); "
            "start it (see .ci/run) or set RISKPROMPT_TEST_POSTGRES_URL",
            pytrace=False,
        )
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_migrated() -> Iterator[str]:
    for url in postgres_scratch_url():
        upgrade(url)
        yield url


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a clean database at the current schema (one per backend)."""
    backend = request.param
    if backend == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "riskprompt.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    if backend == "postgres":
        url = request.getfixturevalue("_postgres_migrated")
        _truncate_postgres(url)
        return url
    raise pytest.UsageError(f"unknown backend {backend!r} in RISKPROMPT_TEST_BACKENDS")


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    """An engine on the clean database."""
    eng = make_engine(database)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the clean database (the test commits when it needs to)."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def clock() -> FixedClock:
    """A clock standing at 2026-12-01 09:00 in Shanghai."""
    return FixedClock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))


@pytest.fixture
def cli(database: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CLI runner whose settings point at the clean database."""
    monkeypatch.setenv("RISKPROMPT_DATABASE_URL", database)
    return CliRunner()
