"""Who may publish notices, record consent and read it."""

from __future__ import annotations

import uuid

from consent_hub import roles
from consent_hub.actors import Actor


def require_notice_publisher(actor: Actor) -> None:
    roles.require(actor.role, roles.CLUSTER_MANAGERS, "may not publish notices")


def require_consent_writer(actor: Actor, person_id: uuid.UUID | None = None) -> None:
    # a buyer records their own choices (on the web), no one else's
    if person_id is not None and actor.is_person(person_id):
        return
    roles.require(actor.role, roles.PEOPLE_WRITERS, "may not record consent")


def require_consent_reader(actor: Actor, person_id: uuid.UUID | None = None) -> None:
    # a buyer reads their own consents on their own pages
    if person_id is not None and actor.is_person(person_id):
        return
    roles.require(actor.role, roles.PEOPLE_READERS, "may not read consent")
