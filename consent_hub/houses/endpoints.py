from __future__ import annotations

from fastapi import APIRouter, status

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.houses.schemas import HouseCreate, HouseOut
from consent_hub.houses.service import HouseService

router = APIRouter(prefix="/houses", tags=["houses"])


@router.get("", response_model=list[HouseOut])
def list_houses(ctx: Context) -> list[HouseOut]:
    return [HouseOut.model_validate(h) for h in HouseService(ctx.uow).list()]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HouseOut, responses=errors_for(403, 409))
def register_house(ctx: Context, body: HouseCreate) -> HouseOut:
    return HouseOut.model_validate(HouseService(ctx.uow).add(ctx.actor, body))


@router.get("/{slug}", response_model=HouseOut, responses=errors_for(404))
def get_house(ctx: Context, slug: str) -> HouseOut:
    return HouseOut.model_validate(HouseService(ctx.uow).get(slug))
