from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from consent_hub.houses.schemas import SLUG_PATTERN
from consent_hub.validation import SafeText


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: SafeText = Field(min_length=1, max_length=200)
    house: str | None = Field(default=None, pattern=SLUG_PATTERN, description="house slug; none for cluster roles")
    role: str
    agreement: SafeText = Field(
        min_length=1, max_length=200, description="data-processing agreement the key is issued under"
    )
    expires: dt.date


class ClientOut(BaseModel):
    id: uuid.UUID
    key_id: str
    name: str
    house: str | None
    role: str
    agreement: str
    expires_at: dt.datetime
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    active: bool


class ClientCreated(ClientOut):
    api_key: str = Field(description="shown once; only its hash is stored")
