"""The anomaly rules over the access log (issue 15), each with its threshold from the cluster's
``[anomalies]`` configuration, over the last ``window_days``:

- **peer reads**: a client that read more than ``peer_factor`` times the median number of
  profiles its peers (the other clients of the same role) read, and at least ``peer_minimum``;
  a client without peers has no median to stand out from and is not judged;
- **off-hours reads**: profile reads outside the house's hours (``hours_per_house`` or
  ``house_hours``, in the cluster's time zone; a cluster-wide read uses ``house_hours``);
- **unusual exports**: an audience export with more than ``export_factor`` times the median
  size of the period's other exports, and at least ``export_minimum`` members;
- **lookup misses**: ``miss_burst`` e-mail lookups that found nobody, by one client within
  ``miss_burst_minutes``. A miss is visible in the log by design: only a lookup that finds
  nobody the caller may see is written as ``people.lookup`` (with ``found: false``); one that
  finds someone is written as the read it leads to. An unknown address and an invisible person
  are the same miss, which is what a guessing client produces.

Findings name clients, houses, counts and times: never a person. A house DPO sees the findings
of their house only (the medians are the cluster's: a client is judged against all its peers).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.config import AnomalyRules
from consent_hub.oversight.auth import require_overseer
from consent_hub.oversight.repository import OversightRepository

PEER_READS = "peer-reads"
OFF_HOURS = "off-hours"
EXPORT_SIZE = "export-size"
MISS_BURST = "miss-burst"
RULES = (PEER_READS, OFF_HOURS, EXPORT_SIZE, MISS_BURST)


@dataclass(frozen=True)
class Finding:
    """One thing a rule found: which client, at which house, how much, and when (the last or the
    densest moment)."""

    actor: str
    house: str | None
    count: int
    at: dt.datetime | None = None
    median: float | None = None


@dataclass(frozen=True)
class RuleResult:
    """A rule, its thresholds (as configured, plus the median it compared with) and its findings."""

    rule: str
    thresholds: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class Anomalies:
    start: dt.datetime
    end: dt.datetime
    time_zone: str
    rules: list[RuleResult]

    @property
    def found(self) -> int:
        return sum(len(r.findings) for r in self.rules)


def parse_hours(text: str) -> tuple[dt.time, dt.time]:
    opening, _, closing = text.partition("-")
    return dt.time.fromisoformat(opening), dt.time.fromisoformat(closing)


def within(hours: tuple[dt.time, dt.time], moment: dt.time) -> bool:
    """Is ``moment`` inside the hours (which may run past midnight, such as 18:00-02:00)? The rule
    ``closed_between`` turns into UTC stretches for the query."""
    opening, closing = hours
    if opening <= closing:
        return opening <= moment < closing
    return moment >= opening or moment < closing


def closed_between(
    hours: tuple[dt.time, dt.time], zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The UTC stretches of [start, end) outside the daily ``hours`` in ``zone`` (hours may run
    past midnight; equal opening and closing times mean never open)."""
    opening, closing = hours
    first = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date()
    open_spans = []
    day = first
    while day <= last:
        shut = day + dt.timedelta(days=1) if closing < opening else day
        a = dt.datetime.combine(day, opening, tzinfo=zone).astimezone(dt.UTC)
        b = dt.datetime.combine(shut, closing, tzinfo=zone).astimezone(dt.UTC)
        if a < b:
            open_spans.append((a, b))
        day += dt.timedelta(days=1)
    closed, cursor = [], start
    for a, b in open_spans:
        if a > cursor:
            closed.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        closed.append((cursor, end))
    return [(a, b) for a, b in closed if a < b]


