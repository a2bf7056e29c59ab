from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from consent_hub.validation import SafeText

Slug = Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")]
UitTerm = Annotated[str, Field(pattern=r"^\d+(?:\.\d+){4}$", description="UiT taxonomy term, e.g. 0.54.0.0.0")]
Label = Annotated[SafeText, Field(min_length=1, max_length=80)]


class SegmentFilters(BaseModel):
    """Purchase-history filters; every one optional. A buyer matches when their ticket lines that
    pass the line filters (houses, event types, categories, dates, ticket types, programs) also
    pass the per-buyer ones (visits, spend, first / last visit)."""

    model_config = ConfigDict(extra="forbid")

    houses: list[Slug] = Field(default_factory=list, max_length=50)
    uit_event_types: list[UitTerm] = Field(default_factory=list, max_length=50)
    uit_themes: list[UitTerm] = Field(
        default_factory=list,
        max_length=50,
        description="UiT theme terms, e.g. 1.9.2.0.0 Moderne dans (events classified from a UiTdatabank listing)",
    )
    categories: list[Label] = Field(default_factory=list, max_length=50)
    ticket_types: list[Label] = Field(default_factory=list, max_length=50)
    programs: list[Slug] = Field(default_factory=list, max_length=20, description="subscription tickets")
    performance_from: dt.date | None = None
    performance_to: dt.date | None = None
    bought_from: dt.date | None = None
    bought_to: dt.date | None = None
    # a visit is a performance attended (an event with tickets left after returns); first / last
    # visit and the month breakdown go by the performance's date, bought_from / bought_to by purchase
    min_visits: int | None = Field(default=None, ge=1, le=10_000)
    max_visits: int | None = Field(default=None, ge=1, le=10_000)
    min_spend_cents: int | None = Field(default=None, ge=0)
    max_spend_cents: int | None = Field(default=None, ge=0)
    first_visit_after: dt.date | None = None
    last_visit_after: dt.date | None = None
    last_visit_before: dt.date | None = None
    languages: list[Literal["nl", "fr", "en", "de"]] = Field(default_factory=list, max_length=4)
    postal_areas: list[Annotated[str, Field(pattern=r"^(?:[A-Z]{2}:)?[0-9A-Z]{2}$")]] = Field(
        default_factory=list, max_length=100, description="first two characters of the postal code, e.g. 85 or NL:10"
    )

    @field_validator(
        "houses", "uit_event_types", "uit_themes", "categories", "ticket_types", "programs", "languages", "postal_areas"
    )
    @classmethod
    def _sorted(cls, value: list[str]) -> list[str]:
        return sorted(set(value))  # one canonical form: equal definitions get equal noise


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
    noise: str = Field(description="how the figures are protected")


class SegmentOut(BaseModel):
    id: uuid.UUID
    house: str
    name: str
    purpose: str
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


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
