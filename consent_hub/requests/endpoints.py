"""The request desk over HTTP (``/v1/requests``): register a request received outside the buyer's
pages, the register with its overdue and due-soon lists, and each step of handling one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.requests.schemas import (
    ExtensionIn,
    NoteIn,
    RefusalIn,
    RequestAccepted,
    RequestIn,
    RequestOut,
    SignOffIn,
)
from consent_hub.requests.service import RequestsService

router = APIRouter(prefix="/requests", tags=["requests"], responses=errors_for(403, 422))
Reference = Annotated[str, Path(pattern=r"^DSR-[A-Z0-9]{4}-[A-Z0-9]{4}$", description="the register reference")]


@router.post(
    "",
    response_model=RequestOut,
    status_code=201,
    responses={**errors_for(404), 202: {"model": RequestAccepted, "description": "registered if the person exists"}},
)
def register_request(ctx: Context, body: RequestIn) -> RequestOut | JSONResponse:
    """Register a request received by mail, at the counter or from another system: due in one
    month on the cluster's calendar, routed to every controller house, a receipt mailed. A house's
    key gets 202 when the address is unknown or the person is not its house's (the same answer)."""
    view = RequestsService(ctx.uow).register(
        ctx.actor,
        kind=body.kind,
        channel=body.channel,
        email=str(body.email) if body.email else None,
        person_id=body.person_id,
        house=body.house,
        detail=body.detail(),
        verified_note=body.verified_note,
        language=body.language,
    )
    if view is None:
        return JSONResponse(status_code=202, content=RequestAccepted().model_dump())
    return RequestOut.of(view)


@router.get("", response_model=list[RequestOut])
def list_requests(
    ctx: Context,
    status: Annotated[str | None, Query(max_length=24)] = None,
    due: Annotated[Literal["overdue", "soon"] | None, Query(description="overdue, or due within 7 days")] = None,
    kind: Annotated[str | None, Query(max_length=24)] = None,
    include_closed: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[RequestOut]:
    """The register, soonest deadline first (open requests unless a status or ``include_closed``)."""
    views = RequestsService(ctx.uow).queue(
        ctx.actor, status=status, due=due, kind=kind, limit=limit, offset=offset, include_closed=include_closed
    )
    return [RequestOut.of(v) for v in views]


@router.get("/{reference}", response_model=RequestOut, responses=errors_for(404))
def get_request(ctx: Context, reference: Reference) -> RequestOut:
    return RequestOut.of(RequestsService(ctx.uow).get(ctx.actor, reference))


@router.post("/{reference}/verify", response_model=RequestOut, responses=errors_for(404, 409))
def verify_request(ctx: Context, reference: Reference, body: NoteIn) -> RequestOut:
    return RequestOut.of(RequestsService(ctx.uow).verify(ctx.actor, reference, note=body.note))


@router.post("/{reference}/start", response_model=RequestOut, responses=errors_for(404, 409))
def start_request(ctx: Context, reference: Reference) -> RequestOut:
    return RequestOut.of(RequestsService(ctx.uow).start(ctx.actor, reference))


@router.post("/{reference}/extend", response_model=RequestOut, responses=errors_for(404, 409))
def extend_request(ctx: Context, reference: Reference, body: ExtensionIn) -> RequestOut:
    """Extend by one or two months (Art. 12(3)), before the first month ends; the reason is mailed."""
    return RequestOut.of(RequestsService(ctx.uow).extend(ctx.actor, reference, months=body.months, reason=body.reason))


@router.post("/{reference}/execute", response_model=RequestOut, responses=errors_for(404, 409))
def execute_request(ctx: Context, reference: Reference) -> RequestOut:
    """Carry the request out through the hub's path for its kind (erasure, restriction,
    rectification, objection; access and portability: the package on the person's own pages)."""
    return RequestOut.of(RequestsService(ctx.uow).execute(ctx.actor, reference))


@router.post("/{reference}/sign-off", response_model=RequestOut, responses=errors_for(404, 409))
def sign_off_request(ctx: Context, reference: Reference, body: SignOffIn) -> RequestOut:
    return RequestOut.of(RequestsService(ctx.uow).sign_off(ctx.actor, reference, house=body.house, note=body.note))


@router.post("/{reference}/refuse", response_model=RequestOut, responses=errors_for(404, 409))
def refuse_request(ctx: Context, reference: Reference, body: RefusalIn) -> RequestOut:
    """Refuse with the reason; the person is mailed it with their right to complain (Art. 12(4))."""
    return RequestOut.of(RequestsService(ctx.uow).refuse(ctx.actor, reference, reason=body.reason))
