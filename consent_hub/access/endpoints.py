"""Reading people over HTTP, through the visibility rules: lookups, counts, reads, explanations
and the relations that create visibility. E-mail lookups are POST so that no address ever appears
in a URL or an access log; every read names its purpose. The routes share the ``/people`` prefix
and tag with people/endpoints (which writes people): the app includes this router first so that
``/lookup`` and ``/count`` come before ``/{person_id}``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from consent_hub.access.service import AccessService, RelationService, VisiblePerson
from consent_hub.api.context import Context
from consent_hub.api.errors import error_body, errors_for
from consent_hub.people.schemas import PURPOSE_PATTERN, ExplainOut, LookupRequest, PeopleCount, PersonOut, RelationIn

router = APIRouter(prefix="/people", tags=["people"], responses=errors_for(403))


def _visible_out(found: VisiblePerson) -> PersonOut:
    view = found.view
    return PersonOut(
        id=view.id,
        status=view.status,
        row_version=view.row_version,
        created_at=view.created_at,
        updated_at=view.updated_at,
        fields=view.fields,
        field_groups=found.field_groups,
        bases=found.bases,
    )


def _fields(fields: str | None) -> list[str] | None:
    return None if fields is None else [f.strip() for f in fields.split(",") if f.strip()]


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
