"""The Excel reports of a DPO's desk (issue 15), one module per report, each announced as a
``consent_hub.reports`` entry point: ``write(uow, actor, filters, out) -> rows written``. They read
through ``consent_hub.reporting.ReportingService`` (ids, codes, dates and counts; nothing
decrypted) and write with ``reports.workbook``. Each report's creation is an audit entry."""
