from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict

from consent_hub.storage.models import AudienceExport, Segment
from consent_hub.validation import SafeText

Slug = Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")]
UitTerm = Annotated[str, Field(pattern=r"^\d+(?:\.\d+){4}$", description="UiT taxonomy term, e.g. 0.54.0.0.0")]
Label = Annotated[SafeText, Field(min_length=1, max_length=80)]


PURCHASES = "purchases"  # purchases-house for the caller's own house's lines, purchases-cluster for any house's


def _reads(what: str) -> JsonDict:
    """What a filter reads: a field group of the policy, or PURCHASES. A filter is a read: the
    caller's grant must give that group for the purpose (``AudienceService._readable``)."""
    return {"x-reads": what}


class SegmentFilters(BaseModel):
    """Purchase-history filters; every one optional. A buyer matches when their ticket lines that
    pass the line filters (houses, event types, categories, dates, ticket types, programs) also
    pass the per-buyer ones (visits, spend, first / last visit). Each filter declares the field
    group it reads (``x-reads`` in the schema)."""

    model_config = ConfigDict(extra="forbid")

    houses: list[Slug] = Field(default_factory=list, max_length=50, json_schema_extra=_reads(PURCHASES))
    uit_event_types: list[UitTerm] = Field(default_factory=list, max_length=50, json_schema_extra=_reads(PURCHASES))
    uit_themes: list[UitTerm] = Field(
        default_factory=list,
        max_length=50,
        description="UiT theme terms, e.g. 1.9.2.0.0 Moderne dans (events classified from a UiTdatabank listing)",
        json_schema_extra=_reads(PURCHASES),
    )
    categories: list[Label] = Field(default_factory=list, max_length=50, json_schema_extra=_reads(PURCHASES))
    ticket_types: list[Label] = Field(default_factory=list, max_length=50, json_schema_extra=_reads(PURCHASES))
    programs: list[Slug] = Field(
        default_factory=list, max_length=20, description="subscription tickets", json_schema_extra=_reads(PURCHASES)
    )
    performance_from: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    performance_to: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    bought_from: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    bought_to: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    # a visit is a performance attended (an event with tickets left after returns); first / last
    # visit and the month breakdown go by the performance's date, bought_from / bought_to by purchase
    min_visits: int | None = Field(default=None, ge=1, le=10_000, json_schema_extra=_reads(PURCHASES))
    max_visits: int | None = Field(default=None, ge=1, le=10_000, json_schema_extra=_reads(PURCHASES))
    min_spend_cents: int | None = Field(default=None, ge=0, json_schema_extra=_reads(PURCHASES))
    max_spend_cents: int | None = Field(default=None, ge=0, json_schema_extra=_reads(PURCHASES))
    first_visit_after: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    last_visit_after: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    last_visit_before: dt.date | None = Field(default=None, json_schema_extra=_reads(PURCHASES))
    languages: list[Literal["nl", "fr", "en", "de"]] = Field(
        default_factory=list, max_length=4, json_schema_extra=_reads("identity")
    )
    postal_areas: list[Annotated[str, Field(pattern=r"^(?:[A-Z]{2}:)?[0-9A-Z]{2}$")]] = Field(
        default_factory=list,
        max_length=100,
        description="first two characters of the postal code, e.g. 85 or NL:10",
        json_schema_extra=_reads("address"),
    )

    @field_validator(
        "houses", "uit_event_types", "uit_themes", "categories", "ticket_types", "programs", "languages", "postal_areas"
    )
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))  # one canonical form: equal definitions get equal answers

    def used(self) -> dict[str, str]:
        """The filters this definition sets, each with what it reads."""
        return {name: FILTER_READS[name] for name in type(self).model_fields if getattr(self, name) not in (None, [])}


def _declared_reads() -> dict[str, str]:
    reads: dict[str, str] = {}
    for name, field in SegmentFilters.model_fields.items():
        extra = field.json_schema_extra
        if not isinstance(extra, dict) or not isinstance(extra.get("x-reads"), str):
            raise TypeError(f"segment filter {name!r} does not declare what it reads")
        reads[name] = str(extra["x-reads"])
    return reads


FILTER_READS: dict[str, str] = _declared_reads()


class SegmentDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[SafeText, Field(min_length=1, max_length=120)]
    purpose: Slug
    filters: SegmentFilters = Field(default_factory=SegmentFilters)

    def canonical(self) -> str:
        body = {"purpose": self.purpose, "filters": self.filters.model_dump(mode="json", exclude_defaults=True)}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))


class CountQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: SegmentDefinition
    breakdown: Literal["house", "event_type", "month"] | None = None


class CountOut(BaseModel):
    count: int | str = Field(description='noisy count, or "<10" below the minimum cohort')
    breakdown: dict[str, int | str] | None = None
    minimum_cohort: int
    noise: str = Field(description="how the figures are protected (docs/count-privacy.md)")


class SegmentOut(BaseModel):
    id: uuid.UUID
    house: str
    name: str
    purpose: str
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, s: Segment) -> SegmentOut:
        return cls(
            id=s.id,
            house=s.house,
            name=s.name,
            purpose=s.purpose,
            definition=json.loads(s.definition),
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "xlsx", "destination"]
    destination: Slug | None = None


class ExportOut(BaseModel):
    id: uuid.UUID
    purpose: str
    destination: str
    fields: list[str]
    member_count: int
    created_at: dt.datetime

    @classmethod
    def of(cls, e: AudienceExport) -> ExportOut:
        return cls(
            id=e.id,
            purpose=e.purpose,
            destination=e.destination,
            fields=json.loads(e.fields),
            member_count=e.member_count,
            created_at=e.created_at,
        )
