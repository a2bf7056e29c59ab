from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, Uuid, and_, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from consent_hub.storage.bulk import among, insert_rows, upsert_rows
from consent_hub.storage.models import ConsentState, OutboxDelivery, Person
from consent_hub.vocabulary import NOTHING_SENT, ConsentStatus, DeliveryKind, DeliveryStatus, PersonStatus

ANALYZE_FROM = 1000  # deliveries enqueued in one call that refresh the outbox's statistics

OUTBOX: Table = OutboxDelivery.__table__  # type: ignore[assignment]


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, OUTBOX, rows)
        if len(rows) >= ANALYZE_FROM and self.session.get_bind().dialect.name == "postgresql":
            # A burst (an export pushed to a destination) can multiply the queue within one
            # transaction, long before autovacuum samples it. Planned with the old statistics, the
            # claim's "no older pending delivery" check becomes a nested loop over the whole burst
            # (measured: 8 s for the first claim of 5,000). ANALYZE counts this transaction's rows.
            self.session.execute(text("ANALYZE outbox"))

    def add_new(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert rows (each with a dedupe key) whose dedupe key is not there yet; returns how
        many were new."""
        if any(r["dedupe_key"] is None for r in rows):
            raise ValueError("add_new needs a dedupe key on every row")
        return upsert_rows(self.session, OUTBOX, rows, ["dedupe_key"])

    def get(self, delivery_id: uuid.UUID) -> OutboxDelivery | None:
        return self.session.get(OutboxDelivery, delivery_id)

    def _people_among(self, destination: str, people: Sequence[uuid.UUID], *conditions: Any) -> set[uuid.UUID]:
        out: set[uuid.UUID] = set()
        for clause in among(self.session, OutboxDelivery.person_id, people, Uuid()):
            where = (clause, OutboxDelivery.destination == destination, *conditions)
            stmt = select(OutboxDelivery.person_id).where(*where)
            out.update(p for p in self.session.scalars(stmt) if p is not None)
        return out

    def active_people(self, people: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``people`` who are active (a restricted person's decisions wait for the lift)."""
        out: set[uuid.UUID] = set()
        for clause in among(self.session, Person.id, people, Uuid()):
            out.update(self.session.scalars(select(Person.id).where(clause, Person.status == PersonStatus.ACTIVE)))
        return out

    def known_people(self, destination: str, people: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """People this destination received, or is about to receive, an upsert for."""
        return self._people_among(
            destination,
            people,
            OutboxDelivery.kind == DeliveryKind.UPSERT,
            or_(
                OutboxDelivery.status == DeliveryStatus.PENDING,
                and_(OutboxDelivery.status == DeliveryStatus.DELIVERED, OutboxDelivery.sent_as == DeliveryKind.UPSERT),
            ),
        )

    def delivered_people(self, destination: str) -> list[uuid.UUID]:
        """Everyone this destination was ever sent a subscription for."""
        rows = self.session.scalars(
            select(OutboxDelivery.person_id)
            .where(
                OutboxDelivery.destination == destination,
                OutboxDelivery.status == DeliveryStatus.DELIVERED,
                OutboxDelivery.sent_as == DeliveryKind.UPSERT,
                OutboxDelivery.person_id.is_not(None),
            )
            .distinct()
        )
        return [p for p in rows if p is not None]

    def get_many(self, ids: Sequence[uuid.UUID]) -> list[OutboxDelivery]:
        found: dict[uuid.UUID, OutboxDelivery] = {}
        for clause in among(self.session, OutboxDelivery.id, ids, Uuid()):
            found.update({d.id: d for d in self.session.scalars(select(OutboxDelivery).where(clause))})
        return [found[i] for i in ids if i in found]

    def delivered_among(self, destination: str, people: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``people`` this destination was sent a subscription for."""
        return self._people_among(
            destination,
            people,
            OutboxDelivery.status == DeliveryStatus.DELIVERED,
            OutboxDelivery.sent_as == DeliveryKind.UPSERT,
        )

    def granted_among(
        self, people: Sequence[uuid.UUID], purpose: str, kind: str, ref: str, now: dt.datetime
    ) -> set[uuid.UUID]:
        out: set[uuid.UUID] = set()
        for clause in among(self.session, ConsentState.person_id, people, Uuid()):
            out.update(
                self.session.scalars(
                    select(ConsentState.person_id).where(
                        clause,
                        ConsentState.purpose == purpose,
                        ConsentState.target_kind == kind,
                        ConsentState.target_ref == ref,
                        ConsentState.status == ConsentStatus.GRANTED,
                        or_(ConsentState.expires_at.is_(None), ConsentState.expires_at > now),
                    )
                )
            )
        return out

    def supersede_waiting(self, person_id: uuid.UUID, kinds: Sequence[str]) -> None:
        self.session.execute(
            update(OutboxDelivery)
            .where(
                OutboxDelivery.person_id == person_id,
                OutboxDelivery.status == DeliveryStatus.PENDING,
                OutboxDelivery.kind.in_(kinds),
            )
            .values(status=DeliveryStatus.SUPERSEDED, sent_as=NOTHING_SENT)
        )

    def forget_answers(self, person_id: uuid.UUID, *, destination: str | None = None) -> int:
        """Clear the payloads, receipts and errors of a person's deliveries (to one destination,
        or all), erase deliveries excepted: what a destination answered may echo what it knows
        the person by (a Mailchimp member id is the MD5 of the address). Kind, cause, status and
        dates stay: what was sent, and when."""
        conditions = [OutboxDelivery.person_id == person_id, OutboxDelivery.kind != DeliveryKind.ERASE]
        if destination is not None:
            conditions.append(OutboxDelivery.destination == destination)
        touched = or_(
            OutboxDelivery.payload != "{}", OutboxDelivery.receipt.is_not(None), OutboxDelivery.last_error.is_not(None)
        )
        result = self.session.execute(
            update(OutboxDelivery)
            .where(*conditions, touched)
            .values(payload="{}", receipt=None, last_error=None)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def expired_grants(
        self, destination: str, purpose: str, house: str | None, now: dt.datetime
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(person, event) of grants for this destination's audience that have expired, for people
        the destination received."""
        kind = "house" if house else "cluster"
        ref_match = ConsentState.target_ref == house if house else ConsentState.target_ref.is_not(None)
        delivered = select(OutboxDelivery.person_id).where(
            OutboxDelivery.destination == destination,
            OutboxDelivery.status == DeliveryStatus.DELIVERED,
            OutboxDelivery.sent_as == DeliveryKind.UPSERT,
        )
        rows = self.session.execute(
            select(ConsentState.person_id, ConsentState.event_id).where(
                ConsentState.purpose == purpose,
                ConsentState.target_kind == kind,
                ref_match,
                ConsentState.status == ConsentStatus.GRANTED,
                ConsentState.expires_at.is_not(None),
                ConsentState.expires_at <= now,
                ConsentState.person_id.in_(delivered),
            )
        )
        return [(p, e) for p, e in rows]

    def claim_with_destination(self, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[tuple[uuid.UUID, str]]:
        ids = self.claim(now, limit, lease)
        destinations: dict[uuid.UUID, str] = {}
        for clause in among(self.session, OutboxDelivery.id, ids, Uuid()):
            destinations.update(
                {
                    i: d
                    for i, d in self.session.execute(
                        select(OutboxDelivery.id, OutboxDelivery.destination).where(clause)
                    )
                }
            )
        return [(i, destinations[i]) for i in ids]

    def claim(self, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[uuid.UUID]:
        """Due deliveries, oldest first, at most one per (destination, person) at a time; claimed
        by pushing their next attempt past a lease (so a crashed worker's claim expires)."""
        older = aliased(OutboxDelivery)
        waiting_before = exists().where(
            older.destination == OutboxDelivery.destination,
            older.person_id == OutboxDelivery.person_id,
            older.status == DeliveryStatus.PENDING,
            older.created_at < OutboxDelivery.created_at,
        )
        stmt = (
            select(OutboxDelivery.id)
            .where(
                OutboxDelivery.status == DeliveryStatus.PENDING, OutboxDelivery.next_attempt_at <= now, ~waiting_before
            )
            .order_by(OutboxDelivery.created_at)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxDelivery)
        ids = list(self.session.scalars(stmt))
        for clause in among(self.session, OutboxDelivery.id, ids, Uuid()):
            self.session.execute(update(OutboxDelivery).where(clause).values(next_attempt_at=now + lease))
        return ids

    def of_person(self, person_id: uuid.UUID) -> Sequence[OutboxDelivery]:
        return self.session.scalars(
            select(OutboxDelivery).where(OutboxDelivery.person_id == person_id).order_by(OutboxDelivery.created_at)
        ).all()

    def listing(self, status: str | None, destination: str | None, limit: int) -> Sequence[OutboxDelivery]:
        stmt = select(OutboxDelivery)
        if status:
            stmt = stmt.where(OutboxDelivery.status == status)
        if destination:
            stmt = stmt.where(OutboxDelivery.destination == destination)
        return self.session.scalars(stmt.order_by(OutboxDelivery.created_at.desc()).limit(limit)).all()

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for dest, status, n in self.session.execute(
            select(OutboxDelivery.destination, OutboxDelivery.status, func.count()).group_by(
                OutboxDelivery.destination, OutboxDelivery.status
            )
        ):
            out.setdefault(dest, {})[status] = int(n)
        return out

    def last_delivered(self) -> dict[str, tuple[dt.datetime, str | None]]:
        """Per destination: when its latest delivery was acknowledged, and that delivery's receipt."""
        latest = (
            select(OutboxDelivery.destination, func.max(OutboxDelivery.delivered_at).label("at"))
            .where(OutboxDelivery.delivered_at.is_not(None))
            .group_by(OutboxDelivery.destination)
            .subquery()
        )
        rows = self.session.execute(
            select(OutboxDelivery.destination, OutboxDelivery.delivered_at, OutboxDelivery.receipt)
            .join(
                latest,
                and_(latest.c.destination == OutboxDelivery.destination, latest.c.at == OutboxDelivery.delivered_at),
            )
            .order_by(OutboxDelivery.destination)
        )
        out: dict[str, tuple[dt.datetime, str | None]] = {}
        for dest, at, receipt in rows:
            if at is not None:
                out.setdefault(dest, (at, receipt))
        return out
