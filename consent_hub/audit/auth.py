"""Who may read the audit log."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_audit_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.AUDIT_READERS, "may not read the audit log")


def require_audit_searcher(actor: Actor) -> None:
    """The DPOs' search: the cluster DPO (whole cluster), a house DPO (held to their house)."""
    roles.require(actor.role, roles.AUDIT_SEARCHERS, "may not search the audit log")
