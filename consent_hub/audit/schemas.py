from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class AuditFilter:
    """What a DPO searches the log for (the console, the access-log report and the API use the
    same filter). ``person`` is a person id (the console finds it by e-mail through the blind
    index); ``actor`` an actor id such as ``client:<uuid>``; ``start``/``end`` a half-open UTC
    period. A house DPO's filter always carries their house (``scoped_to``); one that names another
    house matches nothing, exactly like a house that does not exist (``names_another_house``)."""

    person: uuid.UUID | None = None
    actor: str | None = None
    house: str | None = None
    role: str | None = None
    purpose: str | None = None
    action: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def scoped_to(self, house: str | None) -> AuditFilter:
        return self if house is None else replace(self, house=house)

    def names_another_house(self, house: str | None) -> bool:
        return house is not None and self.house not in (None, house)

    def described(self) -> dict[str, str]:
        """The filter for an audit entry's detail: ids, codes and dates only."""
        out: dict[str, str] = {}
        for name in ("person", "actor", "house", "role", "purpose", "action", "start", "end"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat() if isinstance(value, dt.datetime) else str(value)
        return out
