"""What a report is asked for: the same filters from the CLI and the console."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from consent_hub.audit.schemas import AuditFilter


@dataclass(frozen=True)
class ReportFilters:
    """``house`` narrows to one house (a house DPO's reports always carry theirs); ``start`` and
    ``end`` are a half-open UTC period; ``audit`` holds the access log's further filters."""

    house: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    audit: AuditFilter = field(default_factory=AuditFilter)
