"""The outbox on PostgreSQL: deliveries run as procrastinate jobs, so several worker processes on
several machines share a cluster.

The outbox table stays the source of truth (a change and its deliveries commit together, in the
hub's own transaction); procrastinate schedules and distributes the work: a periodic job per
cluster, plus a nudge after each worker start, each running ``OutboxWorker.run_once`` until
nothing is due. Two jobs never send the same delivery: claims use ``FOR UPDATE SKIP LOCKED`` and
a lease. procrastinate's own tables live in the cluster database (``consent-hub worker`` applies
its schema when they are missing).
"""

from __future__ import annotations

import logging

import procrastinate
from sqlalchemy.engine import make_url

from consent_hub.clusters import ClusterRegistry
from consent_hub.config import load_settings
from consent_hub.outbox.delivery import OutboxWorker

log = logging.getLogger("consent_hub.outbox")
QUEUE = "outbox"


def conninfo(database_url: str) -> str:
    """libpq form of a SQLAlchemy URL (procrastinate talks to psycopg directly)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def drain(registry: ClusterRegistry, cluster: str, *, max_cycles: int = 100) -> int:
    worker = OutboxWorker(registry, cluster)
    delivered = 0
    try:
        for _ in range(max_cycles):
            report = worker.run_once()
            delivered += report.delivered
            if not (report.delivered or report.retried or report.superseded or report.dead):
                break
    finally:
        worker.close()
    return delivered


def make_app(database_url: str, registry: ClusterRegistry | None = None) -> procrastinate.App:
    """The procrastinate app of one PostgreSQL server. Jobs use ``registry`` (the worker process's
    clusters; loaded from the hub configuration on first use when not given)."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))
    holder: dict[str, ClusterRegistry] = {}

    def _registry() -> ClusterRegistry:
        if "registry" not in holder:
            holder["registry"] = registry or ClusterRegistry(load_settings())
        return holder["registry"]

    @app.task(name="consent_hub.deliver_outbox", queue=QUEUE, queueing_lock="deliver-outbox")
    def deliver_outbox(cluster: str) -> int:
        return drain(_registry(), cluster)

    @app.periodic(cron="* * * * *", periodic_id="outbox-sweep")
    @app.task(name="consent_hub.outbox_sweep", queue=QUEUE, pass_context=False)
    def outbox_sweep(timestamp: int) -> None:
        hub = _registry()
        for cluster, cfg in hub.settings.clusters.items():
            if cfg.destinations and cfg.database_url.startswith("postgresql"):
                drain(hub, cluster)

    app.deliver_outbox = deliver_outbox  # type: ignore[attr-defined]
    return app


def ensure_schema(app: procrastinate.App, database_url: str) -> bool:
    """Apply procrastinate's schema unless its tables exist. Returns True when applied."""
    import psycopg

    with psycopg.connect(conninfo(database_url)) as conn:
        present = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if present and present[0]:
            return False
    with app.open():
        app.schema_manager.apply_schema()
    return True
