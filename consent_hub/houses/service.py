from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clusters import UnitOfWork
from consent_hub.errors import HouseExists, HouseNotFound
from consent_hub.houses.auth import require_house_manager
from consent_hub.houses.repository import HouseRepository
from consent_hub.houses.schemas import HouseCreate
from consent_hub.storage.models import House
from consent_hub.validation import parse


class HouseService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = HouseRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)

    def add(self, actor: Actor, data: HouseCreate | dict[str, Any]) -> House:
        require_house_manager(actor)
        spec = parse(HouseCreate, data)
        if self.repo.by_slug(spec.slug) is not None:
            raise HouseExists(f"house {spec.slug!r} already exists")
        house = House(**spec.model_dump())
        self.repo.add(house)
        self.repo.session.flush()
        self.audit.append(actor, AuditRecord("house.register", detail={"house": spec.slug, "house_id": str(house.id)}))
        return house

    def list(self) -> Sequence[House]:
        return self.repo.all()

    def find(self, slug: str) -> House | None:
        return self.repo.by_slug(slug)

    def exists(self, slug: str) -> bool:
        """Whether the house exists; a yes is kept for the process (houses are never removed)."""
        cache = self.uow.rt.house_ids
        if slug in cache:
            return True
        house = self.repo.by_slug(slug)
        if house is not None:
            cache[slug] = house.id
        return house is not None

    def get(self, slug: str) -> House:
        house = self.repo.by_slug(slug)
        if house is None:
            raise HouseNotFound(f"unknown house {slug!r}")
        return house
