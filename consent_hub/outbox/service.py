"""Enqueueing deliveries with their cause.

Enqueue rules (all in the caller's transaction):
- a consent event for a destination's (purpose, house) enqueues an ``upsert`` when granted and an
  ``unsubscribe`` when refused or withdrawn, the latter only if the destination knows the person
  (something was delivered or is waiting); someone who never agreed is never sent anywhere;
- an expired grant enqueues an ``unsubscribe`` once (dedupe key ``expiry:<event>``);
- an erasure enqueues an ``erase`` for every destination that knows the person, with the handle
  the destination needs (computed before the key is destroyed), supersedes waiting upserts and
  clears what destinations answered to the person's earlier deliveries; the handle stays until
  the destination acknowledges the erase (a dead erase keeps it), then it goes too;
- a restriction (GDPR Art. 18) enqueues a ``restriction`` for every destination that holds or
  should hold the person (it knows them, or their consent for its audience holds) and supersedes
  waiting upserts and unsubscribes; consent changes of a restricted person enqueue nothing;
- a lift enqueues a ``restriction-lifted`` to those destinations, followed by an ``upsert`` where
  the consent holds (otherwise nothing: the restriction already took them out of the audience).

Delivery (the worker, its send-time checks, backoff and receipts) is in ``outbox/delivery.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.config import DestinationConfig
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import ConfigurationError
from consent_hub.outbox.auth import require_delivery_reader, require_status_reader
from consent_hub.outbox.destinations import destination_factory
from consent_hub.outbox.repository import OutboxRepository
from consent_hub.storage.models import ConsentEvent, OutboxDelivery
from consent_hub.vocabulary import ConsentStatus, DeliveryKind, DeliveryStatus

log = logging.getLogger("consent_hub.outbox")

FINAL = (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD, DeliveryStatus.SUPERSEDED)
# sent only while the person exists
PERSON_KINDS = (
    DeliveryKind.UPSERT,
    DeliveryKind.UNSUBSCRIBE,
    DeliveryKind.RESTRICTION,
    DeliveryKind.RESTRICTION_LIFTED,
)


def _serves(cfg: DestinationConfig, purpose: str, kind: str, ref: str) -> bool:
    if cfg.purpose != purpose:
        return False
    if kind == "house":
        return cfg.house == ref
    return cfg.house is None and kind == "cluster"


@dataclass(frozen=True)
class DestinationStatus:
    """Where one destination stands (ids, counts and the destination's own receipt only)."""

    name: str
    kind: str
    house: str | None
    purpose: str
    pending: int
    dead: int
    delivered: int
    last_delivered_at: dt.datetime | None
    last_receipt: str | None


class OutboxService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = OutboxRepository(uow.session)

    @property
    def destinations(self) -> dict[str, DestinationConfig]:
        return self.uow.rt.settings.cluster(self.uow.cluster).destinations

    def row(
        self,
        destination: str,
        person_id: uuid.UUID | None,
        kind: str,
        cause: str,
        *,
        dedupe: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = utcnow()
        return {
            "id": new_uuid(),
            "destination": destination,
            "person_id": person_id,
            "kind": kind,
            "cause": cause,
            "dedupe_key": dedupe,
            "payload": json.dumps(payload or {}, sort_keys=True),
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
        }

    def consent_changed(self, events: Sequence[ConsentEvent]) -> int:
        """Enqueue what these consent events mean for every destination they concern."""
        if not self.destinations or not events:
            return 0
        rows: list[dict[str, Any]] = []
        known: dict[str, set[uuid.UUID]] = {}
        # a restricted person's decisions wait for the lift, which delivers their state then
        active = self.repo.active_people([e.person_id for e in events])
        events = [e for e in events if e.person_id in active]
        for name, cfg in self.destinations.items():
            relevant = [e for e in events if _serves(cfg, e.purpose, e.target_kind, e.target_ref)]
            if not relevant:
                continue
            if name not in known:
                known[name] = self.repo.known_people(name, [e.person_id for e in relevant])
            for e in sorted(relevant, key=lambda ev: ev.given_at):
                if e.status == ConsentStatus.GRANTED:
                    rows.append(self.row(name, e.person_id, DeliveryKind.UPSERT, f"consent:{e.id}"))
                    known[name].add(e.person_id)
                elif e.person_id in known[name]:
                    rows.append(self.row(name, e.person_id, DeliveryKind.UNSUBSCRIBE, f"consent:{e.id}"))
        self.repo.add(rows)
        return len(rows)

    def enqueue_expiries(self, now: dt.datetime | None = None) -> int:
        """An unsubscribe, once, for every grant that expired since it was delivered."""
        moment = now or utcnow()
        rows: list[dict[str, Any]] = []
        for name, cfg in self.destinations.items():
            for person_id, event_id in self.repo.expired_grants(name, cfg.purpose, cfg.house, moment):
                rows.append(
                    self.row(
                        name,
                        person_id,
                        DeliveryKind.UNSUBSCRIBE,
                        f"expiry:{event_id}",
                        dedupe=f"{name}:expiry:{event_id}",
                    )
                )
        return self.repo.add_new(rows)

    def before_erasure(self, email: str | None, person_id: uuid.UUID) -> int:
        """Called by the erasure while the person's address can still be read: every destination
        that knows the person gets an ``erase`` with its own handle; waiting upserts are dropped."""
        rows: list[dict[str, Any]] = []
        for name, cfg in self.destinations.items():
            if person_id not in self.repo.known_people(name, [person_id]):
                continue
            adapter = destination_factory(cfg.kind)(name, cfg)
            try:
                handle = adapter.erasure_handle(email)
            finally:
                adapter.close()
            rows.append(self.row(name, person_id, DeliveryKind.ERASE, "erasure", payload={"handle": handle}))
        self.repo.supersede_waiting(person_id, kinds=PERSON_KINDS)
        self.repo.add(rows)
        return len(rows)

    def erased(self, person_id: uuid.UUID) -> int:
        """Called by every erasure, whatever destinations are configured now: the person's earlier
        deliveries keep what was sent and when, not what the destinations answered. Only the
        erase deliveries keep their handle, until their destination acknowledges them."""
        return self.repo.forget_answers(person_id)

    def _concerned(self, person_id: uuid.UUID) -> list[tuple[str, bool]]:
        """(destination, consent holds now) for every destination that holds or should hold the
        person: it received or awaits an upsert, or the person's consent for its audience holds."""
        out: list[tuple[str, bool]] = []
        now = utcnow()
        for name, cfg in self.destinations.items():
            kind, ref = ("house", cfg.house) if cfg.house else ("cluster", self.uow.cluster)
            granted = person_id in self.repo.granted_among([person_id], cfg.purpose, kind, str(ref), now)
            if granted or person_id in self.repo.known_people(name, [person_id]):
                out.append((name, granted))
        return out

    def restricted(self, person_id: uuid.UUID) -> int:
        """Called by the restriction: every destination concerned gets a ``restriction`` (a
        Mailchimp-shaped audience archives the member); waiting upserts and unsubscribes are
        dropped, the restriction takes their place."""
        rows = [
            self.row(name, person_id, DeliveryKind.RESTRICTION, "restriction") for name, _ in self._concerned(person_id)
        ]
        self.repo.supersede_waiting(person_id, kinds=(DeliveryKind.UPSERT, DeliveryKind.UNSUBSCRIBE))
        self.repo.add(rows)
        return len(rows)

    def rectified(self, person_id: uuid.UUID, reference: str) -> int:
        """Called by a rectification (GDPR Art. 16, 19): every destination that holds the person
        and whose consent still holds gets an ``upsert``, which reads the corrected fields at
        send time (re-checked like any other)."""
        rows = [
            self.row(name, person_id, DeliveryKind.UPSERT, f"rectification:{reference}")
            for name, granted in self._concerned(person_id)
            if granted
        ]
        self.repo.add(rows)
        return len(rows)

    def restriction_lifted(self, person_id: uuid.UUID) -> int:
        """Called by the lift: every destination concerned gets a ``restriction-lifted`` and then,
        where the consent holds, an ``upsert`` (re-checked at send time like any other)."""
        rows: list[dict[str, Any]] = []
        for name, granted in self._concerned(person_id):
            lifted = self.row(name, person_id, DeliveryKind.RESTRICTION_LIFTED, "restriction-lifted")
            rows.append(lifted)
            if granted:
                upsert = self.row(name, person_id, DeliveryKind.UPSERT, "restriction-lifted")
                # strictly after the lift: one delivery per (destination, person) goes at a time,
                # oldest first, so the destination sees the lift before the subscription
                upsert["created_at"] = lifted["created_at"] + dt.timedelta(microseconds=1)
                rows.append(upsert)
        self.repo.add(rows)
        return len(rows)

    def export_members(self, destination: str, people: Sequence[uuid.UUID], export_id: str) -> int:
        """An export pushed to a destination: one upsert per member (re-checked at send time)."""
        if destination not in self.destinations:
            raise ConfigurationError(f"unknown destination {destination!r}")
        rows = [self.row(destination, p, DeliveryKind.UPSERT, f"export:{export_id}") for p in people]
        self.repo.add(rows)
        return len(rows)

    # -- reading (ids, statuses and receipts only) ----------------------------------------------
    def deliveries_of(self, actor: Actor, person_id: uuid.UUID) -> Sequence[OutboxDelivery]:
        require_delivery_reader(actor, person_id)
        return self.repo.of_person(person_id)

    def deliveries(
        self, actor: Actor, *, status: str | None, destination: str | None, limit: int
    ) -> Sequence[OutboxDelivery]:
        require_delivery_reader(actor)
        return self.repo.listing(status, destination, limit)

    def counts(self) -> dict[str, dict[str, int]]:
        return self.repo.counts()

    def status_per_destination(self, actor: Actor) -> list[DestinationStatus]:
        """Each configured destination's state for the DPO console: deliveries waiting, dead
        letters, the last acknowledged delivery and its receipt. A house DPO sees their house's
        destinations only (a cluster-wide one is the cluster DPO's)."""
        require_status_reader(actor)
        counts = self.repo.counts()
        last = self.repo.last_delivered()
        out = []
        for name, cfg in sorted(self.destinations.items()):
            if actor.house is not None and cfg.house != actor.house:
                continue
            by_status = counts.get(name, {})
            at, receipt = last.get(name, (None, None))
            out.append(
                DestinationStatus(
                    name=name,
                    kind=cfg.kind,
                    house=cfg.house,
                    purpose=cfg.purpose,
                    pending=by_status.get(DeliveryStatus.PENDING, 0),
                    dead=by_status.get(DeliveryStatus.DEAD, 0),
                    delivered=by_status.get(DeliveryStatus.DELIVERED, 0),
                    last_delivered_at=at,
                    last_receipt=receipt,
                )
            )
        return out
