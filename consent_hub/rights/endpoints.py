"""The data-subject requests over HTTP: erasure, restriction of processing and its lift. The
routes share the ``/people`` prefix and tag with people/endpoints."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.people.schemas import Erased, ErasureRequest, Restriction, RestrictionRequest
from consent_hub.rights.service import RightsService
from consent_hub.vocabulary import PersonStatus

router = APIRouter(prefix="/people", tags=["people"], responses=errors_for(403))


@router.post("/{person_id}/erase", response_model=Erased, responses=errors_for(404))
def erase_person(ctx: Context, person_id: uuid.UUID, body: ErasureRequest | None = None) -> Erased:
    erased_now = RightsService(ctx.uow).erase(ctx.actor, person_id, reference=body.reference if body else None)
    return Erased(id=person_id, status=PersonStatus.ERASED, erased_now=erased_now)


@router.post("/{person_id}/restriction", response_model=Restriction, responses=errors_for(404))
def restrict_person(ctx: Context, person_id: uuid.UUID, body: RestrictionRequest | None = None) -> Restriction:
    """Restrict processing (GDPR Art. 18): the person is kept but visible to no house and archived
    at every destination. Restricting a restricted person changes nothing (``changed: false``);
    an erased person cannot be restricted (404 ErasedPerson)."""
    changed = RightsService(ctx.uow).restrict(ctx.actor, person_id, reference=body.reference if body else None)
    return Restriction(id=person_id, status=PersonStatus.RESTRICTED, changed=changed)


@router.delete("/{person_id}/restriction", response_model=Restriction, responses=errors_for(404))
def lift_restriction(ctx: Context, person_id: uuid.UUID, body: RestrictionRequest | None = None) -> Restriction:
    """Lift a restriction: visibility follows the person's relations and consents again and
    destinations receive their current state. Lifting when there is no restriction changes
    nothing (``changed: false``)."""
    changed = RightsService(ctx.uow).lift_restriction(ctx.actor, person_id, reference=body.reference if body else None)
    return Restriction(id=person_id, status=PersonStatus.ACTIVE, changed=changed)
