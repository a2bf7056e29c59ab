"""The access log: one row per audit entry and per person it names, filtered as in the console."""

from __future__ import annotations

from typing import BinaryIO

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.reporting.filters import ReportFilters
from consent_hub.reporting.service import ReportingService
from reports.workbook import Column, ReportBook

NAME = "access-log"
COLUMNS = (
    Column("seq", 10, "int"),
    Column("at", 20, "datetime"),
    Column("actor", 44),
    Column("house", 16),
    Column("role", 16),
    Column("purpose", 20),
    Column("action", 22),
    Column("person id", 38),
    Column("fields", 30),
    Column("detail", 60),
)
NOTES = (
    "People are named by their person id, never by name or address: the report holds no personal "
    "data in clear. Finding who a person id is takes a read through the hub, which is audited itself.",
    "An entry naming several people has one row per person; an entry naming nobody has one row "
    "without a person id.",
)


def write(uow: UnitOfWork, actor: Actor, filters: ReportFilters, out: BinaryIO) -> int:
    svc = ReportingService(uow)
    scoped = svc.scoped(actor, filters)
    created_at = utcnow()
    book = ReportBook("Access log")
    table = book.table("Access log", COLUMNS)
    rows = table.extend(svc.access_rows(actor, scoped))
    notes: tuple[str, ...] = NOTES
    if len(table.sheets) > 1:
        titles = ", ".join(s.ws.title for s in table.sheets)
        notes = (*NOTES, f"More rows than one sheet holds: the log goes on over the sheets {titles}.")
    book.about(
        cluster=svc.cluster_name,
        actor=actor,
        filters=svc.described(scoped),
        created_at=created_at,
        rows=rows,
        notes=notes,
    )
    book.save(out)
    svc.record_created(actor, NAME, scoped, rows)
    return rows
