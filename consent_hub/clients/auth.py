"""Who may issue, list and revoke API keys."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_key_manager(actor: Actor, doing: str) -> None:
    """``doing``: what is refused, e.g. "issue API keys"."""
    roles.require(actor.role, roles.CLUSTER_MANAGERS, f"may not {doing}")
