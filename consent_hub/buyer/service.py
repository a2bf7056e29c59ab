"""What a signed-in buyer sees and does on their own pages. Every method acts for the actor's own
person (``require_buyer``), reads through the other domains' services (which audit the reads with
the buyer as actor) and writes consent through ``ConsentService.record`` (channel ``web``, the
notice version shown, the language, evidence) and erasure through ``RightsService``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consent_hub.actors import Actor
from consent_hub.audit.service import AuditLog, AuditRecord
from consent_hub.buyer import export
from consent_hub.buyer.auth import require_buyer
from consent_hub.buyer.export import AccessLine
from consent_hub.buyer.repository import BuyerRepository
from consent_hub.buyer.signin import SignInService
from consent_hub.clusters import UnitOfWork
from consent_hub.consent.catalogue import Purpose, load_catalogue
from consent_hub.consent.service import ConsentService
from consent_hub.errors import InvalidInput, NotFound
from consent_hub.outbox.service import OutboxService
from consent_hub.people.fields import PERSON_FIELDS
from consent_hub.people.service import PeopleService
from consent_hub.requests.service import RequestsService, RequestView
from consent_hub.storage.models import AuditEntry, House
from consent_hub.validation import clean_text
from consent_hub.vocabulary import ConsentStatus, EffectiveConsentStatus, RequestKind

# the choices a buyer makes per house, and once for the cluster
HOUSE_PURPOSES = ("newsletter", "share-with-house")
CLUSTER_PURPOSES = ("cluster-marketing", "audience-research")
MARKETING = "dpv:DirectMarketing"
ACCESS_PAGE = 20
ACCESS_SCAN = 500  # audit entries read per page of "who accessed my data"
# what a buyer may ask to have rectified (the e-mail address is their sign-in: they change it at the box office)
RECTIFIABLE = tuple(f for f in PERSON_FIELDS if f != "email")
ASKABLE = (RequestKind.RECTIFICATION, RequestKind.RESTRICTION, RequestKind.OBJECTION)


@dataclass(frozen=True)
class Evidence:
    ip_prefix: str | None
    user_agent: str | None

    def as_dict(self) -> dict[str, str] | None:
        out = {"ip_prefix": self.ip_prefix, "user_agent": self.user_agent}
        kept = {k: v for k, v in out.items() if v}
        return kept or None


@dataclass
class HouseKnowledge:
    house: House
    reasons: list[dict[str, Any]] = field(default_factory=list)

    @property
    def knows(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class Choice:
    key: str  # purpose|kind|ref
    purpose: str
    title: str
    notice: str
    notice_sha256: str
    notice_version: int
    checked: bool
    status: str | None


@dataclass
class ChoiceGroup:
    house: House | None
    choices: list[Choice]


@dataclass(frozen=True)
class ToldLine:
    destination: str
    kind_of_destination: str
    house: str | None
    purpose: str | None
    what: str
    status: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    receipt: str | None


def _entry_line(entry: AuditEntry) -> AccessLine:
    return AccessLine(
        int(entry.seq),
        entry.at,
        entry.action,
        entry.house,
        entry.role,
        entry.purpose,
        list(json.loads(entry.fields or "[]")),
    )


class BuyerService:
    def __init__(self, uow: UnitOfWork, actor: Actor) -> None:
        self.uow = uow
        self.actor = actor
        self.person_id = require_buyer(actor)
        self.repo = BuyerRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.consent = ConsentService(uow)
        self.catalogue = load_catalogue()
        self.config = uow.rt.settings.cluster(uow.cluster)

    def _page_read(self, page: str, fields: Sequence[str] = ()) -> None:
        self.audit.append(self.actor, AuditRecord("buyer.page.read", [self.person_id], fields, detail={"page": page}))

    # -- which houses know me ------------------------------------------------------------------------
    def houses(self) -> list[HouseKnowledge]:
        self._page_read("houses", ["relations"])
        houses = self.repo.houses()
        by_id = {h.id: HouseKnowledge(h) for h in houses}
        by_slug = {h.slug: by_id[h.id] for h in houses}
        for rel in self.repo.relations_of(self.person_id):
            known = by_id.get(rel.house_id)
            if known is not None:
                known.reasons.append(
                    {"kind": rel.kind, "program": rel.program or None, "since": rel.first_seen, "last": rel.last_seen}
                )
        for view in self.consent.current(self.actor, self.person_id):
            state = view.state
            if view.effective_status != EffectiveConsentStatus.GRANTED:
                continue
            reason = {"kind": "consent", "purpose": state.purpose, "since": state.given_at}
            if state.target_kind == "house" and state.target_ref in by_slug:
                by_slug[state.target_ref].reasons.append(reason)
            elif state.target_kind == "cluster":
                for known in by_id.values():
                    known.reasons.append({**reason, "cluster_wide": True})
        return list(by_id.values())

    # -- my choices ------------------------------------------------------------------------------------
    def choices(self, language: str) -> list[ChoiceGroup]:
        states = {
            f"{v.state.purpose}|{v.state.target_kind}|{v.state.target_ref}": v.effective_status
            for v in self.consent.current(self.actor, self.person_id)
        }
        groups: list[ChoiceGroup] = []
        for house in self.repo.houses():
            groups.append(
                ChoiceGroup(house, [self._choice(p, "house", house.slug, language, states) for p in HOUSE_PURPOSES])
            )
        cluster_choices = []
        for key in CLUSTER_PURPOSES:
            purpose = self.catalogue.get(key)
            ref = self.uow.cluster if purpose.target_kind == "cluster" else purpose.recipients[0]
            cluster_choices.append(self._choice(key, purpose.target_kind, ref, language, states))
        groups.append(ChoiceGroup(None, cluster_choices))
        return groups

    def _choice(self, purpose: str, kind: str, ref: str, language: str, states: Mapping[str, str]) -> Choice:
        notice = self.consent.current_notice(purpose, language)
        key = f"{purpose}|{kind}|{ref}"
        status = states.get(key)
        return Choice(
            key,
            purpose,
            notice.title,
            notice.text,
            notice.sha256,
            notice.version,
            status == EffectiveConsentStatus.GRANTED,
            status,
        )

    def _allowed_keys(self) -> set[str]:
        keys = {f"{p}|house|{h.slug}" for h in self.repo.houses() for p in HOUSE_PURPOSES}
        for key in CLUSTER_PURPOSES:
            purpose = self.catalogue.get(key)
            ref = self.uow.cluster if purpose.target_kind == "cluster" else purpose.recipients[0]
            keys.add(f"{key}|{purpose.target_kind}|{ref}")
        return keys

    def change_choices(self, language: str, wanted: Sequence[str], shown: Mapping[str, str], evidence: Evidence) -> int:
        """Record each choice that differs from the current state: a tick is a grant, an untick of a
        granted choice a withdrawal. ``shown`` maps each choice on the page to the notice hash it
        showed (the version recorded). Everything is checked before anything is recorded."""
        allowed = self._allowed_keys()
        bad = [k for k in [*wanted, *shown] if k not in allowed] + [
            k for k, sha in shown.items() if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)
        ]
        if bad or not set(wanted) <= set(shown):
            raise InvalidInput([{"field": "choice", "problem": "not a choice of this page", "type": "value_error"}])
        current = {
            f"{v.state.purpose}|{v.state.target_kind}|{v.state.target_ref}": v.effective_status
            for v in self.consent.current(self.actor, self.person_id)
        }
        changes: list[tuple[str, str]] = []
        for key in shown:
            granted = current.get(key) == EffectiveConsentStatus.GRANTED
            if key in wanted and not granted:
                changes.append((key, ConsentStatus.GRANTED))
            elif key not in wanted and granted:
                changes.append((key, ConsentStatus.WITHDRAWN))
        for key, status in changes:
            self._record(key, status, shown[key], language, evidence)
        return len(changes)

    def withdraw_marketing(self, language: str, evidence: Evidence) -> int:
        """Withdraw every granted consent whose purpose is direct marketing, in one step."""
        count = 0
        for view in self.consent.current(self.actor, self.person_id):
            state = view.state
            purpose: Purpose = self.catalogue.get(state.purpose)
            if view.effective_status != EffectiveConsentStatus.GRANTED or purpose.dpv.purpose != MARKETING:
                continue
            notice = self.consent.current_notice(state.purpose, language)
            key = f"{state.purpose}|{state.target_kind}|{state.target_ref}"
            self._record(key, ConsentStatus.WITHDRAWN, notice.sha256, language, evidence)
            count += 1
        return count

    def _record(self, key: str, status: str, notice_sha256: str, language: str, evidence: Evidence) -> None:
        purpose, kind, ref = key.split("|")
        self.consent.record(
            self.actor,
            self.person_id,
            {
                "purpose": purpose,
                "target": None if kind == "cluster" else ref,
                "status": status,
                "notice_sha256": notice_sha256,
                "language": language,
                "channel": "web",
                "evidence": evidence.as_dict(),
            },
        )

    # -- who accessed my data, who was told ----------------------------------------------------------
    def house_names(self) -> dict[str, str]:
        return {h.slug: h.name for h in self.repo.houses()}

    def accesses(self, before: int | None = None) -> tuple[list[AccessLine], int | None]:
        """Entries naming the buyer written by anyone but the buyer (newest first), a page at a time;
        the second value is the cursor of the next (older) page."""
        rows = self.audit.read_entries(self.actor, limit=ACCESS_SCAN, before=before, person=self.person_id)
        lines: list[AccessLine] = []
        last_seq: int | None = None
        for entry in rows:
            last_seq = int(entry.seq)
            if entry.actor == self.actor.id:
                continue
            lines.append(_entry_line(entry))
            if len(lines) == ACCESS_PAGE:
                break
        more = len(lines) == ACCESS_PAGE or len(rows) == ACCESS_SCAN
        return lines, (last_seq if more and last_seq is not None and last_seq > 1 else None)

    def told(self) -> list[ToldLine]:
        self._page_read("told", ["deliveries"])
        destinations = self.config.destinations
        lines = []
        for d in OutboxService(self.uow).deliveries_of(self.actor, self.person_id):
            cfg = destinations.get(d.destination)
            lines.append(
                ToldLine(
                    d.destination,
                    cfg.kind if cfg else "",
                    cfg.house if cfg else None,
                    cfg.purpose if cfg else None,
                    d.sent_as or d.kind,
                    d.status,
                    d.created_at,
                    d.delivered_at,
                    d.receipt,
                )
            )
        return list(reversed(lines))

    # -- my data -------------------------------------------------------------------------------------
    def information(self, language: str) -> dict[str, Any]:
        """What GDPR Art. 15(1) requires beside the data (no personal data: purposes, houses, rights)."""
        return export.art15(self.uow.cluster, self.config, self.catalogue, self.repo.houses(), language)

    def data(self, language: str) -> dict[str, Any]:
        """Everything the cluster holds about the buyer, with the Art. 15(1) information beside it."""
        view = PeopleService(self.uow).read_own(self.actor, self.person_id, detail={"export": True})
        houses = self.repo.houses()
        slugs = {h.id: h.slug for h in houses}
        events = self.consent.history(self.actor, self.person_id)
        notices = self.repo.notices([e.notice_id for e in events])
        states = self.consent.current(self.actor, self.person_id)
        rows = self.audit.read_entries(self.actor, limit=10_000, person=self.person_id)
        deliveries = OutboxService(self.uow).deliveries_of(self.actor, self.person_id)
        self.audit.append(
            self.actor,
            AuditRecord("buyer.export", [self.person_id], list(PERSON_FIELDS), detail={"language": language}),
        )
        return export.assemble(
            cluster=self.uow.cluster,
            config=self.config,
            catalogue=self.catalogue,
            language=language,
            profile=view.fields,
            person_status=view.status,
            houses=houses,
            relations=[(slugs.get(r.house_id, ""), r) for r in self.repo.relations_of(self.person_id)],
            sales=[(slugs.get(s.house_id, ""), s, e) for s, e in self.repo.sales_of(self.person_id)],
            memberships=[(slugs.get(m.house_id, ""), m) for m in self.repo.memberships_of(self.person_id)],
            states=states,
            events=events,
            notices=notices,
            deliveries=deliveries,
            accesses=[_entry_line(e) for e in rows],
            requests=self.repo.requests_of(self.person_id),
        )

    # -- my requests ---------------------------------------------------------------------------------
    def requests(self) -> list[RequestView]:
        self._page_read("requests")
        return RequestsService(self.uow).of_person(self.person_id)

    def withdraw_request(self, reference: str) -> RequestView:
        return RequestsService(self.uow).withdraw(self.actor, reference)

    def ask(self, kind: str, language: str, answers: Mapping[str, str]) -> RequestView:
        """Register a rectification, restriction or objection through the request desk (due in one
        month on the cluster's calendar, routed to the controller houses, a receipt mailed). What
        the buyer wrote is sealed with their key."""
        if kind not in ASKABLE:
            raise InvalidInput([{"field": "kind", "problem": "not a request this page takes", "type": "value_error"}])
        detail = self._request_detail(kind, answers)
        request = RequestsService(self.uow).register(
            self.actor, kind=kind, channel="web", person_id=self.person_id, detail=detail, language=language
        )
        if request is None:  # never: a buyer's own request is always theirs to see
            raise NotFound("no such request")
        return request

    def _request_detail(self, kind: str, answers: Mapping[str, str]) -> dict[str, str]:
        problems: list[dict[str, str]] = []
        detail: dict[str, str] = {}
        if kind == RequestKind.RECTIFICATION:
            field_name = answers.get("field", "")
            if field_name not in RECTIFIABLE:
                problems.append({"field": "field", "problem": "choose the detail to correct", "type": "missing"})
            else:
                detail["field"] = field_name
            try:
                value = clean_text(answers.get("value", ""), 200)
            except ValueError:
                value = None
            if value is None:
                problems.append({"field": "value", "problem": "enter the right value", "type": "missing"})
            else:
                detail["value"] = value
        if kind == RequestKind.OBJECTION:
            purpose = answers.get("purpose", "")
            if purpose not in self.catalogue.purpose_keys():
                problems.append({"field": "purpose", "problem": "choose what you object to", "type": "missing"})
            else:
                detail["purpose"] = purpose
        try:
            reason = clean_text(answers.get("reason", ""), 1000)
        except ValueError:
            problems.append({"field": "reason", "problem": "remove control characters", "type": "value_error"})
            reason = None
        if reason:
            detail["reason"] = reason
        if problems:
            raise InvalidInput(problems)
        return detail

    def erase(self, language: str) -> RequestView:
        """The confirmed erasure: a request through the desk, carried out at once through the
        erasure path (crypto-shredding, suppression, outbox); the houses that are controllers sign
        off their part. Every session ends; one mail with the reference (read before the key goes)."""
        desk = RequestsService(self.uow)
        request = desk.register(
            self.actor,
            kind=RequestKind.ERASURE,
            channel="web",
            person_id=self.person_id,
            language=language,
            mail_receipt=False,
        )
        if request is None:
            raise NotFound("no such request")
        done = desk.execute(self.actor, request.reference)
        SignInService(self.uow).end_everything(self.person_id)
        return done
