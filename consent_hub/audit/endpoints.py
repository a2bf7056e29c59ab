from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.audit.auth import require_audit_reader
from consent_hub.audit.schemas import AuditEntryOut, VerifyOut
from consent_hub.audit.service import AuditLog, verify_chain

router = APIRouter(prefix="/audit", tags=["audit"], responses=errors_for(403))


def _dpo(ctx: Context) -> None:
    require_audit_reader(ctx.actor)


@router.get("/entries", response_model=list[AuditEntryOut])
def list_entries(
    ctx: Context,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, description="cursor: entries with a lower sequence")] = None,
    person: Annotated[uuid.UUID | None, Query(description="only entries naming this person")] = None,
) -> list[AuditEntryOut]:
    _dpo(ctx)
    rows = AuditLog(ctx.uow.session, ctx.uow.cluster).read_entries(ctx.actor, limit=limit, before=before, person=person)
    return [AuditEntryOut.of(e) for e in rows]


@router.get("/verify", response_model=VerifyOut)
def verify(ctx: Context) -> VerifyOut:
    _dpo(ctx)
    report = verify_chain(ctx.uow.session, ctx.uow.cluster, ctx.uow.rt.keys.audit_public_key())
    return VerifyOut(
        ok=report.ok,
        entries=report.entries,
        checkpoints=report.checkpoints,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )
