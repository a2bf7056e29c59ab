"""The data-subject requests, step by step across the domains. PeopleService checks and audits
each request and does the person's own steps (the crypto-shredding, the status); the outbox, the
ingest records and the consent events are reached through their services. The order of the steps
is part of the guarantee: see each method."""

from __future__ import annotations

import uuid
from typing import Any

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.service import ConsentService
from consent_hub.ingest.service import forget_engine_records
from consent_hub.outbox.service import OutboxService
from consent_hub.people.service import PeopleService
from consent_hub.vocabulary import ConsentStatus, EffectiveConsentStatus


class RightsService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.people = PeopleService(uow)

    def erase(self, actor: Actor, person_id: uuid.UUID, *, reference: str | None = None) -> bool:
        """Crypto-shred: delete the wrapped data key, the blind indexes and the ciphertexts; keep a
        suppression entry (e-mail blind index and date only). The person's consent events keep
        their proof and lose their sealed evidence, idempotency key and request hash, so that no
        key-store backup opens anything left in this database; their engine records and what the
        destinations answered about them are forgotten, and each erase delivery's handle goes once
        its destination acknowledges it (docs/erasure-and-backups.md). Idempotent; returns False
        when the person was already erased."""
        person = self.people.open_erasure(actor, person_id, reference=reference)  # audited first
        if person is None:
            return False
        now = utcnow()
        outbox = OutboxService(self.uow)
        outbox.erased(person_id)
        if outbox.destinations:
            # destinations that know the person get what they need to erase them, read while the
            # key still exists
            outbox.before_erasure(self.people.email_before_erasure(person), person_id)
        self.people.shred(person, now)
        # after the audit entry: on PostgreSQL it holds the audit head, which the sales trigger takes
        forget_engine_records(self.uow, person_id)
        self.people.mark_erased(person_id, now)
        # only now: the consent events' trigger allows this one UPDATE for an erased person only
        ConsentService(self.uow).clear_erased(person_id)
        return True

    def restrict(self, actor: Actor, person_id: uuid.UUID, *, reference: str | None = None) -> bool:
        """Restriction of processing (GDPR Art. 18): the person stays stored but no house sees
        them (their access keys go; ``visible`` requires an active person), no read decrypts them,
        and every destination that holds or should hold them is told in this transaction (an
        archive, a restriction event). Idempotent: returns False when already restricted. An
        erased person cannot be restricted."""
        if not self.people.open_restriction(actor, person_id, reference=reference):
            return False
        OutboxService(self.uow).restricted(person_id)
        self.people.mark_restricted(person_id)
        return True

    def lift_restriction(self, actor: Actor, person_id: uuid.UUID, *, reference: str | None = None) -> bool:
        """End a restriction: the person is active again, their access keys are rebuilt from their
        relations and granted consent states (including those recorded during the restriction),
        and destinations receive the lift and the person's current state. Idempotent: returns
        False when the person was not restricted."""
        if not self.people.reactivate(actor, person_id, reference=reference):
            return False
        OutboxService(self.uow).restriction_lifted(person_id)
        return True

    def rectify(self, actor: Actor, person_id: uuid.UUID, changes: dict[str, Any], *, reference: str) -> int:
        """Rectification (GDPR Art. 16) through the people service (validated, audited, sealed),
        and every destination that holds the person told through the outbox (Art. 19). Returns
        the deliveries enqueued."""
        self.people.update(actor, person_id, changes)
        return OutboxService(self.uow).rectified(person_id, reference)

    def object_to(self, actor: Actor, person_id: uuid.UUID, purpose: str, *, language: str) -> int:
        """Objection (GDPR Art. 21): every consent of the person for ``purpose`` that holds now is
        withdrawn through the consent service, so the houses stop and the destinations are told
        (the outbox's unsubscribes). Returns the withdrawals recorded."""
        consent = ConsentService(self.uow)
        withdrawn = 0
        for view in consent.current(actor, person_id):
            state = view.state
            if state.purpose != purpose or view.effective_status != EffectiveConsentStatus.GRANTED:
                continue
            notice = consent.current_notice(purpose, language)
            consent.record(
                actor,
                person_id,
                {
                    "purpose": purpose,
                    "target": None if state.target_kind == "cluster" else state.target_ref,
                    "status": ConsentStatus.WITHDRAWN,
                    "notice_sha256": notice.sha256,
                    "language": language,
                    "channel": "api",
                },
            )
            withdrawn += 1
        return withdrawn
