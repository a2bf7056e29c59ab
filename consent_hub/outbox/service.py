"""Enqueueing deliveries with their cause, and delivering them.

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

Delivery (``OutboxWorker``): the oldest waiting delivery per (destination, person) goes first; an
upsert is re-checked against the consent at send time and sent as an unsubscribe (or not at all)
when the consent no longer holds, and an upsert or unsubscribe for a person restricted since it
was enqueued is sent as the ``restriction`` (never as a subscribe); failures back off
exponentially with jitter and die after the destination's ``max_attempts``; every send records
its status and receipt.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consent_hub import roles
from consent_hub.actors import Actor
from consent_hub.clusters import ClusterRegistry, UnitOfWork
from consent_hub.config import DestinationConfig
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import ConfigurationError, Forbidden
from consent_hub.outbox.destinations import DeliveryFailed, Destination, Outgoing, destination_factory
from consent_hub.outbox.repository import OutboxRepository
from consent_hub.people.repository import RECORDED_STATUSES, PeopleRepository
from consent_hub.storage.models import ConsentEvent, OutboxDelivery, utcnow

log = logging.getLogger("consent_hub.outbox")

SEND_FIELDS = ("email", "given_name", "family_name", "language")  # what a mailing tool gets (contact + identity)
READERS = frozenset({roles.CLUSTER_ADMIN, roles.CLUSTER_DPO, roles.CLUSTER_SERVICE, roles.CLUSTER_OPERATOR})
FINAL = ("delivered", "dead", "superseded")
BATCH_FROM = 20  # this many due deliveries to one destination go as batches, where it offers them
BATCH_SIZE = 500
PERSON_KINDS = ("upsert", "unsubscribe", "restriction", "restriction-lifted")  # sent only while the person exists


def _serves(cfg: DestinationConfig, purpose: str, kind: str, ref: str) -> bool:
    if cfg.purpose != purpose:
        return False
    if kind == "house":
        return cfg.house == ref
    return cfg.house is None and kind == "cluster"


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
            "status": "pending",
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
        statuses = PeopleRepository(self.uow.session).statuses([e.person_id for e in events])
        events = [e for e in events if statuses.get(e.person_id) == "active"]
        for name, cfg in self.destinations.items():
            relevant = [e for e in events if _serves(cfg, e.purpose, e.target_kind, e.target_ref)]
            if not relevant:
                continue
            if name not in known:
                known[name] = self.repo.known_people(name, [e.person_id for e in relevant])
            for e in sorted(relevant, key=lambda ev: ev.given_at):
                if e.status == "granted":
                    rows.append(self.row(name, e.person_id, "upsert", f"consent:{e.id}"))
                    known[name].add(e.person_id)
                elif e.person_id in known[name]:
                    rows.append(self.row(name, e.person_id, "unsubscribe", f"consent:{e.id}"))
        self.repo.add(rows)
        return len(rows)

    def enqueue_expiries(self, now: dt.datetime | None = None) -> int:
        """An unsubscribe, once, for every grant that expired since it was delivered."""
        moment = now or utcnow()
        rows: list[dict[str, Any]] = []
        for name, cfg in self.destinations.items():
            for person_id, event_id in self.repo.expired_grants(name, cfg.purpose, cfg.house, moment):
                rows.append(
                    self.row(name, person_id, "unsubscribe", f"expiry:{event_id}", dedupe=f"{name}:expiry:{event_id}")
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
            rows.append(self.row(name, person_id, "erase", "erasure", payload={"handle": handle}))
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
        rows = [self.row(name, person_id, "restriction", "restriction") for name, _ in self._concerned(person_id)]
        self.repo.supersede_waiting(person_id, kinds=("upsert", "unsubscribe"))
        self.repo.add(rows)
        return len(rows)

    def restriction_lifted(self, person_id: uuid.UUID) -> int:
        """Called by the lift: every destination concerned gets a ``restriction-lifted`` and then,
        where the consent holds, an ``upsert`` (re-checked at send time like any other)."""
        rows: list[dict[str, Any]] = []
        for name, granted in self._concerned(person_id):
            lifted = self.row(name, person_id, "restriction-lifted", "restriction-lifted")
            rows.append(lifted)
            if granted:
                upsert = self.row(name, person_id, "upsert", "restriction-lifted")
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
        rows = [self.row(destination, p, "upsert", f"export:{export_id}") for p in people]
        self.repo.add(rows)
        return len(rows)

    # -- reading (ids, statuses and receipts only) ----------------------------------------------
    def deliveries_of(self, actor: Actor, person_id: uuid.UUID) -> Sequence[OutboxDelivery]:
        if actor.role not in READERS:
            raise Forbidden(f"role {actor.role!r} may not read deliveries")
        return self.repo.of_person(person_id)

    def deliveries(
        self, actor: Actor, *, status: str | None, destination: str | None, limit: int
    ) -> Sequence[OutboxDelivery]:
        if actor.role not in READERS:
            raise Forbidden(f"role {actor.role!r} may not read deliveries")
        return self.repo.listing(status, destination, limit)

    def counts(self) -> dict[str, dict[str, int]]:
        return self.repo.counts()


@dataclass
class CycleReport:
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    superseded: int = 0


class OutboxWorker:
    """Delivers due deliveries of one cluster. Safe to run in several processes on PostgreSQL: each
    delivery is claimed with ``FOR UPDATE SKIP LOCKED`` and a lease before it is sent."""

    LEASE = dt.timedelta(minutes=2)

    def __init__(self, registry: ClusterRegistry, cluster: str, *, rng: random.Random | None = None) -> None:
        self.registry = registry
        self.cluster = cluster
        self.actor = Actor.system(cluster, "outbox")
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.adapters: dict[str, Destination] = {}

    def _adapter(self, name: str, cfg: DestinationConfig) -> Destination:
        if name not in self.adapters:
            self.adapters[name] = destination_factory(cfg.kind)(name, cfg)
        return self.adapters[name]

    def close(self) -> None:
        for adapter in self.adapters.values():
            adapter.close()
        self.adapters.clear()

    def backoff(self, cfg: DestinationConfig, attempts: int, hinted: float | None) -> dt.timedelta:
        if hinted is not None:
            return dt.timedelta(seconds=hinted)
        window = min(cfg.backoff_max_seconds, cfg.backoff_base_seconds * (2 ** max(attempts - 1, 0)))
        return dt.timedelta(seconds=self.rng.uniform(window / 2, window))

    def run_once(self, limit: int = 500) -> CycleReport:
        report = CycleReport()
        with self.registry.unit_of_work(self.cluster) as uow:
            OutboxService(uow).enqueue_expiries()
        with self.registry.unit_of_work(self.cluster) as uow:
            claimed = OutboxRepository(uow.session).claim_with_destination(utcnow(), limit, self.LEASE)
            configured = uow.rt.settings.cluster(self.cluster).destinations
        by_destination: dict[str, list[uuid.UUID]] = {}
        for delivery_id, destination in claimed:
            by_destination.setdefault(destination, []).append(delivery_id)
        for destination, ids in by_destination.items():
            cfg = configured.get(destination)
            adapter = self._adapter(destination, cfg) if cfg is not None else None
            if adapter is not None and hasattr(adapter, "deliver_many") and len(ids) >= BATCH_FROM:
                for start in range(0, len(ids), BATCH_SIZE):
                    self._deliver_batch(destination, ids[start : start + BATCH_SIZE], report)
            else:
                for delivery_id in ids:
                    self._deliver(destination, delivery_id, report)
        return report

    def _deliver(self, destination: str, delivery_id: uuid.UUID, report: CycleReport) -> None:
        with self.registry.unit_of_work(self.cluster) as uow:
            prepared = self._prepare(uow, destination, [delivery_id], report)
            if not prepared:
                return
            ((delivery, cfg, message),) = prepared
            adapter = self._adapter(destination, cfg)
            try:
                outcome: dict[str, Any] | DeliveryFailed = adapter.deliver(message)
            except DeliveryFailed as exc:
                outcome = exc
            self._record(OutboxRepository(uow.session), delivery, cfg, message.kind, outcome, report)

    def _deliver_batch(self, destination: str, delivery_ids: Sequence[uuid.UUID], report: CycleReport) -> None:
        """Many deliveries to one destination in one request (e.g. Mailchimp batch operations):
        prepared and recorded exactly as single ones, in one unit of work."""
        with self.registry.unit_of_work(self.cluster) as uow:
            ready = self._prepare(uow, destination, delivery_ids, report)
            if not ready:
                return
            cfg = ready[0][1]
            adapter: Any = self._adapter(destination, cfg)
            try:
                outcomes: dict[uuid.UUID, dict[str, Any] | DeliveryFailed] = adapter.deliver_many(
                    [m for _, _, m in ready]
                )
            except DeliveryFailed as exc:
                outcomes = {m.delivery_id: exc for _, _, m in ready}
            repo = OutboxRepository(uow.session)
            for delivery, cfg, message in ready:
                outcome = outcomes.get(message.delivery_id) or DeliveryFailed("no result in the batch", retryable=True)
                self._record(repo, delivery, cfg, message.kind, outcome, report)

    def _prepare(
        self, uow: UnitOfWork, destination: str, delivery_ids: Sequence[uuid.UUID], report: CycleReport
    ) -> list[tuple[OutboxDelivery, DestinationConfig, Outgoing]]:
        """Load claimed deliveries of one destination and apply the send-time checks (erased
        people, consent re-check, no unsubscribe for someone never subscribed there), with one
        query per kind of fact; then read what they send in one audited read per kind."""
        from consent_hub.people.service import PeopleService

        cfg = uow.rt.settings.cluster(self.cluster).destinations.get(destination)
        repo = OutboxRepository(uow.session)
        deliveries = [d for d in repo.get_many(delivery_ids) if d.status == "pending"]
        if cfg is None:
            for delivery in deliveries:
                delivery.status, delivery.last_error = "dead", "destination no longer configured"
                report.dead += 1
            return []
        people_ids = [d.person_id for d in deliveries if d.person_id is not None]
        people = PeopleService(uow)
        statuses = people.repo.statuses(people_ids)
        sent_before = repo.delivered_among(destination, people_ids)
        kind_ref = ("house", cfg.house) if cfg.house else ("cluster", self.cluster)
        granted = repo.granted_among(people_ids, cfg.purpose, kind_ref[0], str(kind_ref[1]), utcnow())
        plan: list[tuple[OutboxDelivery, str]] = []
        for delivery in deliveries:
            kind, pid = delivery.kind, delivery.person_id
            if kind in PERSON_KINDS and pid is not None:
                status = statuses.get(pid)
                if status not in RECORDED_STATUSES:
                    delivery.status, delivery.last_error = "superseded", "the person was erased"
                    report.superseded += 1
                    continue
                if status == "restricted" and kind in ("upsert", "unsubscribe"):
                    kind = "restriction"  # restricted since this was enqueued: never a subscribe
                if kind == "upsert" and pid not in granted:
                    kind = "unsubscribe"  # the consent changed since this was enqueued
                if kind == "unsubscribe" and pid not in sent_before:
                    delivery.status, delivery.sent_as = "superseded", "nothing"
                    report.superseded += 1
                    continue
            plan.append((delivery, kind))
        # a destination that knows people by their hub id (a webhook) gets no address for an
        # unsubscribe or a restriction, so none is decrypted for it
        by_address = getattr(self._adapter(destination, cfg), "knows_people_by_address", True)

        def people_to(kind: str) -> list[uuid.UUID]:
            return [d.person_id for d, k in plan if k == kind and d.person_id is not None]

        fields_of_person: dict[uuid.UUID, dict[str, str | None]] = {}
        reads = [("upsert", list(SEND_FIELDS))] + ([("unsubscribe", ["email"])] if by_address else [])
        for kind, wanted in reads:
            if ids := people_to(kind):
                for view in people.read(self.actor, ids, purpose=cfg.purpose, fields=wanted):
                    fields_of_person[view.id] = view.fields
        if by_address:
            for view in people.read_for_restriction(self.actor, people_to("restriction"), purpose=cfg.purpose):
                fields_of_person[view.id] = view.fields
        out: list[tuple[OutboxDelivery, DestinationConfig, Outgoing]] = []
        for delivery, kind in plan:
            handle = json.loads(delivery.payload).get("handle", {})
            fields = fields_of_person.get(delivery.person_id, {}) if delivery.person_id is not None else {}
            out.append(
                (
                    delivery,
                    cfg,
                    Outgoing(delivery.id, delivery.destination, kind, str(delivery.person_id), fields, handle),
                )
            )
        return out

    def _record(
        self,
        repo: OutboxRepository,
        delivery: OutboxDelivery,
        cfg: DestinationConfig,
        kind: str,
        outcome: dict[str, Any] | DeliveryFailed,
        report: CycleReport,
    ) -> None:
        delivery.attempts += 1
        now = utcnow()
        if isinstance(outcome, DeliveryFailed):
            delivery.last_error = outcome.reason[:500]
            if outcome.retryable and delivery.attempts < cfg.max_attempts:
                delivery.next_attempt_at = now + self.backoff(cfg, delivery.attempts, outcome.retry_after)
                report.retried += 1
            else:
                delivery.status = "dead"
                report.dead += 1
                log.warning("delivery %s to %s is dead: %s", delivery.id, delivery.destination, outcome.reason)
            return
        delivery.status, delivery.sent_as, delivery.delivered_at = "delivered", kind, now
        delivery.receipt = json.dumps(outcome, sort_keys=True, default=str)[:2000]
        delivery.last_error = None
        if kind == "erase":
            delivery.payload = "{}"  # the handle was only needed for this send
            if delivery.person_id is not None:
                # acknowledged: the destination forgot them, so should this one's answers (a
                # delivery in flight while the erasure committed may have recorded one since)
                repo.forget_answers(delivery.person_id, destination=delivery.destination)
        report.delivered += 1
