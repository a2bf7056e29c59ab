"""Set-up commands: init, migrate, serve, demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from consent_hub.cli.common import ClusterOpt, handled, hub_settings, out
from consent_hub.cli.purposes import sync_notices
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import CONFIG_ENV, HubSettings, config_path, load_settings, render_config
from consent_hub.plugins import demo_seeder, demo_sync_config


@handled
def init(
    cluster: Annotated[str, typer.Option(help="name of the first cluster")] = "demo",
    database_url: Annotated[str | None, typer.Option(help="defaults to an embedded SQLite file")] = None,
    demo: Annotated[bool, typer.Option(help="seed fictional demo houses, clients and buyers")] = False,
) -> None:
    """Create the hub configuration, the cluster's keyring and database (idempotent)."""
    from consent_hub.keys import create_keyring_file
    from consent_hub.storage.migrate import migrate_cluster

    path = config_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render_config(
            {
                cluster: {
                    "display_name": f"{cluster} cluster",
                    "database_url": database_url or f"sqlite:///clusters/{cluster}.db",
                    "keys": {"provider": "keyring", "path": f"keys/{cluster}.keyring.json"},
                }
            }
        )
        path.write_text(text + (demo_sync_config()(cluster) if demo else ""), encoding="utf-8")
        out.print(f"wrote {path}")
    settings = load_settings(path)
    cfg = settings.cluster(cluster)
    if cfg.keys.provider == "keyring":
        key_path = settings.resolve_path(cfg.keys.path)
        if not key_path.exists():
            create_keyring_file(key_path, cluster)
            out.print(f"created keyring for cluster {cluster!r} (mode 0600)")
    migrate_cluster(settings, cluster)
    out.print(f"cluster {cluster!r}: database migrated")
    sync_notices(ClusterRegistry(settings), cluster)
    if demo:
        _seed_demo(settings, cluster, path.parent)


def _seed_demo(settings: HubSettings, cluster: str, folder: Path) -> None:
    from consent_hub.houses.service import HouseService

    seed_demo = demo_seeder()  # before opening the cluster: without the fakes installed, a clear error

    registry = ClusterRegistry(settings)
    try:
        with registry.unit_of_work(cluster) as uow:
            already = bool(HouseService(uow).list())
        if already:
            out.print(f"cluster {cluster!r}: demo data already present")
            return
        keys = seed_demo(registry, cluster)
    finally:
        registry.dispose()
    key_file = folder / "demo-api-keys.txt"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        for role, key in keys.items():
            fh.write(f"{role}\t{key}\n")
    out.print(f"cluster {cluster!r}: demo houses, clients and buyers created; API keys in {key_file}")


@handled
def migrate(
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="one cluster; all if absent")] = None,
) -> None:
    """Bring cluster databases and key stores to the newest schema (Alembic)."""
    from consent_hub.storage.migrate import migrate_cluster

    settings = hub_settings()
    names = [cluster] if cluster else sorted(settings.clusters)
    for name in names:
        settings.cluster(name)
        migrate_cluster(settings, name)
        sync_notices(ClusterRegistry(settings), name)
        out.print(f"cluster {name!r}: up to date")


@handled
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request (method, path, status)")] = True,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    hub_settings()  # fail early, with a clear message
    os.environ.setdefault(CONFIG_ENV, str(config_path()))
    # syncs run on their schedule while the hub serves (the API process owns the schedule)
    os.environ.setdefault("CONSENT_HUB_SCHEDULE_SYNCS", "true")
    # a request answers once its change and audit entry are committed; chaining the entry waits
    # for the process's sequencer thread, which batches the entries of concurrent requests
    os.environ.setdefault("CONSENT_HUB_AUDIT_SEQUENCER_IN_BACKGROUND", "true")
    uvicorn.run(
        "consent_hub.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
    )


@handled
def demo(cluster: ClusterOpt = "demo") -> None:
    """Seed fictional demo houses, clients and buyers into an empty cluster."""
    path = config_path()
    _seed_demo(hub_settings(), cluster, path.parent)
