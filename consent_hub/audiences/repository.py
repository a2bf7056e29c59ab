"""Segments as one SQL statement: purchase-history filters AND the caller's visibility predicate
(which carries the purpose's consent requirement). Nothing is decided per row in Python."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, Uuid, and_, cast, distinct, func, or_, select
from sqlalchemy.orm import Session

from consent_hub.access.repository import Scope, visible
from consent_hub.audiences.schemas import SegmentFilters
from consent_hub.storage.bulk import among, insert_rows
from consent_hub.storage.models import (
    AudienceExport,
    AudienceExportMember,
    ConsentState,
    Event,
    House,
    Person,
    Sale,
    Segment,
)


def _day(value: dt.date) -> dt.datetime:
    return dt.datetime.combine(value, dt.time(), dt.UTC)


def line_filters(f: SegmentFilters, house_ids: dict[str, uuid.UUID]) -> list[Any]:
    where: list[Any] = []
    if f.houses:
        where.append(Sale.house_id.in_([house_ids[h] for h in f.houses if h in house_ids] or [uuid.UUID(int=0)]))
    if f.uit_event_types:
        where.append(Event.uit_event_type.in_(f.uit_event_types))
    if f.categories:
        where.append(_any_category(f.categories))
    if f.ticket_types:
        where.append(Sale.ticket_type.in_(f.ticket_types))
    if f.programs:
        where.append(Sale.program.in_(f.programs))
    if f.performance_from:
        where.append(Event.starts_at >= _day(f.performance_from))
    if f.performance_to:
        where.append(Event.starts_at < _day(f.performance_to) + dt.timedelta(days=1))
    if f.bought_from:
        where.append(Sale.sold_at >= _day(f.bought_from))
    if f.bought_to:
        where.append(Sale.sold_at < _day(f.bought_to) + dt.timedelta(days=1))
    return where


def _any_category(categories: Sequence[str]) -> Any:
    # the engine's category names are stored as a JSON list: match the quoted name
    return or_(*(Event.categories.contains(f'"{c}"', autoescape=True) for c in categories))


def buyer_filters(f: SegmentFilters) -> list[Any]:
    having: list[Any] = []
    visits = func.count(distinct(Sale.event_id))
    spend = func.sum(Sale.price * Sale.ticket_count)
    if f.min_visits is not None:
        having.append(visits >= f.min_visits)
    if f.max_visits is not None:
        having.append(visits <= f.max_visits)
    if f.min_spend_cents is not None:
        having.append(spend >= f.min_spend_cents)
    if f.max_spend_cents is not None:
        having.append(spend <= f.max_spend_cents)
    if f.first_visit_after is not None:
        having.append(func.min(Sale.sold_at) >= _day(f.first_visit_after))
    if f.last_visit_after is not None:
        having.append(func.max(Sale.sold_at) >= _day(f.last_visit_after))
    if f.last_visit_before is not None:
        having.append(func.max(Sale.sold_at) < _day(f.last_visit_before))
    return having


class AudienceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def house_ids(self) -> dict[str, uuid.UUID]:
        return {s: i for s, i in self.session.execute(select(House.slug, House.id))}

    def _buyers(self, f: SegmentFilters) -> Select[Any]:
        stmt = (
            select(Sale.person_id)
            .join(Event, Event.id == Sale.event_id)
            .where(Sale.person_id.is_not(None), Sale.ticket_count > 0, *line_filters(f, self.house_ids()))
            .group_by(Sale.person_id)
        )
        having = buyer_filters(f)
        return stmt.having(and_(*having)) if having else stmt

    def members_statement(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()
    ) -> Select[Any]:
        """The one statement: visible (and so consented) people among the matching buyers;
        ``person`` adds conditions on the people's coarse indexes (language, postal area)."""
        return select(Person.id).where(visible(bases, scope), Person.id.in_(self._buyers(f)), *person)

    def count(self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()) -> int:
        inner = self.members_statement(f, bases, scope, person).subquery()
        return int(self.session.scalar(select(func.count()).select_from(inner)) or 0)

    def members(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()
    ) -> list[uuid.UUID]:
        return list(self.session.scalars(self.members_statement(f, bases, scope, person)))

    def breakdown(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, by: str, person: Sequence[Any] = ()
    ) -> dict[str, int]:
        """Members per house, event type or month of their matching ticket lines."""
        if by == "house":
            dim: Any = House.slug
        elif by == "event_type":
            dim = func.coalesce(Event.uit_event_type, "unclassified")
        else:
            dim = func.substr(cast(Sale.sold_at, String), 1, 7)
        members = self.members_statement(f, bases, scope, person).subquery()
        stmt = (
            select(dim, func.count(distinct(Sale.person_id)))
            .join(Event, Event.id == Sale.event_id)
            .join(House, House.id == Sale.house_id)
            .where(Sale.person_id.in_(select(members.c.id)), Sale.ticket_count > 0, *line_filters(f, self.house_ids()))
            .group_by(dim)
        )
        return {str(k): int(n) for k, n in self.session.execute(stmt)}

    def consent_events(self, people: Sequence[uuid.UUID], purpose: str, house: str) -> dict[uuid.UUID, uuid.UUID]:
        """The consent event each member's eligibility rests on (house-scoped state), if any."""
        out: dict[uuid.UUID, uuid.UUID] = {}
        for clause in among(self.session, ConsentState.person_id, people, Uuid()):
            rows = self.session.execute(
                select(ConsentState.person_id, ConsentState.event_id).where(
                    clause,
                    ConsentState.purpose == purpose,
                    ConsentState.status == "granted",
                    ConsentState.target_ref.in_((house,)),
                )
            )
            out.update({p: e for p, e in rows})
        return out

    # saved segments and exports -----------------------------------------------------------------
    def add_segment(self, segment: Segment) -> None:
        self.session.add(segment)
        self.session.flush()

    def segment(self, segment_id: uuid.UUID) -> Segment | None:
        return self.session.get(Segment, segment_id)

    def segments_of(self, house: str) -> Sequence[Segment]:
        return self.session.scalars(select(Segment).where(Segment.house == house).order_by(Segment.name)).all()

    def segment_named(self, house: str, name: str) -> Segment | None:
        return self.session.scalar(select(Segment).where(Segment.house == house, Segment.name == name))

    def add_export(self, export: AudienceExport, members: Sequence[dict[str, Any]]) -> None:
        self.session.add(export)
        self.session.flush()
        insert_rows(self.session, AudienceExportMember.__table__, members)  # type: ignore[arg-type]
