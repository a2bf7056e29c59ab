"""Access keys: the denormalised index of who is reachable through which basis.

Written in the same transaction as the relation, consent state, restriction or erasure that
changes them, by the one function per change below; read only by the access repository's counts.
Only active people hold keys: counts from the keys do not look at the person's status, so a
restricted or erased person must have none (every writer here and in the consent projection
leaves them out).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import String, Table, Uuid, bindparam, delete, select, text
from sqlalchemy.orm import Session

from consent_hub.storage.bulk import among, upsert_rows
from consent_hub.storage.models import AccessKey, Person, Relation
from consent_hub.vocabulary import ConsentStatus, PersonStatus

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
    # the people first (share-locked), then their relations: the order an erasure or a
    # restriction takes them, so the two wait for each other instead of crossing
    active = active_among(session, list(dict.fromkeys(k[0] for k in seen)))
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
    # the relation is stored for everyone the caller passes (a restricted person's history is
    # kept), but only an active person gets its key: a lift rebuilds the rest from the relations
    new = [key for key in seen if key not in existing and key[0] in active]
    upsert_rows(
        session,
        ACCESS_KEYS,
        [{"key": relation_key(k, h), "person_id": p, "expires_at": None} for p, h, k, _ in new],
        ["key", "person_id"],
    )
    return list(dict.fromkeys(p for p, _, _, _ in new))


def active_among(session: Session, people: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``people`` who are active, one statement per chunk (imports pass thousands). Their
    rows stay share-locked until the transaction ends (PostgreSQL), so that no erasure or
    restriction changes their status before the keys written for them commit."""
    out: set[uuid.UUID] = set()
    for clause in among(session, Person.id, people, Uuid()):
        out.update(
            session.scalars(
                select(Person.id).where(clause, Person.status == PersonStatus.ACTIVE).with_for_update(read=True)
            )
        )
    return out


def drop_expired(session: Session, keys: list[str], now: dt.datetime) -> int:
    """Delete those of ``keys``' rows whose grant expired (every reader already ignores them):
    keeps few the expired keys a bitmap count must look past. Returns how many went."""
    gone = 0
    for clause in among(session, AccessKey.key, keys, String()):
        result = session.execute(delete(AccessKey).where(clause, AccessKey.expires_at <= now))
        gone += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return gone


def forget_person(session: Session, person_id: uuid.UUID) -> None:
    session.execute(delete(AccessKey).where(AccessKey.person_id == person_id))


def _insert_from_sources(session: Session, person_id: uuid.UUID | None) -> None:
    """Keys of active people (one person's, or everyone's) from their relations and granted
    consent states: the one text of this derivation. Expired grants keep their key: the expiry is
    applied when counting."""
    conn = session.connection()
    house_hex = "replace(CAST(r.house_id AS TEXT), '-', '')" if conn.dialect.name == "postgresql" else "r.house_id"
    only = " AND p.id = :person_id" if person_id is not None else ""
    params = {"person_id": person_id} if person_id is not None else {}
    for sql in (
        "INSERT INTO access_keys (key, person_id, expires_at) "  # noqa: S608 - fixed text, no input
        f"SELECT DISTINCT CASE WHEN r.kind = 'customer' THEN 'c:' ELSE 's:' END || {house_hex}, r.person_id, "
        "CAST(NULL AS TIMESTAMP) FROM relations r JOIN people p ON p.id = r.person_id "
        f"WHERE p.status = '{PersonStatus.ACTIVE}'{only}",
        "INSERT INTO access_keys (key, person_id, expires_at) "  # noqa: S608 - fixed text, no input
        "SELECT CASE WHEN s.target_kind = 'house' THEN 'h:' || s.target_ref || ':' || s.purpose "
        "ELSE 'k:' || s.purpose END, s.person_id, s.expires_at "
        "FROM consent_states s JOIN people p ON p.id = s.person_id "
        f"WHERE s.status = '{ConsentStatus.GRANTED}' AND p.status = '{PersonStatus.ACTIVE}'{only}",
    ):
        stmt = text(sql)
        if person_id is not None:
            stmt = stmt.bindparams(bindparam("person_id", type_=Uuid()))
        conn.execute(stmt, params)


def rebuild_person(session: Session, person_id: uuid.UUID) -> None:
    """Recompute one person's keys (a lifted restriction); none unless the person is active."""
    forget_person(session, person_id)
    session.flush()
    _insert_from_sources(session, person_id)


def rebuild_all(session: Session) -> None:
    """Recompute every key from relations and consent states (after bulk loads, or to check for
    drift)."""
    session.connection().exec_driver_sql("DELETE FROM access_keys")
    _insert_from_sources(session, None)
