from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from consent_hub.errors import FieldProblem
from consent_hub.people.fields import PersonFields

PURPOSE_PATTERN = r"^[a-z][a-z0-9-]{1,79}$"
# why a cluster-level writer records a relation by hand (the sync and the import need none)
RelationReason = Literal["box-office-correction", "registration", "data-migration", "engine-outage"]


class PersonCreate(PersonFields):
    """Personal fields of a new person."""


class PersonUpdate(PersonFields):
    """The fields to replace; a field given as null is cleared, one left out is kept."""


# A bulk row is validated by the service, row by row, so that ``skip_invalid`` can report each bad
# row instead of refusing the request; the document still shows what a row holds.
PersonRow = Annotated[dict[str, object], WithJsonSchema(PersonFields.model_json_schema())]


class PersonOut(BaseModel):
    id: uuid.UUID
    status: str
    row_version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    fields: dict[str, str | None] = Field(description="only the fields the caller may see (and asked for)")
    field_groups: list[str] | None = Field(default=None, description="field groups the caller's access grants")
    bases: list[str] | None = Field(default=None, description="relations and consents through which it is visible")


class PeopleCount(BaseModel):
    purpose: str
    count: int | str = Field(
        description='a protected figure for a house\'s callers (or "<10"); exact for cluster-level ones'
    )
    protection: str = Field(description="how the figure is protected (docs/count-privacy.md)")


class ExplainOut(BaseModel):
    visible: bool
    purpose: str
    field_groups: list[str]
    reasons: list[dict[str, object]]


class RelationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    house: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
    kind: str = Field(pattern=r"^(customer|subscriber)$")
    program: str = Field(default="", pattern=r"^([a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?)?$")
    seen_at: dt.datetime | None = None
    reason: RelationReason = Field(
        description="why the relation is recorded by hand (audited); a house's own relations come from its sales"
    )
    reference: str | None = Field(
        default=None, description="a request register or ticket reference (letters, digits, . _ : / -)"
    )


class PersonCreated(BaseModel):
    id: uuid.UUID


class PersonUpdated(BaseModel):
    id: uuid.UUID
    row_version: int


class LookupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    purpose: str = Field(pattern=PURPOSE_PATTERN)
    fields: list[str] | None = None


class BulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[PersonRow] = Field(min_length=1, max_length=1000)
    skip_invalid: bool = Field(
        default=False,
        description="false: one invalid row refuses the request (422 InvalidInput, each problem's field starting "
        "with the row's index); true: the valid rows are created and `invalid` lists the others' problems",
    )


class BulkCreated(BaseModel):
    created: list[uuid.UUID]
    duplicates: dict[str, uuid.UUID | None]
    invalid: dict[str, list[FieldProblem]] = Field(description="row index -> its problems (as in a 422)")


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(
        default=None,
        max_length=80,
        description="request register reference, no personal data (checked by validation.reference_detail, "
        "the one rule for every path)",
    )


class RestrictionRequest(ErasureRequest):
    """The same body as an erasure request: a request register reference."""


class Restriction(BaseModel):
    id: uuid.UUID
    status: str = Field(description="restricted, or active once lifted")
    changed: bool = Field(description="false when the person already was in that state (the call is idempotent)")


class Erased(BaseModel):
    id: uuid.UUID
    status: str
    erased_now: bool
