from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from consent_hub.validation import SafeText

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
ENGINE_ID = r"^[A-Za-z0-9._:-]{1,64}$"


class HouseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(pattern=SLUG_PATTERN, description="lower-case letters, digits and '-'")
    name: SafeText = Field(min_length=1, max_length=200)
    tixly_organisation_id: str | None = Field(default=None, pattern=ENGINE_ID)
    ticketmatic_account: str | None = Field(default=None, pattern=ENGINE_ID)
    uitdatabank_organizer_id: str | None = Field(default=None, pattern=ENGINE_ID)


class HouseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    tixly_organisation_id: str | None
    ticketmatic_account: str | None
    uitdatabank_organizer_id: str | None
    created_at: dt.datetime
