"""Queries of the ingest domain: engine customers, events, sales, memberships, relations in bulk,
stream bookmarks and sync runs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, bindparam, delete, func, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from consent_hub.storage import access_keys
from consent_hub.storage.bulk import among, insert_rows
from consent_hub.storage.models import (
    ConnectorState,
    EngineCustomer,
    Event,
    House,
    ProgramMembership,
    Sale,
    SyncRun,
    SyncSkip,
    VisitBitsDirty,
)
from consent_hub.vocabulary import SyncRunStatus

ANALYZED = (
    "engine_customers",
    "people",
    "events",
    "sales",
    "relations",
    "access_keys",
    "consent_states",
    "consent_events",
    "program_memberships",
)
# a table is analysed again once the rows changed since its last statistics reach its size (and
# at least this many): PostgreSQL scales the row counts of older statistics by the table's size on
# disk, so the per-page lookups' plans stay right while it grows; what they need is a first sample
ANALYZE_GROWTH = 1.0
ANALYZE_LEAST_CHANGES = 500


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
        for clause in among(self.session, EngineCustomer.external_id, ids, String()):
            rows = self.session.scalars(select(EngineCustomer).where(EngineCustomer.source == source, clause))
            out.update({r.external_id: r for r in rows})
        return out

    def engine_people(self, source: str, ids: Sequence[str]) -> dict[str, tuple[uuid.UUID | None, str]]:
        """external id -> (person id, status), without ORM objects (sales pages)."""
        out: dict[str, tuple[uuid.UUID | None, str]] = {}
        for clause in among(self.session, EngineCustomer.external_id, ids, String()):
            rows = self.session.execute(
                select(EngineCustomer.external_id, EngineCustomer.person_id, EngineCustomer.status).where(
                    EngineCustomer.source == source, clause
                )
            )
            out.update({x: (p, st) for x, p, st in rows})
        return out

    def add_engine_customers(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, EngineCustomer.__table__, rows)  # type: ignore[arg-type]

    # events -----------------------------------------------------------------------------------
    def events(self, source: str, ids: Sequence[str]) -> dict[str, Event]:
        out: dict[str, Event] = {}
        for clause in among(self.session, Event.external_id, ids, String()):
            rows = self.session.scalars(select(Event).where(Event.source == source, clause))
            out.update({r.external_id: r for r in rows})
        return out

    def event_ids(self, source: str, ids: Sequence[str]) -> dict[str, uuid.UUID]:
        out: dict[str, uuid.UUID] = {}
        for clause in among(self.session, Event.external_id, ids, String()):
            rows = self.session.execute(select(Event.external_id, Event.id).where(Event.source == source, clause))
            out.update({ext: eid for ext, eid in rows})
        return out

    def add_events(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, Event.__table__, rows)  # type: ignore[arg-type]

    # sales ------------------------------------------------------------------------------------
    def existing_sales(self, source: str, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for clause in among(self.session, Sale.external_id, ids, String()):
            out.update(self.session.scalars(select(Sale.external_id).where(Sale.source == source, clause)))
        return out

    def add_sales(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, Sale.__table__, rows)  # type: ignore[arg-type]

    def pending_lines(self, source: str, customer_refs: Sequence[str]) -> list[tuple[str, str, uuid.UUID, dt.datetime]]:
        """(line id, customer ref, house, sold at) of lines still waiting for these customers."""
        out: list[tuple[str, str, uuid.UUID, dt.datetime]] = []
        for clause in among(self.session, Sale.customer_ref, customer_refs, String()):
            rows = self.session.execute(
                select(Sale.external_id, Sale.customer_ref, Sale.house_id, Sale.sold_at).where(
                    Sale.source == source, clause, Sale.person_id.is_(None)
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
        for clause in among(self.session, Sale.order_ref, order_refs, String()):
            result = self.session.execute(delete(Sale).where(Sale.source == source, clause))
            removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return removed

    # memberships ------------------------------------------------------------------------------
    def existing_memberships(self, source: str, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for clause in among(self.session, ProgramMembership.external_id, ids, String()):
            out.update(
                self.session.scalars(
                    select(ProgramMembership.external_id).where(ProgramMembership.source == source, clause)
                )
            )
        return out

    def add_memberships(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, ProgramMembership.__table__, rows)  # type: ignore[arg-type]

    # relations in bulk ------------------------------------------------------------------------
    def touch_relations(
        self, seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]]
    ) -> list[uuid.UUID]:
        return access_keys.touch_relations(self.session, seen)

    def refresh_statistics(self) -> list[str]:
        """ANALYZE those of the tables a sync fills that doubled since their last statistics.
        A first sync grows them from empty within minutes, long before autovacuum samples them, and
        PostgreSQL would keep planning the per-page id lookups as scans of a table it believes
        empty: one page then costs rows x page size comparisons. Tables the running stream does not
        write keep their statistics (an ANALYZE of 100,000 people samples 30,000 wide rows).
        Returns the tables analysed."""
        if self.session.get_bind().dialect.name != "postgresql":
            return []
        grown = self.session.scalars(
            text(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
                "WHERE s.schemaname = current_schema() AND s.relname = ANY(:tables) "
                "AND s.n_mod_since_analyze >= greatest(:least, c.reltuples * :share)"
            ),
            {"tables": list(ANALYZED), "least": ANALYZE_LEAST_CHANGES, "share": ANALYZE_GROWTH},
        ).all()
        analysed = [table for table in ANALYZED if table in grown]
        for table in analysed:
            self.session.execute(text(f"ANALYZE {table}"))
        return analysed

    # erasure ----------------------------------------------------------------------------------
    def forget_engine_records(self, person_id: uuid.UUID) -> list[tuple[str, str]]:
        """Drop what ties an erased person to the engines' copies of them: their engine customer
        mappings, the customer id on their ticket lines (the lines stay, without it, so the
        houses' totals stay right) and the skip reports naming those records. Returns the
        (source, engine id) pairs forgotten. A later read of such a record finds the address on
        the suppression list, which keeps it out.

        Called by the erasure after its audit entry: on PostgreSQL that entry holds the audit
        head, which the ``sales`` trigger and the bitmap refresh take first, so no other
        transaction marks or clears (event, house) pairs meanwhile."""
        records = [
            (str(source), str(external_id))
            for source, external_id in self.session.execute(
                select(EngineCustomer.source, EngineCustomer.external_id).where(EngineCustomer.person_id == person_id)
            )
        ]
        self.session.execute(delete(EngineCustomer).where(EngineCustomer.person_id == person_id))
        self._unlink_lines(person_id, records)
        for source, external_id in records:
            # a customer's skip is reported by its id, an opt-in's or a field's as "<id>:<what>"
            # (a sale or membership skip whose own id happens to be equal goes too: a report, no data)
            runs = select(SyncRun.id).where(SyncRun.connector == source)
            self.session.execute(
                delete(SyncSkip).where(
                    SyncSkip.run_id.in_(runs),
                    or_(
                        SyncSkip.record_ref == external_id,
                        func.substr(SyncSkip.record_ref, 1, len(external_id) + 1) == f"{external_id}:",
                    ),
                )
            )
        return records

    def _unlink_lines(self, person_id: uuid.UUID, records: Sequence[tuple[str, str]]) -> None:
        """Clear the customer id of the person's ticket lines. Who attended what does not change,
        so the segment bitmaps stay exact; the ``sales`` trigger marks every updated line's
        (event, house) pair for a refresh all the same, and those marks are taken back (pairs
        marked before stay marked)."""
        lines = select(Sale.event_id, Sale.house_id).where(Sale.person_id == person_id, Sale.customer_ref.is_not(None))
        pairs = {(e, h) for e, h in self.session.execute(lines.distinct())}
        pair = tuple_(VisitBitsDirty.event_id, VisitBitsDirty.house_id)
        already = select(VisitBitsDirty.event_id, VisitBitsDirty.house_id).where(pair.in_(sorted(pairs)))
        marked = {(e, h) for e, h in self.session.execute(already)} if pairs else set()
        self.session.execute(
            update(Sale)
            .where(Sale.person_id == person_id, Sale.customer_ref.is_not(None))
            .values(customer_ref=None)
            .execution_options(synchronize_session=False)
        )
        for source, external_id in records:  # lines still waiting for one of those records
            self.session.execute(
                update(Sale)
                .where(Sale.source == source, Sale.customer_ref == external_id, Sale.person_id.is_(None))
                .values(customer_ref=None)
                .execution_options(synchronize_session=False)
            )
        if fresh := sorted(pairs - marked):
            self.session.execute(delete(VisitBitsDirty).where(pair.in_(fresh)))

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
            select(SyncRun)
            .where(SyncRun.connector == connector, SyncRun.status == SyncRunStatus.RUNNING)
            .with_for_update()
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
