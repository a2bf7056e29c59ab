"""The import of one box-office file: all its good rows in one transaction, or nothing."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.files.boxoffice.errors import FileImportError
from connectors.files.boxoffice.mapping import BoxOfficeMapping, load_mapping, parse_mapping
from connectors.files.boxoffice.reading import Sheet, read_sheet
from connectors.files.boxoffice.report import ImportReport
from connectors.files.boxoffice.rows import BadRow, PreparedRow, prepare_rows
from consent_hub.actors import Actor
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRegistry, UnitOfWork, cluster_scope
from consent_hub.ingest.records import PageResult, Skip
from consent_hub.ingest.runs import SyncRunService
from consent_hub.ingest.service import IngestService

log = logging.getLogger("consent_hub.sync.files")

CHANNEL = "box-office"
STREAM = "customers"
PAGE_SIZE = 500  # rows per call of the ingest service; every page is in the file's one transaction


def _stated_time(sheet: Sheet, exported_at: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    stated = exported_at or sheet.stated_at
    if stated is None:
        return now
    if stated.tzinfo is None:
        stated = stated.replace(tzinfo=dt.UTC)
    return min(stated.astimezone(dt.UTC), now)


@contextmanager
def _transaction(registry: ClusterRegistry, cluster: str) -> Iterator[UnitOfWork]:
    """One unit of work that the caller commits; rolled back unless committed, and on any error."""
    with cluster_scope(cluster):
        uow = registry.open(cluster)
        try:
            yield uow
        except BaseException:
            uow.rollback()
            raise
        else:
            uow.rollback()  # a no-op after a commit
        finally:
            uow.close()


def import_file(
    registry: ClusterRegistry,
    cluster: str,
    house: str,
    path: Path | str,
    mapping: BoxOfficeMapping | Path | str | dict[str, Any],
    *,
    dry_run: bool = False,
    strict: bool = False,
    exported_at: dt.datetime | None = None,
    actor: Actor | None = None,
    trigger: str = "cli",
) -> ImportReport:
    """Import one box-office file for ``house``: all its good rows in one transaction, or nothing.

    Raises FileImportError / MappingError (nothing written) when the file or mapping cannot be used.
    With ``dry_run``, or ``strict`` and a bad row, everything is rolled back and the report says
    what would have happened. Any other error rolls the whole file back and propagates.
    """
    path = Path(path)
    spec = parse_mapping(mapping) if isinstance(mapping, BoxOfficeMapping | dict) else load_mapping(mapping)
    actor = actor or Actor.cli(cluster)
    source = f"file:{house}"
    now = utcnow()
    sheet = read_sheet(path, spec)
    rt = registry.runtime(cluster)
    prepared = prepare_rows(
        sheet, spec, house, phone_region=rt.phone_region, default_time=_stated_time(sheet, exported_at, now)
    )
    report = ImportReport(
        file=path.name,
        cluster=cluster,
        house=house,
        source=source,
        file_id=prepared.file_id,
        rows_read=prepared.read,
        dry_run=dry_run,
        strict=strict,
    )
    with _transaction(registry, cluster) as uow:
        ingest = IngestService(uow, actor, source, channel=CHANNEL)
        if ingest.house_id(house) is None:
            raise FileImportError(
                [{"field": "house", "problem": f"no house {house!r} is registered in cluster {cluster!r}"}]
            )
        runs = SyncRunService(uow)
        run = runs.start(actor, source, trigger=trigger, upper_bound=now.replace(microsecond=0))
        report.run_id = str(run.id)
        bad_by_row: dict[int, list[str]] = {b.row: [b.reason] for b in prepared.bad}
        first = PageResult(read=len(prepared.bad), skipped=[Skip(f"row {b.row}", b.reason) for b in prepared.bad])
        pages = [prepared.rows[i : i + PAGE_SIZE] for i in range(0, len(prepared.rows), PAGE_SIZE)] or [[]]
        for i, page in enumerate(pages):
            result = _import_page(ingest, page, report, bad_by_row) if page else PageResult()
            if i == 0:
                result.read += first.read
                result.skipped = first.skipped + result.skipped
            runs.page_done(run.id, STREAM, result)
        report.bad_rows = [BadRow(row, "; ".join(reasons)[:300]) for row, reasons in sorted(bad_by_row.items())]
        runs.finish(actor, run.id, "succeeded")
        if dry_run or (strict and report.bad_rows):
            report.run_id = None  # rolled back with everything else
        else:
            uow.commit()
            report.committed = True
    for bad in report.bad_rows:
        log.info("%s: row %d not imported: %s", path.name, bad.row, bad.reason)
    return report


def _import_page(
    ingest: IngestService, page: Sequence[PreparedRow], report: ImportReport, bad_by_row: dict[int, list[str]]
) -> PageResult:
    source = ingest.source
    ids = [r.record.external_id for r in page]
    known = {ext: (m.person_id, m.status, m.fields_mac) for ext, m in ingest.repo.engine_customers(source, ids).items()}
    statuses = ingest.people.repo.statuses([pid for pid, _, _ in known.values() if pid is not None])
    indexer = ingest.uow.rt.indexer
    fresh_index = {r.record.external_id: indexer.email(r.email_index) for r in page if r.email_index}
    existing = set(ingest.people.repo.ids_by_email_indexes(list(set(fresh_index.values()))).values())
    result = ingest.upsert_customers([r.record for r in page])
    # the service names a record, or one opt-in of a record, by the record's id: back to row numbers
    record_rows = {r.record.external_id: r.row for r in page}
    optin_rows = {f"{r.record.external_id}:{o.permission}": r.row for r in page for o in r.record.opt_ins}
    rejected: set[int] = set()
    skipped: list[Skip] = []
    for skip in result.skipped:
        row = record_rows.get(skip.ref)
        if row is not None:
            rejected.add(row)  # the record was left out
        else:
            row = optin_rows.get(skip.ref)  # the person was imported, this opt-in was not
        if row is None:
            continue
        bad_by_row.setdefault(row, []).append(skip.reason)
        skipped.append(Skip(f"row {row}", skip.reason))
    result.skipped = skipped
    after = ingest.repo.engine_customers(source, ids)
    changed = 0
    for r in page:
        ext = r.record.external_id
        mapping = after.get(ext)
        if r.row in rejected or mapping is None:
            continue
        if ext in known:
            pid, status, mac = known[ext]
            if pid is None or status != "linked" or statuses.get(pid) != "active":
                report.suppressed += 1
            elif mapping.fields_mac != mac:
                report.updated += 1
                changed += 1
            else:
                report.unchanged += 1
        elif mapping.status == "suppressed":
            report.suppressed += 1
        elif mapping.person_id in existing:
            report.matched += 1
            changed += 1
        else:
            report.created += 1
            changed += 1
    report.consents += max(result.written - changed, 0)
    return result
