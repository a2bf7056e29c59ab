"""Exact counts for tests: what the protected figures are drawn around (never shown to a house)."""

from __future__ import annotations

from consent_hub.access.repository import AccessRepository
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.clusters import UnitOfWork


def exact_people_count(uow: UnitOfWork, actor: Actor, purpose: str) -> int:
    compiled, scope = AccessService(uow).grant(actor, purpose)
    return AccessRepository(uow.session).count(compiled.bases, scope)
