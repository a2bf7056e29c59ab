"""Consent coverage per house x purpose (people granted, refused, withdrawn, expired, now) and
over time (consent events per month), with native Excel charts over both tables."""

from __future__ import annotations

from collections import defaultdict
from typing import BinaryIO

from openpyxl.chart import BarChart, LineChart, Reference

from consent_hub.actors import Actor
from consent_hub.clusters import UnitOfWork
from consent_hub.reporting.filters import ReportFilters
from consent_hub.reporting.service import ReportingService
from reports.workbook import Column, ReportBook, ReportSheet

NAME = "consent-coverage"
STATUSES = ("granted", "refused", "withdrawn", "expired")
COVERAGE_COLUMNS = (
    Column("target kind", 12),
    Column("house or target", 22),
    Column("purpose", 22),
    *(Column(s, 11, "int") for s in STATUSES),
    Column("people", 10, "int"),
)
MONTH_COLUMNS = (Column("month", 10), *(Column(s, 11, "int") for s in STATUSES[:3]))
MONTH_PURPOSE_COLUMNS = (Column("month", 10), Column("purpose", 22), *(Column(s, 11, "int") for s in STATUSES[:3]))
NOTES = (
    "Coverage: each person's current consent per purpose and target, as of the report's creation; "
    "a grant past its validity counts as expired. The period filter does not apply to it.",
    "Per month: consent events given in each month (UTC) of the period, by the status they recorded.",
    "Target kind: house (a house's own purposes), cluster (every house), program (a joint program), "
    "recipient (an external recipient). A report for one house holds the consents given to that house.",
)


def _coverage_chart(sheet: ReportSheet) -> BarChart:
    chart = BarChart()
    chart.type = "col"
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.title = "People per consent state, per house and purpose"
    chart.y_axis.title = "people"
    last = sheet.rows + 1
    data = Reference(sheet.ws, min_col=4, max_col=3 + len(STATUSES), min_row=1, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(sheet.ws, min_col=2, max_col=3, min_row=2, max_row=last))
    chart.width, chart.height = 24, 12
    return chart


def _month_chart(sheet: ReportSheet) -> LineChart:
    chart = LineChart()
    chart.title = "Consent events per month"
    chart.y_axis.title = "events"
    chart.x_axis.title = "month (UTC)"
    last = sheet.rows + 1
    chart.add_data(Reference(sheet.ws, min_col=2, max_col=4, min_row=1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet.ws, min_col=1, min_row=2, max_row=last))
    chart.width, chart.height = 24, 12
    return chart


def write(uow: UnitOfWork, actor: Actor, filters: ReportFilters, out: BinaryIO) -> int:
    svc = ReportingService(uow)
    scoped = svc.scoped(actor, filters)
    coverage = svc.coverage(actor, scoped)
    book = ReportBook("Consent coverage")

    sheet = book.sheet("Coverage", COVERAGE_COLUMNS)
    for c in coverage.lines:
        counts = (c.granted, c.refused, c.withdrawn, c.expired)
        sheet.append((c.target_kind, c.target, c.purpose, *counts, sum(counts)))
    sheet.ws.add_chart(_coverage_chart(sheet), f"{chr(ord('A') + len(COVERAGE_COLUMNS) + 1)}2")

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for m in coverage.months:
        t = totals[m.month]
        t[0], t[1], t[2] = t[0] + m.granted, t[1] + m.refused, t[2] + m.withdrawn
    months = book.sheet("Per month", MONTH_COLUMNS)
    months.extend((month, *t) for month, t in sorted(totals.items()))
    months.ws.add_chart(_month_chart(months), "G2")

    per_purpose = book.sheet("Per month and purpose", MONTH_PURPOSE_COLUMNS)
    per_purpose.extend((m.month, m.purpose, m.granted, m.refused, m.withdrawn) for m in coverage.months)

    book.about(
        cluster=svc.cluster_name,
        actor=actor,
        filters=svc.described(scoped),
        created_at=coverage.at,
        rows=sheet.rows,
        notes=NOTES,
    )
    book.save(out)
    svc.record_created(actor, NAME, scoped, sheet.rows)
    return sheet.rows
