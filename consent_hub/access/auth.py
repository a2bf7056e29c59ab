"""Who may call the access operations at all, decided by the role alone before any person is
looked at (the answer says nothing about anyone). What a role sees is the Casbin policy's."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.errors import Forbidden


def require_person_reader(actor: Actor) -> None:
    # not a policy question: these roles are refused even if a policy line granted them
    if actor.role in roles.NEVER_READ_PEOPLE:
        raise Forbidden(f"role {actor.role!r} never reads personal data")


def require_relation_writer(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_WRITERS, "may not record relations")
