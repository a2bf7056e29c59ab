"""Lists, lookups and counts of visible people, from the basis predicates (``predicates.py``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from consent_hub.access.predicates import Scope, basis_key, basis_predicate, visible
from consent_hub.storage import access_keys
from consent_hub.storage.models import AccessKey, ConsentState, House, Person, Relation
from consent_hub.vocabulary import PersonStatus


class AccessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def house_id(self, slug: str) -> uuid.UUID | None:
        return self.session.scalar(select(House.id).where(House.slug == slug))

    def count(self, bases: Sequence[str], scope: Scope) -> int:
        """Counted from the access keys (index-only); the cluster-wide basis counts people."""
        if not bases:
            return 0
        return int(self.session.scalar(self.count_statement(bases, scope)) or 0)

    def count_statement(self, bases: Sequence[str], scope: Scope) -> Select[Any]:
        if "any-in-cluster" in bases or scope.house_id is None or scope.house is None:
            return select(func.count()).select_from(Person).where(visible(bases, scope))
        keys = [basis_key(b, scope) for b in bases]
        valid = or_(AccessKey.expires_at.is_(None), AccessKey.expires_at > scope.now)
        if len(keys) == 1:
            return select(func.count()).select_from(AccessKey).where(AccessKey.key == keys[0], valid)
        return select(func.count(AccessKey.person_id.distinct())).where(AccessKey.key.in_(keys), valid)

    def count_by_predicates(self, bases: Sequence[str], scope: Scope) -> int:
        """The reference count over people, relations and consent states (no access keys)."""
        return int(self.session.scalar(select(func.count()).select_from(Person).where(visible(bases, scope))) or 0)

    def visible_ids(self, bases: Sequence[str], scope: Scope, among: Any = None) -> list[uuid.UUID]:
        """Ids of the visible people (optionally only those in the id subquery ``among``): from
        the access keys for house-scoped callers, from the reference predicates otherwise."""
        if not bases:
            return []
        if "any-in-cluster" in bases or scope.house_id is None or scope.house is None:
            stmt = select(Person.id).where(visible(bases, scope))
            if among is not None:
                stmt = stmt.where(Person.id.in_(among))
            return list(self.session.scalars(stmt))
        keys = [basis_key(b, scope) for b in bases]
        valid = or_(AccessKey.expires_at.is_(None), AccessKey.expires_at > scope.now)
        ks = select(AccessKey.person_id).where(AccessKey.key.in_(keys), valid).distinct()
        if among is not None:
            ks = ks.where(AccessKey.person_id.in_(among))
        return list(self.session.scalars(ks))

    def bases_held(self, person_id: uuid.UUID, bases: Sequence[str], scope: Scope) -> set[str] | None:
        """The bases through which this active person is reached; None if no such active person."""
        if not bases:
            return None
        cols = [basis_predicate(b, scope).label(f"b{i}") for i, b in enumerate(bases)]
        row = self.session.execute(
            select(Person.id, *cols).where(Person.id == person_id, Person.status == PersonStatus.ACTIVE)
        ).first()
        if row is None:
            return None
        return {b for i, b in enumerate(bases) if row[i + 1]}

    def visible_by_email_index(
        self, email_bidx: bytes, bases: Sequence[str], scope: Scope
    ) -> tuple[uuid.UUID, set[str]] | None:
        """The active person with this e-mail index and the bases through which they are reached,
        or None, in ONE statement whose visibility test is in its WHERE clause: an unknown address
        and a person the caller cannot see run the same statement and both fetch no row, so their
        answers take the same time (issue 11, point 4)."""
        if not bases:
            return None
        cols = [basis_predicate(b, scope) for b in bases]
        row = self.session.execute(
            select(Person.id, *(c.label(f"b{i}") for i, c in enumerate(cols))).where(
                Person.email_bidx == email_bidx, Person.status == PersonStatus.ACTIVE, or_(*cols)
            )
        ).first()
        if row is None:
            return None
        return row[0], {b for i, b in enumerate(bases) if row[i + 1]}

    def visible_under_any(self, person_id: uuid.UUID, grants: Sequence[tuple[Sequence[str], Scope]]) -> bool:
        """Whether the person is visible under at least one of several (bases, scope) grants."""
        if not grants:
            return False
        clause = or_(*(visible(bases, scope) for bases, scope in grants))
        return self.session.scalar(select(Person.id).where(Person.id == person_id, clause)) is not None

    def relations_of(self, person_id: uuid.UUID, house_id: uuid.UUID) -> Sequence[Relation]:
        return self.session.scalars(
            select(Relation).where(Relation.person_id == person_id, Relation.house_id == house_id)
        ).all()

    def consent_states_of(
        self, person_id: uuid.UUID, purpose: str, targets: Sequence[tuple[str, str]]
    ) -> Sequence[ConsentState]:
        if not targets:
            return []
        return self.session.scalars(
            select(ConsentState).where(
                ConsentState.person_id == person_id,
                ConsentState.purpose == purpose,
                or_(*(and_(ConsentState.target_kind == k, ConsentState.target_ref == r) for k, r in targets)),
            )
        ).all()

    def touch_relation(
        self, person_id: uuid.UUID, house_id: uuid.UUID, kind: str, program: str, seen: dt.datetime
    ) -> None:
        access_keys.touch_relations(self.session, {(person_id, house_id, kind, program): (seen, seen)})
