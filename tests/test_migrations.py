"""The Alembic migrations build exactly the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from consent_hub.storage.migrate import current
from consent_hub.storage.models import Base, KeyStoreBase
from tests.conftest import Hub


def _diff(engine, metadata) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        return [
            d
            for d in compare_metadata(ctx, metadata)
            if not (d[0] == "remove_table" and d[1].name == "alembic_version")
        ]


def test_migrations_match_models(hub: Hub) -> None:
    rt = hub.registry.runtime("alpha")
    assert _diff(rt.engine, Base.metadata) == []
    assert _diff(rt.key_engine, KeyStoreBase.metadata) == []


def test_databases_are_at_head(hub: Hub) -> None:
    from consent_hub.config import key_store_url

    rev, head = current(hub.settings.database_url("alpha"), "main")
    assert rev == head is not None
    rev, head = current(key_store_url(hub.settings, "alpha"), "keystore")
    assert rev == head is not None


def test_key_store_is_a_separate_database(hub: Hub) -> None:
    tables = {
        r[0]
        for r in hub.sql(
            "SELECT name FROM sqlite_master WHERE type='table'"
            if hub.backend == "sqlite"
            else "SELECT tablename FROM pg_tables WHERE schemaname='public'"
        )
    }
    assert "people" in tables and "person_keys" not in tables
