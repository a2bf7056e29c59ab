"""`people`: index upkeep and the data-subject requests (erase, restrict, lift a restriction)."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from consent_hub.actors import Actor
from consent_hub.cli.common import ClusterOpt, cluster_registry, handled, out, uuid_argument

people_app = typer.Typer(help="People (buyers).", no_args_is_help=True)


@people_app.command("reindex")
@handled
def people_reindex(cluster: ClusterOpt) -> None:
    """Fill the coarse language / postal-area indexes (audience filters) of people created before them."""
    from consent_hub.people.service import PeopleService

    registry = cluster_registry(cluster)
    total = 0
    try:
        while True:
            with registry.unit_of_work(cluster) as uow:
                done = PeopleService(uow).reindex_coarse(Actor.cli(cluster))
            total += done
            if not done:
                break
    finally:
        registry.dispose()
    out.print(f"indexed {total} people")


def _person_request(cluster: str, person_id: str, act: str, reference: str | None) -> tuple[uuid.UUID, bool]:
    """One data-subject request on one person (``act`` names a RightsService method taking the
    actor, the id and the register reference): the id, and whether it changed something."""
    from consent_hub.rights.service import RightsService

    pid = uuid_argument(person_id, "person_id")
    registry = cluster_registry(cluster)
    with registry.unit_of_work(cluster) as uow:
        done: bool = getattr(RightsService(uow), act)(Actor.cli(cluster), pid, reference=reference)
    return pid, done


@people_app.command("erase")
@handled
def people_erase(
    cluster: ClusterOpt,
    person_id: Annotated[str, typer.Argument(help="person id")],
    reference: Annotated[str | None, typer.Option(help="request register reference")] = None,
) -> None:
    """Crypto-shred one person (irreversible)."""
    pid, done = _person_request(cluster, person_id, "erase", reference)
    out.print(f"person {pid} {'erased' if done else 'was already erased'}")


@people_app.command("restrict")
@handled
def people_restrict(
    cluster: ClusterOpt,
    person_id: Annotated[str, typer.Argument(help="person id")],
    reference: Annotated[str | None, typer.Option(help="request register reference")] = None,
) -> None:
    """Restrict processing of one person (GDPR Art. 18): visible to no house, archived at destinations."""
    pid, done = _person_request(cluster, person_id, "restrict", reference)
    out.print(f"person {pid} {'restricted' if done else 'was already restricted'}")


@people_app.command("lift-restriction")
@handled
def people_lift_restriction(
    cluster: ClusterOpt,
    person_id: Annotated[str, typer.Argument(help="person id")],
    reference: Annotated[str | None, typer.Option(help="request register reference")] = None,
) -> None:
    """Lift a restriction of processing: visibility and deliveries follow relations and consents again."""
    pid, done = _person_request(cluster, person_id, "lift_restriction", reference)
    out.print(f"person {pid} {'is no longer restricted' if done else 'was not restricted'}")
