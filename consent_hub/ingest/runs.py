"""The record of every sync run: started, moved page by page, finished.

A run's counters move in the same transaction as the page they count, so a run that was killed
shows exactly what it committed. Only one run of a connector is live at a time: a run whose
heartbeat is older than ``STALE_AFTER`` is taken to be dead and marked ``interrupted`` by the
next one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Sequence
from typing import Any

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import RunAlreadyActive, SyncRunNotFound
from consent_hub.ingest.auth import require_run_reader
from consent_hub.ingest.records import PageResult
from consent_hub.ingest.repository import IngestRepository
from consent_hub.storage.models import ConnectorState, SyncRun, SyncSkip
from consent_hub.vocabulary import SyncRunStatus

STALE_AFTER = dt.timedelta(minutes=2)
MAX_SKIPS_KEPT = 1000  # per run; the counters stay exact beyond it


def _owner_is_dead(owner: str | None) -> bool:
    """True when the run's process was on this host and is gone (a killed sync resumes at once
    instead of waiting for its heartbeat to go stale)."""
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # a run of this very process that never finished (an earlier crash in-process)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SyncRunService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = IngestRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)

    def start(self, actor: Actor, connector: str, *, trigger: str, upper_bound: dt.datetime) -> SyncRun:
        now = utcnow()
        for other in self.repo.running(connector):
            dead = _owner_is_dead(json.loads(other.detail).get("owner"))
            if not dead and now - other.heartbeat_at < STALE_AFTER:
                raise RunAlreadyActive(
                    f"a run of connector {connector!r} is in progress (started {other.started_at:%H:%M:%S})"
                )
            other.status, other.finished_at = SyncRunStatus.INTERRUPTED, other.heartbeat_at
            other.error = "the process stopped before the run finished"
        run = SyncRun(
            id=new_uuid(),
            connector=connector,
            trigger=trigger,
            status=SyncRunStatus.RUNNING,
            started_at=now,
            heartbeat_at=now,
            upper_bound=upper_bound,
            rows_read=0,
            rows_written=0,
            rows_skipped=0,
            errors=0,
            retries=0,
            detail=json.dumps({"owner": f"{socket.gethostname()}:{os.getpid()}"}),
        )
        self.repo.add_run(run)
        self.audit.append(actor, AuditRecord("sync.start", detail={"run": str(run.id), "connector": connector}))
        return run

    def _live(self, run_id: uuid.UUID) -> SyncRun:
        run = self.repo.run(run_id)
        if run is None:
            raise SyncRunNotFound("no such sync run")
        return run

    def page_done(self, run_id: uuid.UUID, stream: str, result: PageResult, *, retries: int = 0) -> None:
        """Count one committed page (call in the page's own transaction)."""
        run = self._live(run_id)
        now = utcnow()
        run.rows_read += result.read
        run.rows_written += result.written
        run.rows_skipped += len(result.skipped) + result.suppressed
        run.retries += retries
        run.heartbeat_at = now
        detail: dict[str, Any] = json.loads(run.detail)
        per = detail.setdefault("streams", {}).setdefault(
            stream, {"pages": 0, "read": 0, "written": 0, "skipped": 0, "suppressed": 0}
        )
        per["pages"] += 1
        per["read"] += result.read
        per["written"] += result.written
        per["skipped"] += len(result.skipped)
        per["suppressed"] += result.suppressed
        reasons = detail.setdefault("skip_reasons", {})
        for skip in result.skipped:
            reasons[skip.reason] = reasons.get(skip.reason, 0) + 1
        run.detail = json.dumps(detail, sort_keys=True)
        if result.skipped:
            room = MAX_SKIPS_KEPT - self.repo.skip_count(run_id)
            self.repo.add_skips(
                [
                    {"run_id": run_id, "stream": stream, "record_ref": s.ref[:120], "reason": s.reason, "at": now}
                    for s in result.skipped[: max(room, 0)]
                ]
            )

    def heartbeat(self, run_id: uuid.UUID, *, retries: int = 0, errors: int = 0) -> None:
        run = self._live(run_id)
        run.heartbeat_at = utcnow()
        run.retries += retries
        run.errors += errors

    def finish(self, actor: Actor, run_id: uuid.UUID, status: str, *, error: str | None = None) -> SyncRun:
        run = self._live(run_id)
        now = utcnow()
        run.status, run.finished_at, run.heartbeat_at = status, now, now
        if error is not None:
            run.error = error[:2000]
            run.errors += 1
        self.audit.append(
            actor,
            AuditRecord(
                "sync.finish",
                detail={
                    "run": str(run.id),
                    "connector": run.connector,
                    "status": status,
                    "read": run.rows_read,
                    "written": run.rows_written,
                    "skipped": run.rows_skipped,
                },
            ),
        )
        return run

    # -- reading (no personal data in a run) -----------------------------------------------------
    @staticmethod
    def _readable(actor: Actor) -> None:
        require_run_reader(actor)

    def list(
        self, actor: Actor, *, connector: str | None = None, limit: int = 50, before: dt.datetime | None = None
    ) -> Sequence[SyncRun]:
        self._readable(actor)
        return self.repo.runs(connector, limit, before)

    def stream_state(self, actor: Actor, connector: str) -> Sequence[ConnectorState]:
        """Each stream's bookmark for the connector (the same readers as the runs)."""
        self._readable(actor)
        return self.repo.cursors(connector)

    def get(self, actor: Actor, run_id: uuid.UUID) -> tuple[SyncRun, Sequence[SyncSkip]]:
        self._readable(actor)
        run = self._live(run_id)
        return run, self.repo.skips(run_id, MAX_SKIPS_KEPT)
