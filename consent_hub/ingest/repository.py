"""Queries of the ingest domain: engine customers, events, sales, memberships, relations in bulk,
stream bookmarks and sync runs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from consent_hub.storage import access_keys
from consent_hub.storage.bulk import insert_rows
from consent_hub.storage.models import (
    AccessKey,
    ConnectorState,
    EngineCustomer,
    Event,
    House,
    ProgramMembership,
    Relation,
    Sale,
    SyncRun,
    SyncSkip,
)

_CHUNK = 900
T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class IngestRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # houses -----------------------------------------------------------------------------------
    def house_ids(self) -> dict[str, uuid.UUID]:
        return {slug: hid for slug, hid in self.session.execute(select(House.slug, House.id))}

    def houses_by_engine_ref(self, column: str) -> dict[str, str]:
        """engine reference (Tixly organisation id, Ticketmatic account) -> house slug."""
        col = getattr(House, column)
        return {str(ref): slug for ref, slug in self.session.execute(select(col, House.slug).where(col.is_not(None)))}

    # engine customers -------------------------------------------------------------------------
    def engine_customers(self, source: str, ids: Sequence[str]) -> dict[str, EngineCustomer]:
        out: dict[str, EngineCustomer] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = self.session.scalars(
                select(EngineCustomer).where(EngineCustomer.source == source, EngineCustomer.external_id.in_(chunk))
            )
            out.update({r.external_id: r for r in rows})
        return out

    def add_engine_customers(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, EngineCustomer.__table__, rows)  # type: ignore[arg-type]

    # events -----------------------------------------------------------------------------------
    def events(self, source: str, ids: Sequence[str]) -> dict[str, Event]:
        out: dict[str, Event] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = self.session.scalars(select(Event).where(Event.source == source, Event.external_id.in_(chunk)))
            out.update({r.external_id: r for r in rows})
        return out

    def event_ids(self, source: str, ids: Sequence[str]) -> dict[str, uuid.UUID]:
        out: dict[str, uuid.UUID] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            rows = self.session.execute(
                select(Event.external_id, Event.id).where(Event.source == source, Event.external_id.in_(chunk))
            )
            out.update({ext: eid for ext, eid in rows})
        return out

    def add_events(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, Event.__table__, rows)  # type: ignore[arg-type]

    # sales ------------------------------------------------------------------------------------
    def existing_sales(self, source: str, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            out.update(
                self.session.scalars(select(Sale.external_id).where(Sale.source == source, Sale.external_id.in_(chunk)))
            )
        return out

    def add_sales(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, Sale.__table__, rows)  # type: ignore[arg-type]

    def pending_lines(self, source: str, customer_refs: Sequence[str]) -> list[tuple[str, str, uuid.UUID, dt.datetime]]:
        """(line id, customer ref, house, sold at) of lines still waiting for these customers."""
        out: list[tuple[str, str, uuid.UUID, dt.datetime]] = []
        for chunk in _chunks(list(dict.fromkeys(customer_refs))):
            rows = self.session.execute(
                select(Sale.external_id, Sale.customer_ref, Sale.house_id, Sale.sold_at).where(
                    Sale.source == source, Sale.customer_ref.in_(chunk), Sale.person_id.is_(None)
                )
            )
            out.extend((x, str(c), h, t) for x, c, h, t in rows)
        return out

    def claim_lines(self, source: str, claims: Sequence[dict[str, Any]]) -> None:
        """Give waiting lines their person: ``claims`` = [{"x": line id, "p": person id}]."""
        if claims:
            stmt = (
                update(Sale)
                .where(Sale.source == source, Sale.external_id == bindparam("x"))
                .values(person_id=bindparam("p"))
            )
            self.session.connection().execute(stmt, list(claims))

    def delete_order_lines(self, source: str, order_refs: Sequence[str]) -> int:
        removed = 0
        for chunk in _chunks(list(dict.fromkeys(order_refs))):
            result = self.session.execute(delete(Sale).where(Sale.source == source, Sale.order_ref.in_(chunk)))
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return removed

    # memberships ------------------------------------------------------------------------------
    def existing_memberships(self, source: str, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            out.update(
                self.session.scalars(
                    select(ProgramMembership.external_id).where(
                        ProgramMembership.source == source, ProgramMembership.external_id.in_(chunk)
                    )
                )
            )
        return out

    def add_memberships(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, ProgramMembership.__table__, rows)  # type: ignore[arg-type]

    # relations in bulk ------------------------------------------------------------------------
    def touch_relations(
        self, seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]]
    ) -> list[uuid.UUID]:
        """Widen (first_seen, last_seen) of existing relations, insert new ones with their access
        keys. Returns the people who got a new relation."""
        if not seen:
            return []
        people = list({k[0] for k in seen})
        current: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]] = {}
        have_keys: set[tuple[str, uuid.UUID]] = set()
        for chunk in _chunks(people):
            for r in self.session.execute(
                select(
                    Relation.person_id,
                    Relation.house_id,
                    Relation.kind,
                    Relation.program,
                    Relation.first_seen,
                    Relation.last_seen,
                ).where(Relation.person_id.in_(chunk))
            ):
                current[(r.person_id, r.house_id, r.kind, r.program)] = (r.first_seen, r.last_seen)
            have_keys.update(
                (k, p)
                for k, p in self.session.execute(
                    select(AccessKey.key, AccessKey.person_id).where(
                        AccessKey.person_id.in_(chunk), func.substr(AccessKey.key, 1, 2).in_(("c:", "s:"))
                    )
                )
            )
        new_rows: list[dict[str, Any]] = []
        new_keys: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        added: list[uuid.UUID] = []
        for (pid, hid, kind, program), (first, last) in seen.items():
            old = current.get((pid, hid, kind, program))
            if old is None:
                new_rows.append(
                    {
                        "person_id": pid,
                        "house_id": hid,
                        "kind": kind,
                        "program": program,
                        "first_seen": first,
                        "last_seen": last,
                    }
                )
                key = access_keys.relation_key(kind, hid)
                if (key, pid) not in have_keys:
                    have_keys.add((key, pid))
                    new_keys.append({"key": key, "person_id": pid, "expires_at": None})
                added.append(pid)
            elif first < old[0] or last > old[1]:
                changed.append(
                    {"p": pid, "h": hid, "k": kind, "g": program, "f": min(first, old[0]), "l": max(last, old[1])}
                )
        insert_rows(self.session, Relation.__table__, new_rows)  # type: ignore[arg-type]
        insert_rows(self.session, AccessKey.__table__, new_keys)  # type: ignore[arg-type]
        if changed:
            stmt = (
                update(Relation)
                .where(
                    and_(
                        Relation.person_id == bindparam("p"),
                        Relation.house_id == bindparam("h"),
                        Relation.kind == bindparam("k"),
                        Relation.program == bindparam("g"),
                    )
                )
                .values(first_seen=bindparam("f"), last_seen=bindparam("l"))
            )
            self.session.connection().execute(stmt, changed)
        return list(dict.fromkeys(added))

    # bookmarks --------------------------------------------------------------------------------
    def cursor(self, connector: str, stream: str, partition: str) -> str | None:
        state = self.session.get(ConnectorState, (connector, stream, partition))
        return state.cursor if state is not None else None

    def cursors(self, connector: str) -> Sequence[ConnectorState]:
        return self.session.scalars(
            select(ConnectorState)
            .where(ConnectorState.connector == connector)
            .order_by(ConnectorState.stream, ConnectorState.partition)
        ).all()

    def put_cursor(self, connector: str, stream: str, partition: str, cursor: str, at: dt.datetime) -> None:
        state = self.session.get(ConnectorState, (connector, stream, partition))
        if state is None:
            self.session.add(
                ConnectorState(connector=connector, stream=stream, partition=partition, cursor=cursor, updated_at=at)
            )
        else:
            state.cursor, state.updated_at = cursor, at
        self.session.flush()

    def reset_cursors(self, connector: str) -> int:
        result = self.session.execute(delete(ConnectorState).where(ConnectorState.connector == connector))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # runs -------------------------------------------------------------------------------------
    def run(self, run_id: uuid.UUID) -> SyncRun | None:
        return self.session.get(SyncRun, run_id)

    def running(self, connector: str) -> Sequence[SyncRun]:
        return self.session.scalars(
            select(SyncRun).where(SyncRun.connector == connector, SyncRun.status == "running").with_for_update()
        ).all()

    def add_run(self, run: SyncRun) -> None:
        self.session.add(run)
        self.session.flush()

    def runs(self, connector: str | None, limit: int, before: dt.datetime | None) -> Sequence[SyncRun]:
        stmt = select(SyncRun)
        if connector:
            stmt = stmt.where(SyncRun.connector == connector)
        if before is not None:
            stmt = stmt.where(SyncRun.started_at < before)
        return self.session.scalars(stmt.order_by(SyncRun.started_at.desc(), SyncRun.id).limit(limit)).all()

    def add_skips(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, SyncSkip.__table__, rows)  # type: ignore[arg-type]

    def skip_count(self, run_id: uuid.UUID) -> int:
        return int(
            self.session.scalar(select(func.count()).select_from(SyncSkip).where(SyncSkip.run_id == run_id)) or 0
        )

    def skips(self, run_id: uuid.UUID, limit: int) -> Sequence[SyncSkip]:
        return self.session.scalars(
            select(SyncSkip).where(SyncSkip.run_id == run_id).order_by(SyncSkip.id).limit(limit)
        ).all()
