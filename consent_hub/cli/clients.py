"""`clients`: API clients and their bearer keys."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, err, handled, out, uuid_argument

clients_app = typer.Typer(help="API clients (bearer keys).", no_args_is_help=True)


@clients_app.command("add")
@handled
def clients_add(
    cluster: ClusterOpt,
    role: Annotated[
        str,
        typer.Option(
            help="cluster-admin, cluster-service, cluster-dpo, box-office, marketer, analyst, house-dpo, connector"
        ),
    ],
    agreement: Annotated[str, typer.Option(help="reference of the data-processing agreement")],
    expires: Annotated[str, typer.Option(help="last valid day, YYYY-MM-DD")],
    house: Annotated[str | None, typer.Option(help="house slug (house roles)")] = None,
    name: Annotated[str | None, typer.Option(help="who holds the key")] = None,
) -> None:
    """Issue an API key. It is printed once; only its hash is stored."""
    from consent_hub.clients.service import ClientService
    from consent_hub.errors import InvalidInput

    try:
        expiry = dt.date.fromisoformat(expires)
    except ValueError:
        raise InvalidInput([{"field": "expires", "problem": "must be a date YYYY-MM-DD"}]) from None
    registry = cluster_registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        created = ClientService(uow).add(
            Actor.cli(cluster),
            {
                "name": name or f"{role}{'@' + house if house else ''}",
                "house": house,
                "role": role,
                "agreement": agreement,
                "expires": expiry,
            },
        )
    err.print(
        f"client {created.id} ({created.role}{', house ' + created.house if created.house else ''}) "
        f"valid until {created.expires_at:%Y-%m-%d}. The key is shown once:"
    )
    print(created.api_key)


@clients_app.command("list")
@handled
def clients_list(cluster: ClusterOpt) -> None:
    from consent_hub.clients.service import ClientService

    registry = cluster_registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        rows = ClientService(uow).list(Actor.cli(cluster))
    table = Table("id", "key id", "name", "house", "role", "agreement", "expires", "active")
    for c in rows:
        table.add_row(
            str(c.id),
            c.key_id,
            c.name,
            c.house or "",
            c.role,
            c.agreement,
            f"{c.expires_at:%Y-%m-%d}",
            "yes" if c.active else "no",
        )
    out.print(table)


@clients_app.command("revoke")
@handled
def clients_revoke(cluster: ClusterOpt, client_id: Annotated[str, typer.Argument(help="client id")]) -> None:
    from consent_hub.clients.service import ClientService

    cid = uuid_argument(client_id, "client_id")
    registry = cluster_registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        ClientService(uow).revoke(Actor.cli(cluster), cid)
    out.print(f"client {cid} revoked")
