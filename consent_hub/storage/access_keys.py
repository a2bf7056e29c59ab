"""Access keys: the denormalised index of who is reachable through which basis.

Written in the same transaction as the relation, consent state or erasure that changes them, by
the one function per change below; read only by the access repository's counts.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.orm import Session

from consent_hub.storage.models import AccessKey, ConsentState


def relation_key(kind: str, house_id: uuid.UUID) -> str:
    return f"{'c' if kind == 'customer' else 's'}:{house_id.hex}"


def consent_key(target_kind: str, target_ref: str, purpose: str) -> str:
    return f"h:{target_ref}:{purpose}" if target_kind == "house" else f"k:{purpose}"


def add_relation(session: Session, person_id: uuid.UUID, kind: str, house_id: uuid.UUID) -> None:
    key = relation_key(kind, house_id)
    if session.get(AccessKey, (key, person_id)) is None:
        session.add(AccessKey(key=key, person_id=person_id, expires_at=None))


def follow_consent_state(session: Session, state: ConsentState) -> None:
    """Make the key of this (person, purpose, target) mirror its current state."""
    key = consent_key(state.target_kind, state.target_ref, state.purpose)
    current = session.get(AccessKey, (key, state.person_id))
    if state.status == "granted":
        if current is None:
            session.add(AccessKey(key=key, person_id=state.person_id, expires_at=state.expires_at))
        else:
            current.expires_at = state.expires_at
    elif current is not None:
        session.delete(current)


def forget_person(session: Session, person_id: uuid.UUID) -> None:
    session.execute(delete(AccessKey).where(AccessKey.person_id == person_id))


def rebuild_all(session: Session) -> None:
    """Recompute every key from relations and consent states (after bulk loads, or to check for
    drift). Expired grants keep their key: the expiry is applied when counting."""
    conn = session.connection()
    house_hex = "replace(CAST(house_id AS TEXT), '-', '')" if conn.dialect.name == "postgresql" else "house_id"
    conn.exec_driver_sql("DELETE FROM access_keys")
    conn.exec_driver_sql(
        "INSERT INTO access_keys (key, person_id, expires_at) "  # noqa: S608 - fixed text, no input
        f"SELECT DISTINCT CASE WHEN kind = 'customer' THEN 'c:' ELSE 's:' END || {house_hex}, person_id, "
        "CAST(NULL AS TIMESTAMP) FROM relations"
    )
    conn.exec_driver_sql(
        "INSERT INTO access_keys (key, person_id, expires_at) "
        "SELECT CASE WHEN target_kind = 'house' THEN 'h:' || target_ref || ':' || purpose ELSE 'k:' || purpose END, "
        "person_id, expires_at FROM consent_states WHERE status = 'granted'"
    )
