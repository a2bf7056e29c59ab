"""Who may read the outbox's deliveries (ids, statuses and receipts only)."""

from __future__ import annotations

import uuid

from consent_hub import roles
from consent_hub.actors import Actor


def require_delivery_reader(actor: Actor, person_id: uuid.UUID | None = None) -> None:
    # a buyer reads who was told about them (GDPR Art. 19), no one else's deliveries
    if person_id is not None and actor.is_person(person_id):
        return
    roles.require(actor.role, roles.CLUSTER_LEVEL, "may not read deliveries")


def require_status_reader(actor: Actor) -> None:
    """The state per destination (counts and receipts, no person): the cluster level and the DPOs."""
    roles.require(actor.role, roles.CLUSTER_LEVEL | roles.DPOS, "may not read the state of the destinations")
