"""People over HTTP. E-mail lookups are POST so that no address ever appears in a URL or an
access log; every read names its purpose."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from consent_hub.access.service import AccessService, RelationService, VisiblePerson
from consent_hub.api.context import Context
from consent_hub.api.errors import error_body, errors_for
from consent_hub.people.schemas import (
    PURPOSE_PATTERN,
    BulkCreate,
    BulkCreated,
    Erased,
    ErasureRequest,
    ExplainOut,
    LookupRequest,
    PeopleCount,
    PersonCreate,
    PersonCreated,
    PersonOut,
    PersonUpdate,
    PersonUpdated,
    RelationIn,
    Restriction,
    RestrictionRequest,
)
from consent_hub.people.service import PeopleService, PersonView
from consent_hub.vocabulary import PersonStatus

router = APIRouter(prefix="/people", tags=["people"], responses=errors_for(403))


def _out(view: PersonView) -> PersonOut:
    return PersonOut(
        id=view.id,
        status=view.status,
        row_version=view.row_version,
        created_at=view.created_at,
        updated_at=view.updated_at,
        fields=view.fields,
    )


def _visible_out(found: VisiblePerson) -> PersonOut:
    out = _out(found.view)
    out.field_groups, out.bases = found.field_groups, found.bases
    return out


def _fields(fields: str | None) -> list[str] | None:
    return None if fields is None else [f.strip() for f in fields.split(",") if f.strip()]


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


@router.post("/lookup", response_model=PersonOut, responses=errors_for(404))
def lookup_by_email(ctx: Context, body: LookupRequest) -> PersonOut | JSONResponse:
    """The person with this e-mail address, if visible to the caller's house for the purpose."""
    found = AccessService(ctx.uow).lookup_by_email(ctx.actor, body.email, purpose=body.purpose, fields=body.fields)
    if found is None:
        # returned, not raised: the unit of work commits and the audited miss is kept
        return JSONResponse(error_body("PersonNotFound", "no such person"), status_code=404)
    return _visible_out(found)


@router.get("/count", response_model=PeopleCount, responses=errors_for(429))
def count_visible(
    ctx: Context, purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN, description="why they are counted")]
) -> PeopleCount:
    """How many people are visible to the caller's house for the purpose."""
    count, protection = AccessService(ctx.uow).count(ctx.actor, purpose)
    return PeopleCount(purpose=purpose, count=count, protection=protection)


@router.get("/{person_id}", response_model=PersonOut, responses=errors_for(404))
def get_person(
    ctx: Context,
    person_id: uuid.UUID,
    purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN, description="why the data is read")],
    fields: Annotated[str | None, Query(description="comma-separated field names; all allowed if absent")] = None,
) -> PersonOut:
    found = AccessService(ctx.uow).get(ctx.actor, person_id, purpose=purpose, fields=_fields(fields))
    return _visible_out(found)


@router.get("/{person_id}/explain", response_model=ExplainOut, responses=errors_for(404))
def explain_visibility(
    ctx: Context,
    person_id: uuid.UUID,
    purpose: Annotated[str, Query(pattern=PURPOSE_PATTERN)],
) -> ExplainOut:
    """Why this person is or is not visible to the caller for the purpose (which relation or
    consent, since when)."""
    e = AccessService(ctx.uow).explain(ctx.actor, person_id, purpose=purpose)
    return ExplainOut(visible=e.visible, purpose=e.purpose, field_groups=e.field_groups, reasons=e.reasons)


@router.post("/{person_id}/relations", status_code=status.HTTP_204_NO_CONTENT, responses=errors_for(404))
def record_relation(ctx: Context, person_id: uuid.UUID, body: RelationIn) -> None:
    """Record by hand that a person is a customer of, or a program subscriber at, a house
    (cluster-service keys only, with an audited reason). A house's relations come from the
    evidence it owns (sales, engine customers, memberships) through the sync and the file
    import; no key of a house may create visibility for itself (403, whatever the person)."""
    RelationService(ctx.uow).touch(
        ctx.actor,
        person_id,
        body.house,
        body.kind,
        reason=body.reason,
        reference=body.reference,
        program=body.program,
        seen_at=body.seen_at,
    )


@router.patch("/{person_id}", response_model=PersonUpdated, responses=errors_for(404, 409))
def update_person(ctx: Context, person_id: uuid.UUID, body: PersonUpdate) -> PersonUpdated:
    version = PeopleService(ctx.uow).update(ctx.actor, person_id, body.model_dump(exclude_unset=True))
    return PersonUpdated(id=person_id, row_version=version)


@router.post("/{person_id}/erase", response_model=Erased, responses=errors_for(404))
def erase_person(ctx: Context, person_id: uuid.UUID, body: ErasureRequest | None = None) -> Erased:
    erased_now = PeopleService(ctx.uow).erase(ctx.actor, person_id, reference=body.reference if body else None)
    return Erased(id=person_id, status=PersonStatus.ERASED, erased_now=erased_now)


@router.post("/{person_id}/restriction", response_model=Restriction, responses=errors_for(404))
def restrict_person(ctx: Context, person_id: uuid.UUID, body: RestrictionRequest | None = None) -> Restriction:
    """Restrict processing (GDPR Art. 18): the person is kept but visible to no house and archived
    at every destination. Restricting a restricted person changes nothing (``changed: false``);
    an erased person cannot be restricted (404 ErasedPerson)."""
    changed = PeopleService(ctx.uow).restrict(ctx.actor, person_id, reference=body.reference if body else None)
    return Restriction(id=person_id, status=PersonStatus.RESTRICTED, changed=changed)


@router.delete("/{person_id}/restriction", response_model=Restriction, responses=errors_for(404))
def lift_restriction(ctx: Context, person_id: uuid.UUID, body: RestrictionRequest | None = None) -> Restriction:
    """Lift a restriction: visibility follows the person's relations and consents again and
    destinations receive their current state. Lifting when there is no restriction changes
    nothing (``changed: false``)."""
    changed = PeopleService(ctx.uow).lift_restriction(ctx.actor, person_id, reference=body.reference if body else None)
    return Restriction(id=person_id, status=PersonStatus.ACTIVE, changed=changed)
