"""The console's own queries: its sessions, and the API clients it lists and names."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent_hub.storage.models import ApiClient, DpoSession, House


class DpoRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- sessions ---------------------------------------------------------------------------------
    def add_session(self, row: DpoSession) -> None:
        self.session.add(row)

    def session_by_hash(self, id_hash: bytes) -> DpoSession | None:
        return self.session.get(DpoSession, id_hash)

    def touch_session(self, id_hash: bytes, now: dt.datetime, language: str | None = None) -> None:
        values: dict[str, object] = {"last_seen_at": now}
        if language is not None:
            values["language"] = language
        self.session.execute(update(DpoSession).where(DpoSession.id_hash == id_hash).values(**values))

    def end_session(self, id_hash: bytes, now: dt.datetime) -> None:
        self.session.execute(
            update(DpoSession)
            .where(DpoSession.id_hash == id_hash, DpoSession.ended_at.is_(None))
            .values(ended_at=now)
        )

    # -- API clients --------------------------------------------------------------------------------
    def client_with_house(self, client_id: uuid.UUID) -> tuple[ApiClient, str | None] | None:
        row = self.session.execute(
            select(ApiClient, House.slug)
            .outerjoin(House, House.id == ApiClient.house_id)
            .where(ApiClient.id == client_id)
        ).first()
        return None if row is None else (row[0], row[1])

    def clients_with_house(self, house: str | None) -> Sequence[tuple[ApiClient, str | None]]:
        """Every client (of one house if given), soonest expiry first."""
        stmt = select(ApiClient, House.slug).outerjoin(House, House.id == ApiClient.house_id)
        if house is not None:
            stmt = stmt.where(House.slug == house)
        rows = self.session.execute(stmt.order_by(ApiClient.expires_at, ApiClient.name))
        return [(client, slug) for client, slug in rows]

    def client_names(self, client_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        ids = list(set(client_ids))
        if not ids:
            return {}
        rows = self.session.execute(select(ApiClient.id, ApiClient.name).where(ApiClient.id.in_(ids)))
        return {client_id: name for client_id, name in rows}

    def house_slugs(self) -> list[str]:
        return list(self.session.scalars(select(House.slug).order_by(House.slug)))
