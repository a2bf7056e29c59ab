"""Queries over notices, consent events and consent states."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, Table, Uuid, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from consent_hub.storage import access_keys
from consent_hub.storage.bulk import among, insert_rows, upsert_rows
from consent_hub.storage.models import AccessKey, ConsentEvent, ConsentState, Notice
from consent_hub.vocabulary import ConsentStatus

STATES: Table = ConsentState.__table__  # type: ignore[assignment]
EVENTS: Table = ConsentEvent.__table__  # type: ignore[assignment]
ACCESS_KEYS: Table = AccessKey.__table__  # type: ignore[assignment]
STATE_COLUMNS = [
    STATES.c[name]
    for name in ("person_id", "purpose", "target_kind", "target_ref", "status", "event_id", "given_at", "expires_at")
]
StateKey = tuple[uuid.UUID, str, str, str]  # (person, purpose, target kind, target ref)


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
        for clause in among(self.session, ConsentEvent.idempotency_key, keys, String()):
            used = select(ConsentEvent.idempotency_key, ConsentEvent.request_hash)
            rows = self.session.execute(used.where(ConsentEvent.actor == actor, clause))
            out.update({str(k): h for k, h in rows})
        return out

    def add_events(self, events: Sequence[ConsentEvent]) -> None:
        """Insert many events with one COPY / executemany (they are never updated: no ORM needed)."""
        insert_rows(self.session, EVENTS, [{c.key: getattr(e, c.key) for c in EVENTS.columns} for e in events])

    def put_states(self, events: Sequence[ConsentEvent]) -> None:
        """``put_state`` for many events in a few statements (imports): the current states and
        access keys of the people concerned are read once, then written with Core statements."""
        states = self._states_of([e.person_id for e in events])
        fresh, changed = _apply(states, events)
        insert_rows(self.session, STATES, [states[i] for i in fresh])
        if changed:
            self._update_states(states, changed)
        self._move_access_keys([states[i] for i in fresh | changed])

    def _states_of(self, people: Sequence[uuid.UUID]) -> dict[StateKey, dict[str, Any]]:
        states: dict[StateKey, dict[str, Any]] = {}
        for clause in among(self.session, ConsentState.person_id, people, Uuid()):
            for row in self.session.execute(select(*STATE_COLUMNS).where(clause)).mappings():
                states[(row["person_id"], row["purpose"], row["target_kind"], row["target_ref"])] = dict(row)
        return states

    def _update_states(self, states: dict[StateKey, dict[str, Any]], changed: set[StateKey]) -> None:
        self.session.connection().execute(
            update(STATES)
            .where(
                STATES.c.person_id == bindparam("k_person"),
                STATES.c.purpose == bindparam("k_purpose"),
                STATES.c.target_kind == bindparam("k_kind"),
                STATES.c.target_ref == bindparam("k_ref"),
            )
            .values(
                status=bindparam("status"),
                event_id=bindparam("event_id"),
                given_at=bindparam("given_at"),
                expires_at=bindparam("expires_at"),
            ),
            [
                {
                    "k_person": i[0],
                    "k_purpose": i[1],
                    "k_kind": i[2],
                    "k_ref": i[3],
                    **{k: states[i][k] for k in ("status", "event_id", "given_at", "expires_at")},
                }
                for i in changed
            ],
        )

    def _move_access_keys(self, touched: Sequence[dict[str, Any]]) -> None:
        """The consent keys of the states just written: granted ones of active people upserted
        (with their expiry), the others deleted."""
        # the state is kept for everyone, the key only for active people: a restricted person's
        # grant must not make them visible (the lift rebuilds their keys from these states)
        active = access_keys.active_among(
            self.session, [s["person_id"] for s in touched if s["status"] == ConsentStatus.GRANTED]
        )
        granted = [
            {
                "key": access_keys.consent_key(s["target_kind"], s["target_ref"], s["purpose"]),
                "person_id": s["person_id"],
                "expires_at": s["expires_at"],
            }
            for s in touched
            if s["status"] == ConsentStatus.GRANTED and s["person_id"] in active
        ]
        revoked = [
            {"k": access_keys.consent_key(s["target_kind"], s["target_ref"], s["purpose"]), "p": s["person_id"]}
            for s in touched
            if s["status"] != ConsentStatus.GRANTED
        ]
        conn = self.session.connection()
        for obj in list(self.session.identity_map.values()):  # loaded copies of what Core rewrites
            if isinstance(obj, ConsentState | AccessKey):
                self.session.expire(obj)
        upsert_rows(self.session, ACCESS_KEYS, granted, ["key", "person_id"], {"expires_at": "new"})
        if revoked:
            conn.execute(
                delete(ACCESS_KEYS).where(
                    ACCESS_KEYS.c.key == bindparam("k"), ACCESS_KEYS.c.person_id == bindparam("p")
                ),
                revoked,
            )

    def add_event(self, event: ConsentEvent) -> None:
        self.session.add(event)
        self.session.flush()

    def clear_erased(self, person_id: uuid.UUID) -> int:
        """Clear what an erased person's events hold beyond the proof: the evidence sealed with
        their (now destroyed) data key, which a key-store backup from before the erasure would
        still open, the idempotency key (an import's names the engine record) and the request
        hash (unkeyed, over the evidence too). The one UPDATE the table's trigger allows, and only
        once the person's row says ``erased`` (migration 0015)."""
        result = self.session.execute(
            update(ConsentEvent)
            .where(
                ConsentEvent.person_id == person_id,
                or_(
                    ConsentEvent.evidence_ct.is_not(None),
                    ConsentEvent.idempotency_key.is_not(None),
                    ConsentEvent.request_hash.is_not(None),
                ),
            )
            .values(evidence_ct=None, idempotency_key=None, request_hash=None)
            .execution_options(synchronize_session="fetch")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def events_for(self, person_id: uuid.UUID) -> Sequence[ConsentEvent]:
        return self.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.person_id == person_id)
            .order_by(ConsentEvent.given_at, ConsentEvent.recorded_at)
        ).all()

    # projection -------------------------------------------------------------------------------
    def state(self, person_id: uuid.UUID, purpose: str, kind: str, ref: str) -> ConsentState | None:
        return self.session.get(ConsentState, (person_id, purpose, kind, ref))

    def granted_at_houses(self, people: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, str, str]]:
        """(person, purpose, house) of every house-scoped granted state of ``people``, one
        statement per chunk (an import page asks for hundreds)."""
        out: set[tuple[uuid.UUID, str, str]] = set()
        for clause in among(self.session, ConsentState.person_id, people, Uuid()):
            rows = self.session.execute(
                select(ConsentState.person_id, ConsentState.purpose, ConsentState.target_ref).where(
                    clause, ConsentState.target_kind == "house", ConsentState.status == ConsentStatus.GRANTED
                )
            )
            out.update((p, purpose, ref) for p, purpose, ref in rows)
        return out

    def states_for(self, person_id: uuid.UUID) -> Sequence[ConsentState]:
        return self.session.scalars(
            select(ConsentState)
            .where(ConsentState.person_id == person_id)
            .order_by(ConsentState.purpose, ConsentState.target_kind, ConsentState.target_ref)
        ).all()

    def put_state(self, event: ConsentEvent) -> None:
        """Move the projection to ``event`` unless it already reflects a later-given event, and
        keep the person's access key in step with the resulting state."""
        self.put_states([event])


def _apply(
    states: dict[StateKey, dict[str, Any]], events: Sequence[ConsentEvent]
) -> tuple[set[StateKey], set[StateKey]]:
    """Move ``states`` by ``events`` in the order they were given (a later decision already
    recorded wins). Returns the states to insert and those to update."""
    fresh: set[StateKey] = set()
    changed: set[StateKey] = set()
    for event in sorted(events, key=lambda e: e.given_at):
        ident = (event.person_id, event.purpose, event.target_kind, event.target_ref)
        state = states.get(ident)
        if state is not None and event.given_at < state["given_at"]:
            continue  # a later decision is already recorded
        states[ident] = {
            "person_id": event.person_id,
            "purpose": event.purpose,
            "target_kind": event.target_kind,
            "target_ref": event.target_ref,
            "status": event.status,
            "event_id": event.id,
            "given_at": event.given_at,
            "expires_at": event.expires_at,
        }
        (changed if state is not None and ident not in fresh else fresh).add(ident)
    return fresh, changed
