"""Who may read the outbox's deliveries (ids, statuses and receipts only)."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_delivery_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.CLUSTER_LEVEL, "may not read deliveries")
