"""May this house see this buyer, for this purpose, and which fields? (invariants 2 and 3)

A person is visible to a caller when one of the bases the policy grants for (role, house,
purpose) holds for that person in the database. Not visible answers 404, exactly as a person who
does not exist. A role with no basis at all for the purpose gets 403 (that reveals nothing about
any person).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, get_args

from sqlalchemy import event

from consent_hub.access.auth import require_person_reader, require_relation_writer
from consent_hub.access.policy import AccessPolicy, Compiled, access_policy, fields_of
from consent_hub.access.predicates import Scope
from consent_hub.access.repository import AccessRepository
from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.counts.service import ProtectedCounts
from consent_hub.errors import Forbidden, HouseNotFound, InvalidInput, PersonNotFound
from consent_hub.people.fields import PERSON_FIELDS
from consent_hub.people.schemas import RelationReason
from consent_hub.people.service import PeopleService, PersonView
from consent_hub.validation import reference_detail
from consent_hub.vocabulary import ConsentStatus, EffectiveConsentStatus, PersonStatus

RELATION_KINDS = ("customer", "subscriber")
RELATION_REASONS: tuple[str, ...] = get_args(RelationReason)

# (cluster, policy directory) -> the policy version this process last recorded in that cluster's log
_recorded_policy: dict[tuple[str, str], str] = {}


@dataclass
class VisiblePerson:
    view: PersonView
    field_groups: list[str]
    bases: list[str]


@dataclass
class Explanation:
    visible: bool
    purpose: str
    field_groups: list[str]
    reasons: list[dict[str, Any]] = field(default_factory=list)


class AccessService:
    def __init__(self, uow: UnitOfWork, policy: AccessPolicy | None = None) -> None:
        self.uow = uow
        self.repo = AccessRepository(uow.session)
        self.people = PeopleService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.policy = policy or access_policy()

    def grant(self, actor: Actor, purpose: str) -> tuple[Compiled, Scope]:
        if purpose not in load_catalogue().purpose_keys():
            raise InvalidInput([{"field": "purpose", "problem": "unknown purpose", "type": "value_error"}])
        require_person_reader(actor)
        compiled = self.policy.compile(actor.role, actor.house, purpose)
        self._record_policy_version(actor, compiled.policy_version)
        if not compiled.bases:
            raise Forbidden(f"role {actor.role!r} has no access to personal data for purpose {purpose!r}")
        house_id = self._house_id(actor.house) if actor.house else None
        if actor.house and house_id is None:
            raise Forbidden("the caller's house is not registered")
        return compiled, Scope(self.uow.cluster, actor.house, house_id, purpose, utcnow())

    @staticmethod
    def common_groups(compiled: Compiled, purpose: str) -> set[str]:
        """The field groups that every basis of the grant gives, within the purpose's own groups:
        what may be read of anyone the grant reaches, whichever basis reaches them (exports show
        these fields; segment filters may read only these groups)."""
        per_basis = [set(g) for g in compiled.groups_by_basis.values() if g]
        groups = set.intersection(*per_basis) if per_basis else set()
        return groups & set(load_catalogue().get(purpose).field_groups)

    def _house_id(self, slug: str) -> uuid.UUID | None:
        cache = self.uow.rt.house_ids
        if slug not in cache:
            house_id = self.repo.house_id(slug)
            if house_id is None:
                return None
            cache[slug] = house_id
        return cache[slug]

    def _record_policy_version(self, actor: Actor, version: str) -> None:
        """The first decision under a policy version in this process writes an audit entry, so the
        log shows which policy every later read was decided by (reads also name the version)."""
        key = (self.uow.cluster, str(self.policy.policy))
        if _recorded_policy.get(key) != version:
            self.audit.append(actor, AuditRecord("policy.load", detail={"policy": version}))

            def remember(_session: object) -> None:  # only once the entry is really committed
                _recorded_policy[key] = version

            event.listen(self.uow.session, "after_commit", remember, once=True)

    def count(self, actor: Actor, purpose: str) -> tuple[int | str, str]:
        """How many people the caller may reach for the purpose, and how the figure is protected.
        A house's callers get a protected figure (``counts/service.py``: noise, stored answer,
        budget): an exact count, asked before and after one person's consent changes, would tell
        that person's choice. A cluster-level caller reaches everyone anyway and gets the exact count."""
        compiled, scope = self.grant(actor, purpose)
        n = self.repo.count(compiled.bases, scope)
        detail: dict[str, Any] = {"bases": compiled.bases, "policy": compiled.policy_version}
        if actor.house:
            figures = ProtectedCounts(self.uow)
            shown = figures.show(actor.house, f"people|{actor.role}|{purpose}", {"total": n})
            value: int | str = shown.figures["total"]
            protection = figures.protection()
            detail.update(shown=value, fresh_figures=shown.fresh, epsilon=shown.epsilon_spent)
        else:
            value, protection = n, "exact: a cluster-level caller reaches every person of the cluster"
            detail["count"] = n
        self.audit.append(actor, AuditRecord("people.count", purpose=purpose, detail=detail))
        return value, protection

    def get(
        self, actor: Actor, person_id: uuid.UUID, *, purpose: str, fields: list[str] | None = None
    ) -> VisiblePerson:
        """The person with the fields the caller may see (``fields`` narrows them further)."""
        compiled, scope = self.grant(actor, purpose)
        held = self.repo.bases_held(person_id, compiled.bases, scope)
        if not held:
            raise PersonNotFound("no such person")
        return self._read(actor, person_id, purpose, compiled, held, fields)

    def lookup_by_email(
        self, actor: Actor, email: str, *, purpose: str, fields: list[str] | None = None
    ) -> VisiblePerson | None:
        compiled, scope = self.grant(actor, purpose)
        # one statement for both "not found" paths: a miss and an invisible person do the same
        # database and cryptographic work (the blind index), so neither timing nor trace differs
        found = self.repo.visible_by_email_index(self.people.email_index(email), compiled.bases, scope)
        if found is None:
            # a miss and an invisible person leave the same trace
            self.audit.append(
                actor, AuditRecord("people.lookup", [], ["email"], purpose=purpose, detail={"found": False})
            )
            return None
        pid, held = found
        return self._read(actor, pid, purpose, compiled, held, fields)

    def _read(
        self,
        actor: Actor,
        person_id: uuid.UUID,
        purpose: str,
        compiled: Compiled,
        held: set[str],
        fields: list[str] | None,
    ) -> VisiblePerson:
        groups = compiled.groups_for(held)
        allowed = fields_of(groups)
        if fields is not None:
            unknown = sorted(set(fields) - set(PERSON_FIELDS))
            if unknown:
                raise InvalidInput(
                    [{"field": "fields", "problem": f"unknown field {f!r}", "type": "value_error"} for f in unknown]
                )
            allowed = [f for f in allowed if f in fields]
        view = self.people.read_visible(
            actor,
            person_id,
            purpose=purpose,
            fields=allowed,
            detail={"bases": sorted(held), "field_groups": sorted(groups), "policy": compiled.policy_version},
        )
        return VisiblePerson(view, sorted(groups), sorted(held))

    def explain(self, actor: Actor, person_id: uuid.UUID, *, purpose: str) -> Explanation:
        """Why the person is or is not visible to the caller for ``purpose``. Answers only about a
        person the caller can see for some purpose; otherwise 404 like everything else."""
        if not self._visible_for_any_purpose(actor, person_id):
            raise PersonNotFound("no such person")
        compiled, scope = self.grant(actor, purpose)
        held = self.repo.bases_held(person_id, compiled.bases, scope) or set()
        reasons: list[dict[str, Any]] = []
        if scope.house_id is not None:
            for rel in self.repo.relations_of(person_id, scope.house_id):
                basis = "own-house-customer" if rel.kind == "customer" else "program-subscriber"
                reasons.append(
                    {
                        "basis": basis,
                        "grants": basis in held,
                        "relation": rel.kind,
                        "program": rel.program or None,
                        "house": scope.house,
                        "since": rel.first_seen.isoformat(),
                        "last_seen": rel.last_seen.isoformat(),
                    }
                )
            targets = [("house", scope.house or ""), ("cluster", scope.cluster)]
            for st in self.repo.consent_states_of(person_id, purpose, targets):
                basis = "consent-house" if st.target_kind == "house" else "consent-cluster"
                expired = st.expires_at is not None and st.expires_at <= scope.now
                reasons.append(
                    {
                        "basis": basis,
                        "grants": basis in held,
                        "consent_event": str(st.event_id),
                        "status": EffectiveConsentStatus.EXPIRED
                        if st.status == ConsentStatus.GRANTED and expired
                        else st.status,
                        "target": f"{st.target_kind}:{st.target_ref}",
                        "since": st.given_at.isoformat(),
                        "expires": st.expires_at.isoformat() if st.expires_at else None,
                    }
                )
        elif "any-in-cluster" in held:
            reasons.append({"basis": "any-in-cluster", "grants": True, "role": actor.role})
        for r in reasons:
            if r["grants"] is False and r["basis"] not in compiled.bases:
                r["why_not"] = f"the policy grants role {actor.role!r} nothing through {r['basis']} for {purpose!r}"
        groups = sorted(compiled.groups_for(held))
        self.audit.append(
            actor,
            AuditRecord(
                "people.explain",
                [person_id],
                purpose=purpose,
                detail={"bases": sorted(held), "policy": compiled.policy_version},
            ),
        )
        return Explanation(bool(held), purpose, groups, reasons)

    def _visible_for_any_purpose(self, actor: Actor, person_id: uuid.UUID) -> bool:
        house_id = self._house_id(actor.house) if actor.house else None
        now = utcnow()
        grants = []
        for purpose in load_catalogue().purpose_keys():
            compiled = self.policy.compile(actor.role, actor.house, purpose)
            if compiled.bases:
                grants.append((compiled.bases, Scope(self.uow.cluster, actor.house, house_id, purpose, now)))
        return self.repo.visible_under_any(person_id, grants)


