"""Propagation: per destination, the deliveries of the period by status, the failed ones and the
median time from enqueue to acknowledgement."""

from __future__ import annotations

from typing import BinaryIO

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.reporting.filters import ReportFilters
from consent_hub.reporting.service import ReportingService
from reports.workbook import Column, ReportBook

NAME = "propagation"
COLUMNS = (
    Column("destination", 22),
    Column("kind", 14),
    Column("house", 16),
    Column("purpose", 18),
    Column("deliveries", 12, "int"),
    Column("delivered", 12, "int"),
    Column("pending", 10, "int"),
    Column("dead letters", 13, "int"),
    Column("superseded", 12, "int"),
    Column("failed at least once", 20, "int"),
    Column("median seconds to deliver", 26, "float"),
    Column("last delivered", 20, "datetime"),
)
NOTES = (
    "Deliveries are counted by the period in which they were created (enqueued).",
    "Failed at least once: retried (more than one attempt) or an error recorded, whatever the status now.",
    "Median seconds to deliver: from enqueue to the destination's acknowledgement, delivered ones only.",
)


def write(uow: UnitOfWork, actor: Actor, filters: ReportFilters, out: BinaryIO) -> int:
    svc = ReportingService(uow)
    scoped = svc.scoped(actor, filters)
    created_at = utcnow()
    book = ReportBook("Propagation to destinations")
    sheet = book.sheet("Propagation", COLUMNS)
    for line in svc.propagation(actor, scoped):
        median = round(line.median_seconds, 3) if line.median_seconds is not None else None
        sheet.append(
            (
                line.destination,
                line.kind,
                line.house,
                line.purpose,
                line.deliveries,
                line.delivered,
                line.pending,
                line.dead,
                line.superseded,
                line.failed,
                median,
                line.last_delivered_at,
            )
        )
    book.about(
        cluster=svc.cluster_name,
        actor=actor,
        filters=svc.described(scoped),
        created_at=created_at,
        rows=sheet.rows,
        notes=NOTES,
    )
    book.save(out)
    svc.record_created(actor, NAME, scoped, sheet.rows)
    return sheet.rows
