"""Wrapped data keys, in the separate key-store database (one per cluster)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Uuid, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from consent_hub.storage.bulk import among, core_rows, id_keys, insert_rows
from consent_hub.storage.models import PersonKey


class KeyStoreRepository:
    """Wrapped data keys, in the separate key-store database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, PersonKey.__table__, rows)  # type: ignore[arg-type]

    def wrapped(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[bytes, int]]:
        """person id -> (wrapped key, KEK version), without ORM objects."""
        out: dict[uuid.UUID, tuple[bytes, int]] = {}
        by_key, id_col = id_keys(self.session, ids, PersonKey.person_id)
        cols = (id_col, PersonKey.wrapped_key, PersonKey.kek_version)
        for clause in among(self.session, PersonKey.person_id, ids, Uuid()):
            for key, wrapped, version in core_rows(self.session, select(*cols).where(clause)):
                out[by_key[key]] = (wrapped, version)
        return out

    def delete(self, person_id: uuid.UUID) -> int:
        result = self.session.execute(delete(PersonKey).where(PersonKey.person_id == person_id))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def count_by_version(self) -> dict[int, int]:
        rows = self.session.execute(select(PersonKey.kek_version, func.count()).group_by(PersonKey.kek_version))
        return {int(v): int(n) for v, n in rows}

    def batch_not_on(self, version: int, limit: int) -> Sequence[PersonKey]:
        return self.session.scalars(
            select(PersonKey).where(PersonKey.kek_version != version).order_by(PersonKey.person_id).limit(limit)
        ).all()

    def rewrap(self, rows: Sequence[dict[str, Any]]) -> None:
        stmt = (
            update(PersonKey)
            .where(PersonKey.person_id == bindparam("pid"))
            .values(
                kek_version=bindparam("v"),
                wrapped_key=bindparam("w"),
                rewrapped_at=bindparam("at"),
            )
        )
        self.session.connection().execute(stmt, list(rows))
