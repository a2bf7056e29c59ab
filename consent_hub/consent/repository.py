"""Queries over notices, consent events and consent states."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent_hub.storage import access_keys
from consent_hub.storage.models import ConsentEvent, ConsentState, Notice


class ConsentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # notices ----------------------------------------------------------------------------------
    def notice_by_hash(self, purpose: str, language: str, sha256: str) -> Notice | None:
        return self.session.scalar(
            select(Notice).where(Notice.purpose == purpose, Notice.language == language, Notice.sha256 == sha256)
        )

    def current_notice(self, purpose: str, language: str) -> Notice | None:
        return self.session.scalar(
            select(Notice)
            .where(Notice.purpose == purpose, Notice.language == language)
            .order_by(Notice.version.desc())
            .limit(1)
        )

    def notices(self, purpose: str) -> Sequence[Notice]:
        return self.session.scalars(
            select(Notice).where(Notice.purpose == purpose).order_by(Notice.language, Notice.version)
        ).all()

    def next_notice_version(self, purpose: str, language: str) -> int:
        current = self.session.scalar(
            select(func.max(Notice.version)).where(Notice.purpose == purpose, Notice.language == language)
        )
        return int(current or 0) + 1

    def add_notice(self, notice: Notice) -> None:
        self.session.add(notice)
        self.session.flush()

    # events -----------------------------------------------------------------------------------
    def by_idempotency_key(self, actor: str, key: str) -> ConsentEvent | None:
        return self.session.scalar(
            select(ConsentEvent).where(ConsentEvent.actor == actor, ConsentEvent.idempotency_key == key)
        )

    def add_event(self, event: ConsentEvent) -> None:
        self.session.add(event)
        self.session.flush()

    def events_for(self, person_id: uuid.UUID) -> Sequence[ConsentEvent]:
        return self.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.person_id == person_id)
            .order_by(ConsentEvent.given_at, ConsentEvent.recorded_at)
        ).all()

    # projection -------------------------------------------------------------------------------
    def state(self, person_id: uuid.UUID, purpose: str, kind: str, ref: str) -> ConsentState | None:
        return self.session.get(ConsentState, (person_id, purpose, kind, ref))

    def states_for(self, person_id: uuid.UUID) -> Sequence[ConsentState]:
        return self.session.scalars(
            select(ConsentState)
            .where(ConsentState.person_id == person_id)
            .order_by(ConsentState.purpose, ConsentState.target_kind, ConsentState.target_ref)
        ).all()

    def put_state(self, event: ConsentEvent) -> None:
        """Move the projection to ``event`` unless it already reflects a later-given event, and
        keep the person's access key in step with the resulting state."""
        state = self.state(event.person_id, event.purpose, event.target_kind, event.target_ref)
        if state is None:
            state = ConsentState(
                person_id=event.person_id,
                purpose=event.purpose,
                target_kind=event.target_kind,
                target_ref=event.target_ref,
                status=event.status,
                event_id=event.id,
                given_at=event.given_at,
                expires_at=event.expires_at,
            )
            self.session.add(state)
        elif event.given_at >= state.given_at:
            state.status, state.event_id = event.status, event.id
            state.given_at, state.expires_at = event.given_at, event.expires_at
        access_keys.follow_consent_state(self.session, state)
        self.session.flush()
