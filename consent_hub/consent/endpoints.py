"""Purposes, notices and a person's consents over HTTP."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status
from fastapi.responses import JSONResponse

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.consent.schemas import (
    ConsentEventOut,
    ConsentRecord,
    ConsentStateOut,
    Language,
    NoticeOut,
    PurposeOut,
)
from consent_hub.consent.service import ConsentService

purposes_router = APIRouter(prefix="/purposes", tags=["consent"])
# every consent route names a person: 404 for one the caller may not see as for a random id
consents_router = APIRouter(prefix="/people/{person_id}/consents", tags=["consent"], responses=errors_for(403, 404))


@purposes_router.get("", response_model=list[PurposeOut])
def list_purposes(ctx: Context) -> list[PurposeOut]:
    return [
        PurposeOut(
            key=p.key,
            legal_basis=p.legal_basis,
            scope=p.scope,
            target_kind=p.target_kind,
            field_groups=list(p.field_groups),
            retention=p.retention,
            consent_validity=p.consent_validity,
            recipients=list(p.recipients),
            pseudonymised=p.pseudonymised,
            dpv_purpose=p.dpv.purpose,
            dpv_legal_basis=p.dpv.legal_basis,
            titles={lang: t.title for lang, t in p.texts.items()},
        )
        for p in load_catalogue().purposes
    ]


@purposes_router.get("/{purpose}/notices/{language}", response_model=NoticeOut, responses=errors_for(404))
def current_notice(ctx: Context, purpose: str, language: Language) -> NoticeOut:
    n = ConsentService(ctx.uow).current_notice(purpose, language)
    return NoticeOut(
        purpose=n.purpose,
        language=n.language,
        version=n.version,
        title=n.title,
        text=n.text,
        sha256=n.sha256,
        published_at=n.published_at,
    )


@consents_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=ConsentEventOut, responses=errors_for(409)
)
def record_consent(
    ctx: Context,
    person_id: uuid.UUID,
    body: ConsentRecord,
    response: Response,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ConsentEventOut:
    event, created = ConsentService(ctx.uow).record(ctx.actor, person_id, body, idempotency_key=idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ConsentEventOut.of(event)


@consents_router.get("", response_model=list[ConsentStateOut])
def current_consents(ctx: Context, person_id: uuid.UUID) -> list[ConsentStateOut]:
    return [
        ConsentStateOut(
            purpose=v.state.purpose,
            target_kind=v.state.target_kind,
            target=v.state.target_ref,
            status=v.effective_status,
            oslo_status=v.oslo_status,
            event_id=v.state.event_id,
            given_at=v.state.given_at,
            expires_at=v.state.expires_at,
        )
        for v in ConsentService(ctx.uow).current(ctx.actor, person_id)
    ]


@consents_router.get("/history", response_model=list[ConsentEventOut])
def consent_history(ctx: Context, person_id: uuid.UUID) -> list[ConsentEventOut]:
    return [ConsentEventOut.of(e) for e in ConsentService(ctx.uow).history(ctx.actor, person_id)]


@consents_router.get("/oslo", responses={200: {"content": {"application/ld+json": {}}}})
def consents_as_oslo(ctx: Context, person_id: uuid.UUID) -> JSONResponse:
    doc: dict[str, Any] = ConsentService(ctx.uow).oslo_jsonld(ctx.actor, person_id)
    return JSONResponse(doc, media_type="application/ld+json")
