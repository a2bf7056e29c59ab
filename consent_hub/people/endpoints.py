"""Writing people over HTTP: create, bulk create, update. Reading them goes through the visibility
rules (access/endpoints.py); the data-subject requests through rights/endpoints.py."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.people.schemas import BulkCreate, BulkCreated, PersonCreate, PersonCreated, PersonUpdate, PersonUpdated
from consent_hub.people.service import PeopleService

router = APIRouter(prefix="/people", tags=["people"], responses=errors_for(403))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PersonCreated, responses=errors_for(409))
def create_person(ctx: Context, body: PersonCreate) -> PersonCreated:
    return PersonCreated(id=PeopleService(ctx.uow).create(ctx.actor, body.model_dump(exclude_unset=True)))


@router.post("/bulk", status_code=status.HTTP_201_CREATED, response_model=BulkCreated)
def bulk_create(ctx: Context, body: BulkCreate) -> BulkCreated:
    result = PeopleService(ctx.uow).bulk_create(ctx.actor, body.people, skip_invalid=body.skip_invalid)
    return BulkCreated(
        created=result.created,
        duplicates={str(k): v for k, v in result.duplicates.items()},
        invalid={str(k): v for k, v in result.invalid.items()},
    )


@router.patch("/{person_id}", response_model=PersonUpdated, responses=errors_for(404, 409))
def update_person(ctx: Context, person_id: uuid.UUID, body: PersonUpdate) -> PersonUpdated:
    version = PeopleService(ctx.uow).update(ctx.actor, person_id, body.model_dump(exclude_unset=True))
    return PersonUpdated(id=person_id, row_version=version)
