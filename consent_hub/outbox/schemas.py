from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from pydantic import BaseModel

from consent_hub.storage.models import OutboxDelivery


class DeliveryOut(BaseModel):
    id: uuid.UUID
    destination: str
    person_id: uuid.UUID | None
    kind: str
    cause: str
    status: str
    sent_as: str | None
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    receipt: dict[str, Any] | None
    last_error: str | None

    @classmethod
    def of(cls, d: OutboxDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            destination=d.destination,
            person_id=d.person_id,
            kind=d.kind,
            cause=d.cause,
            status=d.status,
            sent_as=d.sent_as,
            attempts=d.attempts,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            receipt=json.loads(d.receipt) if d.receipt else None,
            last_error=d.last_error,
        )
