"""Who may write and read people (house roles read through the access policy instead)."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_people_writer(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_WRITERS, "may not do this")


def require_people_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_READERS, "may not do this")
