"""What each Excel report reads, for a DPO or the CLI operator, and the audit entry of its creation.

Reports hold ids, codes, dates and counts: nothing here decrypts. The access log names people by
their person id (never a name or address): a DPO who needs to know who a person is asks the people
service, and that read is audited on its own. A house DPO's report is always their house's part."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import uuid
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.config import ClusterConfig
from consent_hub.consent.catalogue import Catalogue, Purpose, load_catalogue
from consent_hub.houses.service import HouseService
from consent_hub.reporting.auth import require_report_reader
from consent_hub.reporting.filters import ReportFilters
from consent_hub.reporting.repository import ReportingRepository
from consent_hub.vocabulary import CLOSED_REQUEST_STATUSES, ConsentStatus, DeliveryStatus, EffectiveConsentStatus

# one access-log row: seq, at, actor, house, role, purpose, action, person id, fields, detail
AccessRow = tuple[int, dt.datetime, str, str | None, str | None, str | None, str, str | None, str, str]


@dataclass(frozen=True)
class CoverageLine:
    """People per consent state for one purpose at one target (a house, the cluster, a program ...)."""

    target_kind: str
    target: str
    purpose: str
    granted: int = 0
    refused: int = 0
    withdrawn: int = 0
    expired: int = 0


@dataclass(frozen=True)
class CoverageMonth:
    """Consent events given in one month (UTC), per purpose and status."""

    month: str
    purpose: str
    granted: int = 0
    refused: int = 0
    withdrawn: int = 0


@dataclass(frozen=True)
class Coverage:
    at: dt.datetime
    lines: list[CoverageLine]
    months: list[CoverageMonth]


@dataclass(frozen=True)
class RegisterLine:
    reference: str
    person_id: uuid.UUID
    kind: str
    channel: str
    house: str | None
    parts: str  # the controller houses and their parts' status, e.g. "ghent-opera (open)"
    status: str
    received_at: dt.datetime
    due_at: dt.datetime
    extended_due_at: dt.datetime | None
    closed_at: dt.datetime | None
    verification: str | None
    extension_reason: str | None
    time_zone: str

    @property
    def effective_due_at(self) -> dt.datetime:
        return self.extended_due_at or self.due_at

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_REQUEST_STATUSES


@dataclass(frozen=True)
class ProcessingLine:
    """One processing activity (a purpose of the catalogue) as GDPR Art. 30(1) asks for it."""

    purpose: str
    title: str
    legal_basis: str
    scope: str
    data_categories: str
    recipients: str
    retention: str
    consent_validity: str | None
    pseudonymised: bool
    channels: str
    dpv_purpose: str
    dpv_legal_basis: str


@dataclass(frozen=True)
class RecipientLine:
    """A destination (a house's CRM or mailing tool, a webhook) or a source (a ticketing engine)."""

    role: str  # "destination" | "source"
    name: str
    kind: str
    house: str | None
    purpose: str | None
    host: str


@dataclass(frozen=True)
class ProcessingRecords:
    controller: str
    dpo_contact: str
    houses: list[tuple[str, str]]  # (slug, name)
    activities: list[ProcessingLine]
    recipients: list[RecipientLine]


@dataclass(frozen=True)
class PropagationLine:
    destination: str
    kind: str
    house: str | None
    purpose: str | None
    deliveries: int = 0
    delivered: int = 0
    pending: int = 0
    dead: int = 0
    superseded: int = 0
    failed: int = 0  # retried at least once or an error recorded
    median_seconds: float | None = None
    last_delivered_at: dt.datetime | None = None


# words for a purpose's scope: which houses process the data (categories of recipients, Art. 30(1)(d))
SCOPE_RECIPIENTS = {
    "own-house": "the house the buyer deals with",
    "house": "the house the buyer named",
    "cluster": "every house of the cluster",
    "program": "the houses of the joint program",
    "recipient": "the external recipient named",
}


class ReportingService:
    def __init__(self, uow: UnitOfWork, catalogue: Catalogue | None = None) -> None:
        self.uow = uow
        self.repo = ReportingRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.catalogue = catalogue or load_catalogue()

    @property
    def config(self) -> ClusterConfig:
        return self.uow.rt.settings.cluster(self.uow.cluster)

    @property
    def cluster_name(self) -> str:
        return self.config.display_name or self.uow.cluster

    def scoped(self, actor: Actor, filters: ReportFilters) -> ReportFilters:
        """The filters a report really uses: refused to anyone but a DPO or the CLI operator; a house
        DPO's held to their house; the period and house carried into the access log's filter."""
        require_report_reader(actor)
        house = actor.house if actor.house is not None else filters.house
        audit = filters.audit
        audit = replace(
            audit,
            house=house if house is not None else audit.house,
            start=audit.start if audit.start is not None else filters.start,
            end=audit.end if audit.end is not None else filters.end,
        )
        return ReportFilters(house=house, start=filters.start, end=filters.end, audit=audit.scoped_to(actor.house))

    @staticmethod
    def described(filters: ReportFilters) -> dict[str, str]:
        """The filters as ids, codes and dates (for the report's about sheet and audit entry)."""
        out = filters.audit.described()
        if filters.house is not None:
            out["house"] = filters.house
        for name in ("start", "end"):
            value = getattr(filters, name)
            if value is not None:
                out.setdefault(name, value.isoformat())
        return out

    def record_created(self, actor: Actor, name: str, filters: ReportFilters, rows: int) -> None:
        """The report's creation as an audit entry: which report, the filters, how many rows. A
        report on one person names them as its subject (so their own access view shows it)."""
        filters = self.scoped(actor, filters)
        person = filters.audit.person
        self.audit.append(
            actor,
            AuditRecord(
                "report.create",
                [person] if person is not None else [],
                detail={"report": name, "filters": self.described(filters), "rows": rows},
            ),
        )

    # -- access log ----------------------------------------------------------------------------
    def access_rows(self, actor: Actor, filters: ReportFilters) -> Iterator[AccessRow]:
        """One row per entry and person it names (an entry naming nobody: one row without a
        person), in sequence order, streamed; filtered by person, only that person's rows."""
        flt = self.scoped(actor, filters).audit
        only = str(flt.person) if flt.person is not None else None
        loads = json.loads
        for seq, at, who, house, role, purpose, action, subjects, fields, detail, *_ in self.audit.stream(actor, flt):
            people: list[str | None] = loads(subjects) or [None]
            field_list = ", ".join(loads(fields))
            for person in people:
                if only is not None and person != only:
                    continue
                yield (seq, at, who, house, role, purpose, action, person, field_list, detail)

    # -- consent coverage ----------------------------------------------------------------------
    def coverage(self, actor: Actor, filters: ReportFilters, *, now: dt.datetime | None = None) -> Coverage:
        filters = self.scoped(actor, filters)
        now = now or utcnow()
        lines: dict[tuple[str, str, str], dict[str, int]] = {}
        for kind, ref, purpose, status, n in self.repo.consent_state_counts(filters.house, now):
            lines.setdefault((kind, ref, purpose), {})[status] = n
        months: dict[tuple[str, str], dict[str, int]] = {}
        for month, purpose, status, n in self.repo.consent_events_by_month(filters.house, filters.start, filters.end):
            months.setdefault((month, purpose), {})[status] = n
        return Coverage(
            at=now,
            lines=[
                CoverageLine(
                    kind,
                    ref,
                    purpose,
                    granted=c.get(EffectiveConsentStatus.GRANTED, 0),
                    refused=c.get(EffectiveConsentStatus.REFUSED, 0),
                    withdrawn=c.get(EffectiveConsentStatus.WITHDRAWN, 0),
                    expired=c.get(EffectiveConsentStatus.EXPIRED, 0),
                )
                for (kind, ref, purpose), c in sorted(lines.items())
            ],
            months=[
                CoverageMonth(
                    month,
                    purpose,
                    granted=c.get(ConsentStatus.GRANTED, 0),
                    refused=c.get(ConsentStatus.REFUSED, 0),
                    withdrawn=c.get(ConsentStatus.WITHDRAWN, 0),
                )
                for (month, purpose), c in sorted(months.items())
            ],
        )

    # -- request register ----------------------------------------------------------------------
    def register(self, actor: Actor, filters: ReportFilters, *, batch: int = 1_000) -> Iterator[RegisterLine]:
        filters = self.scoped(actor, filters)
        page: list[Any] = []
        for row in self.repo.requests(filters.house, filters.start, filters.end, batch):
            page.append(row)
            if len(page) == batch:
                yield from self._register_page(page)
                page = []
        yield from self._register_page(page)

    def _register_page(self, rows: Sequence[Any]) -> Iterator[RegisterLine]:
        parts = self.repo.request_parts([r.id for r in rows])
        for r in rows:
            yield RegisterLine(
                reference=r.reference,
                person_id=r.person_id,
                kind=r.kind,
                channel=r.channel,
                house=r.house,
                parts=", ".join(f"{house} ({status})" for house, status in parts.get(r.id, [])),
                status=r.status,
                received_at=r.received_at,
                due_at=r.due_at,
                extended_due_at=r.extended_due_at,
                closed_at=r.closed_at,
                verification=r.verification,
                extension_reason=r.extension_reason,
                time_zone=r.time_zone,
            )

    # -- records of processing (GDPR Art. 30) --------------------------------------------------
    def processing_records(self, actor: Actor, filters: ReportFilters) -> ProcessingRecords:
        filters = self.scoped(actor, filters)
        config = self.config
        destinations = {
            name: d
            for name, d in sorted(config.destinations.items())
            if filters.house is None or d.house in (None, filters.house)
        }
        houses = [
            (h.slug, h.name)
            for h in sorted(HouseService(self.uow).list(), key=lambda h: h.slug)
            if filters.house is None or h.slug == filters.house
        ]
        return ProcessingRecords(
            controller=self.cluster_name,
            dpo_contact=config.buyer.dpo_contact if config.buyer is not None else "",
            houses=houses,
            activities=[self._activity(p, destinations) for p in self.catalogue.purposes],
            recipients=[
                *(
                    RecipientLine("destination", name, d.kind, d.house, d.purpose, _host(d.base_url))
                    for name, d in destinations.items()
                ),
                *(
                    RecipientLine("source", name, c.kind, None, None, _host(c.base_url))
                    for name, c in sorted(config.connectors.items())
                ),
            ],
        )

    @staticmethod
    def _activity(purpose: Purpose, destinations: dict[str, Any]) -> ProcessingLine:
        recipients = [SCOPE_RECIPIENTS[purpose.scope], *purpose.recipients]
        recipients += [
            f"{d.kind} destination {name!s}" + (f" of {d.house}" if d.house else " of the cluster")
            for name, d in destinations.items()
            if d.purpose == purpose.key
        ]
        title = purpose.texts["en"].title
        return ProcessingLine(
            purpose=purpose.key,
            title=title,
            legal_basis=purpose.legal_basis,
            scope=purpose.scope,
            data_categories=", ".join(purpose.field_groups),
            recipients="; ".join(recipients),
            retention=purpose.retention,
            consent_validity=purpose.consent_validity,
            pseudonymised=purpose.pseudonymised,
            channels=", ".join(purpose.channels),
            dpv_purpose=purpose.dpv.purpose,
            dpv_legal_basis=purpose.dpv.legal_basis,
        )

    # -- propagation ---------------------------------------------------------------------------
    def propagation(self, actor: Actor, filters: ReportFilters) -> list[PropagationLine]:
        """Per destination: deliveries created in the period by status, the failed ones, the median
        time from enqueue to acknowledgement, the last delivery."""
        filters = self.scoped(actor, filters)
        configured = self.config.destinations

        def shown(name: str) -> bool:
            cfg = configured.get(name)
            return filters.house is None or (cfg is not None and cfg.house == filters.house)

        counts: dict[str, dict[str, Any]] = {name: {} for name in configured if shown(name)}
        for destination, status, n, failed, last in self.repo.delivery_counts(filters.start, filters.end):
            if not shown(destination):
                continue
            c = counts.setdefault(destination, {})
            c[status] = n
            c["deliveries"] = c.get("deliveries", 0) + n
            c["failures"] = c.get("failures", 0) + failed
            if last is not None and (c.get("last") is None or last > c["last"]):
                c["last"] = last
        seconds: dict[str, array[float]] = {}
        for destination, created, delivered in self.repo.delivery_times(filters.start, filters.end):
            if destination in counts:
                seconds.setdefault(destination, array("d")).append((delivered - created).total_seconds())
        out = []
        for name, c in sorted(counts.items()):
            cfg = configured.get(name)
            times = seconds.get(name)
            out.append(
                PropagationLine(
                    destination=name,
                    kind=cfg.kind if cfg is not None else "(no longer configured)",
                    house=cfg.house if cfg is not None else None,
                    purpose=cfg.purpose if cfg is not None else None,
                    deliveries=c.get("deliveries", 0),
                    delivered=c.get(DeliveryStatus.DELIVERED, 0),
                    pending=c.get(DeliveryStatus.PENDING, 0),
                    dead=c.get(DeliveryStatus.DEAD, 0),
                    superseded=c.get(DeliveryStatus.SUPERSEDED, 0),
                    failed=c.get("failures", 0),
                    median_seconds=statistics.median(times) if times else None,
                    last_delivered_at=c.get("last"),
                )
            )
        return out


def _host(url: str) -> str:
    """Where a tool lives, without a path or query (which may carry a key)."""
    return urlsplit(url).hostname or ""
