"""Who may read sync runs (ids and counts only: every cluster-level caller)."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_run_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.CLUSTER_LEVEL, "may not read sync runs")
