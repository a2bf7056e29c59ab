"""Counts that reveal no individual, and exports that reveal only what the purpose allows.

Counts and breakdown cells are protected twice:

1. **Minimum cohort.** A figure whose true value is below ``MIN_COHORT`` (10), or whose noisy value
   is, is shown as ``"<10"``.
2. **Seeded noise.** Every figure gets Laplace noise (scale ``NOISE_SCALE`` = 3) and is rounded.
   The noise is drawn from a generator seeded by a keyed hash of (house, purpose, canonical
   definition, breakdown cell): asking the same question again returns the same figure, so
   repetition does not average the noise away; two near-identical definitions get independent
   noise, so the difference of their counts (the differencing attack that would single out one
   buyer) is off by ~4 on average, which hides whether a given person is in one and not the other.

The guarantee is not formal differential privacy over unlimited queries: an analyst who writes
many *different* definitions with the same members (say, date bounds moved over a gap in the
data) gets fresh noise each time and could average it. Definitions are canonicalised (sorted
lists, defaults dropped) so that trivially equal ones share their noise, and every count is
audited with its definition so that such probing shows in the log. Exact numbers appear only in
an export, which is itself an audited snapshot of consented, visible members.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consent_hub import roles
from consent_hub.access.policy import fields_of
from consent_hub.access.service import AccessService
from consent_hub.actors import Actor
from consent_hub.audiences.bitmaps import SegmentBitmaps
from consent_hub.audiences.repository import AudienceRepository
from consent_hub.audiences.schemas import SegmentDefinition
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.crypto.blind_index import AUDIENCE_NOISE, LANGUAGE_INDEX, POSTAL_AREA_INDEX
from consent_hub.errors import Conflict, Forbidden, InvalidInput, NotFound
from consent_hub.outbox.service import OutboxService
from consent_hub.people.service import PeopleService
from consent_hub.storage.models import AudienceExport, Person, Segment, utcnow
from consent_hub.validation import parse

MIN_COHORT = 10
NOISE_SCALE = 3.0
BELOW = f"<{MIN_COHORT}"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PROTECTION = f"minimum cohort {MIN_COHORT}; Laplace noise (scale {NOISE_SCALE:g}) seeded per definition"


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

    # -- protected figures -----------------------------------------------------------------------
    def _noisy(self, house: str, definition: SegmentDefinition, cell: str, true_value: int) -> int | str:
        if true_value < MIN_COHORT:
            return BELOW
        seed = self.uow.rt.indexer.index(AUDIENCE_NOISE, f"{house}|{definition.canonical()}|{cell}")
        rng = random.Random(int.from_bytes(hashlib.sha256(seed).digest()[:8], "big"))  # noqa: S311 - seeded noise
        u = rng.random() - 0.5
        noise = -NOISE_SCALE * math.copysign(1.0, u) * math.log(1 - 2 * abs(u))
        value = max(0, round(true_value + noise))
        return BELOW if value < MIN_COHORT else value

    def count(
        self, actor: Actor, data: SegmentDefinition | dict[str, Any], breakdown: str | None = None
    ) -> dict[str, Any]:
        definition = parse(SegmentDefinition, data)
        house = self._house_caller(actor)
        compiled, scope = self.access.grant(actor, definition.purpose)
        person = self._person_filters(definition)
        if breakdown is None:
            true_total = self.repo.count(definition.filters, compiled.bases, scope, person)
        else:
            true_total, cells = self.repo.count_with_breakdown(
                definition.filters, compiled.bases, scope, breakdown, person
            )
        out: dict[str, Any] = {"count": self._noisy(house, definition, "total", true_total), "breakdown": None}
        if breakdown is not None:
            out["breakdown"] = {
                k: self._noisy(house, definition, f"{breakdown}:{k}", v) for k, v in sorted(cells.items())
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
        if actor.role not in roles.CLUSTER_MANAGERS | {roles.CLUSTER_SERVICE}:
            raise Forbidden("only the cluster's operators refresh segment bitmaps")
        bitmaps = SegmentBitmaps(self.uow.session)
        if not bitmaps.available:
            return 0
        return bitmaps.rebuild_all() if everything else bitmaps.refresh()

    def save(self, actor: Actor, data: SegmentDefinition | dict[str, Any]) -> Segment:
        definition = parse(SegmentDefinition, data)
        house = self._house_caller(actor)
        self.access.grant(actor, definition.purpose)  # only a caller who may count it may save it
        if self.repo.segment_named(house, definition.name) is not None:
            raise Conflict(f"house {house!r} already has a segment named {definition.name!r}")
        now = utcnow()
        segment = Segment(
            id=uuid.uuid4(),
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
            raise NotFound("no such segment")
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
            configured = self.uow.rt.settings.cluster(self.uow.cluster).destinations
            target = configured.get(destination or "")
            if target is None:
                raise InvalidInput([{"field": "destination", "problem": "unknown destination", "type": "value_error"}])
            if target.house != house or target.purpose != definition.purpose:
                raise Forbidden("this destination serves another house or purpose")
        compiled, scope = self.access.grant(actor, definition.purpose)
        groups = (
            set.intersection(*(set(g) for g in compiled.groups_by_basis.values() if g)) if compiled.bases else set()
        )
        groups &= set(load_catalogue().get(definition.purpose).field_groups)
        fields = [f for f in fields_of(groups) if f]
        if not fields:
            raise Forbidden(f"purpose {definition.purpose!r} allows no personal fields to this role")
        export = AudienceExport(
            id=uuid.uuid4(),
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
        rows = [[as_text_cell(v.fields.get(f)) for f in fields] for v in views]
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(fields)
            writer.writerows(rows)
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
