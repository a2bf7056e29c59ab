"""Segments as one SQL statement: purchase-history filters AND the caller's visibility predicate
(which carries the purpose's consent requirement). Nothing is decided per row in Python."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, Uuid, and_, cast, distinct, func, insert, literal, or_, select, text, union_all
from sqlalchemy.orm import Session

from consent_hub.access.predicates import Scope, basis_key, visible
from consent_hub.audiences.bitmaps import SegmentBitmaps, answerable
from consent_hub.audiences.schemas import SegmentFilters
from consent_hub.storage.bulk import core_rows
from consent_hub.storage.models import (
    AccessKey,
    AudienceExport,
    AudienceExportMember,
    ConsentState,
    Event,
    House,
    Person,
    Sale,
    Segment,
)
from consent_hub.vocabulary import ConsentStatus

SEGMENT_WORK_MEM = "64MB"  # per sort / hash node and worker of one segment statement
# PostgreSQL settings of a segment statement's transaction (see AudienceRepository._analytical)
SEGMENT_SETTINGS = (
    f"SET LOCAL work_mem = '{SEGMENT_WORK_MEM}'; SET LOCAL jit = off; SET LOCAL plan_cache_mode = force_custom_plan"
)


def _day(value: dt.date) -> dt.datetime:
    return dt.datetime.combine(value, dt.time(), dt.UTC)


def event_filters(f: SegmentFilters) -> list[Any]:
    """The filters on the event a line is for (type, theme, category, performance date)."""
    where: list[Any] = []
    if f.uit_event_types:
        where.append(Event.uit_event_type.in_(f.uit_event_types))
    if f.uit_themes:
        where.append(_any_listed(Event.uit_themes, f.uit_themes))
    if f.categories:
        where.append(_any_listed(Event.categories, f.categories))
    if f.performance_from:
        where.append(Event.starts_at >= _day(f.performance_from))
    if f.performance_to:
        where.append(Event.starts_at < _day(f.performance_to) + dt.timedelta(days=1))
    return where


def chosen_houses(f: SegmentFilters, house_ids: dict[str, uuid.UUID]) -> list[uuid.UUID] | None:
    """The ids of the houses the definition names (an unknown one matches nothing); None: any."""
    if not f.houses:
        return None
    return [house_ids[h] for h in f.houses if h in house_ids] or [uuid.UUID(int=0)]


def caller_keys(bases: Sequence[str], scope: Scope) -> list[str] | None:
    """The access keys that make people visible to a house-scoped caller; None for the
    cluster-wide basis (or a caller without a house), which the reference predicates decide."""
    if "any-in-cluster" in bases or scope.house_id is None or scope.house is None:
        return None
    return [basis_key(b, scope) for b in bases]


def line_filters(f: SegmentFilters, house_ids: dict[str, uuid.UUID]) -> list[Any]:
    where = event_filters(f)
    houses = chosen_houses(f, house_ids)
    if houses is not None:
        where.append(Sale.house_id.in_(houses))
    if f.ticket_types:
        where.append(Sale.ticket_type.in_(f.ticket_types))
    if f.programs:
        where.append(Sale.program.in_(f.programs))
    if f.bought_from:
        where.append(Sale.sold_at >= _day(f.bought_from))
    if f.bought_to:
        where.append(Sale.sold_at < _day(f.bought_to) + dt.timedelta(days=1))
    return where


def _any_listed(column: Any, names: Sequence[str]) -> Any:
    # category names and theme terms are stored as a JSON list of strings: match the quoted name
    return or_(*(column.contains(json.dumps(n), autoescape=True) for n in names))


def buyer_filters(visits: Any, f: SegmentFilters) -> list[Any]:
    """Conditions on a buyer's visits (one row per attended event, see ``_visits``)."""
    having: list[Any] = []
    if f.min_visits is not None:
        having.append(func.count() >= f.min_visits)
    if f.max_visits is not None:
        having.append(func.count() <= f.max_visits)
    if f.min_spend_cents is not None:
        having.append(func.sum(visits.c.spend) >= f.min_spend_cents)
    if f.max_spend_cents is not None:
        having.append(func.sum(visits.c.spend) <= f.max_spend_cents)
    if f.first_visit_after is not None:
        having.append(func.min(visits.c.visit_at) >= _day(f.first_visit_after))
    if f.last_visit_after is not None:
        having.append(func.max(visits.c.visit_at) >= _day(f.last_visit_after))
    if f.last_visit_before is not None:
        having.append(func.max(visits.c.visit_at) < _day(f.last_visit_before))
    return having


