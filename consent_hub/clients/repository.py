from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from consent_hub.storage.models import ApiClient, House

# built once: every request authenticates with it
_BY_KEY_ID_WITH_HOUSE = (
    select(ApiClient, House.slug)
    .outerjoin(House, House.id == ApiClient.house_id)
    .where(ApiClient.key_id == bindparam("key_id"))
)


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_key_id(self, key_id: str) -> ApiClient | None:
        return self.session.scalar(select(ApiClient).where(ApiClient.key_id == key_id))

    def by_key_id_with_house(self, key_id: str) -> tuple[ApiClient, str | None] | None:
        """The client and its house's slug in one statement (every request authenticates)."""
        row = self.session.execute(_BY_KEY_ID_WITH_HOUSE, {"key_id": key_id}).first()
        return None if row is None else (row[0], row[1])

    def by_id(self, client_id: uuid.UUID) -> ApiClient | None:
        return self.session.get(ApiClient, client_id)

    def house_slug(self, house_id: uuid.UUID | None) -> str | None:
        if house_id is None:
            return None
        return self.session.scalar(select(House.slug).where(House.id == house_id))

    def all_with_house(self) -> Sequence[tuple[ApiClient, str | None]]:
        rows = self.session.execute(
            select(ApiClient, House.slug)
            .outerjoin(House, House.id == ApiClient.house_id)
            .order_by(ApiClient.created_at)
        )
        return [(c, slug) for c, slug in rows]

    def add(self, client: ApiClient) -> None:
        self.session.add(client)
