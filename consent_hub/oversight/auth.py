"""Who may see the anomaly rules' findings: the DPOs (a house DPO their house's only)."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_overseer(actor: Actor) -> None:
    roles.require(actor.role, roles.DPOS, "may not see the access log's anomalies")
