"""Segments, protected counts and audited exports of a house's consented audience."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from consent_hub.api.context import Context
from consent_hub.api.errors import errors_for
from consent_hub.audiences.schemas import CountOut, CountQuery, ExportOut, ExportRequest, SegmentDefinition, SegmentOut
from consent_hub.audiences.service import AudienceService
from consent_hub.counts.service import MIN_COHORT

router = APIRouter(prefix="/segments", tags=["audiences"], responses=errors_for(403))


def _count_out(result: dict[str, object]) -> CountOut:
    return CountOut(
        count=result["count"],
        breakdown=result["breakdown"],
        minimum_cohort=MIN_COHORT,
        noise=str(result["noise"]),
    )


@router.post("/count", response_model=CountOut, responses=errors_for(429))
def count(ctx: Context, body: CountQuery) -> CountOut:
    """A protected count of an unsaved definition (see CountOut.noise); never an exact figure.
    A fresh figure costs from the house's privacy budget (429 once it is spent for the month)."""
    return _count_out(AudienceService(ctx.uow).count(ctx.actor, body.definition, body.breakdown))


@router.post("", response_model=SegmentOut, status_code=201, responses=errors_for(409))
def save(ctx: Context, body: SegmentDefinition) -> SegmentOut:
    return SegmentOut.of(AudienceService(ctx.uow).save(ctx.actor, body))


@router.get("", response_model=list[SegmentOut])
def list_segments(ctx: Context) -> list[SegmentOut]:
    return [SegmentOut.of(s) for s in AudienceService(ctx.uow).segments(ctx.actor)]


@router.get("/{segment_id}/count", response_model=CountOut, responses=errors_for(404, 429))
def count_saved(
    ctx: Context,
    segment_id: uuid.UUID,
    breakdown: Annotated[Literal["house", "event_type", "month"] | None, Query()] = None,
) -> CountOut:
    service = AudienceService(ctx.uow)
    _, definition = service.segment(ctx.actor, segment_id)
    return _count_out(service.count(ctx.actor, definition, breakdown))


@router.post(
    "/{segment_id}/exports",
    response_model=ExportOut,
    responses={
        200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
        **errors_for(404),
    },
)
def export(ctx: Context, segment_id: uuid.UUID, body: ExportRequest) -> Response | ExportOut:
    """An audited snapshot: a CSV / XLSX download (cells never become formulas) or a push to a
    destination through the outbox (consent re-checked at send time)."""
    service = AudienceService(ctx.uow)
    segment, definition = service.segment(ctx.actor, segment_id)
    result = service.export(ctx.actor, definition, fmt=body.format, destination=body.destination, segment_id=segment.id)
    if result.content is None:
        return ExportOut.of(result.export)
    suffix = "csv" if body.format == "csv" else "xlsx"
    return Response(
        result.content,
        media_type=result.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="audience-{result.export.id}.{suffix}"',
            "X-Export-Id": str(result.export.id),
        },
    )
