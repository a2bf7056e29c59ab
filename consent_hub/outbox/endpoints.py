"""Delivery status per person and destination (ids, statuses, receipts: no personal data)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.outbox.schemas import DeliveryOut
from consent_hub.outbox.service import OutboxService

router = APIRouter(tags=["outbox"], responses=errors_for(403))


@router.get("/people/{person_id}/deliveries", response_model=list[DeliveryOut], responses=errors_for(404))
def deliveries_of_person(ctx: Context, person_id: uuid.UUID) -> list[DeliveryOut]:
    return [DeliveryOut.of(d) for d in OutboxService(ctx.uow).deliveries_of(ctx.actor, person_id)]


@router.get("/outbox", response_model=list[DeliveryOut])
def deliveries(
    ctx: Context,
    status: Annotated[Literal["pending", "delivered", "dead", "superseded"] | None, Query()] = None,
    destination: Annotated[str | None, Query(max_length=80)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    rows = OutboxService(ctx.uow).deliveries(ctx.actor, status=status, destination=destination, limit=limit)
    return [DeliveryOut.of(d) for d in rows]
