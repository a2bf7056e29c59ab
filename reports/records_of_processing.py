"""Records of processing activities (GDPR Art. 30(1)), generated from the purposes catalogue
(policies/purposes.yaml), the cluster's houses and its configured sources and destinations."""

from __future__ import annotations

from typing import BinaryIO

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.reporting.filters import ReportFilters
from consent_hub.reporting.service import ReportingService
from reports.workbook import Column, ReportBook

NAME = "records-of-processing"
ACTIVITY_COLUMNS = (
    Column("purpose", 20),
    Column("title", 34),
    Column("legal basis", 16),
    Column("scope", 12),
    Column("categories of personal data", 40),
    Column("categories of recipients", 60),
    Column("retention (ISO 8601)", 20),
    Column("consent valid for (ISO 8601)", 26),
    Column("pseudonymised", 14, "bool"),
    Column("channels", 18),
    Column("DPV purpose", 24),
    Column("DPV legal basis", 20),
)
HOUSE_COLUMNS = (Column("house", 20), Column("name", 40))
RECIPIENT_COLUMNS = (
    Column("role", 12),
    Column("name", 22),
    Column("kind", 14),
    Column("house", 16),
    Column("purpose", 20),
    Column("host", 36),
)
NOTES = (
    "Controllers: the houses of the cluster (sheet Houses), each for its own buyers; purposes of "
    "scope cluster or program are shared between them.",
    "Data subjects: ticket buyers of the houses. Categories of data: the field groups each purpose may show.",
    "Security (Art. 32): personal fields are encrypted per person (erasure destroys the key), lookups "
    "use keyed blind indexes, every read and change is a hash-chained audit entry with signed checkpoints.",
    "Transfers outside the EEA: none made by the hub; a destination's own processing is under its agreement.",
)


def write(uow: UnitOfWork, actor: Actor, filters: ReportFilters, out: BinaryIO) -> int:
    svc = ReportingService(uow)
    scoped = svc.scoped(actor, filters)
    created_at = utcnow()
    records = svc.processing_records(actor, scoped)
    book = ReportBook("Records of processing activities (GDPR Art. 30)")
    activities = book.sheet("Processing activities", ACTIVITY_COLUMNS)
    for a in records.activities:
        activities.append(
            (
                a.purpose,
                a.title,
                a.legal_basis,
                a.scope,
                a.data_categories,
                a.recipients,
                a.retention,
                a.consent_validity,
                a.pseudonymised,
                a.channels,
                a.dpv_purpose,
                a.dpv_legal_basis,
            )
        )
    houses = book.sheet("Houses", HOUSE_COLUMNS)
    houses.extend(records.houses)
    recipients = book.sheet("Sources and destinations", RECIPIENT_COLUMNS)
    recipients.extend((r.role, r.name, r.kind, r.house, r.purpose, r.host) for r in records.recipients)
    notes = (
        f"Controller: {records.controller}" + (f"; DPO contact: {records.dpo_contact}" if records.dpo_contact else ""),
        *NOTES,
    )
    book.about(
        cluster=svc.cluster_name,
        actor=actor,
        filters=svc.described(scoped),
        created_at=created_at,
        rows=activities.rows,
        notes=notes,
    )
    book.save(out)
    svc.record_created(actor, NAME, scoped, activities.rows)
    return activities.rows
