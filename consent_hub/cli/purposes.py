"""`purposes`: the purpose catalogue and its notice versions."""

from __future__ import annotations

import typer
from rich.table import Table

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, handled, out
from consent_hub.clusters import ClusterRegistry

purposes_app = typer.Typer(help="Purposes and notices.", no_args_is_help=True)


def sync_notices(registry: ClusterRegistry, cluster: str) -> None:
    from consent_hub.consent.service import ConsentService

    try:
        with registry.unit_of_work(cluster) as uow:
            published = ConsentService(uow).sync_notices(Actor.cli(cluster))
    finally:
        registry.dispose()
    for n in published:
        out.print(f"cluster {cluster!r}: notice {n.purpose}/{n.language} version {n.version} ({n.sha256[:12]})")


@purposes_app.command("sync")
@handled
def purposes_sync(cluster: ClusterOpt) -> None:
    """Publish a new notice version for every purpose text that changed in policies/purposes.yaml."""
    sync_notices(cluster_registry(cluster), cluster)


@purposes_app.command("list")
@handled
def purposes_list() -> None:
    from consent_hub.consent.catalogue import load_catalogue

    table = Table("purpose", "legal basis", "scope", "field groups", "retention")
    for p in load_catalogue().purposes:
        table.add_row(p.key, p.legal_basis, p.scope, ", ".join(p.field_groups), p.retention)
    out.print(table)
