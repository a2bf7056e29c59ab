"""Counts that reveal no individual, and exports that reveal only what the purpose allows.

A filter is a read (``_readable``): every filter of a definition needs the field group it reads
from the caller's grant. Counts and breakdown cells are protected figures
(``consent_hub/counts``: fresh discrete Laplace noise, a stored answer per question and day, a
privacy budget per house and month; the guarantee is in docs/count-privacy.md). Exact numbers
appear only in an export, an audited snapshot of consented, visible members, which only a role
that may contact them makes.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consent_hub.access.policy import Compiled, fields_of
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.audiences.auth import require_bitmap_maintainer
from consent_hub.audiences.bitmaps import SegmentBitmaps
from consent_hub.audiences.repository import AudienceRepository
from consent_hub.audiences.schemas import PURCHASES, SegmentDefinition
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.counts.service import ProtectedCounts
from consent_hub.crypto.blind_index import LANGUAGE_INDEX, POSTAL_AREA_INDEX
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import FilterNotAllowed, Forbidden, InvalidInput, SegmentNameTaken, SegmentNotFound
from consent_hub.outbox.service import OutboxService
from consent_hub.people.service import PeopleService, PersonView
from consent_hub.storage.models import AudienceExport, Person, Segment
from consent_hub.validation import parse

MAX_BREAKDOWN_CELLS = 36  # each cell is a figure paid for from the house's budget
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value: str | None) -> str:
    """A cell that a spreadsheet will show as text, never run as a formula."""
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_START) else value


@dataclass
class ExportResult:
    export: AudienceExport
    content: bytes | None
    media_type: str | None


class AudienceService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = AudienceRepository(uow.session)
        self.access = AccessService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)

    def _person_filters(self, definition: SegmentDefinition) -> list[Any]:
        """Language and postal area match through coarse keyed indexes (the values stay encrypted)."""
        indexer = self.uow.rt.indexer
        f = definition.filters
        out: list[Any] = []
        if f.languages:
            out.append(Person.language_bidx.in_([indexer.index(LANGUAGE_INDEX, lang) for lang in f.languages]))
        if f.postal_areas:
            areas = [a if ":" in a else f"BE:{a}" for a in f.postal_areas]
            out.append(Person.postal_area_bidx.in_([indexer.index(POSTAL_AREA_INDEX, a) for a in areas]))
        return out

    @staticmethod
    def _house_caller(actor: Actor) -> str:
        if not actor.house:
            raise Forbidden("audiences belong to a house: use a key of a house")
        return actor.house

    def _readable(
        self, actor: Actor, compiled: Compiled, definition: SegmentDefinition, breakdown: str | None = None
    ) -> SegmentDefinition:
        """A filter is a read. Each filter the definition sets reads a field group (declared with
        the filter in ``SegmentFilters``); the caller's grant must give that group for the purpose,
        through every basis it reaches people by (``AccessService.common_groups``, compiled from the
        policy), or the question is refused naming the filter. A segment selects buyers by their
        ticket lines, so it reads purchases even with no filter: with ``purchases-cluster`` the
        lines of every house, with ``purchases-house`` only those of the caller's own house (the
        definition is narrowed to it, and naming another house is refused). Returns the
        definition as it is answered."""
        house = self._house_caller(actor)
        purpose = definition.purpose
        groups = self.access.common_groups(compiled, purpose)

        def refuse(what: str, group: str) -> FilterNotAllowed:
            return FilterNotAllowed(
                f"{what} reads the {group!r} field group, "
                f"which role {actor.role!r} is not given for purpose {purpose!r}"
            )

        used = definition.filters.used()
        for name, reads in used.items():
            if reads != PURCHASES and reads not in groups:
                raise refuse(f"filter {name!r}", reads)
        if "purchases-cluster" in groups:
            return definition
        if "purchases-house" not in groups:
            first = next((n for n, r in used.items() if r == PURCHASES), None)
            raise refuse(
                f"filter {first!r}" if first else "a segment (buyers selected by their ticket lines)", "purchases-house"
            )
        if any(h != house for h in definition.filters.houses):
            raise refuse("filter 'houses' (purchases at another house)", "purchases-cluster")
        if breakdown == "house":
            raise refuse("the breakdown by house", "purchases-cluster")
        own_house_lines = definition.filters.model_copy(update={"houses": [house]})
        return definition.model_copy(update={"filters": own_house_lines})

    # -- protected figures -----------------------------------------------------------------------
    def count(
        self, actor: Actor, data: SegmentDefinition | dict[str, Any], breakdown: str | None = None
    ) -> dict[str, Any]:
        """Protected figures (``counts/service.py``): the total and, with a breakdown, one figure
        per cell of a domain that comes from the houses and events of the cluster (public data),
        never from who bought, so a cell's presence says nothing about anyone."""
        definition = parse(SegmentDefinition, data)
        house = self._house_caller(actor)
        compiled, scope = self.access.grant(actor, definition.purpose)
        definition = self._readable(actor, compiled, definition, breakdown)
        person = self._person_filters(definition)
        truths: dict[str, int] = {}
        if breakdown is None:
            truths["total"] = self.repo.count(definition.filters, compiled.bases, scope, person)
        else:
            domain = self.repo.breakdown_domain(definition.filters, breakdown)
            if len(domain) > MAX_BREAKDOWN_CELLS:
                raise InvalidInput(
                    [
                        {
                            "field": "breakdown",
                            "problem": f"{len(domain)} cells, at most {MAX_BREAKDOWN_CELLS}: "
                            "narrow the performance dates, event types or houses",
                            "type": "value_error",
                        }
                    ]
                )
            truths["total"], cells = self.repo.count_with_breakdown(
                definition.filters, compiled.bases, scope, breakdown, person
            )
            truths.update({f"{breakdown}:{cell}": cells.get(cell, 0) for cell in domain})
        figures = ProtectedCounts(self.uow)
        question = f"segment|{actor.role}|{definition.canonical()}"
        shown = figures.show(house, question, truths)
        out: dict[str, Any] = {"count": shown.figures["total"], "breakdown": None, "noise": figures.protection()}
        if breakdown is not None:
            prefix = f"{breakdown}:"
            out["breakdown"] = {
                cell.removeprefix(prefix): value for cell, value in sorted(shown.figures.items()) if cell != "total"
            }
        self.audit.append(
            actor,
            AuditRecord(
                "audience.count",
                purpose=definition.purpose,
                detail={
                    "definition": json.loads(definition.canonical()),
                    "breakdown": breakdown,
                    "bases": compiled.bases,
                    "fresh_figures": shown.fresh,
                    "epsilon": shown.epsilon_spent,
                    "budget_left": shown.budget_left,
                },
            ),
        )
        return out

    # -- saved segments --------------------------------------------------------------------------
    def refresh_bitmaps(self, actor: Actor, *, everything: bool = False) -> int:
        """Rebuild the segment bitmaps of the events whose ticket lines changed, or (``everything``)
        all of them and the access-key bitmaps too, after a load that bypassed the triggers
        (PostgreSQL; a no-op on SQLite). Returns how many (event, house) bitmaps were rebuilt.
        They hold ordinals and ids only: no personal data is read, nothing is audited."""
        require_bitmap_maintainer(actor)
        bitmaps = SegmentBitmaps(self.uow.session)
        if not bitmaps.available:
            return 0
        return bitmaps.rebuild_all() if everything else bitmaps.refresh()

    def save(self, actor: Actor, data: SegmentDefinition | dict[str, Any]) -> Segment:
        definition = parse(SegmentDefinition, data)
        house = self._house_caller(actor)
        compiled, _ = self.access.grant(actor, definition.purpose)
        self._readable(actor, compiled, definition)  # only a caller who may count it may save it
        if self.repo.segment_named(house, definition.name) is not None:
            raise SegmentNameTaken(f"house {house!r} already has a segment named {definition.name!r}")
        now = utcnow()
        segment = Segment(
            id=new_uuid(),
            house=house,
            name=definition.name,
            purpose=definition.purpose,
            definition=definition.model_dump_json(),
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        self.repo.add_segment(segment)
        self.audit.append(
            actor, AuditRecord("audience.segment.save", purpose=definition.purpose, detail={"segment": str(segment.id)})
        )
        return segment

    def segments(self, actor: Actor) -> Sequence[Segment]:
        return self.repo.segments_of(self._house_caller(actor))

    def segment(self, actor: Actor, segment_id: uuid.UUID) -> tuple[Segment, SegmentDefinition]:
        segment = self.repo.segment(segment_id)
        if segment is None or segment.house != self._house_caller(actor):
            raise SegmentNotFound("no such segment")
        return segment, SegmentDefinition.model_validate_json(segment.definition)

    # -- exports ---------------------------------------------------------------------------------
    def export(
        self,
        actor: Actor,
        data: SegmentDefinition | dict[str, Any],
        *,
        fmt: str,
        destination: str | None = None,
        segment_id: uuid.UUID | None = None,
    ) -> ExportResult:
        """An audited snapshot of the visible, consented members, decrypted for the purpose's
        fields only (the fields every basis of the grant allows, within the purpose's groups)."""
        definition = parse(SegmentDefinition, data)
        house = self._house_caller(actor)
        if fmt == "destination":
            self._check_destination(house, definition.purpose, destination)
        compiled, scope = self.access.grant(actor, definition.purpose)
        definition = self._readable(actor, compiled, definition)
        fields = self._contact_fields(compiled, definition.purpose)
        export = AudienceExport(
            id=new_uuid(),
            segment_id=segment_id,
            house=house,
            purpose=definition.purpose,
            definition=definition.canonical(),
            actor=actor.id,
            destination=destination if fmt == "destination" else fmt,
            fields=json.dumps(fields),
            member_count=0,
            created_at=utcnow(),
        )
        members = self.repo.snapshot_members(
            export,
            definition.filters,
            compiled.bases,
            scope,
            definition.purpose,
            house,
            self._person_filters(definition),
        )
        export.member_count = len(members)
        detail = {
            "export": str(export.id),
            "destination": export.destination,
            "count": len(members),
            "bases": compiled.bases,
        }
        if fmt == "destination" or not members:
            # nothing is decrypted here (the outbox decrypts at send time, under an entry of its own)
            self.audit.append(
                actor, AuditRecord("audience.export", members, fields, purpose=definition.purpose, detail=detail)
            )
        if fmt == "destination":
            assert destination is not None
            OutboxService(self.uow).export_members(destination, members, str(export.id))
            return ExportResult(export, None, None)
        # otherwise the snapshot and its decryption are one audit entry, appended before any key is unwrapped
        views = PeopleService(self.uow).read_members(
            actor, members, purpose=definition.purpose, fields=fields, action="audience.export", detail=detail
        )
        return _file(export, fmt, fields, views)

    def _check_destination(self, house: str, purpose: str, destination: str | None) -> None:
        configured = self.uow.rt.settings.cluster(self.uow.cluster).destinations
        target = configured.get(destination or "")
        if target is None:
            raise InvalidInput([{"field": "destination", "problem": "unknown destination", "type": "value_error"}])
        if target.house != house or target.purpose != purpose:
            raise Forbidden("this destination serves another house or purpose")

    def _contact_fields(self, compiled: Compiled, purpose: str) -> list[str]:
        groups = self.access.common_groups(compiled, purpose)
        if "contact" not in groups:
            # an export is a contact list with its exact size: a role that may not contact the
            # people (an analyst) gets protected counts only
            raise Forbidden(f"purpose {purpose!r} gives this role no contact fields to export")
        return [f for f in fields_of(groups) if f]


def _file(export: AudienceExport, fmt: str, fields: list[str], views: Sequence[PersonView]) -> ExportResult:
    """The decrypted members as a CSV or an XLSX file (text cells only)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(fields)
        writer.writerows([as_text_cell(v.fields.get(f)) for f in fields] for v in views)
        return ExportResult(export, buffer.getvalue().encode("utf-8"), "text/csv; charset=utf-8")
    return ExportResult(
        export,
        _xlsx(fields, [[v.fields.get(f) for f in fields] for v in views]),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _xlsx(header: list[str], rows: list[list[str | None]]) -> bytes:
    """Every cell is a text cell: openpyxl would store a string starting with '=' as a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("audience")
    sheet.append(header)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value or "")
            cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
