"""`consent-hub report NAME --cluster C [--house H] [--from D --to D] --out FILE.xlsx` (a
``consent_hub.commands`` entry point: the hub's CLI wraps it in ``handled``)."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from consent_hub.actors import Actor
from consent_hub.audit.schemas import AuditFilter
from consent_hub.cli.common import cluster_registry, err
from consent_hub.errors import InvalidInput
from consent_hub.houses.service import HouseService
from consent_hub.plugins import report_names, report_writer
from consent_hub.reporting.filters import ReportFilters


def day_start(value: str, field: str, zone: ZoneInfo) -> dt.datetime:
    """Midnight of a YYYY-MM-DD day in the cluster's time zone, as UTC."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput([{"field": field, "problem": "must be a date YYYY-MM-DD"}]) from None
    if len(value) != 10:  # fromisoformat also takes 20261204; the help says YYYY-MM-DD
        raise InvalidInput([{"field": field, "problem": "must be a date YYYY-MM-DD"}])
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone).astimezone(dt.UTC)


def period(start: str | None, end: str | None, zone: ZoneInfo) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``--from`` and ``--to`` as a half-open UTC period: from the first day's midnight to the
    midnight after the last day, both in the cluster's time zone (DST changes included)."""
    lo = day_start(start, "from", zone) if start is not None else None
    hi = None
    if end is not None:
        last = day_start(end, "to", zone).astimezone(zone).date()
        hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min, tzinfo=zone).astimezone(dt.UTC)
    if lo is not None and hi is not None and hi <= lo:
        raise InvalidInput([{"field": "to", "problem": "must not be before --from"}])
    return lo, hi


def report_command(
    name: Annotated[str, typer.Argument(help="access-log | consent-coverage | request-register | "
                                             "records-of-processing | propagation")],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="cluster name")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the workbook to write (.xlsx)")],
    house: Annotated[str | None, typer.Option("--house", help="only this house's part")] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="first day YYYY-MM-DD (the cluster's time zone)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="last day YYYY-MM-DD, included")] = None,
    person: Annotated[str | None, typer.Option("--person", help="access log: entries naming this person id")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="access log: e.g. client:<uuid>")] = None,
    role: Annotated[str | None, typer.Option("--role", help="access log: the acting role")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="access log: the purpose read for")] = None,
    action: Annotated[str | None, typer.Option("--action", help="access log: e.g. person.read")] = None,
) -> None:
    """Write an Excel report of the cluster (its creation is an audit entry)."""
    known = report_names()
    if name not in known:
        raise InvalidInput([{"field": "name", "problem": f"unknown report; one of {', '.join(known)}"}])
    if out.suffix.lower() != ".xlsx":
        raise InvalidInput([{"field": "out", "problem": "must name an .xlsx file"}])
    person_id = None
    if person is not None:
        try:
            person_id = uuid.UUID(person)
        except ValueError:
            raise InvalidInput([{"field": "person", "problem": "must be a UUID"}]) from None
    registry = cluster_registry(cluster)
    try:
        lo, hi = period(start, end, registry.settings.cluster(cluster).zone())
        filters = ReportFilters(
            house=house,
            start=lo,
            end=hi,
            audit=AuditFilter(person=person_id, actor=actor, role=role, purpose=purpose, action=action),
        )
        write = report_writer(name)
        # written beside the target and moved into place: a failed report leaves no half a file
        fd, tmp = tempfile.mkstemp(suffix=".xlsx.part", dir=out.parent if str(out.parent) else ".")
        try:
            with os.fdopen(fd, "wb") as fh, registry.unit_of_work(cluster) as uow:
                if house is not None:
                    HouseService(uow).get(house)
                rows = write(uow, Actor.cli(cluster), filters, fh)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        registry.dispose()
    err.print(f"{name}: {rows:,} rows written to {out.name}", highlight=False)
