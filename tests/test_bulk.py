"""``storage.bulk.among``: the same rows on both backends, whatever the type of the values
(PostgreSQL sends them as one binary array parameter, SQLite as chunks of ``IN`` lists)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import LargeBinary, Uuid, func, select

from consent_hub.storage.bulk import among, insert_rows, upsert_rows
from consent_hub.storage.models import AudienceExportMember, Suppression
from tests.conftest import Hub


def test_among_finds_exactly_the_listed_rows(hub: Hub) -> None:
    indexes = [uuid.uuid5(uuid.NAMESPACE_URL, f"s{i}").bytes * 2 for i in range(2_000)]  # > one SQLite chunk
    export = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(1_500)]
    with hub.registry.unit_of_work("alpha") as uow:
        s = uow.session
        suppressions: Any = Suppression.__table__
        members_table: Any = AudienceExportMember.__table__
        insert_rows(s, suppressions, [{"email_bidx": b, "suppressed_on": dt.date(2026, 1, 1)} for b in indexes])
        insert_rows(s, members_table, [{"export_id": export, "person_id": p, "consent_event_id": None} for p in people])

        wanted = [*indexes[::3], b"\x00" * 32]  # and one that is not there
        found = {
            bytes(b)
            for clause in among(s, Suppression.email_bidx, wanted, LargeBinary())
            for b in s.scalars(select(Suppression.email_bidx).where(clause))
        }
        assert found == set(indexes[::3])

        asked = [*people[::2], uuid.uuid4()]
        members = {
            p
            for clause in among(s, AudienceExportMember.person_id, asked, Uuid())
            for p in s.scalars(select(AudienceExportMember.person_id).where(clause))
        }
        assert members == set(people[::2])
        assert list(among(s, Suppression.email_bidx, [], LargeBinary())) == []
        s.rollback()


def test_upsert_rows_counts_the_new_rows_only(hub: Hub) -> None:
    export = uuid.uuid4()
    people = [uuid.uuid4() for _ in range(5)]
    row = lambda p: {"export_id": export, "person_id": p, "consent_event_id": None}  # noqa: E731
    with hub.registry.unit_of_work("alpha") as uow:
        table: Any = AudienceExportMember.__table__
        conflict = ["export_id", "person_id"]
        assert upsert_rows(uow.session, table, [row(p) for p in people[:3]], conflict) == 3
        # two already there, one repeated within the call, two new
        again = [row(people[0]), row(people[2]), row(people[3]), row(people[3]), row(people[4])]
        assert upsert_rows(uow.session, table, again, conflict) == 2
        assert upsert_rows(uow.session, table, [], conflict) == 0
        assert uow.session.scalar(select(func.count()).select_from(AudienceExportMember)) == 5
        uow.session.rollback()
