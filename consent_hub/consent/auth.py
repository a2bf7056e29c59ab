"""Who may publish notices, record consent and read it."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_notice_publisher(actor: Actor) -> None:
    roles.require(actor.role, roles.CLUSTER_MANAGERS, "may not publish notices")


def require_consent_writer(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_WRITERS, "may not record consent")


def require_consent_reader(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_READERS, "may not read consent")