def _dimension(by: str, visit_at: Any) -> Any:
    """A breakdown cell: the house of the visit, its event type, or the month of the performance."""
    if by == "house":
        return House.slug
    if by == "event_type":
        return func.coalesce(Event.uit_event_type, "unclassified")
    return func.substr(cast(visit_at, String), 1, 7)


class AudienceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def house_ids(self) -> dict[str, uuid.UUID]:
        return {s: i for s, i in self.session.execute(select(House.slug, House.id))}

    @staticmethod
    def _visible_people(bases: Sequence[str], scope: Scope) -> Select[Any]:
        """Ids of the people the caller may reach for the purpose. A house-scoped caller's come
        from the access keys (one index range per basis, no per-person predicate); the
        cluster-wide basis uses the reference predicates."""
        keys = caller_keys(bases, scope)
        if keys is None:
            return select(Person.id).where(visible(bases, scope))
        valid = or_(AccessKey.expires_at.is_(None), AccessKey.expires_at > scope.now)
        return select(AccessKey.person_id).where(AccessKey.key.in_(keys), valid)

    def _visits(self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any]) -> Any:
        """One row per (visible buyer, attended event) among the lines that pass the line filters.
        Visibility is applied to the lines before they are aggregated, so a question costs the
        lines of the people the caller may reach, not of the whole cluster. A return is its own
        negative line: an event whose tickets were all returned was not attended."""
        where = [Sale.person_id.is_not(None), Sale.person_id.in_(self._visible_people(bases, scope))]
        if person:
            where.append(Sale.person_id.in_(select(Person.id).where(*person)))
        return (
            select(
                Sale.person_id.label("person_id"),
                Sale.event_id.label("event_id"),
                Sale.house_id.label("house_id"),
                func.sum(Sale.price * Sale.ticket_count).label("spend"),
                # the performance's start: one value per group (the event is in the key)
                func.min(Event.starts_at).label("visit_at"),
            )
            .join(Event, Event.id == Sale.event_id)
            .where(*where, *line_filters(f, self.house_ids()))
            .group_by(Sale.person_id, Sale.event_id, Sale.house_id)
            .having(func.sum(Sale.ticket_count) > 0)
            .cte("visits")
        )

    def members_statement(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()
    ) -> Select[Any]:
        """The one statement: visible (and so consented) buyers whose visits pass the per-buyer
        filters; ``person`` adds conditions on the people's coarse indexes (language, postal area)."""
        return self._members(self._visits(f, bases, scope, person), f)

    @staticmethod
    def _members(visits: Any, f: SegmentFilters) -> Select[Any]:
        stmt = select(visits.c.person_id).group_by(visits.c.person_id)
        having = buyer_filters(visits, f)
        return stmt.having(and_(*having)) if having else stmt

    def _analytical(self) -> None:
        """Settings for a segment statement, for this transaction only (PostgreSQL). No JIT: once
        the estimated cost passes ``jit_above_cost`` LLVM compilation took ~80 ms of a count at a
        million people, more than the compiled code saves on a few hundred thousand rows. More
        ``work_mem``: with the default 4 MB the hash of the caller's access keys (~300k people)
        and the per-visit aggregate spilled to temporary files at that size. Custom plans only:
        psycopg prepares a statement from its fifth run, and after five more PostgreSQL may settle
        on a generic plan made without the filter values (which event types, which dates, which
        access key); for the bench's typical segment that plan took 5 s against 1.3 s."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(text(SEGMENT_SETTINGS))

    def count(self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()) -> int:
        # the bitmap statement before the analytical settings: its plan does not depend on the
        # filter values, so a cached generic plan serves it (planning it took ~12 ms a count)
        from_bitmaps = self.bitmap_count(f, bases, scope, person)
        if from_bitmaps is not None:
            return from_bitmaps
        self._analytical()
        return self.statement_count(f, bases, scope, person)

    def statement_count(self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()) -> int:
        inner = self.members_statement(f, bases, scope, person).subquery()
        return int(self.session.scalar(select(func.count()).select_from(inner)) or 0)

    def bitmap_count(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()
    ) -> int | None:
        """The count from the segment bitmaps (``audiences/bitmaps.py``), or None when they cannot
        answer it: SQLite, a filter beyond the event and the number of visits, a cluster-wide
        basis (visibility by predicate, not by key), or a bitmap waiting for its refresh."""
        answer = self._from_bitmaps(f, bases, scope, person, None)
        return None if answer is None else answer[0]

    def bitmap_breakdown(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, by: str, person: Sequence[Any] = ()
    ) -> tuple[int, dict[str, int]] | None:
        """``count_with_breakdown`` from the segment bitmaps, or None as ``bitmap_count``."""
        return self._from_bitmaps(f, bases, scope, person, _dimension(by, Event.starts_at))

    def _from_bitmaps(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any], dimension: Any
    ) -> tuple[int, dict[str, int]] | None:
        bitmaps = SegmentBitmaps(self.session)
        keys = caller_keys(bases, scope)
        if not bitmaps.available or person or not answerable(f) or keys is None:
            return None
        houses = chosen_houses(f, self.house_ids())
        return bitmaps.count(event_filters(f), houses, f.min_visits or 1, keys, scope.now, dimension)

    def members(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, person: Sequence[Any] = ()
    ) -> list[uuid.UUID]:
        return list(self.session.scalars(self.members_statement(f, bases, scope, person)))

    def count_with_breakdown(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, by: str, person: Sequence[Any] = ()
    ) -> tuple[int, dict[str, int]]:
        """The member count and the members per house, event type or month of their visits, from
        one statement: the visits are computed once and feed both (from the bitmaps when they
        can answer, see ``bitmap_count``)."""
        from_bitmaps = self.bitmap_breakdown(f, bases, scope, by, person)
        if from_bitmaps is not None:
            return from_bitmaps
        self._analytical()
        return self.statement_breakdown(f, bases, scope, by, person)

    def statement_breakdown(
        self, f: SegmentFilters, bases: Sequence[str], scope: Scope, by: str, person: Sequence[Any] = ()
    ) -> tuple[int, dict[str, int]]:
        visits = self._visits(f, bases, scope, person)
        members = self._members(visits, f).cte("members")
        dim = _dimension(by, visits.c.visit_at)
        cells = (
            select(dim.label("cell"), func.count(distinct(visits.c.person_id)).label("n"))
            .select_from(visits)
            .join(members, members.c.person_id == visits.c.person_id)
            .join(Event, Event.id == visits.c.event_id)
            .join(House, House.id == visits.c.house_id)
            .group_by(dim)
        )
        total = select(literal(None, String).label("cell"), func.count().label("n")).select_from(members)
        rows = self.session.execute(union_all(total, cells)).all()
        count = next(int(n) for cell, n in rows if cell is None)
        return count, {str(cell): int(n) for cell, n in rows if cell is not None}

    def breakdown_domain(self, f: SegmentFilters, by: str) -> list[str]:
        """The cells a breakdown shows, from public data only: the houses the definition names (or
        every house), or the event types / months of the events that pass its event filters at
        those houses. Never from the sales, so an empty cell is shown like a full one."""
        house_ids = self.house_ids()
        houses = chosen_houses(f, house_ids)
        if by == "house":
            chosen = set(houses) if houses is not None else None
            return sorted(slug for slug, hid in house_ids.items() if chosen is None or hid in chosen)
        where = event_filters(f)
        if houses is not None:
            where.append(Event.house_id.in_(houses))
        dim = _dimension(by, Event.starts_at)
        if by == "month":
            where.append(Event.starts_at.is_not(None))
        return sorted(str(c) for c in self.session.scalars(select(dim).where(*where).distinct()) if c is not None)

    def snapshot_members(
        self,
        export: AudienceExport,
        f: SegmentFilters,
        bases: Sequence[str],
        scope: Scope,
        purpose: str,
        house: str,
        person: Sequence[Any] = (),
    ) -> list[uuid.UUID]:
        """Store the export and, in one statement, its members with the consent event each one's
        eligibility rests on (the house-scoped granted state, if any); returns the members. The
        member rows are written server-side (INSERT ... SELECT ... RETURNING): 10,000 members do
        not travel to the hub and back."""
        self.session.add(export)
        self.session.flush()
        self._analytical()
        members = self.members_statement(f, bases, scope, person).subquery()
        state = and_(
            ConsentState.person_id == members.c.person_id,
            ConsentState.purpose == purpose,
            ConsentState.target_kind == "house",
            ConsentState.target_ref == house,
            ConsentState.status == ConsentStatus.GRANTED,
        )
        rows = (
            select(literal(export.id, Uuid()), members.c.person_id, ConsentState.event_id)
            .select_from(members)
            .outerjoin(ConsentState, state)
        )
        snapshot = (
            insert(AudienceExportMember)
            .from_select(["export_id", "person_id", "consent_event_id"], rows)
            .returning(AudienceExportMember.person_id)
        )
        return [p for (p,) in core_rows(self.session, snapshot)]

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
