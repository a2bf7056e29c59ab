"""Delivering due deliveries (``OutboxWorker``): the oldest waiting delivery per (destination,
person) goes first; an upsert is re-checked against the consent at send time and sent as an
unsubscribe (or not at all) when the consent no longer holds, and an upsert or unsubscribe for a
person restricted since it was enqueued is sent as the ``restriction`` (never as a subscribe);
failures back off exponentially with jitter and die after the destination's ``max_attempts``;
every send records its status and receipt. The enqueue rules are in ``outbox/service.py``.
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

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry, UnitOfWork
from consent_hub.config import DestinationConfig
from consent_hub.outbox.destinations import DeliveryFailed, Destination, Outgoing, destination_factory
from consent_hub.outbox.repository import OutboxRepository
from consent_hub.outbox.service import PERSON_KINDS, OutboxService
from consent_hub.people.service import PeopleService
from consent_hub.people.statuses import RECORDED_STATUSES
from consent_hub.storage.models import OutboxDelivery
from consent_hub.vocabulary import NOTHING_SENT, DeliveryKind, DeliveryStatus, PersonStatus

log = logging.getLogger("consent_hub.outbox")

SEND_FIELDS = ("email", "given_name", "family_name", "language")  # what a mailing tool gets (contact + identity)
BATCH_FROM = 20  # this many due deliveries to one destination go as batches, where it offers them
BATCH_SIZE = 500


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
        cfg = uow.rt.settings.cluster(self.cluster).destinations.get(destination)
        repo = OutboxRepository(uow.session)
        deliveries = [d for d in repo.get_many(delivery_ids) if d.status == DeliveryStatus.PENDING]
        if cfg is None:
            for delivery in deliveries:
                delivery.status, delivery.last_error = DeliveryStatus.DEAD, "destination no longer configured"
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
                    delivery.status, delivery.last_error = DeliveryStatus.SUPERSEDED, "the person was erased"
                    report.superseded += 1
                    continue
                if status == PersonStatus.RESTRICTED and kind in (DeliveryKind.UPSERT, DeliveryKind.UNSUBSCRIBE):
                    kind = DeliveryKind.RESTRICTION  # restricted since this was enqueued: never a subscribe
                if kind == DeliveryKind.UPSERT and pid not in granted:
                    kind = DeliveryKind.UNSUBSCRIBE  # the consent changed since this was enqueued
                if kind == DeliveryKind.UNSUBSCRIBE and pid not in sent_before:
                    delivery.status, delivery.sent_as = DeliveryStatus.SUPERSEDED, NOTHING_SENT
                    report.superseded += 1
                    continue
            plan.append((delivery, kind))
        # a destination that knows people by their hub id (a webhook) gets no address for an
        # unsubscribe or a restriction, so none is decrypted for it
        by_address = getattr(self._adapter(destination, cfg), "knows_people_by_address", True)

        def people_to(kind: str) -> list[uuid.UUID]:
            return [d.person_id for d, k in plan if k == kind and d.person_id is not None]

        fields_of_person: dict[uuid.UUID, dict[str, str | None]] = {}
        reads = [(DeliveryKind.UPSERT, list(SEND_FIELDS))] + (
            [(DeliveryKind.UNSUBSCRIBE, ["email"])] if by_address else []
        )
        for kind, wanted in reads:
            if ids := people_to(kind):
                for view in people.read(self.actor, ids, purpose=cfg.purpose, fields=wanted):
                    fields_of_person[view.id] = view.fields
        if by_address:
            for view in people.read_for_restriction(
                self.actor, people_to(DeliveryKind.RESTRICTION), purpose=cfg.purpose
            ):
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
                delivery.status = DeliveryStatus.DEAD
                report.dead += 1
                log.warning("delivery %s to %s is dead: %s", delivery.id, delivery.destination, outcome.reason)
            return
        delivery.status, delivery.sent_as, delivery.delivered_at = DeliveryStatus.DELIVERED, kind, now
        delivery.receipt = json.dumps(outcome, sort_keys=True, default=str)[:2000]
        delivery.last_error = None
        if kind == DeliveryKind.ERASE:
            delivery.payload = "{}"  # the handle was only needed for this send
            if delivery.person_id is not None:
                # acknowledged: the destination forgot them, so should this one's answers (a
                # delivery in flight while the erasure committed may have recorded one since)
                repo.forget_answers(delivery.person_id, destination=delivery.destination)
        report.delivered += 1
