"""Recording consent (append-only events, current-state projection) and reading it back.

A consent event names the exact notice version shown (by SHA-256), the language, the channel,
when the person decided and until when it holds. Events are never updated; the state of a
(person, purpose, target) is the event with the latest ``given_at``, so a refusal or withdrawal
recorded after a grant wins, and a late-arriving older event does not undo a newer decision.
Expiry is applied when the state is read, never by rewriting it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.auth import require_consent_reader, require_consent_writer, require_notice_publisher
from consent_hub.consent.catalogue import Catalogue, Purpose, iso_duration_days, load_catalogue
from consent_hub.consent.oslo import to_jsonld
from consent_hub.consent.repository import ConsentRepository
from consent_hub.consent.schemas import ConsentRecord
from consent_hub.consent.states import StateView, effective_status
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import (
    HouseNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    NoticeNotFound,
    PersonNotFound,
)
from consent_hub.houses.service import HouseService
from consent_hub.outbox.service import OutboxService
from consent_hub.people.service import PeopleService
from consent_hub.people.statuses import RECORDED_STATUSES
from consent_hub.storage.models import ConsentEvent, Notice
from consent_hub.validation import parse
from consent_hub.vocabulary import ConsentStatus, PersonStatus

CLOCK_SKEW = dt.timedelta(minutes=5)
CONSENTING = RECORDED_STATUSES  # people whose consent events are recorded


@dataclass(frozen=True)
class NoticeRef:
    """What a consent event names of the notice shown."""

    id: uuid.UUID
    version: int
    sha256: str


def _problem(field: str, problem: str) -> InvalidInput:
    return InvalidInput([{"field": field, "problem": problem, "type": "value_error"}])


def _request_hash(person_id: uuid.UUID, spec: ConsentRecord) -> str:
    return hashlib.sha256(
        json.dumps([str(person_id), spec.model_dump(mode="json")], sort_keys=True).encode()
    ).hexdigest()


def _check_idempotency_key(key: str) -> None:
    if not (1 <= len(key) <= 100) or not key.isprintable():
        raise _problem("Idempotency-Key", "must be 1 to 100 printable characters")


class ConsentService:
    def __init__(self, uow: UnitOfWork, catalogue: Catalogue | None = None) -> None:
        self.uow = uow
        self.repo = ConsentRepository(uow.session)
        self.houses = HouseService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.catalogue = catalogue or load_catalogue()

    # -- notices -------------------------------------------------------------------------------
    def sync_notices(self, actor: Actor) -> list[Notice]:
        """Publish a new notice version for every (purpose, language) whose text changed."""
        require_notice_publisher(actor)
        published: list[Notice] = []
        for purpose in self.catalogue.purposes:
            for language, text in sorted(purpose.texts.items()):
                if self.repo.notice_by_hash(purpose.key, language, text.sha256) is not None:
                    continue
                current = self.repo.current_notice(purpose.key, language)
                if current is not None and current.sha256 == text.sha256:
                    continue
                notice = Notice(
                    id=new_uuid(),
                    purpose=purpose.key,
                    language=language,
                    version=self.repo.next_notice_version(purpose.key, language),
                    title=text.title,
                    text=text.notice,
                    sha256=text.sha256,
                    published_at=utcnow(),
                )
                self.repo.add_notice(notice)
                published.append(notice)
        if published:
            self.audit.append(
                actor,
                AuditRecord(
                    "notice.publish",
                    detail={"notices": [f"{n.purpose}/{n.language}/v{n.version}/{n.sha256[:12]}" for n in published]},
                ),
            )
        return published

    def current_notice(self, purpose: str, language: str) -> Notice:
        self.catalogue.get(purpose)
        notice = self.repo.current_notice(purpose, language)
        if notice is None:
            raise NoticeNotFound(
                f"no notice published for {purpose!r} in {language!r}; run `consent-hub purposes sync`"
            )
        return notice

    # -- recording -----------------------------------------------------------------------------
    def record(
        self,
        actor: Actor,
        person_id: uuid.UUID,
        data: ConsentRecord | dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> tuple[ConsentEvent, bool]:
        """Append a consent event and move the projection. Returns (event, created); repeating a
        request with the same idempotency key returns the first event and creates nothing."""
        require_consent_writer(actor, person_id)
        spec = parse(ConsentRecord, data)
        if actor.role == roles.BUYER and spec.channel != "web":
            raise _problem("channel", "a buyer's own choice is recorded with channel web")
        request_hash = _request_hash(person_id, spec)
        if idempotency_key is not None:
            _check_idempotency_key(idempotency_key)
            earlier = self.repo.by_idempotency_key(actor.id, idempotency_key)
            if earlier is not None:
                if earlier.request_hash != request_hash:
                    raise IdempotencyKeyReused("this idempotency key was used for a different request")
                return earlier, False
        people = PeopleService(self.uow)
        # a restricted person's decisions are still recorded (a withdrawal must not be lost, nor
        # re-subscribe them when the restriction is lifted); the projection gives them no access
        # key and the outbox sends nothing until the lift. The row stays share-locked: no erasure
        # or restriction changes the status until this commits.
        status = people.repo.status_for_share(person_id)
        if status not in CONSENTING:
            raise PersonNotFound("no such person")
        event, record, evidence = self._prepare(actor, person_id, spec, idempotency_key, request_hash, utcnow())
        if evidence:
            event.evidence_ct = people.cipher(person_id).seal(evidence, "consent_events", "evidence", event.id)
        if not self.repo.add_event_once(event):
            # the same key, committed by a request running beside this one: answer as a repeat
            earlier = self.repo.by_idempotency_key(actor.id, str(idempotency_key))
            if earlier is None or earlier.request_hash != request_hash:
                raise IdempotencyKeyReused("this idempotency key was used for a different request")
            return earlier, False
        self.audit.append(actor, record)
        self.repo.put_states([event], active={person_id} if status == PersonStatus.ACTIVE else set())
        OutboxService(self.uow).consent_changed([event])  # same transaction: nothing is lost
        return event, True

    def record_many(
        self,
        actor: Actor,
        items: Sequence[tuple[uuid.UUID, ConsentRecord, str]],
        *,
        new_people: Collection[uuid.UUID] = frozenset(),
    ) -> list[ConsentEvent]:
        """``record`` for imports: (person, consent, idempotency key) triples under the same rules,
        with batched queries and one audit append. Items whose key was used before for the same
        request are left out (a re-read page creates nothing); a key reused for a different
        request raises IdempotencyKeyReused; erased people are left out. ``new_people`` were created in this
        unit of work: active, with no consent recorded yet, so nothing is looked up for them."""
        require_consent_writer(actor)
        if not items:
            return []
        for _, _, key in items:
            _check_idempotency_key(key)
        used = self.repo.idempotency_hashes(actor.id, [key for pid, _, key in items if pid not in new_people])
        people = PeopleService(self.uow)
        statuses = people.repo.statuses([pid for pid, _, _ in items if pid not in new_people])
        now = utcnow()
        prepared: list[tuple[ConsentEvent, AuditRecord, str | None]] = []
        for person_id, spec, key in items:
            request_hash = _request_hash(person_id, spec)
            if key in used:
                if used[key] != request_hash:
                    raise IdempotencyKeyReused("this idempotency key was used for a different request")
                continue
            if person_id not in new_people and statuses.get(person_id) not in CONSENTING:
                continue
            used[key] = request_hash
            prepared.append(self._prepare(actor, person_id, spec, key, request_hash, now))
        if not prepared:
            return []
        self.audit.append(actor, *(record for _, record, _ in prepared))
        ciphers = people.ciphers([e.person_id for e, _, evidence in prepared if evidence])
        events: list[ConsentEvent] = []
        for event, _, evidence in prepared:
            if evidence:
                cipher = ciphers.get(event.person_id)
                if cipher is None:  # erased between the status check and now: record no evidence for it
                    continue
                event.evidence_ct = cipher.seal(evidence, "consent_events", "evidence", event.id)
            events.append(event)
        self.repo.add_events(events)
        self.repo.put_states(events)
        OutboxService(self.uow).consent_changed(events)
        return events

    def _prepare(
        self,
        actor: Actor,
        person_id: uuid.UUID,
        spec: ConsentRecord,
        idempotency_key: str | None,
        request_hash: str,
        now: dt.datetime,
    ) -> tuple[ConsentEvent, AuditRecord, str | None]:
        """Check one consent against the catalogue, the notices and the clock; return the event to
        store, its audit record and the evidence to seal (JSON text, or None)."""
        purpose = self.catalogue.get(spec.purpose)
        kind, ref = self._target(purpose, spec.target)
        notice = self._notice(purpose.key, spec.language, spec.notice_sha256)
        given_at = spec.given_at or now
        if given_at.tzinfo is None:
            raise _problem("given_at", "must carry a time zone")
        if given_at > now + CLOCK_SKEW:
            raise _problem("given_at", "lies in the future")
        expires_at = spec.expires_at
        if expires_at is not None and expires_at.tzinfo is None:
            raise _problem("expires_at", "must carry a time zone")
        if spec.status == ConsentStatus.GRANTED.value:
            if expires_at is None and purpose.consent_validity:
                expires_at = given_at + dt.timedelta(days=iso_duration_days(purpose.consent_validity))
            if expires_at is not None and expires_at <= given_at:
                raise _problem("expires_at", "must lie after given_at")
        else:
            expires_at = None
        event_id = new_uuid()
        record = AuditRecord(
            f"consent.{spec.status}",
            [person_id],
            purpose=purpose.key,
            detail={
                "event_id": str(event_id),
                "target": f"{kind}:{ref}",
                "channel": spec.channel,
                "notice": f"v{notice.version}/{notice.sha256[:12]}",
            },
        )
        evidence = spec.evidence.model_dump(exclude_none=True) if spec.evidence is not None else None
        event = ConsentEvent(
            id=event_id,
            person_id=person_id,
            purpose=purpose.key,
            target_kind=kind,
            target_ref=ref,
            status=spec.status,
            notice_id=notice.id,
            notice_sha256=notice.sha256,
            language=spec.language,
            channel=spec.channel,
            evidence_ct=None,
            given_at=given_at,
            expires_at=expires_at,
            recorded_at=now,
            actor=actor.id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        return event, record, json.dumps(evidence, sort_keys=True) if evidence else None

    def _notice(self, purpose: str, language: str, sha256: str) -> NoticeRef:
        """The published notice with this hash; kept for the process (notices never change)."""
        cache_key = (purpose, language, sha256)
        ref = self.uow.rt.notice_refs.get(cache_key)
        if ref is None:
            notice = self.repo.notice_by_hash(purpose, language, sha256)
            if notice is None:
                raise _problem("notice_sha256", "no published notice of this purpose and language has this hash")
            ref = self.uow.rt.notice_refs[cache_key] = (notice.id, notice.version)
        return NoticeRef(ref[0], ref[1], sha256)

    def _target(self, purpose: Purpose, target: str | None) -> tuple[str, str]:
        kind = purpose.target_kind
        if kind == "cluster":
            if target not in (None, self.uow.cluster):
                raise _problem("target", "a cluster-wide purpose names no target (or this cluster)")
            return kind, self.uow.cluster
        if target is None:
            raise _problem("target", f"purpose {purpose.key!r} needs a {kind} as target")
        if kind == "house" and not self.houses.exists(target):
            raise HouseNotFound(f"unknown house {target!r}")
        if kind == "recipient" and target not in purpose.recipients:
            raise _problem("target", f"purpose {purpose.key!r} has recipients {list(purpose.recipients)}")
        return kind, target

    # -- reading -------------------------------------------------------------------------------
    def _readable(self, actor: Actor, person_id: uuid.UUID) -> None:
        require_consent_reader(actor, person_id)
        person = PeopleService(self.uow).repo.get(person_id)
        if person is None:
            raise PersonNotFound("no such person")

    def current(self, actor: Actor, person_id: uuid.UUID, *, now: dt.datetime | None = None) -> list[StateView]:
        self._readable(actor, person_id)
        moment = now or utcnow()
        self.audit.append(actor, AuditRecord("consent.read", [person_id], ["consents"]))
        return [StateView(s, effective_status(s.status, s.expires_at, moment)) for s in self.repo.states_for(person_id)]

    def history(self, actor: Actor, person_id: uuid.UUID) -> Sequence[ConsentEvent]:
        self._readable(actor, person_id)
        self.audit.append(actor, AuditRecord("consent.history.read", [person_id], ["consents"]))
        return self.repo.events_for(person_id)

    def idempotency_hashes(self, actor_id: str, keys: Sequence[str]) -> dict[str, str | None]:
        """idempotency key -> request hash, for the keys of ``actor_id`` already used (an import
        skips the opt-ins it recorded before)."""
        return self.repo.idempotency_hashes(actor_id, keys)

    def clear_erased(self, person_id: uuid.UUID) -> int:
        """Clear an erased person's events down to their proof (evidence, idempotency key, request
        hash). Only once the person's row says ``erased``: the table's trigger refuses it before."""
        return self.repo.clear_erased(person_id)

    def granted_at_houses(self, people: Sequence[uuid.UUID]) -> set[tuple[uuid.UUID, str, str]]:
        """(person, purpose, house) of every house-scoped granted state of ``people``."""
        return self.repo.granted_at_houses(people)

    def is_granted(
        self, person_id: uuid.UUID, purpose: str, kind: str, ref: str, *, now: dt.datetime | None = None
    ) -> bool:
        """For services deciding on a send or an export (no personal data is read)."""
        state = self.repo.state(person_id, purpose, kind, ref)
        return (
            state is not None
            and effective_status(state.status, state.expires_at, now or utcnow()) == ConsentStatus.GRANTED
        )

    def oslo_jsonld(self, actor: Actor, person_id: uuid.UUID, *, now: dt.datetime | None = None) -> dict[str, Any]:
        """The person's current consents as OSLO Toestemming JSON-LD, with W3C DPV terms."""
        states = self.current(actor, person_id, now=now)
        return to_jsonld(self.uow.cluster, person_id, states, self.catalogue)
