from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from consent_hub.storage.models import ConsentEvent
from consent_hub.validation import SafeText

Status = Literal["granted", "refused", "withdrawn"]
Channel = Literal["web", "box-office", "engine-import", "website-form", "api"]
Language = Literal["nl", "en", "fr"]


class Evidence(BaseModel):
    """What proves the consent. Sealed with the person's data key; no free-form personal data."""

    model_config = ConfigDict(extra="forbid")

    staff_id: SafeText | None = Field(default=None, max_length=80)
    ip_prefix: str | None = Field(default=None, description="truncated address: IPv4 /24 or shorter, IPv6 /48")
    user_agent: SafeText | None = Field(default=None, max_length=300)
    source_record: SafeText | None = Field(default=None, max_length=120, description="e.g. tixly:customer:123")
    form_id: SafeText | None = Field(default=None, max_length=80)

    @field_validator("ip_prefix")
    @classmethod
    def _truncated(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValueError("must be a network such as 203.0.113.0/24") from None
        limit = 24 if network.version == 4 else 48
        if network.prefixlen > limit:
            raise ValueError(f"must be truncated to /{limit} or shorter")
        return str(network)


class ConsentRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(pattern=r"^[a-z][a-z0-9-]{1,79}$")
    target: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$",
        description="house, program or recipient the consent is for; none for cluster-wide purposes",
    )
    status: Status
    notice_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the notice text shown")
    language: Language
    channel: Channel
    evidence: Evidence | None = None
    given_at: dt.datetime | None = Field(default=None, description="when the person decided; now if absent")
    expires_at: dt.datetime | None = Field(default=None, description="the purpose's consent validity if absent")


class ConsentEventOut(BaseModel):
    id: uuid.UUID
    purpose: str
    target_kind: str
    target: str
    status: str
    notice_sha256: str
    notice_version: int | None = None
    language: str
    channel: str
    given_at: dt.datetime
    expires_at: dt.datetime | None
    recorded_at: dt.datetime
    actor: str

    @classmethod
    def of(cls, e: ConsentEvent) -> ConsentEventOut:
        return cls(
            id=e.id,
            purpose=e.purpose,
            target_kind=e.target_kind,
            target=e.target_ref,
            status=e.status,
            notice_sha256=e.notice_sha256,
            language=e.language,
            channel=e.channel,
            given_at=e.given_at,
            expires_at=e.expires_at,
            recorded_at=e.recorded_at,
            actor=e.actor,
        )


class ConsentStateOut(BaseModel):
    purpose: str
    target_kind: str
    target: str
    status: str = Field(description="granted, refused, withdrawn or expired (a grant past its expiry)")
    oslo_status: str
    event_id: uuid.UUID
    given_at: dt.datetime
    expires_at: dt.datetime | None


class NoticeOut(BaseModel):
    purpose: str
    language: str
    version: int
    title: str
    text: str
    sha256: str
    published_at: dt.datetime


class PurposeOut(BaseModel):
    key: str
    legal_basis: str
    scope: str
    target_kind: str
    field_groups: list[str]
    retention: str
    consent_validity: str | None
    recipients: list[str]
    pseudonymised: bool
    dpv_purpose: str
    dpv_legal_basis: str
    titles: dict[str, str]
