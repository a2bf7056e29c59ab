"""Who may register houses."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_house_manager(actor: Actor) -> None:
    roles.require(actor.role, roles.CLUSTER_MANAGERS, "may not register houses")
