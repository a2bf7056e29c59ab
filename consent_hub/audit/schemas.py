from __future__ import annotations

import datetime as dt
import json

from pydantic import BaseModel

from consent_hub.storage.models import AuditEntry


class AuditEntryOut(BaseModel):
    seq: int
    at: dt.datetime
    actor: str
    house: str | None
    role: str | None
    purpose: str | None
    action: str
    subjects: list[str]
    fields: list[str]
    detail: dict[str, object]
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(
            seq=e.seq,
            at=e.at,
            actor=e.actor,
            house=e.house,
            role=e.role,
            purpose=e.purpose,
            action=e.action,
            subjects=json.loads(e.subjects),
            fields=json.loads(e.fields),
            detail=json.loads(e.detail),
            hash=bytes(e.hash).hex(),
        )


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str | None
