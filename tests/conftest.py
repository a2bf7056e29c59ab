"""Shared fixtures. Every test that touches a database runs on SQLite and, when
CONSENT_HUB_TEST_POSTGRES_URL names a PostgreSQL server, on PostgreSQL too.

CONSENT_HUB_REQUIRE_POSTGRES=1 (set by .ci/run) turns a skipped PostgreSQL test into a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.clients.service import ClientService
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import HubSettings, load_settings, render_config
from consent_hub.houses.service import HouseService
from consent_hub.keys import create_keyring_file
from consent_hub.storage.db import normalise_url
from consent_hub.storage.migrate import migrate_cluster, upgrade

PG_ENV = "CONSENT_HUB_TEST_POSTGRES_URL"
REQUIRE_PG_ENV = "CONSENT_HUB_REQUIRE_POSTGRES"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
PG_SKIP_REASON = f"PostgreSQL test: {PG_ENV} is not set"


def pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _admin_engine():  # type: ignore[no-untyped-def]
    url = make_url(normalise_url(pg_admin_url() or ""))
    return create_engine(url, isolation_level="AUTOCOMMIT")


def pg_url(dbname: str) -> str:
    url = make_url(normalise_url(pg_admin_url() or "")).set(database=dbname)
    return url.render_as_string(hide_password=False)


_TEMPLATES: dict[str, str] = {}


def _pg_templates() -> dict[str, str]:
    """Migrate once into template databases; each test copies them (much faster than migrating)."""
    if not _TEMPLATES:
        tag = uuid.uuid4().hex[:8]
        main, keys = f"chtpl_{tag}", f"chtpl_{tag}_keys"
        upgrade(pg_url(main), "main")
        upgrade(pg_url(keys), "keystore")
        _TEMPLATES.update(main=main, keys=keys)
    return _TEMPLATES


def create_pg_database() -> str:
    tpl = _pg_templates()
    name = f"chtest_{uuid.uuid4().hex[:12]}"
    eng = _admin_engine()
    with eng.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{tpl["main"]}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}_keys" TEMPLATE "{tpl["keys"]}"')
    eng.dispose()
    return name


def drop_pg_database(name: str) -> None:
    eng = _admin_engine()
    with eng.connect() as conn:
        for db in (name, f"{name}_keys"):
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    eng.dispose()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _TEMPLATES and pg_admin_url():
        eng = _admin_engine()
        with eng.connect() as conn:
            for db in _TEMPLATES.values():
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        eng.dispose()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # counted from the reports, not in the fixture: under pytest-xdist the skips happen in the workers
    skipped_pg = [
        r for r in terminalreporter.stats.get("skipped", []) if PG_SKIP_REASON in str(getattr(r, "longrepr", ""))
    ]
    if skipped_pg:
        terminalreporter.write_sep("-", "PostgreSQL")
        terminalreporter.write_line(
            f"SKIPPED {len(skipped_pg)} PostgreSQL test(s): set {PG_ENV} (for example "
            "postgresql://postgres@127.0.0.1:5432/postgres) or run `bash .ci/run` to run them."
        )
    elif pg_admin_url():
        terminalreporter.write_sep("-", "PostgreSQL")
        terminalreporter.write_line("PostgreSQL tests ran against the server named by " + PG_ENV)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql" and not pg_admin_url():
        if os.environ.get(REQUIRE_PG_ENV) == "1":
            pytest.fail(f"{REQUIRE_PG_ENV}=1 but {PG_ENV} is not set")
        pytest.skip(PG_SKIP_REASON)
    return name


@dataclass
class Hub:
    """A hub in a temporary directory with clusters ``alpha`` and ``beta``."""

    dir: Path
    backend: str
    settings: HubSettings
    registry: ClusterRegistry
    pg_databases: dict[str, str] = field(default_factory=dict)

    def uow(self, cluster: str = "alpha") -> Any:
        return self.registry.unit_of_work(cluster)

    def actor(self, cluster: str = "alpha", role: str = roles.CLUSTER_OPERATOR, house: str | None = None) -> Actor:
        return Actor(id="test:operator", cluster=cluster, role=role, house=house)

    def add_house(self, slug: str, cluster: str = "alpha") -> None:
        with self.uow(cluster) as uow:
            HouseService(uow).add(self.actor(cluster), {"slug": slug, "name": slug.replace("-", " ").title()})

    def issue_key(
        self, role: str, cluster: str = "alpha", house: str | None = None, expires: dt.date | None = None
    ) -> str:
        with self.uow(cluster) as uow:
            created = ClientService(uow).add(
                self.actor(cluster),
                {
                    "name": f"test {role}",
                    "role": role,
                    "house": house,
                    "agreement": "TEST-DPA",
                    "expires": expires or dt.date.today() + dt.timedelta(days=30),
                },
            )
        return created.api_key

    def database_url(self, cluster: str = "alpha") -> str:
        return self.settings.database_url(cluster)

    def sql(self, statement: str, cluster: str = "alpha", keystore: bool = False, **params: Any) -> list[Any]:
        """Raw SQL, as an attacker with database access would run it (bypasses the services)."""
        rt = self.registry.runtime(cluster)
        engine = rt.key_engine if keystore else rt.engine
        with engine.begin() as conn:
            result = conn.execute(text(statement), params)
            return list(result) if result.returns_rows else []


def make_hub(tmp_path: Path, backend: str, clusters: tuple[str, ...] = ("alpha", "beta")) -> Hub:
    spec: dict[str, dict[str, Any]] = {}
    pg: dict[str, str] = {}
    for name in clusters:
        if backend == "postgresql":
            db = create_pg_database()
            pg[name] = db
            url = pg_url(db)
        else:
            url = f"sqlite:///clusters/{name}.db"
        spec[name] = {"database_url": url, "keys": {"provider": "keyring", "path": f"keys/{name}.json"}}
        create_keyring_file(tmp_path / "keys" / f"{name}.json", name)
    (tmp_path / "hub.toml").write_text(render_config(spec), encoding="utf-8")
    settings = load_settings(tmp_path / "hub.toml")
    if backend == "sqlite":  # PostgreSQL databases are copies of an already migrated template
        for name in clusters:
            migrate_cluster(settings, name)
    return Hub(tmp_path, backend, settings, ClusterRegistry(settings), pg)


@pytest.fixture
def hub(tmp_path: Path, backend: str) -> Iterator[Hub]:
    h = make_hub(tmp_path, backend)
    try:
        yield h
    finally:
        h.registry.dispose()
        for db in h.pg_databases.values():
            drop_pg_database(db)


@pytest.fixture
def api(hub: Hub) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from consent_hub.app import create_app

    with TestClient(create_app(hub.settings, hub.registry), raise_server_exceptions=False) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
