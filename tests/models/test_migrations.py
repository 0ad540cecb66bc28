"""The migrations create the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from riskprompt.models.db import current_revision, head_revision, make_engine, metadata, upgrade
from tests.conftest import BACKENDS, postgres_scratch_url


def _fresh_urls(tmp_path):
    if "sqlite" in BACKENDS:
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    if "postgres" in BACKENDS:
        yield from postgres_scratch_url()


def test_upgrade_from_empty_then_models_and_migrations_agree(tmp_path) -> None:
    for url in _fresh_urls(tmp_path):
        upgrade(url)
        engine = make_engine(url)
        try:
            assert current_revision(engine) == head_revision()
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, metadata)
            assert diff == [], f"{engine.dialect.name}: models and migrations differ: {diff}"
            tables = set(inspect(engine).get_table_names())
            assert {t.name for t in metadata.sorted_tables} <= tables
        finally:
            engine.dispose()


def test_upgrade_twice_is_a_no_op(tmp_path) -> None:
    for url in _fresh_urls(tmp_path):
        upgrade(url)
        upgrade(url)
        engine = make_engine(url)
        assert current_revision(engine) == head_revision()
        engine.dispose()


@pytest.mark.parametrize("revision", ["base"])
def test_downgrade_to_base_and_back(tmp_path, revision: str) -> None:
    from alembic import command

    from riskprompt.models.db import alembic_config

    for url in _fresh_urls(tmp_path):
        upgrade(url)
        command.downgrade(alembic_config(url), revision)
        engine = make_engine(url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade(url)
