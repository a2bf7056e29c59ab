"""Who is acting: every service call names an actor, and every audit entry records it."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from consent_hub import roles


@dataclass(frozen=True)
class Actor:
    id: str  # "client:<uuid>", "cli:<operator>", "system:<job>"; never a buyer's data
    cluster: str
    role: str
    house: str | None = None
    request_id: str | None = None

    @classmethod
    def cli(cls, cluster: str, role: str = roles.CLUSTER_OPERATOR) -> Actor:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(id=f"cli:{user}", cluster=cluster, role=role)

    @classmethod
    def system(cls, cluster: str, job: str) -> Actor:
        return cls(id=f"system:{job}", cluster=cluster, role=roles.CLUSTER_OPERATOR)
