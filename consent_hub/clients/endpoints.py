from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.clients.schemas import ClientCreate, ClientCreated, ClientOut
from consent_hub.clients.service import ClientService

router = APIRouter(prefix="/clients", tags=["clients"], responses=errors_for(403))


@router.get("", response_model=list[ClientOut])
def list_clients(ctx: Context) -> list[ClientOut]:
    return list(ClientService(ctx.uow).list(ctx.actor))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ClientCreated, responses=errors_for(404))
def issue_client(ctx: Context, body: ClientCreate) -> ClientCreated:
    return ClientService(ctx.uow).add(ctx.actor, body)


@router.post("/{client_id}/revoke", response_model=ClientOut, responses=errors_for(404))
def revoke_client(ctx: Context, client_id: uuid.UUID) -> ClientOut:
    return ClientService(ctx.uow).revoke(ctx.actor, client_id)
