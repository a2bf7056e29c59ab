"""Queries over people, their wrapped keys and the suppression list."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import LargeBinary, String, Uuid, bindparam, delete, func, select, type_coerce, update
from sqlalchemy.orm import Session

from consent_hub.storage.bulk import among, core_rows, insert_rows
from consent_hub.storage.models import Person, PersonKey, Suppression


def _id_keys(session: Session, ids: Sequence[uuid.UUID], column: Any) -> tuple[dict[Any, uuid.UUID], Any]:
    """On SQLite, read ids back as their stored hex text and map them to the UUIDs asked for:
    building 10,000 uuid.UUID objects from text costs more than the query."""
    if session.get_bind().dialect.name == "sqlite":
        return {pid.hex: pid for pid in ids}, type_coerce(column, String())
    return {pid: pid for pid in ids}, column


# people whose data is kept current: a restriction (GDPR Art. 18) stops processing, not recording,
# so imports, rectifications and consent decisions still reach a restricted person; only an active
# person is visible to houses or sent to destinations
RECORDED_STATUSES = ("active", "restricted")


class PeopleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, person_id: uuid.UUID) -> Person | None:
        return self.session.get(Person, person_id)

    def id_by_email_index(self, email_bidx: bytes) -> uuid.UUID | None:
        return self.session.scalar(select(Person.id).where(Person.email_bidx == email_bidx))

    def ids_by_email_indexes(self, indexes: Sequence[bytes]) -> dict[bytes, uuid.UUID]:
        out: dict[bytes, uuid.UUID] = {}
        for clause in among(self.session, Person.email_bidx, indexes, LargeBinary()):
            rows = self.session.execute(select(Person.email_bidx, Person.id).where(clause))
            out.update({bytes(r.email_bidx): r.id for r in rows})
        return out

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, Person.__table__, rows)  # type: ignore[arg-type]

    def missing_coarse_indexes(self, limit: int) -> list[uuid.UUID]:
        """Active people with a language or postal code but no coarse index yet."""
        return list(
            self.session.scalars(
                select(Person.id)
                .where(
                    Person.status == "active",
                    ((Person.language_ct.is_not(None)) & (Person.language_bidx.is_(None)))
                    | ((Person.postal_code_ct.is_not(None)) & (Person.postal_area_bidx.is_(None))),
                )
                .limit(limit)
            )
        )

    def statuses(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        out: dict[uuid.UUID, str] = {}
        for clause in among(self.session, Person.id, ids, Uuid()):
            out.update({r.id: r.status for r in self.session.execute(select(Person.id, Person.status).where(clause))})
        return out

    def suppressed_among(self, indexes: Sequence[bytes]) -> set[bytes]:
        out: set[bytes] = set()
        for clause in among(self.session, Suppression.email_bidx, indexes, LargeBinary()):
            out.update(bytes(b) for b in self.session.scalars(select(Suppression.email_bidx).where(clause)))
        return out

    def ciphertexts(self, ids: Sequence[uuid.UUID], columns: Sequence[str]) -> dict[uuid.UUID, Any]:
        """(status, created_at, updated_at, row_version, *columns) per person, without ORM objects."""
        by_key, id_col = _id_keys(self.session, ids, Person.id)
        cols = [id_col, Person.status, Person.created_at, Person.updated_at, Person.row_version]
        cols += [getattr(Person, c) for c in columns]
        out: dict[uuid.UUID, Any] = {}
        for clause in among(self.session, Person.id, ids, Uuid()):
            for row in core_rows(self.session, select(*cols).where(clause)):
                out[by_key[row[0]]] = row
        return out

    def update_row(self, person_id: uuid.UUID, values: dict[str, Any]) -> None:
        self.session.execute(update(Person).where(Person.id == person_id).values(**values))

    def add(self, person: Person) -> None:
        self.session.add(person)

    # suppression list -------------------------------------------------------------------------
    def is_suppressed(self, email_bidx: bytes) -> bool:
        return self.session.get(Suppression, email_bidx) is not None

    def suppress(self, email_bidx: bytes, on: dt.date) -> None:
        if not self.is_suppressed(email_bidx):
            self.session.add(Suppression(email_bidx=email_bidx, suppressed_on=on))


class KeyStoreRepository:
    """Wrapped data keys, in the separate key-store database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, PersonKey.__table__, rows)  # type: ignore[arg-type]

    def wrapped(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[bytes, int]]:
        """person id -> (wrapped key, KEK version), without ORM objects."""
        out: dict[uuid.UUID, tuple[bytes, int]] = {}
        by_key, id_col = _id_keys(self.session, ids, PersonKey.person_id)
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
