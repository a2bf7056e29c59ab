"""Queries over notices, consent events and consent states."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent_hub.storage import access_keys
from consent_hub.storage.models import AccessKey, ConsentEvent, ConsentState, Notice


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

    def idempotency_hashes(self, actor: str, keys: Sequence[str]) -> dict[str, str | None]:
        """idempotency key -> request hash, for the keys of ``actor`` already used."""
        out: dict[str, str | None] = {}
        for start in range(0, len(keys), 900):
            rows = self.session.execute(
                select(ConsentEvent.idempotency_key, ConsentEvent.request_hash).where(
                    ConsentEvent.actor == actor, ConsentEvent.idempotency_key.in_(keys[start : start + 900])
                )
            )
            out.update({str(k): h for k, h in rows})
        return out

    def add_events(self, events: Sequence[ConsentEvent]) -> None:
        self.session.add_all(events)
        self.session.flush()

    def put_states(self, events: Sequence[ConsentEvent]) -> None:
        """``put_state`` for many events, with one query for the current states and one for the
        access keys instead of one per event."""
        people = list({e.person_id for e in events})
        states: dict[tuple[uuid.UUID, str, str, str], ConsentState] = {}
        keys: dict[tuple[str, uuid.UUID], AccessKey] = {}
        for start in range(0, len(people), 900):
            chunk = people[start : start + 900]
            for st in self.session.scalars(select(ConsentState).where(ConsentState.person_id.in_(chunk))):
                states[(st.person_id, st.purpose, st.target_kind, st.target_ref)] = st
            for ak in self.session.scalars(select(AccessKey).where(AccessKey.person_id.in_(chunk))):
                keys[(ak.key, ak.person_id)] = ak
        for event in sorted(events, key=lambda e: e.given_at):
            ident = (event.person_id, event.purpose, event.target_kind, event.target_ref)
            state = states.get(ident)
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
                states[ident] = state
            elif event.given_at >= state.given_at:
                state.status, state.event_id = event.status, event.id
                state.given_at, state.expires_at = event.given_at, event.expires_at
            key = access_keys.consent_key(state.target_kind, state.target_ref, state.purpose)
            current = keys.get((key, state.person_id))
            if state.status == "granted":
                if current is None:
                    current = AccessKey(key=key, person_id=state.person_id, expires_at=state.expires_at)
                    self.session.add(current)
                    keys[(key, state.person_id)] = current
                else:
                    current.expires_at = state.expires_at
            elif current is not None:
                self.session.delete(current)
                del keys[(key, state.person_id)]
        self.session.flush()

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
