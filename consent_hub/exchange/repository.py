from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, Uuid, bindparam, func, or_, select, update

from consent_hub.storage.bulk import among
from consent_hub.storage.models import ConsentState, Event, House, Person, Sale
from consent_hub.vocabulary import ConsentStatus, PersonStatus

EVENTS: Table = Event.__table__  # type: ignore[assignment]


class ExchangeRepository:
    def __init__(self, session: Any) -> None:
        self.session = session

    def consenting(self, purpose: str, recipient: str, now: dt.datetime) -> list[uuid.UUID]:
        # only active people: a restricted person's consent stands but nothing is sent meanwhile
        rows = self.session.scalars(
            select(ConsentState.person_id)
            .join(Person, Person.id == ConsentState.person_id)
            .where(
                Person.status == PersonStatus.ACTIVE,
                ConsentState.purpose == purpose,
                ConsentState.target_kind == "recipient",
                ConsentState.target_ref == recipient,
                ConsentState.status == ConsentStatus.GRANTED,
                or_(ConsentState.expires_at.is_(None), ConsentState.expires_at > now),
            )
        )
        return list(rows)

    def attendances(
        self, people: Sequence[uuid.UUID], since: dt.datetime | None
    ) -> dict[uuid.UUID, list[tuple[Any, ...]]]:
        out: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
        for clause in among(self.session, Sale.person_id, people, Uuid()):
            # one attendance per person and event whose tickets were not all returned (a return is
            # its own negative line); the time bought is the first purchase
            stmt = (
                select(
                    Sale.person_id,
                    Event.id,
                    Event.title,
                    Event.uit_event_type,
                    Event.categories,
                    Event.starts_at,
                    House.slug,
                    func.min(Sale.sold_at),
                )
                .join(Event, Event.id == Sale.event_id)
                .join(House, House.id == Sale.house_id)
                .where(clause)
                .group_by(
                    Sale.person_id,
                    Event.id,
                    Event.title,
                    Event.uit_event_type,
                    Event.categories,
                    Event.starts_at,
                    House.slug,
                )
                .having(func.sum(Sale.ticket_count) > 0)
            )
            if since is not None:
                stmt = stmt.having(func.min(Sale.sold_at) >= since)
            for row in self.session.execute(stmt.order_by(func.min(Sale.sold_at))):
                out.setdefault(row[0], []).append(tuple(row[1:]))
        return out

    def events_to_classify(
        self, only_unclassified: bool
    ) -> list[tuple[uuid.UUID, str, str, dt.datetime | None, str | None]]:
        stmt = select(Event.id, Event.title, House.slug, Event.starts_at, House.uitdatabank_organizer_id).join(
            House, House.id == Event.house_id
        )
        if only_unclassified:
            stmt = stmt.where(Event.uit_event_type.is_(None))
        return [(r[0], r[1], r[2], r[3], r[4]) for r in self.session.execute(stmt.order_by(Event.starts_at))]

    def event_categories(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
        """The engine's category names of each event, as stored (a JSON list)."""
        out: dict[uuid.UUID, str | None] = {}
        for clause in among(self.session, Event.id, event_ids, Uuid()):
            for event_id, raw in self.session.execute(select(Event.id, Event.categories).where(clause)):
                out[event_id] = raw
        return out

    def set_uit_types(self, types: dict[uuid.UUID, str], themes: Mapping[uuid.UUID, Sequence[str]]) -> int:
        if not types:
            return 0
        self.session.connection().execute(
            update(EVENTS)
            .where(EVENTS.c.id == bindparam("e"))
            .values(uit_event_type=bindparam("t"), uit_themes=bindparam("th")),
            [{"e": e, "t": t, "th": json.dumps(sorted(themes.get(e, ())))} for e, t in types.items()],
        )
        return len(types)
