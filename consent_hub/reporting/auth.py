"""Who may create a report: the DPOs (a house DPO's held to their house) and the CLI operator."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor

REPORT_READERS: frozenset[str] = roles.DPOS | {roles.CLUSTER_OPERATOR}


def require_report_reader(actor: Actor) -> None:
    roles.require(actor.role, REPORT_READERS, "may not create reports")
