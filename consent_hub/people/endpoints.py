"""People over HTTP. E-mail lookups are POST so that no address ever appears in a URL or an
access log; every read names its purpose."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from fastapi.responses import JSONResponse

from consent_hub.api.context import Context
from consent_hub.api.errors import error_body
from consent_hub.people.schemas import (
    PURPOSE_PATTERN,
    BulkCreate,
    BulkCreated,
    Erased,
    ErasureRequest,
    LookupRequest,
    PersonCreate,
    PersonCreated,
    PersonOut,
    PersonUpdated,
)
from consent_hub.people.service import PeopleService, PersonView

router = APIRouter(prefix="/people", tags=["people"])


def _out(view: PersonView) -> PersonOut:
    return PersonOut(
        id=view.id,
        status=view.status,
        row_version=view.row_version,
        created_at=view.created_at,
        updated_at=view.updated_at,
        fields=view.fields,
    )


def _fields(fields: str | None) -> list[str] | None:
    return None if fields is None else [f.strip() for f in fields.split(",") if f.strip()]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PersonCreated)
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


@router.post("/lookup", response_model=PersonOut, responses={404: {"description": "no such person"}})
def lookup_by_email(ctx: Context, body: LookupRequest) -> PersonOut | JSONResponse:
    view = PeopleService(ctx.uow).lookup_by_email(ctx.actor, body.email, purpose=body.purpose, fields=body.fields)
    if view is None:
        # returned, not raised: the unit of work commits and the audited miss is kept
        return JSONResponse(error_body("NotFound", "no such person"), status_code=404)
    return _out(view)


@router.get("/{person_id}", response_model=PersonOut)
def get_person(
    ctx: Context,
    person_id: uuid.UUID,
    purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN, description="why the data is read")],
    fields: Annotated[str | None, Query(description="comma-separated field names; all if absent")] = None,
) -> PersonOut:
    return _out(PeopleService(ctx.uow).get(ctx.actor, person_id, purpose=purpose, fields=_fields(fields)))


@router.patch("/{person_id}", response_model=PersonUpdated)
def update_person(ctx: Context, person_id: uuid.UUID, body: Annotated[dict[str, Any], Body()]) -> PersonUpdated:
    version = PeopleService(ctx.uow).update(ctx.actor, person_id, body)
    return PersonUpdated(id=person_id, row_version=version)


@router.post("/{person_id}/erase", response_model=Erased)
def erase_person(ctx: Context, person_id: uuid.UUID, body: ErasureRequest | None = None) -> Erased:
    erased_now = PeopleService(ctx.uow).erase(ctx.actor, person_id, reference=body.reference if body else None)
    return Erased(id=person_id, status="erased", erased_now=erased_now)