class RelationService:
    """Record that a person is a customer of, or a program subscriber at, a house.

    A relation makes the person visible to the house (invariant 2), so no role of a house may
    record one for itself: a house's relations come from evidence it owns (sales, engine
    customers, memberships), applied by the sync and the file import through the ingest service,
    never through this path. Here only cluster-level writers (the cluster service, the operator's
    CLI) record a relation, each with a reason from ``RELATION_REASONS`` written to the audit log."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.repo = AccessRepository(uow.session)
        self.people = PeopleService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)

    def touch(
        self,
        actor: Actor,
        person_id: uuid.UUID,
        house: str,
        kind: str,
        *,
        reason: str,
        reference: str | None = None,
        program: str = "",
        seen_at: dt.datetime | None = None,
    ) -> None:
        # decided by the role alone, before any person is looked at: the answer says nothing about anyone
        require_relation_writer(actor)
        if reason not in RELATION_REASONS:
            raise InvalidInput(
                [{"field": "reason", "problem": f"must be one of {list(RELATION_REASONS)}", "type": "value_error"}]
            )
        detail_reference = reference_detail(reference)
        if kind not in RELATION_KINDS:
            raise InvalidInput(
                [{"field": "kind", "problem": f"must be one of {list(RELATION_KINDS)}", "type": "value_error"}]
            )
        if (kind == "subscriber") != bool(program):
            raise InvalidInput(
                [
                    {
                        "field": "program",
                        "problem": "a subscriber relation names its program, a customer relation none",
                        "type": "value_error",
                    }
                ]
            )
        house_id = self.repo.house_id(house)
        if house_id is None:
            raise HouseNotFound(f"unknown house {house!r}")
        person = self.people.repo.get(person_id)
        if person is None or person.status != PersonStatus.ACTIVE:
            raise PersonNotFound("no such person")
        seen = seen_at or utcnow()
        self.audit.append(
            actor,
            AuditRecord(
                "relation.touch",
                [person_id],
                detail={
                    "house": house,
                    "kind": kind,
                    "program": program or None,
                    "reason": reason,
                    **detail_reference,
                },
            ),
        )
        self.repo.touch_relation(person_id, house_id, kind, program, seen)