class OversightService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = OversightRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.config = uow.rt.settings.cluster(uow.cluster)

    @property
    def rules(self) -> AnomalyRules:
        return self.config.anomalies

    def anomalies(self, actor: Actor, now: dt.datetime | None = None) -> Anomalies:
        """Every rule's findings over the last ``window_days`` (a house DPO: their house's)."""
        require_overseer(actor)
        self.audit.sequence_committed()  # judge every committed entry
        end = now or utcnow()
        start = end - dt.timedelta(days=self.rules.window_days)
        results = [
            self._peer_reads(start, end, actor.house),
            self._off_hours(start, end, actor.house),
            self._export_sizes(start, end, actor.house),
            self._miss_bursts(start, end, actor.house),
        ]
        self.audit.append(
            actor,
            AuditRecord(
                "oversight.anomalies",
                detail={
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "found": sum(len(r.findings) for r in results),
                },
            ),
        )
        return Anomalies(start, end, self.config.time_zone, results)

    def _peer_reads(self, start: dt.datetime, end: dt.datetime, house: str | None) -> RuleResult:
        rules = self.rules
        rows = self.repo.profiles_read_per_client(start, end)
        # one client may read for several houses only if it is cluster-wide; count per client
        per_client: dict[tuple[str, str | None], int] = defaultdict(int)
        houses: dict[str, str | None] = {}
        for actor_id, role, house_of, profiles in rows:
            per_client[(actor_id, role)] += int(profiles)
            houses[actor_id] = house_of
        findings = []
        for (actor_id, role), profiles in sorted(per_client.items()):
            peers = [n for (other, other_role), n in per_client.items() if other_role == role and other != actor_id]
            if not peers:
                continue
            median = float(statistics.median(peers))
            mine = house is None or houses[actor_id] == house
            if mine and profiles >= rules.peer_minimum and profiles > rules.peer_factor * median:
                findings.append(Finding(actor_id, houses[actor_id], profiles, median=median))
        return RuleResult(PEER_READS, {"factor": rules.peer_factor, "minimum": rules.peer_minimum}, findings)

    def _off_hours(self, start: dt.datetime, end: dt.datetime, house: str | None) -> RuleResult:
        """Counted in SQL over the UTC stretches the house is closed in the period (its hours on
        the cluster's calendar, so a summer-time change moves them)."""
        rules = self.rules
        zone = self.config.zone()
        default = parse_hours(rules.house_hours)
        own = {slug: parse_hours(text) for slug, text in rules.hours_per_house.items()}
        rows: list[Any] = []
        for slug, hours in own.items():
            if house is None or house == slug:
                rows += self.repo.reads_within(closed_between(hours, zone, start, end), slug, ())
        if house is None or house not in own:
            rows += self.repo.reads_within(closed_between(default, zone, start, end), house, sorted(own))
        findings = [Finding(a, h, int(n), at=last) for a, h, n, last in sorted(rows, key=lambda r: str((r[0], r[1])))]
        shown = {"default": rules.house_hours, **rules.hours_per_house, "time_zone": self.config.time_zone}
        return RuleResult(OFF_HOURS, shown, findings)

    def _export_sizes(self, start: dt.datetime, end: dt.datetime, house: str | None) -> RuleResult:
        rules = self.rules
        exports = self.repo.export_sizes(start, end)
        findings = []
        for seq, actor_id, house_of, at, members in exports:
            others = [int(row.members) for row in exports if row.seq != seq]
            if not others:
                continue  # no other export to compare with
            median = float(statistics.median(others))
            mine = house is None or house_of == house
            if mine and members >= rules.export_minimum and members > rules.export_factor * median:
                findings.append(Finding(actor_id, house_of, int(members), at=at, median=median))
        return RuleResult(EXPORT_SIZE, {"factor": rules.export_factor, "minimum": rules.export_minimum}, findings)

    def _miss_bursts(self, start: dt.datetime, end: dt.datetime, house: str | None) -> RuleResult:
        rules = self.rules
        span = dt.timedelta(minutes=rules.miss_burst_minutes)
        per_client: dict[tuple[str, str | None], list[dt.datetime]] = defaultdict(list)
        for actor_id, house_of, at in self.repo.lookup_misses(start, end, house):
            per_client[(actor_id, house_of)].append(at)
        findings = []
        for (actor_id, house_of), times in sorted(per_client.items(), key=str):
            times.sort()
            densest, densest_at, first = 0, None, 0
            for last, moment in enumerate(times):  # a sliding window over the sorted times
                while moment - times[first] >= span:
                    first += 1
                if last - first + 1 > densest:
                    densest, densest_at = last - first + 1, times[first]
            if densest >= rules.miss_burst:
                findings.append(Finding(actor_id, house_of, densest, at=densest_at))
        return RuleResult(MISS_BURST, {"burst": rules.miss_burst, "minutes": rules.miss_burst_minutes}, findings)
