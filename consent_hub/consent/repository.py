"""Queries over notices, consent events and consent states."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, Table, Uuid, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from consent_hub.storage import access_keys
from consent_hub.storage.bulk import among, insert_rows, upsert_rows
from consent_hub.storage.models import AccessKey, ConsentEvent, ConsentState, Notice
from consent_hub.vocabulary import ConsentStatus

STATES: Table = ConsentState.__table__  # type: ignore[assignment]
EVENTS: Table = ConsentEvent.__table__  # type: ignore[assignment]
ACCESS_KEYS: Table = AccessKey.__table__  # type: ignore[assignment]
UPSERT_CHUNK = 1000  # states per upsert statement (8 parameters each; PostgreSQL takes 65,535)
STATE_COLUMNS = [
    STATES.c[name]
    for name in ("person_id", "purpose", "target_kind", "target_ref", "status", "event_id", "given_at", "expires_at")
]
StateKey = tuple[uuid.UUID, str, str, str]  # (person, purpose, target kind, target ref)


# The statements of every consent write, built once: building one costs SQLAlchemy about as much
# as running it (coercions and a cache key per call).
_BY_IDEMPOTENCY_KEY = select(ConsentEvent).where(
    ConsentEvent.actor == bindparam("actor"), ConsentEvent.idempotency_key == bindparam("key")
)
_KEY_DELETE = delete(ACCESS_KEYS).where(ACCESS_KEYS.c.key == bindparam("k"), ACCESS_KEYS.c.person_id == bindparam("p"))


@functools.cache
def _event_once(dialect: str) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(EVENTS)
        .values({c.key: bindparam(c.key, type_=c.type) for c in EVENTS.columns})
        .on_conflict_do_nothing(index_elements=["actor", "idempotency_key"])
        .returning(EVENTS.c.id)
    )


@functools.cache
def _state_upsert(dialect: str) -> Any:
    """Move a state to an event unless the state holds a decision given later; RETURNING the
    states that moved (executemany: one statement per batch of rows)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    values = insert(STATES).values({c.key: bindparam(c.key, type_=c.type) for c in STATE_COLUMNS})
    return values.on_conflict_do_update(
        index_elements=["person_id", "purpose", "target_kind", "target_ref"],
        set_={c: values.excluded[c] for c in ("status", "event_id", "given_at", "expires_at")},
        where=STATES.c.given_at <= values.excluded.given_at,
    ).returning(*STATE_COLUMNS)


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
        return self.session.scalar(_BY_IDEMPOTENCY_KEY, {"actor": actor, "key": key})

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

    def put_states(self, events: Sequence[ConsentEvent], *, active: set[uuid.UUID] | None = None) -> None:
        """Move the projection to ``events``, each unless its state already reflects a decision
        given later, and keep the access keys in step with the states that moved. One upsert
        whose condition is the latest-given rule, so concurrent writers of one state need no
        read before it: the row lock of the conflict orders them, and only a state the upsert
        moved (RETURNING) moves a key. ``active``: the people known active, their rows held
        (``PeopleRepository.status_for_share``); others are looked up and share-locked."""
        latest: dict[StateKey, ConsentEvent] = {}
        for event in sorted(events, key=lambda e: e.given_at):  # a later-given event of a batch wins
            latest[(event.person_id, event.purpose, event.target_kind, event.target_ref)] = event
        moved: list[dict[str, Any]] = []
        rows = [
            {
                "person_id": e.person_id,
                "purpose": e.purpose,
                "target_kind": e.target_kind,
                "target_ref": e.target_ref,
                "status": e.status,
                "event_id": e.id,
                "given_at": e.given_at,
                "expires_at": e.expires_at,
            }
            for e in latest.values()
        ]
        for start in range(0, len(rows), UPSERT_CHUNK):
            moved.extend(self._upsert_states(rows[start : start + UPSERT_CHUNK]))
        for obj in list(self.session.identity_map.values()):  # loaded copies of what Core rewrites
            if isinstance(obj, ConsentState | AccessKey):
                self.session.expire(obj)
        self._move_access_keys(moved, active)

    def _upsert_states(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        conn = self.session.connection()
        return [dict(r) for r in conn.execute(_state_upsert(conn.dialect.name), list(rows)).mappings()]

    def _move_access_keys(self, touched: Sequence[dict[str, Any]], active: set[uuid.UUID] | None) -> None:
        """The consent keys of the states just written: granted ones of active people upserted
        (with their expiry), the others deleted."""
        # the state is kept for everyone, the key only for active people: a restricted person's
        # grant must not make them visible (the lift rebuilds their keys from these states)
        granting = [s["person_id"] for s in touched if s["status"] == ConsentStatus.GRANTED]
        if active is None or not set(granting) <= active:
            active = access_keys.active_among(self.session, granting)
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
        upsert_rows(self.session, ACCESS_KEYS, granted, ["key", "person_id"], {"expires_at": "new"})
        if revoked:
            self.session.connection().execute(_KEY_DELETE, revoked)

    def add_event_once(self, event: ConsentEvent) -> bool:
        """Insert the event unless its actor already used its idempotency key (False then). A
        request with the same key in flight beside this one is waited for, not raced."""
        conn = self.session.connection()
        row = {c.key: getattr(event, c.key) for c in EVENTS.columns}
        return conn.execute(_event_once(conn.dialect.name), row).first() is not None

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
