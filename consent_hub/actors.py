"""Who is acting: every service call names an actor, and every audit entry records it."""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass

from consent_hub import roles


@dataclass(frozen=True)
class Actor:
    id: str  # "client:<uuid>", "cli:<operator>", "system:<job>", "person:<uuid>"; never a buyer's data
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

    @classmethod
    def buyer(cls, cluster: str, person_id: uuid.UUID, request_id: str | None = None) -> Actor:
        """A signed-in buyer: named by their person id (never their e-mail address)."""
        return cls(id=f"person:{person_id}", cluster=cluster, role=roles.BUYER, request_id=request_id)

    def is_person(self, person_id: uuid.UUID) -> bool:
        """Is this a buyer acting on their own data?"""
        return self.role == roles.BUYER and self.id == f"person:{person_id}"
