"""`clusters`: the clusters configured in this hub."""

from __future__ import annotations

import typer
from rich.table import Table

from consent_hub.cli.common import handled, hub_settings, out

clusters_app = typer.Typer(help="Clusters of this hub.", no_args_is_help=True)


@clusters_app.command("list")
@handled
def clusters_list() -> None:
    """List configured clusters (no database is opened)."""
    settings = hub_settings()
    table = Table("cluster", "name", "database", "keys")
    for name, cfg in sorted(settings.clusters.items()):
        backend = cfg.database_url.split(":", 1)[0]
        table.add_row(name, cfg.display_name, backend, cfg.keys.provider)
    out.print(table)
