"""The audit-log queries of the anomaly rules: counts and times per client over one period, never
a personal value. The rules themselves (medians, factors, hours) are the service's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from consent_hub.storage.models import AuditEntry, AuditSubject

PROFILE_READ = "people.read"
EXPORT = "audience.export"
# written only when an e-mail lookup finds nobody the caller may see (access/service.py,
# people/service.py); a lookup that finds someone is recorded as the read it leads to
LOOKUP_MISS = "people.lookup"


class OversightRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def profiles_read_per_client(self, start: dt.datetime, end: dt.datetime) -> Sequence[Any]:
        """Per (actor, role, house): distinct people read in the period."""
        stmt = (
            select(
                AuditEntry.actor,
                AuditEntry.role,
                AuditEntry.house,
                func.count(func.distinct(AuditSubject.person_id)).label("profiles"),
            )
            .join(AuditSubject, AuditSubject.seq == AuditEntry.seq)
            .where(AuditEntry.action == PROFILE_READ, AuditEntry.at >= start, AuditEntry.at < end)
            .group_by(AuditEntry.actor, AuditEntry.role, AuditEntry.house)
        )
        return self.session.execute(stmt).all()

    def reads_within(
        self, ranges: Sequence[tuple[dt.datetime, dt.datetime]], house: str | None, other_than: Sequence[str]
    ) -> Sequence[Any]:
        """Per (actor, house): profile reads inside any of the UTC ``ranges`` and the latest one;
        of one house if ``house``, else of every house not in ``other_than`` (and none)."""
        if not ranges:
            return []
        stmt = (
            select(
                AuditEntry.actor, AuditEntry.house, func.count().label("reads"), func.max(AuditEntry.at).label("last")
            )
            .where(AuditEntry.action == PROFILE_READ)
            .where(or_(*(and_(AuditEntry.at >= a, AuditEntry.at < b) for a, b in ranges)))
        )
        if house is not None:
            stmt = stmt.where(AuditEntry.house == house)
        else:
            stmt = stmt.where(or_(AuditEntry.house.is_(None), AuditEntry.house.not_in(list(other_than))))
        return self.session.execute(stmt.group_by(AuditEntry.actor, AuditEntry.house)).all()

    def export_sizes(self, start: dt.datetime, end: dt.datetime) -> Sequence[Any]:
        """(seq, actor, house, at, members) of every audience export in the period."""
        stmt = (
            select(
                AuditEntry.seq,
                AuditEntry.actor,
                AuditEntry.house,
                AuditEntry.at,
                func.count(AuditSubject.person_id).label("members"),
            )
            .outerjoin(AuditSubject, AuditSubject.seq == AuditEntry.seq)
            .where(AuditEntry.action == EXPORT, AuditEntry.at >= start, AuditEntry.at < end)
            .group_by(AuditEntry.seq, AuditEntry.actor, AuditEntry.house, AuditEntry.at)
        )
        return self.session.execute(stmt.order_by(AuditEntry.seq)).all()

    def lookup_misses(self, start: dt.datetime, end: dt.datetime, house: str | None) -> Sequence[Any]:
        """(actor, house, at) of every e-mail lookup that found nobody, in the period."""
        stmt = select(AuditEntry.actor, AuditEntry.house, AuditEntry.at).where(
            AuditEntry.action == LOOKUP_MISS, AuditEntry.at >= start, AuditEntry.at < end
        )
        if house is not None:
            stmt = stmt.where(AuditEntry.house == house)
        return self.session.execute(stmt.order_by(AuditEntry.actor, AuditEntry.at)).all()
