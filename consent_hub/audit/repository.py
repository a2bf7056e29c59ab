"""Audit queries. The only writes are INSERTs, the head row's move and the removal of queued
entries once they are chained."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from consent_hub.audit.schemas import AuditFilter
from consent_hub.storage.bulk import insert_rows
from consent_hub.storage.models import AuditCheckpoint, AuditEntry, AuditHead, AuditQueued, AuditSubject

ENTRY_COLUMNS = (
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.house,
    AuditEntry.role,
    AuditEntry.purpose,
    AuditEntry.action,
    AuditEntry.subjects,
    AuditEntry.fields,
    AuditEntry.detail,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)


# built once: the writers' and the sequencer's statements run for every audited change
_HEAD = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
_LOCK_HEAD = _HEAD.with_for_update()
_TRY_LOCK_HEAD = _HEAD.with_for_update(skip_locked=True)
_MOVE_HEAD = update(AuditHead).where(AuditHead.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash"))
_ENQUEUE = insert(AuditQueued)
# PostgreSQL: the oldest queued entries taken out of the queue in one statement (their removal is
# checked at commit, when their chained entries must exist)
_TAKE_QUEUED = (
    delete(AuditQueued)
    .where(
        AuditQueued.id.in_(select(AuditQueued.id).order_by(AuditQueued.id).limit(bindparam("limit")).scalar_subquery())
    )
    .returning(
        AuditQueued.id,
        AuditQueued.at,
        AuditQueued.actor,
        AuditQueued.house,
        AuditQueued.role,
        AuditQueued.purpose,
        AuditQueued.action,
        AuditQueued.subjects,
        AuditQueued.fields,
        AuditQueued.detail,
    )
)


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_head(self) -> tuple[int, bytes]:
        row = self.session.execute(_LOCK_HEAD).one()
        return int(row.seq), bytes(row.hash)

    def try_lock_head(self) -> tuple[int, bytes] | None:
        """The head, locked, or None at once if another transaction holds it (PostgreSQL)."""
        row = self.session.execute(_TRY_LOCK_HEAD).first()
        return None if row is None else (int(row.seq), bytes(row.hash))

    def enqueue(self, rows: Sequence[dict[str, Any]]) -> None:
        if len(rows) < 50:
            self.session.connection().execute(_ENQUEUE, list(rows))
        else:  # an import's page: COPY on PostgreSQL
            insert_rows(self.session, AuditQueued.__table__, rows)  # type: ignore[arg-type]

    def take_queued(self, limit: int) -> list[Any]:
        """Remove and return the oldest queued entries, in queue order (PostgreSQL); the caller
        must chain them in the same transaction, or the commit is refused."""
        return sorted(self.session.execute(_TAKE_QUEUED, {"limit": limit}).all(), key=lambda q: q.id)

    def queue_length(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(AuditQueued)) or 0)

    def read_head(self) -> tuple[int, bytes] | None:
        row = self.session.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
        return None if row is None else (int(row.seq), bytes(row.hash))

    def move_head(self, seq: int, head_hash: bytes) -> None:
        self.session.execute(_MOVE_HEAD, {"seq": seq, "hash": head_hash})

    def insert_entries(self, rows: Sequence[dict[str, Any]], subjects: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, AuditEntry.__table__, rows)  # type: ignore[arg-type]
        insert_rows(self.session, AuditSubject.__table__, subjects)  # type: ignore[arg-type]

    def stream_raw(self, batch: int = 20_000) -> Iterator[tuple[Any, ...]]:
        """Driver rows (seq, at, actor, house, role, purpose, action, subjects, fields, detail,
        prev_hash, hash) in sequence order; ``at`` is SQLite's stored text or a datetime.
        Verification reads every entry: this skips SQLAlchemy's per-row type processing."""
        conn = self.session.connection().execution_options(stream_results=True, yield_per=batch)
        result = conn.exec_driver_sql(
            "SELECT seq, at, actor, house, role, purpose, action, subjects, fields, detail, prev_hash, hash "
            "FROM audit_entries ORDER BY seq"
        )
        for row in result:
            yield tuple(row)

    def stream_entries(self, batch: int = 20_000) -> Iterator[Any]:
        # Core rows through the session's connection: no ORM identity work per row
        result = self.session.connection().execute(
            select(*ENTRY_COLUMNS).order_by(AuditEntry.seq).execution_options(yield_per=batch)
        )
        yield from result

    def entry_action(self, seq: int) -> str | None:
        return self.session.scalar(select(AuditEntry.action).where(AuditEntry.seq == seq))

    def checkpoints(self) -> Sequence[AuditCheckpoint]:
        return self.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()

    def add_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        self.session.add(checkpoint)

    def entries_for_person(
        self, person_id: uuid.UUID, limit: int = 100, before: int | None = None
    ) -> Sequence[AuditEntry]:
        stmt = (
            select(AuditEntry)
            .join(AuditSubject, AuditSubject.seq == AuditEntry.seq)
            .where(AuditSubject.person_id == person_id)
        )
        if before is not None:
            stmt = stmt.where(AuditEntry.seq < before)
        return self.session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).all()

    def entries(self, limit: int = 100, before: int | None = None) -> Sequence[AuditEntry]:
        stmt = select(AuditEntry)
        if before is not None:
            stmt = stmt.where(AuditEntry.seq < before)
        return self.session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).all()

    # -- the DPO's search -----------------------------------------------------------------------
    @staticmethod
    def _filtered(stmt: Any, flt: AuditFilter) -> Any:
        if flt.person is not None:
            stmt = stmt.join(AuditSubject, AuditSubject.seq == AuditEntry.seq).where(
                AuditSubject.person_id == flt.person
            )
        for column, value in (
            (AuditEntry.actor, flt.actor),
            (AuditEntry.house, flt.house),
            (AuditEntry.role, flt.role),
            (AuditEntry.purpose, flt.purpose),
            (AuditEntry.action, flt.action),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if flt.start is not None:
            stmt = stmt.where(AuditEntry.at >= flt.start)
        if flt.end is not None:
            stmt = stmt.where(AuditEntry.at < flt.end)
        return stmt

    def search(self, flt: AuditFilter, limit: int, before: int | None = None) -> Sequence[AuditEntry]:
        """A page of matching entries, newest first; ``before`` is the cursor (a sequence number)."""
        stmt = self._filtered(select(AuditEntry), flt)
        if before is not None:
            stmt = stmt.where(AuditEntry.seq < before)
        return self.session.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit)).all()

    def count_matching(self, flt: AuditFilter) -> int:
        stmt = self._filtered(select(func.count()).select_from(AuditEntry), flt)
        return int(self.session.scalar(stmt) or 0)

    def stream_matching(self, flt: AuditFilter, batch: int = 5_000) -> Iterator[Any]:
        """Every matching entry in sequence order as Core rows (ENTRY_COLUMNS), fetched by keyset
        pages: memory stays bounded by ``batch`` whatever the size of the log, on both databases."""
        after = 0
        while True:
            stmt = self._filtered(select(*ENTRY_COLUMNS), flt).where(AuditEntry.seq > after)
            rows = self.session.connection().execute(stmt.order_by(AuditEntry.seq).limit(batch)).all()
            if not rows:
                return
            yield from rows
            after = int(rows[-1].seq)
            if len(rows) < batch:
                return
