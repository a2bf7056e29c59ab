"""Access keys: the denormalised index of who is reachable through which basis.

Written in the same transaction as the relation, consent state or erasure that changes them, by
the one function per change below; read only by the access repository's counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Table, Uuid, delete, select
from sqlalchemy.orm import Session

from consent_hub.storage.bulk import among, upsert_rows
from consent_hub.storage.models import AccessKey, Relation

RELATIONS: Table = Relation.__table__  # type: ignore[assignment]
ACCESS_KEYS: Table = AccessKey.__table__  # type: ignore[assignment]


def relation_key(kind: str, house_id: uuid.UUID) -> str:
    return f"{'c' if kind == 'customer' else 's'}:{house_id.hex}"


def consent_key(target_kind: str, target_ref: str, purpose: str) -> str:
    return f"h:{target_ref}:{purpose}" if target_kind == "house" else f"k:{purpose}"


def touch_relations(
    session: Session, seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]]
) -> list[uuid.UUID]:
    """Relations (person, house, kind, program) seen between two moments: widen the range of
    existing ones and insert new ones with their access keys, one upsert statement each. Returns
    the people who got a new relation."""
    if not seen:
        return []
    existing: set[tuple[uuid.UUID, uuid.UUID, str, str]] = set()
    for clause in among(session, Relation.person_id, [k[0] for k in seen], Uuid()):
        rows = session.execute(
            select(Relation.person_id, Relation.house_id, Relation.kind, Relation.program).where(clause)
        )
        existing.update((p, h, k, g) for p, h, k, g in rows)
    touched: list[dict[str, Any]] = [
        {"person_id": p, "house_id": h, "kind": k, "program": g, "first_seen": first, "last_seen": last}
        for (p, h, k, g), (first, last) in seen.items()
    ]
    upsert_rows(
        session,
        RELATIONS,
        touched,
        ["person_id", "house_id", "kind", "program"],
        {"first_seen": "least", "last_seen": "greatest"},
    )
    new = [key for key in seen if key not in existing]
    upsert_rows(
        session,
        ACCESS_KEYS,
        [{"key": relation_key(k, h), "person_id": p, "expires_at": None} for p, h, k, _ in new],
        ["key", "person_id"],
    )
    return list(dict.fromkeys(p for p, _, _, _ in new))


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
