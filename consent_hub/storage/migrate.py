"""Alembic migrations per cluster: the cluster database and its key store each have their own
script directory and version table."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consent_hub.config import HubSettings, key_store_url
from consent_hub.storage.db import is_sqlite, make_engine, normalise_url

MIGRATIONS = Path(__file__).parent / "migrations"
TARGETS = ("main", "keystore")


def _config(target: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS / target))
    return cfg


def ensure_database(url: str) -> None:
    """Create a PostgreSQL database named by ``url`` if it does not exist (SQLite creates itself)."""
    url = normalise_url(url)
    if is_sqlite(url):
        return
    parsed = make_url(url)
    name = parsed.database
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def upgrade(url: str, target: str) -> None:
    ensure_database(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = _config(target)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def current(url: str, target: str) -> tuple[str | None, str | None]:
    """(revision in the database, newest revision shipped)."""
    head = ScriptDirectory.from_config(_config(target)).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return rev, head


def migrate_cluster(settings: HubSettings, cluster: str) -> None:
    upgrade(settings.database_url(cluster), "main")
    upgrade(key_store_url(settings, cluster), "keystore")
