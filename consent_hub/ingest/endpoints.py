"""Sync runs and stream bookmarks over HTTP (no personal data: counts, engine record ids, rules)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.ingest.runs import SyncRunService
from consent_hub.ingest.schemas import StreamStateOut, SyncRunDetailOut, SyncRunOut, SyncSkipOut

router = APIRouter(prefix="/sync", tags=["sync"], responses=errors_for(403))


@router.get("/runs", response_model=list[SyncRunOut])
def list_runs(
    ctx: Context,
    connector: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[dt.datetime | None, Query(description="cursor: runs started before this time")] = None,
) -> list[SyncRunOut]:
    runs = SyncRunService(ctx.uow).list(ctx.actor, connector=connector, limit=limit, before=before)
    return [SyncRunOut.of(r) for r in runs]


@router.get("/runs/{run_id}", response_model=SyncRunDetailOut, responses=errors_for(404))
def get_run(ctx: Context, run_id: uuid.UUID) -> SyncRunDetailOut:
    run, skips = SyncRunService(ctx.uow).get(ctx.actor, run_id)
    return SyncRunDetailOut(**SyncRunOut.of(run).model_dump(), skips=[SyncSkipOut.of(s) for s in skips])


@router.get("/state", response_model=list[StreamStateOut])
def stream_state(ctx: Context, connector: Annotated[str, Query(max_length=80)]) -> list[StreamStateOut]:
    return [StreamStateOut.of(s) for s in SyncRunService(ctx.uow).stream_state(ctx.actor, connector)]
