"""The reports' read-only queries (the access log reads through ``AuditLog.stream``). Nothing here
writes, and nothing reads a ciphertext: a report holds ids, codes, dates and counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from consent_hub.storage.models import (
    ConsentEvent,
    ConsentState,
    DataSubjectRequest,
    DataSubjectRequestPart,
    OutboxDelivery,
)
from consent_hub.vocabulary import ConsentStatus, EffectiveConsentStatus

# the request register's columns (no ciphertext: ``detail_ct`` stays in the database)
REQUEST_COLUMNS = (
    DataSubjectRequest.id,
    DataSubjectRequest.reference,
    DataSubjectRequest.person_id,
    DataSubjectRequest.kind,
    DataSubjectRequest.channel,
    DataSubjectRequest.house,
    DataSubjectRequest.status,
    DataSubjectRequest.received_at,
    DataSubjectRequest.due_at,
    DataSubjectRequest.extended_due_at,
    DataSubjectRequest.extension_reason,
    DataSubjectRequest.verified_at,
    DataSubjectRequest.verification,
    DataSubjectRequest.closed_at,
    DataSubjectRequest.refusal_reason,
    DataSubjectRequest.time_zone,
)


def _period(column: Any, start: dt.datetime | None, end: dt.datetime | None) -> list[Any]:
    out = []
    if start is not None:
        out.append(column >= start)
    if end is not None:
        out.append(column < end)
    return out


class ReportingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _month(self, column: Any) -> Any:
        """``YYYY-MM`` of a UTC timestamp (SQLite stores naive UTC text)."""
        if self._dialect == "sqlite":
            return func.strftime("%Y-%m", column)
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")

    # -- consent coverage ----------------------------------------------------------------------
    def consent_state_counts(self, house: str | None, now: dt.datetime) -> list[tuple[str, str, str, str, int]]:
        """(target kind, target ref, purpose, effective status, people) over the current states; a
        grant past its expiry counts as expired, as ``consent.states.effective_status`` reads it."""
        effective = case(
            (
                and_(
                    ConsentState.status == ConsentStatus.GRANTED,
                    ConsentState.expires_at.is_not(None),
                    ConsentState.expires_at <= now,
                ),
                EffectiveConsentStatus.EXPIRED.value,
            ),
            else_=ConsentState.status,
        ).label("effective")
        stmt = select(
            ConsentState.target_kind, ConsentState.target_ref, ConsentState.purpose, effective, func.count()
        ).group_by(ConsentState.target_kind, ConsentState.target_ref, ConsentState.purpose, effective)
        if house is not None:
            stmt = stmt.where(ConsentState.target_kind == "house", ConsentState.target_ref == house)
        rows = self.session.execute(stmt).all()
        return sorted((str(k), str(r), str(p), str(s), int(n)) for k, r, p, s, n in rows)

    def consent_events_by_month(
        self, house: str | None, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[tuple[str, str, str, int]]:
        """(month YYYY-MM of ``given_at`` in UTC, purpose, status, events)."""
        month = self._month(ConsentEvent.given_at).label("month")
        stmt = (
            select(month, ConsentEvent.purpose, ConsentEvent.status, func.count())
            .where(*_period(ConsentEvent.given_at, start, end))
            .group_by(month, ConsentEvent.purpose, ConsentEvent.status)
        )
        if house is not None:
            stmt = stmt.where(ConsentEvent.target_kind == "house", ConsentEvent.target_ref == house)
        return sorted((str(m), str(p), str(s), int(n)) for m, p, s, n in self.session.execute(stmt).all())

    # -- the request register ------------------------------------------------------------------
    def requests(
        self, house: str | None, start: dt.datetime | None, end: dt.datetime | None, batch: int = 1_000
    ) -> Iterator[Any]:
        """Every request received in the period (by receipt, then id), keyset-paged; a house's
        register holds the requests it has a part of, as the request desk's own listing does."""
        conditions = _period(DataSubjectRequest.received_at, start, end)
        if house is not None:
            conditions.append(
                exists().where(
                    DataSubjectRequestPart.request_id == DataSubjectRequest.id,
                    DataSubjectRequestPart.house == house,
                )
            )
        after: tuple[dt.datetime, uuid.UUID] | None = None
        while True:
            stmt = select(*REQUEST_COLUMNS).where(*conditions)
            if after is not None:
                stmt = stmt.where(
                    or_(
                        DataSubjectRequest.received_at > after[0],
                        and_(DataSubjectRequest.received_at == after[0], DataSubjectRequest.id > after[1]),
                    )
                )
            rows = self.session.execute(
                stmt.order_by(DataSubjectRequest.received_at, DataSubjectRequest.id).limit(batch)
            ).all()
            yield from rows
            if len(rows) < batch:
                return
            after = (rows[-1].received_at, rows[-1].id)

    def request_parts(self, request_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[tuple[str, str]]]:
        """request id -> [(house, part status)] in house order."""
        out: dict[uuid.UUID, list[tuple[str, str]]] = {}
        if not request_ids:
            return out
        stmt = (
            select(DataSubjectRequestPart.request_id, DataSubjectRequestPart.house, DataSubjectRequestPart.status)
            .where(DataSubjectRequestPart.request_id.in_(list(request_ids)))
            .order_by(DataSubjectRequestPart.request_id, DataSubjectRequestPart.house)
        )
        for request_id, part_house, status in self.session.execute(stmt):
            out.setdefault(request_id, []).append((part_house, status))
        return out

    # -- propagation ---------------------------------------------------------------------------
    def delivery_counts(
        self, start: dt.datetime | None, end: dt.datetime | None
    ) -> list[tuple[str, str, int, int, dt.datetime | None]]:
        """(destination, status, deliveries, of which failed at least once, last delivered at) for
        deliveries created in the period. A failure is a retry (attempts > 1) or a recorded error."""
        failed = func.sum(case((or_(OutboxDelivery.attempts > 1, OutboxDelivery.last_error.is_not(None)), 1), else_=0))
        stmt = (
            select(
                OutboxDelivery.destination,
                OutboxDelivery.status,
                func.count(),
                failed,
                func.max(OutboxDelivery.delivered_at),
            )
            .where(*_period(OutboxDelivery.created_at, start, end))
            .group_by(OutboxDelivery.destination, OutboxDelivery.status)
        )
        rows = self.session.execute(stmt).all()
        return sorted(
            ((str(d), str(s), int(n), int(f or 0), _aware(last)) for d, s, n, f, last in rows),
            key=lambda r: (r[0], r[1]),
        )

    def delivery_times(
        self, start: dt.datetime | None, end: dt.datetime | None, batch: int = 10_000
    ) -> Iterator[tuple[str, dt.datetime, dt.datetime]]:
        """(destination, created at, delivered at) of every delivered delivery created in the period."""
        stmt = (
            select(OutboxDelivery.destination, OutboxDelivery.created_at, OutboxDelivery.delivered_at)
            .where(OutboxDelivery.delivered_at.is_not(None), *_period(OutboxDelivery.created_at, start, end))
            .execution_options(yield_per=batch)
        )
        for destination, created, delivered in self.session.execute(stmt):
            if delivered is not None:
                yield str(destination), created, delivered


def _aware(value: Any) -> dt.datetime | None:
    """An aggregate loses the column type on SQLite (text comes back): parse it as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value  # type: ignore[no-any-return]
