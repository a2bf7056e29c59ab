from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent_hub.storage.models import House


class HouseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_slug(self, slug: str) -> House | None:
        return self.session.scalar(select(House).where(House.slug == slug))

    def by_id(self, house_id: uuid.UUID) -> House | None:
        return self.session.get(House, house_id)

    def all(self) -> Sequence[House]:
        return self.session.scalars(select(House).order_by(House.slug)).all()

    def add(self, house: House) -> None:
        self.session.add(house)
