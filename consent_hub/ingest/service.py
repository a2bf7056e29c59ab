"""Applying engine records to the hub, one page at a time, inside the caller's unit of work.

Every method is idempotent: a page read twice (a resumed sync, the look-back window) writes
nothing the second time. People are matched by the blind index of their e-mail address (one
person per address in the cluster) and remembered per engine record, so a record without an
address, or whose address changed, still finds its person. Opt-ins become consent events with
channel ``engine-import``, for a house-scoped purpose at the house that collected them only.
Nothing here reads a personal field in plaintext except the validation of what the engine sent.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.schemas import ConsentRecord, Evidence
from consent_hub.consent.service import ConsentService
from consent_hub.crypto.blind_index import ENGINE_RECORD_MAC
from consent_hub.crypto.randomness import new_uuid
from consent_hub.errors import InvalidInput, PurposeNotFound
from consent_hub.ingest.records import (
    CustomerRecord,
    EngineOptIn,
    EventRecord,
    MembershipRecord,
    OrderRecord,
    PageResult,
    SaleLine,
)
from consent_hub.ingest.repository import IngestRepository
from consent_hub.people.fields import PERSON_FIELDS, PersonFields, email_index_form, validate_fields
from consent_hub.people.service import PeopleService
from consent_hub.people.statuses import RECORDED_STATUSES
from consent_hub.vocabulary import ConsentStatus, EngineCustomerStatus

NOTICE_LANGUAGES = ("nl", "en", "fr")


def problem_text(exc: InvalidInput) -> str:
    """The rules a record broke, by field name; never the values."""
    detail = exc.detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                name = str(item.get("field", "?")).split(".")[-1]
                parts.append(f"{name}: {item.get('problem', 'invalid')}")
        return "; ".join(parts) or "invalid record"
    return "invalid record"


def forget_engine_records(uow: UnitOfWork, person_id: uuid.UUID) -> list[tuple[str, str]]:
    """An erasure's step here, whatever the source: what ties the person to the engines' copies
    of them goes (IngestRepository.forget_engine_records). Returns the (source, engine id) pairs."""
    return IngestRepository(uow.session).forget_engine_records(person_id)


@dataclass
class _Candidate:
    record: CustomerRecord
    values: PersonFields
    email_bidx: bytes | None
    mac: bytes


class IngestService:
    """Engine records of one ``source`` (a connector, or a connector's account) into the cluster."""

    def __init__(self, uow: UnitOfWork, actor: Actor, source: str, *, channel: str = "engine-import") -> None:
        self.uow = uow
        self.actor = actor
        self.source = source
        self.channel = channel  # how opt-ins reached the hub: engine-import, or box-office for counter files
        self.repo = IngestRepository(uow.session)
        self.people = PeopleService(uow)
        self.consents = ConsentService(uow)
        self.audit = AuditLog(uow.session, uow.cluster)
        self._house_ids: dict[str, uuid.UUID] | None = None
        self._notice_hashes: dict[tuple[str, str], str] = {}

    # -- houses ----------------------------------------------------------------------------------
    def house_id(self, slug: str) -> uuid.UUID | None:
        if self._house_ids is None:
            self._house_ids = self.repo.house_ids()
        return self._house_ids.get(slug)

    def houses_by_engine_ref(self, column: str) -> dict[str, str]:
        return self.repo.houses_by_engine_ref(column)

    # -- customers -------------------------------------------------------------------------------
    def _mac(self, values: PersonFields, supplied: Sequence[str]) -> bytes:
        present = values.present()
        canonical = json.dumps({k: present.get(k) for k in sorted(supplied)}, sort_keys=True)
        return self.uow.rt.indexer.index(ENGINE_RECORD_MAC, canonical)

    def upsert_customers(self, records: Sequence[CustomerRecord]) -> PageResult:
        result = PageResult(read=len(records))
        candidates = self._customer_candidates(records, result)
        new_mappings, to_create, linked = self._match_customers(candidates, result)
        created_now = self._create_customers(to_create, new_mappings, linked, result)
        self.repo.add_engine_customers(new_mappings)
        self._claim_waiting_lines({m["external_id"]: m["person_id"] for m in new_mappings if m["person_id"]})
        # a customer registered with a house's own engine account is that house's customer
        registered = {
            (pid, hid, "customer", ""): (c.record.seen_at, c.record.seen_at)
            for c, pid in linked
            if c.record.house and (hid := self.house_id(c.record.house)) is not None
        }
        self._touch(registered, "customer")
        self._import_opt_ins(linked, created_now, result)
        self.uow.session.flush()
        return result

    def _customer_candidates(self, records: Sequence[CustomerRecord], result: PageResult) -> list[_Candidate]:
        """The page's records with valid fields, once each, with their e-mail index and fields MAC."""
        region = self.uow.rt.phone_region
        indexer = self.uow.rt.indexer
        candidates: list[_Candidate] = []
        seen_ids: set[str] = set()
        for rec in records:
            if rec.external_id in seen_ids:
                continue  # an engine repeating a record within one page: the first one counts
            seen_ids.add(rec.external_id)
            unknown = sorted(set(rec.fields) - set(PERSON_FIELDS))
            if unknown:
                result.skip(rec.external_id, f"unmapped fields {unknown}")
                continue
            try:
                values = validate_fields(rec.fields, phone_region=region)
            except InvalidInput as exc:
                result.skip(rec.external_id, problem_text(exc))
                continue
            bidx = indexer.email(email_index_form(values.email)) if values.email else None
            candidates.append(_Candidate(rec, values, bidx, self._mac(values, list(rec.fields))))
        return candidates

    def _match_customers(
        self, candidates: Sequence[_Candidate], result: PageResult
    ) -> tuple[list[dict[str, Any]], list[_Candidate], list[tuple[_Candidate, uuid.UUID]]]:
        """Each candidate against its engine record and the people by e-mail: (new engine-customer
        rows, candidates to create as people, people linked whose opt-ins are imported)."""
        known = self.repo.engine_customers(self.source, [c.record.external_id for c in candidates])
        statuses = self.people.repo.statuses([m.person_id for m in known.values() if m.person_id is not None])
        unmatched = [c.email_bidx for c in candidates if c.record.external_id not in known and c.email_bidx]
        suppressed = self.people.repo.suppressed_among(unmatched)
        by_email = self.people.repo.ids_by_email_indexes(unmatched)
        new_mappings: list[dict[str, Any]] = []
        to_create: list[_Candidate] = []
        linked: list[tuple[_Candidate, uuid.UUID]] = []
        for cand in candidates:
            rec = cand.record
            house_id = self.house_id(rec.house) if rec.house else None
            mapping = known.get(rec.external_id)
            if mapping is not None:
                mapping.last_seen = max(mapping.last_seen, rec.seen_at)
                if rec.deleted:
                    if mapping.status != EngineCustomerStatus.DELETED:
                        mapping.status = EngineCustomerStatus.DELETED
                        result.written += 1
                    continue
                pid = mapping.person_id
                if pid is None or statuses.get(pid) not in RECORDED_STATUSES:
                    result.suppressed += 1  # erased in the hub, or never imported: stays out
                    continue
                if mapping.fields_mac != cand.mac:
                    if self._update_person(cand, pid, result):
                        mapping.fields_mac = cand.mac
                        result.written += 1
                    else:
                        continue
                linked.append((cand, pid))
                continue
            if rec.deleted:
                continue  # deleted in the engine before the hub ever saw it
            row = {
                "source": self.source,
                "external_id": rec.external_id,
                "house_id": house_id,
                "fields_mac": cand.mac,
                "first_seen": rec.seen_at,
                "last_seen": rec.seen_at,
            }
            if cand.email_bidx is not None and cand.email_bidx in suppressed:
                new_mappings.append(
                    {**row, "person_id": None, "status": EngineCustomerStatus.SUPPRESSED, "fields_mac": None}
                )
                result.suppressed += 1
                continue
            existing = by_email.get(cand.email_bidx) if cand.email_bidx is not None else None
            if existing is not None:
                new_mappings.append({**row, "person_id": existing, "status": EngineCustomerStatus.LINKED})
                linked.append((cand, existing))
                result.written += 1
                continue
            to_create.append(cand)
        return new_mappings, to_create, linked

    def _create_customers(
        self,
        to_create: Sequence[_Candidate],
        new_mappings: list[dict[str, Any]],
        linked: list[tuple[_Candidate, uuid.UUID]],
        result: PageResult,
    ) -> set[uuid.UUID]:
        """Create the new people in one bulk insert and map their engine records (appended to
        ``new_mappings`` and ``linked``); returns the people created, who have no consent yet."""
        created_now: set[uuid.UUID] = set()
        if not to_create:
            return created_now
        created = self.people.bulk_create(self.actor, [c.values for c in to_create])
        created_now.update(created.created)
        fresh = iter(created.created)
        for i, cand in enumerate(to_create):
            if i in created.duplicates:
                duplicate = created.duplicates[i]
                if duplicate is None:
                    continue
                pid = duplicate
            else:
                pid = next(fresh)
            new_mappings.append(
                {
                    "source": self.source,
                    "external_id": cand.record.external_id,
                    "house_id": self.house_id(cand.record.house) if cand.record.house else None,
                    "person_id": pid,
                    "status": EngineCustomerStatus.LINKED,
                    "fields_mac": cand.mac,
                    "first_seen": cand.record.seen_at,
                    "last_seen": cand.record.seen_at,
                }
            )
            linked.append((cand, pid))
            result.written += 1
        return created_now

    def _claim_waiting_lines(self, people: dict[str, uuid.UUID]) -> None:
        """Sales read before their customer was imported (a customer skipped as malformed, then
        fixed in the engine) get their person, and the person their relation."""
        if not people:
            return
        waiting = self.repo.pending_lines(self.source, list(people))
        if not waiting:
            return
        self.repo.claim_lines(self.source, [{"x": x, "p": people[c]} for x, c, _, _ in waiting])
        seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]] = {}
        for _, customer, house_id, sold_at in waiting:
            key = (people[customer], house_id, "customer", "")
            first, last = seen.get(key, (sold_at, sold_at))
            seen[key] = (min(first, sold_at), max(last, sold_at))
        self._touch(seen, "customer")

    def _update_person(self, cand: _Candidate, pid: uuid.UUID, result: PageResult) -> bool:
        if cand.email_bidx is not None:
            other = self.people.repo.id_by_email_index(cand.email_bidx)
            if other is not None and other != pid:
                result.skip(cand.record.external_id, "email: the new address belongs to another person in the hub")
                return False
            if self.people.repo.is_suppressed(cand.email_bidx):
                result.skip(cand.record.external_id, "email: the new address is on the suppression list")
                return False
        present = cand.values.present()
        changes = {name: present.get(name) for name in cand.record.fields}
        self.people.update(self.actor, pid, changes)
        return True

    def _notice_sha(self, purpose: str, language: str) -> str:
        key = (purpose, language)
        if key not in self._notice_hashes:
            self._notice_hashes[key] = self.consents.current_notice(purpose, language).sha256
        return self._notice_hashes[key]

    def _import_opt_ins(
        self, linked: Sequence[tuple[_Candidate, uuid.UUID]], created_now: set[uuid.UUID], result: PageResult
    ) -> None:
        catalogue = self.consents.catalogue
        wanted: list[tuple[uuid.UUID, EngineOptIn, str, str, str]] = []
        for cand, pid in linked:
            language = (cand.values.language or "nl")[:2]
            language = language if language in NOTICE_LANGUAGES else "nl"
            for opt in cand.record.opt_ins:
                ref = f"{cand.record.external_id}:{opt.permission}"
                try:
                    purpose = catalogue.get(opt.purpose)
                except PurposeNotFound:
                    result.skip(ref, f"opt-in mapped to unknown purpose {opt.purpose!r}")
                    continue
                if purpose.target_kind != "house":
                    # an opt-in collected by one house never grants more than that house
                    result.skip(
                        ref, f"purpose {opt.purpose!r} is not house-scoped; engine opt-ins grant one house only"
                    )
                    continue
                if self.house_id(opt.house) is None:
                    result.skip(ref, "opt-in of a house that is not registered in the hub")
                    continue
                key = f"{self.source}:{ref}:{opt.decided_at.astimezone(dt.UTC):%Y%m%dT%H%M%S.%f}"
                wanted.append((pid, opt, language, key, ref))
        if not wanted:
            return
        # the people this page created have neither used keys nor grants: nothing to look up for them
        used = self.consents.idempotency_hashes(
            self.actor.id, [w[3] for w in wanted if w[0] not in created_now]
        )
        todo = [w for w in wanted if w[3] not in used]
        if not todo:
            return
        granted_now = self._granted([w for w in todo if w[0] not in created_now])
        items: list[tuple[uuid.UUID, ConsentRecord, str]] = []
        for pid, opt, language, key, ref in todo:
            if opt.opted_in:
                status = ConsentStatus.GRANTED
            else:
                status = (
                    ConsentStatus.WITHDRAWN if (pid, opt.purpose, opt.house) in granted_now else ConsentStatus.REFUSED
                )
            spec = ConsentRecord(
                purpose=opt.purpose,
                target=opt.house,
                status=status,
                notice_sha256=self._notice_sha(opt.purpose, language),
                language=language,
                channel=self.channel,
                evidence=Evidence(source_record=f"{self.source}:{ref}"[:120], form_id=f"opt-in {opt.permission}"[:80]),
                given_at=min(opt.decided_at, utcnow()),
            )
            items.append((pid, spec, key))
        events = self.consents.record_many(self.actor, items, new_people=created_now)
        result.written += len(events)

    def _granted(self, todo: Sequence[tuple[uuid.UUID, EngineOptIn, str, str, str]]) -> set[tuple[uuid.UUID, str, str]]:
        """Which of the page's opt-outs meet a grant (a withdrawal) rather than nothing (a refusal)."""
        opted_out = {(pid, opt.purpose, opt.house) for pid, opt, *_ in todo if not opt.opted_in}
        if not opted_out:
            return set()
        granted = self.consents.granted_at_houses([pid for pid, _, _ in opted_out])
        return opted_out & granted

    # -- events ----------------------------------------------------------------------------------
    def upsert_events(self, records: Sequence[EventRecord]) -> PageResult:
        result = PageResult(read=len(records))
        known = self.repo.events(self.source, [r.external_id for r in records])
        new_rows: list[dict[str, Any]] = []
        fresh: set[str] = set()
        for rec in records:
            house_id = self.house_id(rec.house) if rec.house else None
            if rec.house and house_id is None:
                result.skip(rec.external_id, "event of an organisation that is not mapped to a house")
                continue
            values = {
                "house_id": house_id,
                "title": rec.title[:300],
                "starts_at": rec.starts_at,
                "ends_at": rec.ends_at,
                "categories": json.dumps(rec.categories, ensure_ascii=False),
                "updated_at": rec.updated_at,
            }
            current = known.get(rec.external_id)
            if current is None:
                if rec.external_id in fresh:
                    continue
                fresh.add(rec.external_id)
                new_rows.append({"id": new_uuid(), "source": self.source, "external_id": rec.external_id, **values})
                result.written += 1
            elif any(getattr(current, k) != v for k, v in values.items() if k != "updated_at"):
                for k, v in values.items():
                    setattr(current, k, v)
                result.written += 1
        self.repo.add_events(new_rows)
        self.uow.session.flush()
        return result

    # -- sales -----------------------------------------------------------------------------------
    def record_sales(self, lines: Sequence[SaleLine]) -> PageResult:
        """Ticket lines that never change once sold (returns are lines of their own)."""
        result = PageResult(read=len(lines))
        existing = self.repo.existing_sales(self.source, [line.external_id for line in lines])
        fresh = [line for line in lines if line.external_id not in existing]
        self._write_lines(fresh, result)
        return result

    def replace_orders(self, orders: Sequence[OrderRecord]) -> PageResult:
        """Orders whose lines change (a refund removes a ticket): the order's lines are replaced."""
        result = PageResult(read=sum(len(o.lines) for o in orders))
        self.repo.delete_order_lines(self.source, [o.order_ref for o in orders])
        self._write_lines([line for o in orders for line in o.lines], result)
        return result

    def _write_lines(self, lines: Sequence[SaleLine], result: PageResult) -> None:
        customers = self.repo.engine_people(self.source, [x.customer_id for x in lines if x.customer_id])
        statuses = self.people.repo.statuses([p for p, _ in customers.values() if p is not None])
        events = self.repo.event_ids(self.source, [x.event_id for x in lines])
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]] = {}
        written: set[str] = set()
        for line in lines:
            if line.external_id in written:
                continue
            event_id = events.get(line.event_id)
            if event_id is None:
                result.skip(line.external_id, "sale of an event the hub does not know")
                continue
            house_id = self.house_id(line.house)
            if house_id is None:
                result.skip(line.external_id, "sale of an organisation that is not mapped to a house")
                continue
            person_id: uuid.UUID | None = None
            if line.customer_id is not None:
                mapping = customers.get(line.customer_id)
                if mapping is None:
                    pass  # the customer is not imported (yet): the line waits for them by customer_ref
                elif mapping[0] is not None and statuses.get(mapping[0]) in RECORDED_STATUSES:
                    person_id = mapping[0]
                else:
                    result.suppressed += 1  # kept without a person: the house's totals stay right
            written.add(line.external_id)
            rows.append(
                {
                    "source": self.source,
                    "external_id": line.external_id,
                    "person_id": person_id,
                    "customer_ref": line.customer_id,
                    "house_id": house_id,
                    "event_id": event_id,
                    "order_ref": line.order_ref,
                    "ticket_type": line.ticket_type,
                    "program": line.program,
                    "price": line.price_cents,
                    "ticket_count": line.ticket_count,
                    "channel": line.channel,
                    "sold_at": line.sold_at,
                }
            )
            if person_id is not None:
                key = (person_id, house_id, "customer", "")
                first, last = seen.get(key, (line.sold_at, line.sold_at))
                seen[key] = (min(first, line.sold_at), max(last, line.sold_at))
        self.repo.add_sales(rows)
        result.written += len(rows)
        self._touch(seen, "customer")

    def _touch(
        self, seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]], kind: str
    ) -> None:
        if not seen:
            return
        new = self.repo.touch_relations(seen)
        if new:
            self.audit.append(
                self.actor,
                AuditRecord("relation.touch", new, detail={"bulk": True, "kind": kind, "source": self.source}),
            )

    # -- memberships -----------------------------------------------------------------------------
    def record_memberships(self, records: Sequence[MembershipRecord]) -> PageResult:
        result = PageResult(read=len(records))
        existing = self.repo.existing_memberships(self.source, [r.external_id for r in records])
        customers = self.repo.engine_customers(self.source, [r.customer_id for r in records])
        statuses = self.people.repo.statuses([m.person_id for m in customers.values() if m.person_id is not None])
        rows: list[dict[str, Any]] = []
        seen: dict[tuple[uuid.UUID, uuid.UUID, str, str], tuple[dt.datetime, dt.datetime]] = {}
        for rec in records:
            if rec.external_id in existing:
                continue
            seller = self.house_id(rec.seller_house)
            covered = [self.house_id(h) for h in rec.houses]
            if seller is None or any(h is None for h in covered):
                result.skip(rec.external_id, "membership of a program whose houses are not all registered")
                continue
            mapping = customers.get(rec.customer_id)
            if mapping is None:
                result.skip(rec.external_id, "membership of a customer the hub does not know")
                continue
            if mapping.person_id is None or statuses.get(mapping.person_id) not in RECORDED_STATUSES:
                result.suppressed += 1
                continue
            existing.add(rec.external_id)
            rows.append(
                {
                    "source": self.source,
                    "external_id": rec.external_id,
                    "person_id": mapping.person_id,
                    "program": rec.program,
                    "house_id": seller,
                    "sold_at": rec.sold_at,
                    "expires_at": rec.expires_at,
                    "cancelled": rec.cancelled,
                }
            )
            if not rec.cancelled:
                for hid in covered:
                    assert hid is not None
                    key = (mapping.person_id, hid, "subscriber", rec.program)
                    first, last = seen.get(key, (rec.sold_at, rec.sold_at))
                    seen[key] = (min(first, rec.sold_at), max(last, rec.sold_at))
        self.repo.add_memberships(rows)
        result.written += len(rows)
        self._touch(seen, "subscriber")
        return result

    def refresh_statistics(self) -> list[str]:
        return self.repo.refresh_statistics()

    # -- bookmarks -------------------------------------------------------------------------------
    def cursor(self, connector: str, stream: str, partition: str = "") -> str | None:
        return self.repo.cursor(connector, stream, partition)

    def put_cursor(self, connector: str, stream: str, partition: str, cursor: str) -> None:
        self.repo.put_cursor(connector, stream, partition, cursor, utcnow())
