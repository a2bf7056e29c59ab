"""Participation data for an outside recipient, reduced and pseudonymised before it leaves.

Only people with a granted, unexpired consent for ``purpose`` naming ``recipient`` are included.
Their birth date and postal code are read through the audited decryption path and reduced at once
(birth year; postal code for the statistical sector lookup); the caller never sees a hub person
id: each person appears under a pseudonym keyed per export (HMAC under a cluster key that never
leaves the key provider), so two exports cannot be joined on it.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.crypto.blind_index import EXCHANGE_PSEUDONYM
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import InvalidInput
from consent_hub.exchange.auth import require_event_classifier, require_participation_exporter
from consent_hub.exchange.repository import ExchangeRepository
from consent_hub.people.service import PeopleService


@dataclass(frozen=True)
class Attendance:
    event_ref: str  # the hub event id (uuid text): no engine id leaves the hub
    event_title: str
    uit_event_type: str | None
    categories: list[str]
    starts_at: dt.datetime | None
    house: str
    bought_at: dt.datetime


@dataclass
class Participant:
    pseudonym: str
    birth_year: int | None
    postal_code: str | None
    attendances: list[Attendance] = field(default_factory=list)


@dataclass
class ParticipationExport:
    export_id: str
    recipient: str
    purpose: str
    created_at: dt.datetime
    participants: list[Participant]


class ParticipationService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = ExchangeRepository(uow.session)
        self.people = PeopleService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)

    def pseudonym(self, export_id: str, person_id: uuid.UUID) -> str:
        return self.uow.rt.indexer.index(EXCHANGE_PSEUDONYM, f"{export_id}|{person_id}").hex()[:32]

    def export(
        self,
        actor: Actor,
        *,
        recipient: str = "uit-platform",
        purpose: str = "audience-research",
        since: dt.datetime | None = None,
    ) -> ParticipationExport:
        """Everyone whose consent for ``purpose`` names ``recipient``, with their attendances
        (ticket lines with a positive count) since ``since``."""
        require_participation_exporter(actor)
        spec = load_catalogue().get(purpose)
        if spec.target_kind != "recipient" or recipient not in spec.recipients:
            raise InvalidInput(
                [
                    {
                        "field": "recipient",
                        "problem": f"purpose {purpose!r} does not name this recipient",
                        "type": "value_error",
                    }
                ]
            )
        now = utcnow()
        export_id = new_uuid().hex
        consenting = self.repo.consenting(purpose, recipient, now)
        participants: list[Participant] = []
        if consenting:
            views = self.people.read(actor, consenting, purpose=purpose, fields=["birth_date", "postal_code"])
            attendance = self.repo.attendances([v.id for v in views], since)
            for view in views:
                birth = view.fields.get("birth_date")
                participants.append(
                    Participant(
                        pseudonym=self.pseudonym(export_id, view.id),
                        birth_year=int(birth[:4]) if birth else None,
                        postal_code=view.fields.get("postal_code"),
                        attendances=[
                            Attendance(str(e), t, u, json.loads(c), s, h, b)
                            for e, t, u, c, s, h, b in attendance.get(view.id, [])
                        ],
                    )
                )
        self.audit.append(
            actor,
            AuditRecord(
                "exchange.export",
                purpose=purpose,
                detail={"export": export_id, "recipient": recipient, "participants": len(participants)},
            ),
        )
        return ParticipationExport(export_id, recipient, purpose, now, participants)


class EventClassificationService:
    """Events get their UiT taxonomy type (e.g. ``0.55.0.0.0`` Theatervoorstelling)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.repo = ExchangeRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)

    def events_to_classify(
        self, *, only_unclassified: bool = True
    ) -> list[tuple[uuid.UUID, str, str, dt.datetime | None, str | None]]:
        """(event id, title, house slug, starts at, the house's UiTdatabank organizer id)."""
        return self.repo.events_to_classify(only_unclassified)

    def categories(self, event_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        """The engine's category names of each event (none when the stored list is unreadable)."""
        categories: dict[uuid.UUID, list[str]] = {}
        for event_id, raw in self.repo.event_categories(event_ids).items():
            try:
                names = json.loads(raw or "[]")
            except ValueError:
                names = []
            categories[event_id] = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        return categories

    def set_types(
        self, actor: Actor, types: dict[uuid.UUID, str], themes: Mapping[uuid.UUID, Sequence[str]] | None = None
    ) -> int:
        """Store each event's type and its themes (none when not given: a type from the engine's
        categories carries no theme, and a re-classification replaces the old themes)."""
        require_event_classifier(actor)
        n = self.repo.set_uit_types(types, themes or {})
        if n:
            self.audit.append(actor, AuditRecord("events.classify", detail={"events": n}))
        return n
