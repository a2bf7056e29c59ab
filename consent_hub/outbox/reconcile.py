"""Reconciliation: compare what a destination holds with what it should hold, and repair.

For every person the hub ever subscribed there, the destination should show ``subscribed`` when
their consent holds now and they are not restricted, and not subscribed otherwise (a restricted
person is repaired with a ``restriction``, which archives them, not with an unsubscribe). Drift
(a member unsubscribed by hand in the tool, a lost delivery, a member re-subscribed in the tool
after a withdrawal) is repaired by enqueueing the right delivery, which the worker then sends
with the usual send-time checks.
Members the hub never sent are reported, not touched: the hub cannot know who they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import ConfigurationError
from consent_hub.outbox.destinations import destination_factory
from consent_hub.outbox.repository import OutboxRepository
from consent_hub.outbox.service import OutboxService
from consent_hub.people.service import PeopleService
from consent_hub.vocabulary import DeliveryKind, PersonStatus


@dataclass
class ReconcileReport:
    destination: str
    held: int = 0
    checked: int = 0
    in_step: int = 0
    resubscribe: int = 0  # consent holds, the destination does not show them subscribed
    unsubscribe: int = 0  # no consent or restricted, the destination shows them subscribed
    restricted: int = 0  # checked people whose processing is restricted (never "should be subscribed")
    unknown_to_hub: int = 0
    repaired: list[str] = field(default_factory=list)  # delivery ids enqueued


def _key(handle: dict[str, object]) -> str:
    return json.dumps(handle, sort_keys=True)


def reconcile(registry: ClusterRegistry, cluster: str, destination: str, *, repair: bool = True) -> ReconcileReport:
    actor = Actor.system(cluster, "reconcile")
    report = ReconcileReport(destination)
    with registry.unit_of_work(cluster) as uow:
        cfg = uow.rt.settings.cluster(cluster).destinations.get(destination)
        if cfg is None:
            raise ConfigurationError(f"cluster {cluster!r} has no destination {destination!r}")
        adapter = destination_factory(cfg.kind)(destination, cfg)
        try:
            held = {_key(m["handle"]): str(m.get("status")) for m in adapter.members()}
            report.held = len(held)
            people = PeopleService(uow)
            sent = OutboxRepository(uow.session).delivered_people(destination)
            statuses = people.repo.statuses(sent)
            active = [p for p in sent if statuses.get(p) == PersonStatus.ACTIVE]
            restricted = [p for p in sent if statuses.get(p) == PersonStatus.RESTRICTED]
            views = people.read(actor, active, purpose=cfg.purpose, fields=["email"]) if active else []
            views += people.read_for_restriction(actor, restricted, purpose=cfg.purpose)
            kind, ref = ("house", cfg.house) if cfg.house else ("cluster", cluster)
            granted = OutboxRepository(uow.session).granted_among(active, cfg.purpose, kind, str(ref), utcnow())
            matched: set[str] = set()
            outbox = OutboxService(uow)
            run = new_uuid().hex[:12]
            rows = []
            for view in views:
                key = _key(adapter.erasure_handle(view.fields.get("email")))
                matched.add(key)
                report.checked += 1
                is_restricted = statuses.get(view.id) == PersonStatus.RESTRICTED
                report.restricted += is_restricted
                should = view.id in granted and not is_restricted
                shows = held.get(key) == "subscribed"
                if should == shows:
                    report.in_step += 1
                    continue
                if should:
                    report.resubscribe += 1
                    rows.append(outbox.row(destination, view.id, DeliveryKind.UPSERT, f"reconcile:{run}"))
                else:
                    report.unsubscribe += 1
                    fix = DeliveryKind.RESTRICTION if is_restricted else DeliveryKind.UNSUBSCRIBE
                    rows.append(outbox.row(destination, view.id, fix, f"reconcile:{run}"))
            report.unknown_to_hub = len(set(held) - matched)
            if repair and rows:
                outbox.repo.add(rows)
                report.repaired = [str(r["id"]) for r in rows]
            AuditLog(uow.session, cluster).append(
                actor,
                AuditRecord(
                    "outbox.reconcile",
                    detail={
                        "destination": destination,
                        "held": report.held,
                        "checked": report.checked,
                        "resubscribe": report.resubscribe,
                        "unsubscribe": report.unsubscribe,
                        "restricted": report.restricted,
                        "unknown": report.unknown_to_hub,
                        "repair": repair,
                        "at": utcnow().isoformat(),
                    },
                ),
            )
        finally:
            adapter.close()
    return report
