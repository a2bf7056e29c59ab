"""Queries of the request desk: the register, its steps and parts, and which houses are
controllers for a person (their relations and their house-level consents). Nothing here reads or
writes personal data in plain text: a request's detail is sealed with the person's key."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent_hub.storage.models import (
    ConsentState,
    DataSubjectRequest,
    DataSubjectRequestPart,
    DataSubjectRequestStep,
    House,
    Relation,
)
from consent_hub.vocabulary import CLOSED_REQUEST_STATUSES, RequestPartStatus


class RequestsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: object) -> None:
        self.session.add(row)

    def flush(self) -> None:
        self.session.flush()

    def reference_taken(self, reference: str) -> bool:
        return bool(self.session.scalar(select(func.count()).where(DataSubjectRequest.reference == reference)))

    def by_reference(self, reference: str, *, for_update: bool = False) -> DataSubjectRequest | None:
        stmt = select(DataSubjectRequest).where(DataSubjectRequest.reference == reference)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.scalar(stmt)

    def of_person(self, person_id: uuid.UUID) -> Sequence[DataSubjectRequest]:
        return self.session.scalars(
            select(DataSubjectRequest)
            .where(DataSubjectRequest.person_id == person_id)
            .order_by(DataSubjectRequest.received_at.desc())
        ).all()

    def steps(self, request_ids: Sequence[uuid.UUID]) -> Sequence[DataSubjectRequestStep]:
        if not request_ids:
            return []
        return self.session.scalars(
            select(DataSubjectRequestStep)
            .where(DataSubjectRequestStep.request_id.in_(list(request_ids)))
            .order_by(DataSubjectRequestStep.id)
        ).all()

    def parts(self, request_ids: Sequence[uuid.UUID]) -> Sequence[DataSubjectRequestPart]:
        if not request_ids:
            return []
        return self.session.scalars(
            select(DataSubjectRequestPart)
            .where(DataSubjectRequestPart.request_id.in_(list(request_ids)))
            .order_by(DataSubjectRequestPart.house)
        ).all()

    def part(self, request_id: uuid.UUID, house: str) -> DataSubjectRequestPart | None:
        return self.session.get(DataSubjectRequestPart, (request_id, house))

    def open_parts(self, request_id: uuid.UUID) -> int:
        return int(
            self.session.scalar(
                select(func.count())
                .select_from(DataSubjectRequestPart)
                .where(
                    DataSubjectRequestPart.request_id == request_id,
                    DataSubjectRequestPart.status == RequestPartStatus.OPEN,
                )
            )
            or 0
        )

    def listing(
        self,
        *,
        house: str | None,
        status: str | None,
        kind: str | None,
        open_only: bool,
        due_before: dt.datetime | None,
        due_from: dt.datetime | None = None,
        limit: int,
        offset: int,
    ) -> Sequence[DataSubjectRequest]:
        """The register, soonest deadline first; ``house`` keeps the requests with a part for it."""
        due = func.coalesce(DataSubjectRequest.extended_due_at, DataSubjectRequest.due_at)
        stmt = select(DataSubjectRequest)
        if house is not None:
            stmt = stmt.where(
                DataSubjectRequest.id.in_(
                    select(DataSubjectRequestPart.request_id).where(DataSubjectRequestPart.house == house)
                )
            )
        if status is not None:
            stmt = stmt.where(DataSubjectRequest.status == status)
        if kind is not None:
            stmt = stmt.where(DataSubjectRequest.kind == kind)
        if open_only:
            stmt = stmt.where(DataSubjectRequest.status.not_in(sorted(CLOSED_REQUEST_STATUSES)))
        if due_before is not None:
            stmt = stmt.where(due < due_before)
        if due_from is not None:
            stmt = stmt.where(due >= due_from)
        stmt = stmt.order_by(due, DataSubjectRequest.reference).limit(limit).offset(offset)
        return self.session.scalars(stmt).all()

    def controller_houses(self, person_id: uuid.UUID) -> set[str]:
        """The houses that are controllers for the person: those they bought from or subscribed
        at, and those holding a house-level consent of theirs."""
        related = self.session.scalars(
            select(House.slug).join(Relation, Relation.house_id == House.id).where(Relation.person_id == person_id)
        ).all()
        consented = self.session.scalars(
            select(ConsentState.target_ref).where(
                ConsentState.person_id == person_id, ConsentState.target_kind == "house"
            )
        ).all()
        known = set(self.session.scalars(select(House.slug)).all())
        return (set(related) | set(consented)) & known

    def house_exists(self, slug: str) -> bool:
        return self.session.scalar(select(House.id).where(House.slug == slug)) is not None
