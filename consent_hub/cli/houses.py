"""`houses`: the houses of a cluster."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, handled, out

houses_app = typer.Typer(help="Houses of a cluster.", no_args_is_help=True)


@houses_app.command("add")
@handled
def houses_add(
    cluster: ClusterOpt,
    slug: Annotated[str, typer.Option(help="short name, e.g. schouwburg-kortrijk")],
    name: Annotated[str, typer.Option(help="display name")],
    tixly_organisation_id: Annotated[str | None, typer.Option()] = None,
    ticketmatic_account: Annotated[str | None, typer.Option()] = None,
    uitdatabank_organizer_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register a house in a cluster."""
    from consent_hub.houses.service import HouseService

    registry = cluster_registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        house = HouseService(uow).add(
            Actor.cli(cluster),
            {
                "slug": slug,
                "name": name,
                "tixly_organisation_id": tixly_organisation_id,
                "ticketmatic_account": ticketmatic_account,
                "uitdatabank_organizer_id": uitdatabank_organizer_id,
            },
        )
        out.print(f"house {house.slug!r} registered in cluster {cluster!r} ({house.id})")


@houses_app.command("list")
@handled
def houses_list(cluster: ClusterOpt) -> None:
    from consent_hub.houses.service import HouseService

    registry = cluster_registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        table = Table("slug", "name", "tixly org", "ticketmatic", "uitdatabank")
        for h in HouseService(uow).list():
            table.add_row(
                h.slug,
                h.name,
                h.tixly_organisation_id or "",
                h.ticketmatic_account or "",
                h.uitdatabank_organizer_id or "",
            )
    out.print(table)
