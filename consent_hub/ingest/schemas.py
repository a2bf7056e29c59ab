from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from pydantic import BaseModel

from consent_hub.storage.models import ConnectorState, SyncRun, SyncSkip


class SyncSkipOut(BaseModel):
    stream: str
    record_ref: str
    reason: str
    at: dt.datetime

    @classmethod
    def of(cls, s: SyncSkip) -> SyncSkipOut:
        return cls(stream=s.stream, record_ref=s.record_ref, reason=s.reason, at=s.at)


class SyncRunOut(BaseModel):
    id: uuid.UUID
    connector: str
    trigger: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    duration_seconds: float | None
    upper_bound: dt.datetime | None
    rows_read: int
    rows_written: int
    rows_skipped: int
    errors: int
    retries: int
    error: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, r: SyncRun) -> SyncRunOut:
        duration = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        return cls(
            id=r.id,
            connector=r.connector,
            trigger=r.trigger,
            status=r.status,
            started_at=r.started_at,
            finished_at=r.finished_at,
            duration_seconds=duration,
            upper_bound=r.upper_bound,
            rows_read=r.rows_read,
            rows_written=r.rows_written,
            rows_skipped=r.rows_skipped,
            errors=r.errors,
            retries=r.retries,
            error=r.error,
            detail=json.loads(r.detail),
        )


class SyncRunDetailOut(SyncRunOut):
    skips: list[SyncSkipOut]


class StreamStateOut(BaseModel):
    connector: str
    stream: str
    partition: str
    cursor: str
    updated_at: dt.datetime

    @classmethod
    def of(cls, s: ConnectorState) -> StreamStateOut:
        return cls(
            connector=s.connector, stream=s.stream, partition=s.partition, cursor=s.cursor, updated_at=s.updated_at
        )
