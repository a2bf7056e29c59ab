"""Who may write and read people (house roles read through the access policy instead)."""

from __future__ import annotations

import uuid

from consent_hub import roles
from consent_hub.actors import Actor


def require_people_writer(actor: Actor, person_id: uuid.UUID | None = None) -> None:
    # a buyer may ask for their own erasure on their own pages (issue 14), no one else's
    if person_id is not None and actor.is_person(person_id):
        return
    roles.require(actor.role, roles.PEOPLE_WRITERS, "may not do this")


def require_people_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_READERS, "may not do this")


def require_request_registrar(actor: Actor) -> None:
    """The request desk: who registers and handles data-subject requests (issue 15)."""
    roles.require(actor.role, roles.REQUEST_REGISTRARS, "may not handle data-subject requests")
