"""The buyer's guard: every buyer operation acts on the signed-in person only."""

from __future__ import annotations

import uuid

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.errors import Forbidden


def require_buyer(actor: Actor) -> uuid.UUID:
    """The person a buyer actor names (Forbidden for any other actor)."""
    roles.require(actor.role, frozenset({roles.BUYER}), "is not a signed-in buyer")
    prefix = "person:"
    if not actor.id.startswith(prefix):
        raise Forbidden("a buyer actor names a person")
    return uuid.UUID(actor.id[len(prefix) :])
