"""The console's guard: only a DPO's key signs in and acts (a house DPO's view is held to their
house by each service it calls)."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def is_dpo_role(role: str) -> bool:
    return role in roles.DPOS


def require_dpo(actor: Actor) -> None:
    roles.require(actor.role, roles.DPOS, "may not use the DPO console")
