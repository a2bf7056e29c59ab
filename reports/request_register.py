"""The request register: every data-subject request with its deadline and status; a row whose
request is past its (extended) deadline, open or answered late, is highlighted by a conditional
formatting rule, so the highlight follows the day the workbook is opened."""

from __future__ import annotations

from typing import BinaryIO

from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Font, PatternFill

from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.reporting.filters import ReportFilters
from consent_hub.reporting.service import ReportingService
from reports.workbook import Column, ReportBook

NAME = "request-register"
COLUMNS = (
    Column("reference", 18),
    Column("person id", 38),
    Column("kind", 14),
    Column("channel", 11),
    Column("addressed to", 16),
    Column("controller houses", 34),
    Column("status", 18),
    Column("received", 20, "datetime"),
    Column("due", 20, "datetime"),
    Column("extended to", 20, "datetime"),
    Column("effective due", 20, "datetime"),
    Column("closed", 20, "datetime"),
    Column("identity verified by", 20),
    Column("extension reason", 40),
    Column("deadline time zone", 18),
)
OVERDUE_FILL = PatternFill(bgColor="FFC7CE")  # Excel's "light red fill with dark red text"
OVERDUE_FONT = Font(color="9C0006")
NOTES = (
    "Due: one month after receipt in the cluster's time zone (GDPR Art. 12(3)); effective due is the "
    "extended deadline when the request was extended (by up to two more months, with a reason).",
    "Highlighted rows are overdue: closed after their effective due date, or still open past it when "
    "the workbook is opened (the rule compares with NOW(), the opening computer's clock; times here are UTC).",
    "Addressed to: the house the request came in at (empty: the cluster). Controller houses: each "
    "controller's part of the request and whether it is signed off; a house's register holds the "
    "requests it has a part of. The period selects requests by the day they were received.",
)


def overdue_formula(due: str, closed: str) -> str:
    """True for a row whose effective due date has passed: closed after it, or still open now."""
    return f"AND(ISNUMBER(${due}2),IF(ISNUMBER(${closed}2),${closed}2>${due}2,NOW()>${due}2))"


def write(uow: UnitOfWork, actor: Actor, filters: ReportFilters, out: BinaryIO) -> int:
    svc = ReportingService(uow)
    scoped = svc.scoped(actor, filters)
    created_at = utcnow()
    book = ReportBook("Register of data-subject requests")
    sheet = book.sheet("Requests", COLUMNS)
    for line in svc.register(actor, scoped):
        sheet.append(
            (
                line.reference,
                str(line.person_id),
                line.kind,
                line.channel,
                line.house,
                line.parts,
                line.status,
                line.received_at,
                line.due_at,
                line.extended_due_at,
                line.effective_due_at,
                line.closed_at,
                line.verification,
                line.extension_reason,
                line.time_zone,
            )
        )
    rule = FormulaRule(  # type: ignore[no-untyped-call]
        formula=[overdue_formula(sheet.column_letter("effective due"), sheet.column_letter("closed"))],
        fill=OVERDUE_FILL,
        font=OVERDUE_FONT,
        stopIfTrue=False,
    )
    sheet.ws.conditional_formatting.add(sheet.data_range, rule)
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
