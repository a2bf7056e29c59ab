"""Who may export participation data and classify events."""

from __future__ import annotations

from consent_hub import roles
from consent_hub.actors import Actor


def require_participation_exporter(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_READERS, "may not export participation data")


def require_event_classifier(actor: Actor) -> None:
    roles.require(actor.role, roles.PEOPLE_WRITERS, "may not classify events")
