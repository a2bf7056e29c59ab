"""The request desk over HTTP: what a caller sends and what the register answers (ids, codes and
dates; a request's detail stays sealed, notes and reasons hold no personal data)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from consent_hub.requests.service import RequestView

Kind = Literal["access", "portability", "rectification", "erasure", "restriction", "objection"]
StaffChannel = Literal["box-office", "mail", "api"]
Language = Literal["nl", "en", "fr"]


class RequestIn(BaseModel):
    """A request received by mail, at the counter or by another system. The person is found by
    address through the blind index (or by id); ``verified_note`` records how the identity was
    checked, without personal data (e.g. "identity card seen at the counter")."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    channel: StaffChannel = "api"
    email: EmailStr | None = None
    person_id: uuid.UUID | None = None
    house: str | None = Field(default=None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
    field: str | None = Field(default=None, max_length=40, description="rectification: the field to correct")
    value: str | None = Field(default=None, max_length=200, description="rectification: the right value")
    purpose: str | None = Field(default=None, max_length=80, description="objection: the purpose objected to")
    reason: str | None = Field(default=None, max_length=1000, description="what the person wrote, sealed")
    verified_note: str | None = Field(default=None, max_length=500)
    language: Language = "nl"

    def detail(self) -> dict[str, str]:
        out = {"field": self.field, "value": self.value, "purpose": self.purpose, "reason": self.reason}
        return {k: v for k, v in out.items() if v}


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=500, description="how the identity was verified; no personal data")


class ExtensionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    months: int = Field(ge=1, le=2)
    reason: str = Field(min_length=1, max_length=500, description="mailed to the person; no personal data")


class SignOffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    house: str | None = Field(default=None, description="the cluster DPO names the house; a house DPO signs their own")
    note: str = Field(default="", max_length=500)


class RefusalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500, description="mailed to the person with their right to complain")


class PartOut(BaseModel):
    house: str
    status: str
    signed_off_at: dt.datetime | None
    signed_off_by: str | None


class StepOut(BaseModel):
    at: dt.datetime
    actor: str
    step: str
    status: str
    note: str


class RequestOut(BaseModel):
    reference: str
    kind: str
    status: str
    channel: str
    house: str | None
    person_id: uuid.UUID
    received_at: dt.datetime
    due_at: dt.datetime = Field(description="the end of the first month (Art. 12(3))")
    effective_due_at: dt.datetime = Field(description="the deadline now, with any extension")
    due_on: dt.date = Field(description="the last day, on the cluster's calendar")
    time_zone: str
    extended: bool
    extension_reason: str | None
    overdue: bool
    days_left: int
    verified: bool
    verification: str | None
    executed: bool
    outcome: str | None
    refusal_reason: str | None
    closed_at: dt.datetime | None
    parts: list[PartOut]
    steps: list[StepOut]

    @classmethod
    def of(cls, v: RequestView) -> RequestOut:
        return cls(
            reference=v.reference,
            kind=v.kind,
            status=v.status,
            channel=v.channel,
            house=v.house,
            person_id=v.person_id,
            received_at=v.received_at,
            due_at=v.due_at,
            effective_due_at=v.effective_due_at,
            due_on=v.due_on,
            time_zone=v.time_zone,
            extended=v.extended,
            extension_reason=v.extension_reason,
            overdue=v.overdue,
            days_left=v.days_left,
            verified=v.verified,
            verification=v.verification,
            executed=v.executed,
            outcome=v.outcome,
            refusal_reason=v.refusal_reason,
            closed_at=v.closed_at,
            parts=[
                PartOut(house=p.house, status=p.status, signed_off_at=p.signed_off_at, signed_off_by=p.signed_off_by)
                for p in v.parts
            ],
            steps=[StepOut(at=s.at, actor=s.actor, step=s.step, status=s.status, note=s.note) for s in v.steps],
        )


class RequestAccepted(BaseModel):
    """A house's staff registered a request they may not see the outcome of: the address is
    unknown, or the person is not their house's. The answer is the same either way."""

    accepted: bool = True
    detail: str = "if the hub holds this person, the request is registered and a receipt is mailed to them"
