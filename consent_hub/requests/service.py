"""The request desk: a data-subject request from intake to answer (GDPR Art. 12, 15-21).

One intake (the buyer's own pages, staff at the counter or by mail, the API) makes one request with
one deadline: one month from receipt on the cluster's calendar, extendable by up to two months with
a reason the person is mailed before the first month ends. The request is routed to every house
that is a controller for the person; each signs off its part. It is carried out through the paths
that already exist (erasure and restriction in ``RightsService``, rectification through the people
service, objection through the consent service, the access package on the buyer's own pages), so
the destinations are told through the outbox (Art. 19). Every step is a step row and an audit
entry; the person is mailed a receipt, any extension, and the answer.

The desk never shows a DPO the person's data: an access request is answered by the person's own
pages, where they sign in with their address and download the package (data minimisation)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.clock import utcnow
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.catalogue import load_catalogue
from consent_hub.crypto.randomness import new_uuid, random_bytes
from consent_hub.errors import Conflict, InvalidInput, NotFound
from consent_hub.i18n import LANGUAGES, translations
from consent_hub.mail.sender import compose, mail_queue
from consent_hub.people.fields import PERSON_FIELDS
from consent_hub.people.service import PeopleService
from consent_hub.requests import deadlines
from consent_hub.requests.auth import (
    house_scope,
    is_buyer,
    require_request_handler,
    require_request_reader,
    require_request_registrar,
)
from consent_hub.requests.repository import RequestsRepository
from consent_hub.rights.service import RightsService
from consent_hub.storage.models import DataSubjectRequest, DataSubjectRequestPart, DataSubjectRequestStep
from consent_hub.validation import clean_text
from consent_hub.vocabulary import (
    CLOSED_REQUEST_STATUSES,
    IdentityCheck,
    PersonStatus,
    RequestChannel,
    RequestKind,
    RequestPartStatus,
    RequestStatus,
)

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a box office
PURPOSE = "data-subject-request"
# what a rectification may change (the e-mail address is the sign-in: changed at the box office)
RECTIFIABLE = tuple(f for f in PERSON_FIELDS if f != "email")
# statuses from which a request can be carried out, verified, or moved on
EXECUTABLE = frozenset({RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS})


def new_reference() -> str:
    raw = random_bytes(8)
    chars = "".join(REFERENCE_ALPHABET[b % len(REFERENCE_ALPHABET)] for b in raw)
    return f"DSR-{chars[:4]}-{chars[4:]}"


@dataclass(frozen=True)
class PartView:
    house: str
    status: str
    signed_off_at: dt.datetime | None
    signed_off_by: str | None
    note: str


@dataclass(frozen=True)
class StepView:
    at: dt.datetime
    actor: str
    step: str
    status: str
    note: str


@dataclass(frozen=True)
class RequestView:
    reference: str
    kind: str
    status: str
    channel: str
    house: str | None
    person_id: uuid.UUID
    received_at: dt.datetime
    due_at: dt.datetime
    effective_due_at: dt.datetime
    due_on: dt.date  # the last day, on the cluster's calendar
    extended: bool
    extension_reason: str | None
    overdue: bool
    days_left: int
    verified: bool
    verification: str | None
    executed: bool
    outcome: str | None
    refusal_reason: str | None
    closed_at: dt.datetime | None
    time_zone: str
    parts: list[PartView]
    steps: list[StepView]

    @property
    def closed(self) -> bool:
        return self.status in CLOSED_REQUEST_STATUSES


def _problem(field: str, problem: str, type_: str = "value_error") -> InvalidInput:
    return InvalidInput([{"field": field, "problem": problem, "type": type_}])


def _note(value: str | None, field: str, *, required: bool, limit: int = 500) -> str:
    """A staff note or reason: plain text, no control characters. It must hold no personal data
    (said on every form); the desk cannot check that, so notes are never mailed but reasons are."""
    try:
        cleaned = clean_text(value or "", limit)
    except ValueError:
        raise _problem(field, "remove control characters") from None
    if required and not cleaned:
        raise _problem(field, "write a short reason", "missing")
    return cleaned or ""


class RequestsService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = RequestsRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.people = PeopleService(uow)
        self.config = uow.rt.settings.cluster(uow.cluster)
        self.zone = self.config.zone()

    # -- intake --------------------------------------------------------------------------------
    def register(
        self,
        actor: Actor,
        *,
        kind: str,
        channel: str,
        email: str | None = None,
        person_id: uuid.UUID | None = None,
        house: str | None = None,
        detail: Mapping[str, str] | None = None,
        verified_note: str | None = None,
        language: str = "nl",
        mail_receipt: bool = True,
    ) -> RequestView | None:
        """Register one request and mail its receipt. A buyer registers their own (channel web,
        identity: the signed-in address); staff register one received by mail or at the counter,
        finding the person by address through the blind index, and may record at once how they
        verified the identity (a note without personal data). The request gets a part for every
        house that is a controller for the person (``house`` records where it came in).

        A house's staff (box office, house DPO) learn no more than their house may see: when the
        address is unknown, or the person is not their house's, the answer is None either way
        (the person, if any, gets the receipt and the cluster DPO the request)."""
        if kind not in set(RequestKind):
            raise _problem("kind", "not a kind of request")
        if channel not in set(RequestChannel):
            raise _problem("channel", "not a channel")
        if language not in LANGUAGES:
            raise _problem("language", "not a language of the hub")
        now = utcnow()
        if is_buyer(actor):
            if person_id is None or not actor.is_person(person_id) or channel != RequestChannel.WEB:
                raise _problem("person", "a buyer registers their own requests on their own pages")
            verification: str | None = IdentityCheck.SIGNED_IN_EMAIL
            note = "signed in with a link or code mailed to the address"
        else:
            require_request_registrar(actor)
            if channel == RequestChannel.WEB:
                raise _problem("channel", "web requests come from the buyer's own pages")
            found = self._person(actor, email, person_id)
            if found is None:
                return None
            person_id = found
            note = _note(verified_note, "verified_note", required=False)
            verification = IdentityCheck.STAFF if note else None
        intake_house = actor.house or house
        if intake_house is not None and not self.repo.house_exists(intake_house):
            raise _problem("house", "no such house")
        request_id = new_uuid()
        sealed = None
        if detail:
            clean = self._detail(kind, detail)
            if clean:
                sealed = self.people.cipher(person_id).seal(
                    json.dumps(clean, sort_keys=True), "data_subject_requests", "detail", request_id
                )
        reference = new_reference()
        while self.repo.reference_taken(reference):
            reference = new_reference()
        request = DataSubjectRequest(
            id=request_id,
            reference=reference,
            person_id=person_id,
            kind=kind,
            status=RequestStatus.RECEIVED,
            channel=channel,
            house=intake_house,
            detail_ct=sealed,
            received_at=now,
            due_at=deadlines.one_month_deadline(now, self.zone),
            created_by=actor.id,
            time_zone=self.config.time_zone,
            language=language,
            verified_at=now if verification else None,
            verified_by=actor.id if verification else None,
            verification=verification,
            verification_note=note or None,
        )
        self.repo.add(request)
        houses = sorted(self.repo.controller_houses(person_id))
        for slug in houses:
            self.repo.add(
                DataSubjectRequestPart(request_id=request_id, house=slug, status=RequestPartStatus.OPEN, note="")
            )
        self.repo.flush()
        self._step(actor, request, "received", f"channel {channel}", houses=houses)
        if verification:
            request.status = RequestStatus.VERIFIED
            self._step(actor, request, "verified", verification)
        if mail_receipt:
            self._mail(actor, request, "received")
        scope = house_scope(actor)
        if scope is not None and scope not in houses:
            return None
        return self.view(request)

    def _person(self, actor: Actor, email: str | None, person_id: uuid.UUID | None) -> uuid.UUID | None:
        """The person the request is about; an unknown or erased one is NotFound for the cluster's
        roles and None (the same answer as "not yours") for a house's."""
        found: uuid.UUID | None = None
        if email:
            found = self.people.person_for_request(actor, email)
        elif person_id is None:
            raise _problem("email", "enter the person's e-mail address", "missing")
        else:
            status = self.people.status_of(person_id)
            found = None if status is None or status == PersonStatus.ERASED else person_id
        if found is None and house_scope(actor) is None:
            raise NotFound("the hub holds no person with this address or id")
        return found

    def _detail(self, kind: str, detail: Mapping[str, str]) -> dict[str, str]:
        """What the request asks, checked per kind; sealed with the person's key."""
        out: dict[str, str] = {}
        if kind == RequestKind.RECTIFICATION:
            field = detail.get("field", "")
            if field not in RECTIFIABLE:
                raise _problem("field", "choose the detail to correct", "missing")
            try:
                value = clean_text(detail.get("value", ""), 200)
            except ValueError:
                value = None
            if not value:
                raise _problem("value", "enter the right value", "missing")
            out.update(field=field, value=value)
        if kind == RequestKind.OBJECTION:
            purpose = detail.get("purpose", "")
            if purpose not in load_catalogue().purpose_keys():
                raise _problem("purpose", "choose what the person objects to", "missing")
            out["purpose"] = purpose
        reason = _note(detail.get("reason"), "reason", required=False, limit=1000)
        if reason:
            out["reason"] = reason
        return out

    # -- reading -------------------------------------------------------------------------------
    def _scope(self, actor: Actor) -> str | None:
        """The house a reader is held to (house DPOs and box-office staff), or None (the cluster)."""
        return house_scope(actor)

    def _load(self, actor: Actor, reference: str, *, for_update: bool = False) -> DataSubjectRequest:
        """The request, or NotFound: a house's reader asking for another house's request gets the
        answer of a reference that does not exist."""
        request = self.repo.by_reference(reference.strip().upper(), for_update=for_update)
        house = self._scope(actor)
        if request is not None and house is not None and self.repo.part(request.id, house) is None:
            request = None
        if request is None:
            raise NotFound("no such request")
        return request

    def get(self, actor: Actor, reference: str) -> RequestView:
        require_request_reader(actor)
        request = self._load(actor, reference)
        self.audit.append(
            actor,
            AuditRecord("request.read", [request.person_id], purpose=PURPOSE, detail={"reference": request.reference}),
        )
        return self.view(request)

    def queue(
        self,
        actor: Actor,
        *,
        status: str | None = None,
        due: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
        include_closed: bool = False,
    ) -> list[RequestView]:
        """The register, soonest deadline first: ``due`` "overdue" (past the deadline, still open)
        or "soon" (due within 7 days, not overdue)."""
        require_request_reader(actor)
        if status is not None and status not in set(RequestStatus):
            raise _problem("status", "not a status of a request")
        if kind is not None and kind not in set(RequestKind):
            raise _problem("kind", "not a kind of request")
        if due not in (None, "overdue", "soon"):
            raise _problem("due", "overdue or soon")
        now = utcnow()
        due_before = due_from = None
        if due == "overdue":
            due_before = now
        elif due == "soon":
            due_from = now
            due_before = deadlines.end_of_day(
                deadlines.local_day(now, self.zone) + dt.timedelta(days=deadlines.DUE_SOON_DAYS), self.zone
            )
        rows = self.repo.listing(
            house=self._scope(actor),
            status=status,
            kind=kind,
            open_only=due is not None or not (include_closed or status is not None),
            due_before=due_before,
            due_from=due_from,
            limit=limit,
            offset=offset,
        )
        return self.views(rows)

    def due_lists(self, actor: Actor) -> tuple[list[RequestView], list[RequestView]]:
        """(overdue, due within 7 days): the two lists a DPO starts the day with."""
        return self.queue(actor, due="overdue", limit=500), self.queue(actor, due="soon", limit=500)

    def of_person(self, person_id: uuid.UUID) -> list[RequestView]:
        """A person's own requests (the buyer's pages call this for their own person only)."""
        return self.views(self.repo.of_person(person_id))

    def view(self, request: DataSubjectRequest) -> RequestView:
        return self.views([request])[0]

    def views(self, requests: Sequence[DataSubjectRequest]) -> list[RequestView]:
        ids = [r.id for r in requests]
        steps: dict[uuid.UUID, list[StepView]] = {i: [] for i in ids}
        for s in self.repo.steps(ids):
            steps[s.request_id].append(StepView(s.at, s.actor, s.step, s.status, s.note))
        parts: dict[uuid.UUID, list[PartView]] = {i: [] for i in ids}
        for p in self.repo.parts(ids):
            parts[p.request_id].append(PartView(p.house, p.status, p.signed_off_at, p.signed_off_by, p.note))
        now = utcnow()
        out = []
        for r in requests:
            zone = ZoneInfo(r.time_zone)
            effective = r.extended_due_at or r.due_at
            closed = r.status in CLOSED_REQUEST_STATUSES
            out.append(
                RequestView(
                    reference=r.reference,
                    kind=r.kind,
                    status=r.status,
                    channel=r.channel,
                    house=r.house,
                    person_id=r.person_id,
                    received_at=r.received_at,
                    due_at=r.due_at,
                    effective_due_at=effective,
                    due_on=deadlines.due_day(effective, zone),
                    extended=r.extended_due_at is not None,
                    extension_reason=r.extension_reason,
                    overdue=(not closed and now >= effective)
                    or (closed and r.closed_at is not None and r.closed_at > effective),
                    days_left=deadlines.days_left(effective, now, zone),
                    verified=r.verified_at is not None,
                    verification=r.verification,
                    executed=r.outcome is not None,
                    outcome=r.outcome,
                    refusal_reason=r.refusal_reason,
                    closed_at=r.closed_at,
                    time_zone=r.time_zone,
                    parts=parts[r.id],
                    steps=steps[r.id],
                )
            )
        return out

    # -- handling ------------------------------------------------------------------------------
    def _open(self, actor: Actor, reference: str) -> DataSubjectRequest:
        require_request_handler(actor)
        request = self._load(actor, reference, for_update=True)
        if request.status in CLOSED_REQUEST_STATUSES:
            raise Conflict(f"the request is {request.status}")
        return request

    def verify(self, actor: Actor, reference: str, *, note: str) -> RequestView:
        """Record how the identity was established (Art. 12(6)): a staff step with a note that
        holds no personal data (e.g. "identity card seen at the counter")."""
        request = self._open(actor, reference)
        if request.verified_at is not None:
            raise Conflict("the identity is verified already")
        request.verified_at = utcnow()
        request.verified_by = actor.id
        request.verification = IdentityCheck.STAFF
        request.verification_note = _note(note, "note", required=True)
        request.status = RequestStatus.VERIFIED
        self._step(actor, request, "verified", request.verification_note)
        return self.view(request)

    def start(self, actor: Actor, reference: str) -> RequestView:
        request = self._open(actor, reference)
        if request.status != RequestStatus.VERIFIED:
            raise Conflict(
                "verify the identity first" if request.verified_at is None else f"the request is {request.status}"
            )
        request.status = RequestStatus.IN_PROGRESS
        self._step(actor, request, "started", "")
        return self.view(request)

    def extend(self, actor: Actor, reference: str, *, months: int, reason: str) -> RequestView:
        """Extend by one or two further months (Art. 12(3)), with a reason the person is mailed:
        only before the first month ends, never beyond three months from receipt."""
        request = self._open(actor, reference)
        if months not in (1, 2):
            raise _problem("months", "one or two months")
        text = _note(reason, "reason", required=True)
        if utcnow() >= request.due_at:
            raise Conflict("an extension must be told to the person before the first month ends")
        zone = ZoneInfo(request.time_zone)
        new_due = deadlines.extended_deadline(request.due_at, months, zone)
        if request.extended_due_at is not None and new_due <= request.extended_due_at:
            raise Conflict("the request is extended to that date or later already")
        request.extended_due_at = new_due
        request.extension_reason = text
        request.extension_mailed_at = utcnow()
        self._step(actor, request, "extended", f"by {months} month(s): {text}")
        self._mail(actor, request, "extended")
        return self.view(request)

    def execute(self, actor: Actor, reference: str) -> RequestView:
        """Carry the request out through the path that exists for its kind. The person's buyer
        may carry out their own erasure at once (confirmed on their own pages)."""
        if is_buyer(actor):
            request = self.repo.by_reference(reference, for_update=True)
            if request is None or not actor.is_person(request.person_id) or request.kind != RequestKind.ERASURE:
                raise NotFound("no such request")
            if request.status in CLOSED_REQUEST_STATUSES or request.outcome is not None:
                raise Conflict(f"the request is {request.status}")
            executor = actor
        else:
            request = self._open(actor, reference)
            if request.outcome is not None:
                raise Conflict("the request was carried out already")
            if request.status not in EXECUTABLE:
                raise Conflict("verify the identity first")
            # the existing paths are the hub's own: they run as the desk, the entry above names who
            executor = Actor.system(self.uow.cluster, f"request-desk:{request.reference}")
        self._step(actor, request, "executing", request.kind)
        # read (audited) while the key exists: the answer to an erasure still reaches the person
        address = self.people.address_for_request(
            _desk(self.uow, request), request.person_id, reference=request.reference
        )
        outcome = self._carry_out(executor, request)
        request.outcome = outcome
        self._step(actor, request, "executed", outcome)
        if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            self._mail(actor, request, "package", address=address)
        elif request.kind == RequestKind.ERASURE:
            self._mail(actor, request, "erasure-done", address=address)  # the last mail the address gets
        self._close_if_signed_off(actor, request, address=None if request.kind == RequestKind.ERASURE else address)
        return self.view(request)

    def _carry_out(self, executor: Actor, request: DataSubjectRequest) -> str:
        rights = RightsService(self.uow)
        person_id, reference = request.person_id, request.reference
        kind = request.kind
        if kind == RequestKind.ERASURE:
            erased = rights.erase(executor, person_id, reference=reference)
            return "erased: data key destroyed, destinations told" if erased else "already erased"
        if kind == RequestKind.RESTRICTION:
            done = rights.restrict(executor, person_id, reference=reference)
            return "restricted: no house sees the person, destinations told" if done else "already restricted"
        if kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            return "package offered on the person's own pages (sign-in by mailed link)"
        detail = self._open_detail(request)
        if kind == RequestKind.RECTIFICATION:
            if "field" not in detail or "value" not in detail:
                raise Conflict("the request does not say what to correct")
            told = rights.rectify(executor, person_id, {detail["field"]: detail["value"]}, reference=reference)
            return f"rectified: {detail['field']}; destinations told: {told}"
        if kind == RequestKind.OBJECTION:
            if "purpose" not in detail:
                raise Conflict("the request does not say what the person objects to")
            withdrawn = rights.object_to(executor, person_id, detail["purpose"], language=request.language)
            return f"objection to {detail['purpose']}: {withdrawn} consent(s) withdrawn"
        raise Conflict(f"no path carries out a {kind} request")

    def _open_detail(self, request: DataSubjectRequest) -> dict[str, str]:
        if request.detail_ct is None:
            return {}
        text = self.people.cipher(request.person_id).open(
            request.detail_ct, "data_subject_requests", "detail", request.id
        )
        loaded: dict[str, str] = json.loads(text)
        return loaded

    def sign_off(self, actor: Actor, reference: str, *, house: str | None = None, note: str = "") -> RequestView:
        """A controller house signs off its part (a house DPO their own house's; the cluster DPO
        any). The request is done once it was carried out and every part is signed off."""
        request = self._open(actor, reference)
        slug = house_scope(actor) or house
        if not slug:
            raise _problem("house", "name the house whose part is signed off", "missing")
        part = self.repo.part(request.id, slug)
        if part is None:
            raise NotFound("the request has no part for this house")
        if part.status == RequestPartStatus.SIGNED_OFF:
            raise Conflict("this house's part is signed off already")
        if request.status not in EXECUTABLE and request.status != RequestStatus.WAITING_FOR_HOUSE:
            raise Conflict("verify the identity first")
        part.status = RequestPartStatus.SIGNED_OFF
        part.signed_off_at = utcnow()
        part.signed_off_by = actor.id
        part.note = _note(note, "note", required=False)
        self.repo.flush()
        self._step(actor, request, "signed-off", part.note, house=slug)
        self._close_if_signed_off(actor, request)
        return self.view(request)

    def _close_if_signed_off(self, actor: Actor, request: DataSubjectRequest, *, address: str | None = None) -> None:
        if request.outcome is None:
            return
        if self.repo.open_parts(request.id):
            if request.status != RequestStatus.WAITING_FOR_HOUSE:
                request.status = RequestStatus.WAITING_FOR_HOUSE
                self._step(actor, request, "waiting-for-house", "")
            return
        request.status = RequestStatus.DONE
        request.closed_at = utcnow()
        self._step(actor, request, "done", "")
        self._mail(actor, request, "done", address=address)

    def refuse(self, actor: Actor, reference: str, *, reason: str) -> RequestView:
        """Refuse (Art. 12(4), (5)): the reason, and the right to complain to the Data Protection
        Authority and to seek a judicial remedy, mailed to the person."""
        request = self._open(actor, reference)
        if request.outcome is not None:
            raise Conflict("the request was carried out already")
        request.refusal_reason = _note(reason, "reason", required=True)
        request.status = RequestStatus.REFUSED
        request.closed_at = utcnow()
        self._step(actor, request, RequestStatus.REFUSED, request.refusal_reason)
        self._mail(actor, request, RequestStatus.REFUSED)
        return self.view(request)

    def withdraw(self, actor: Actor, reference: str) -> RequestView:
        """The person withdraws their own request before it is carried out (on their own pages)."""
        request = self.repo.by_reference(reference.strip().upper(), for_update=True)
        if request is None or not actor.is_person(request.person_id):
            raise NotFound("no such request")
        if request.status in CLOSED_REQUEST_STATUSES or request.outcome is not None:
            raise Conflict("the request was carried out or closed already")
        request.status = RequestStatus.WITHDRAWN_BY_PERSON
        request.closed_at = utcnow()
        self._step(actor, request, RequestStatus.WITHDRAWN_BY_PERSON, "on their own pages")
        return self.view(request)

    # -- steps and mails -----------------------------------------------------------------------
    def _step(self, actor: Actor, request: DataSubjectRequest, step: str, note: str, **detail: object) -> None:
        """One step: a row of the request's history and an audit entry in the same transaction."""
        self.repo.add(
            DataSubjectRequestStep(
                request_id=request.id, at=utcnow(), actor=actor.id, step=step, status=request.status, note=note
            )
        )
        self.audit.append(
            actor,
            AuditRecord(
                f"request.{step}",
                [request.person_id],
                purpose=PURPOSE,
                detail={"reference": request.reference, "kind": request.kind, "status": request.status, **detail},
            ),
        )

    def _mail(self, actor: Actor, request: DataSubjectRequest, what: str, *, address: str | None = None) -> None:
        """Mail the person about their request (after the commit). The address is read, audited,
        unless the caller read it before an erasure took it."""
        mail_config = self.config.mail
        if mail_config is None:
            return
        if address is None:
            address = self.people.address_for_request(
                _desk(self.uow, request), request.person_id, reference=request.reference
            )
        if not address:
            return
        zone = ZoneInfo(request.time_zone)
        buyer = self.config.buyer
        mail = compose(
            "request_update" if what != "received" else "request_received",
            request.language,
            address,
            {
                "what": what,
                "cluster_name": self.config.display_name or self.uow.cluster,
                "reference": request.reference,
                "kind": request.kind,
                "kind_label": kind_words(request.kind, request.language),
                "received_on": deadlines.local_day(request.received_at, zone),
                "due_on": deadlines.due_day(request.extended_due_at or request.due_at, zone),
                "reason": request.extension_reason if what == "extended" else request.refusal_reason,
                "authority": buyer.supervisory_authority if buyer else "",
                "dpo_contact": buyer.dpo_contact if buyer else "",
                "pages": f"{buyer.public_base_url.rstrip('/')}/my/{self.uow.cluster}/" if buyer else "",
            },
        )
        mail_queue().send_after_commit(self.uow.session, mail_config, mail)
        self.audit.append(
            actor,
            AuditRecord(
                "request.mail",
                [request.person_id],
                ["email"],
                purpose=PURPOSE,
                detail={"reference": request.reference, "mail": what},
            ),
        )


def _desk(uow: UnitOfWork, request: DataSubjectRequest) -> Actor:
    return Actor.system(uow.cluster, f"request-desk:{request.reference}")


def kind_words(kind: str, language: str) -> str:
    """The kind in the person's words (the same words as their own pages)."""
    words = {
        "access": "access to my data",
        "portability": "a copy of my data to take elsewhere",
        "rectification": "correct my data",
        "erasure": "erase my data",
        "restriction": "restrict the use of my data",
        "objection": "object to a use of my data",
    }
    return translations(language).gettext(words.get(kind, kind))
