"""Queries over people, their wrapped keys and the suppression list."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import LargeBinary, Uuid, bindparam, select, update
from sqlalchemy.orm import Session

from consent_hub.storage.bulk import among, core_rows, id_keys, insert_rows
from consent_hub.storage.models import Person, Suppression
from consent_hub.vocabulary import PersonStatus

# built once: every consent write runs it
_STATUS_FOR_SHARE = select(Person.status).where(Person.id == bindparam("id")).with_for_update(read=True)


class PeopleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, person_id: uuid.UUID) -> Person | None:
        return self.session.get(Person, person_id)

    def get_for_update(self, person_id: uuid.UUID) -> Person | None:
        """The person, with their row locked until the transaction ends (PostgreSQL): an erasure,
        a restriction or its lift waits for the writers holding the row (``status_for_share``)
        and they for it, so none of them sees a status the other is changing."""
        return self.session.get(Person, person_id, with_for_update=True, populate_existing=True)

    def status_for_share(self, person_id: uuid.UUID) -> str | None:
        """The person's status, their row share-locked until the transaction ends (PostgreSQL):
        writers of the person's consents and relations go on side by side, while an erasure or a
        restriction waits for them to commit."""
        status = self.session.scalar(_STATUS_FOR_SHARE, {"id": person_id})
        return None if status is None else str(status)

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
                    Person.status == PersonStatus.ACTIVE,
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
        by_key, id_col = id_keys(self.session, ids, Person.id)
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
