"""The DPO console's rules: signing in with an API key, the session it becomes, and what each
page reads (through the audit, clients, outbox, oversight and reporting services).

- The key is checked once, at sign-in, by the clients domain; only a ``cluster-dpo`` or
  ``house-dpo`` key signs in, and every other refusal (unknown, malformed, revoked, expired, other
  cluster, other role) gets one answer. The key itself is never stored, logged or shown.
- Refused sign-ins are counted per client network (``limits``, a moving window) and audited; a
  network over the limit is refused before its key is even looked at.
- The session cookie is random; only its keyed hash is stored (``DPO_SECRETS``). A session ends
  after ``SESSION_IDLE`` without use, after ``SESSION_LIFETIME`` whatever the use, at sign-out,
  and as soon as its key is revoked, expires or changes role.
- A house DPO sees their house's part only: the audit search is held to their house (another
  house's name finds nothing, like an unknown one), the clients and destinations are their
  house's, the reports carry their house.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from limits import RateLimitItem, parse

from consent_hub.actors import Actor
from consent_hub.audit.schemas import AuditFilter
from consent_hub.audit.service import AuditLog, AuditRecord, SignedCheckpoint, VerifyReport, verify_chain
from consent_hub.audit.witness import exported_checkpoints
from consent_hub.clients.service import ClientService
from consent_hub.clock import utcnow
from consent_hub.clusters import ClusterRuntime, UnitOfWork
from consent_hub.crypto.blind_index import DPO_SECRETS
from consent_hub.crypto.randomness import TOKEN_SHAPE, new_token, new_uuid
from consent_hub.dpo.auth import is_dpo_role, require_dpo
from consent_hub.dpo.repository import DpoRepository
from consent_hub.errors import ClientError, InvalidInput, NotFound, Unauthenticated
from consent_hub.outbox.service import DestinationStatus, OutboxService
from consent_hub.oversight.service import Anomalies, OversightService
from consent_hub.people.service import PeopleService
from consent_hub.plugins import report_names, report_writer
from consent_hub.reporting.filters import ReportFilters
from consent_hub.requests.service import RequestsService, RequestView
from consent_hub.storage.models import DpoSession
from consent_hub.web.limits import MovingWindow, limiter_of

SESSION_IDLE = dt.timedelta(minutes=30)
SESSION_LIFETIME = dt.timedelta(hours=8)
# refused sign-ins per client network before the network must wait (the keys are 256-bit random,
# so this guards against noise and scanning, not against guessing)
FAILED_SIGN_INS = "10/15 minutes"
EXPIRY_WARNING = dt.timedelta(days=30)
PAGE_SIZE = 50
SIGN_IN_JOB = "dpo-sign-in"  # the audit actor of a refused sign-in: nobody is signed in


class ConsoleLimited(ClientError):
    """Too many refused sign-ins from this network: try again later."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many refused sign-ins; try again later")
        self.retry_after = max(1, retry_after)


class ConsoleLimiter:
    """Refused sign-ins per client network, for one cluster (in the buyer pages' store)."""

    def __init__(self, storage_url: str) -> None:
        self.window = MovingWindow(storage_url)
        self.item: RateLimitItem = parse(FAILED_SIGN_INS)

    def allowed(self, *keys: str) -> int | None:
        """None if the network may try; otherwise the seconds until it may."""
        return self.window.wait(self.item, *keys)

    def refused(self, *keys: str) -> None:
        self.window.hit(self.item, *keys)


def _limiter(rt: ClusterRuntime) -> ConsoleLimiter:
    buyer = rt.settings.cluster(rt.name).buyer
    return limiter_of("dpo-sign-in", rt, lambda: ConsoleLimiter(buyer.rate_limit_storage if buyer else "memory://"))


@dataclass(frozen=True)
class ConsoleSession:
    actor: Actor
    client_name: str
    language: str
    csrf: str
    token: str


@dataclass(frozen=True)
class SignInAnswer:
    """A session token, or None when the key was refused (the refusal is audited and committed)."""

    token: str | None


class ConsoleSignIn:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.repo = DpoRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)

    def secret_hash(self, kind: str, value: str) -> bytes:
        return self.uow.rt.indexer.index(DPO_SECRETS, f"{kind}|{value}")

    def csrf_of(self, token: str) -> str:
        return self.secret_hash("csrf", token).hex()[:40]

    def sign_in(self, key: str, language: str, network: str | None, request_id: str | None) -> SignInAnswer:
        """Exchange a DPO's API key for a session. Raises ConsoleLimited before looking at the key
        when the network refused too often."""
        limiter = _limiter(self.uow.rt)
        keys = ("dpo-sign-in", self.uow.cluster, network or "unknown")
        wait = limiter.allowed(*keys)
        if wait is not None:
            raise ConsoleLimited(wait)
        try:
            actor = ClientService(self.uow).authenticate(key.strip(), request_id)
        except Unauthenticated as exc:
            return self._refused(limiter, keys, str(exc), None)
        if not is_dpo_role(actor.role):
            return self._refused(limiter, keys, "not a DPO key", actor.id)
        found = self.repo.client_with_house(uuid.UUID(actor.id.removeprefix("client:")))
        assert found is not None  # it just authenticated
        client, _ = found
        token = new_token()
        now = utcnow()
        self.repo.add_session(
            DpoSession(
                id_hash=self.secret_hash("session", token),
                client_id=client.id,
                role=actor.role,
                house=actor.house,
                language=language,
                csrf_hash=self.secret_hash("csrf-check", self.csrf_of(token)),
                created_at=now,
                last_seen_at=now,
            )
        )
        self.audit.append(actor, AuditRecord("dpo.sign-in", detail={"client_id": str(client.id)}))
        return SignInAnswer(token)

    def _refused(self, limiter: ConsoleLimiter, keys: tuple[str, ...], why: str, actor_id: str | None) -> SignInAnswer:
        limiter.refused(*keys)
        # the reason names no key: it is the clients domain's message (unknown, revoked, expired...)
        detail: dict[str, Any] = {"reason": why[:80]}
        if actor_id is not None:
            detail["client_id"] = actor_id.removeprefix("client:")
        nobody = Actor.system(self.uow.cluster, SIGN_IN_JOB)
        self.audit.append(nobody, AuditRecord("dpo.sign-in.refused", detail=detail))
        return SignInAnswer(None)

    def session(self, token: str | None, request_id: str | None = None) -> ConsoleSession | None:
        """The signed-in DPO of this cookie, or None (unknown, ended, idle, too old, or the key is
        revoked, expired or no longer a DPO's). Each use moves the idle clock."""
        if not token or not TOKEN_SHAPE.match(token):
            return None
        id_hash = self.secret_hash("session", token)
        row = self.repo.session_by_hash(id_hash)
        if row is None or row.ended_at is not None:
            return None
        now = utcnow()
        found = self.repo.client_with_house(row.client_id)
        client, house = found if found is not None else (None, None)
        if (
            row.last_seen_at + SESSION_IDLE <= now
            or row.created_at + SESSION_LIFETIME <= now
            or client is None
            or client.revoked_at is not None
            or client.expires_at <= now
            or client.role != row.role
            or house != row.house
            or not is_dpo_role(client.role)
        ):
            self.repo.end_session(id_hash, now)
            return None
        self.repo.touch_session(id_hash, now)
        actor = Actor(f"client:{client.id}", self.uow.cluster, client.role, house, request_id)
        return ConsoleSession(actor, client.name, row.language, self.csrf_of(token), token)

    def set_language(self, session: ConsoleSession, language: str) -> None:
        self.repo.touch_session(self.secret_hash("session", session.token), utcnow(), language)

    def sign_out(self, session: ConsoleSession) -> None:
        self.repo.end_session(self.secret_hash("session", session.token), utcnow())
        self.audit.append(session.actor, AuditRecord("dpo.sign-out"))

    def csrf_ok(self, session: ConsoleSession, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(session.csrf, submitted or "")


# -- the pages' reads ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AuditQuery:
    """The audit search form as typed (each value optional; dates in the cluster's calendar)."""

    email: str = ""
    person: str = ""
    client: str = ""
    house: str = ""
    role: str = ""
    purpose: str = ""
    action: str = ""
    start: str = ""
    end: str = ""


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: dt.datetime
    actor: str
    client_name: str | None
    house: str | None
    role: str | None
    purpose: str | None
    action: str
    fields: list[str]
    bases: list[str]
    people: int


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    older: int | None  # the cursor of the next page, if there is one


@dataclass(frozen=True)
class ClientRow:
    id: uuid.UUID
    name: str
    role: str
    house: str | None
    agreement: str
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    expiring_soon: bool
    active: bool


@dataclass(frozen=True)
class Chain:
    report: VerifyReport | None
    checkpoint: SignedCheckpoint | None
    signed_at: dt.datetime | None
    exported: int = 0


@dataclass(frozen=True)
class ReportAsk:
    house: str = ""
    start: str = ""
    end: str = ""
    problems: list[dict[str, str]] = field(default_factory=list)


class ConsoleService:
    """What the console's pages read and do, always as the signed-in DPO."""

    def __init__(self, uow: UnitOfWork, actor: Actor) -> None:
        require_dpo(actor)
        self.uow = uow
        self.actor = actor
        self.repo = DpoRepository(uow.session)
        self.audit = AuditLog(uow.session, uow.cluster)
        self.config = uow.rt.settings.cluster(uow.cluster)

    # -- houses in the forms ----------------------------------------------------------------------
    def houses(self) -> list[str]:
        return [self.actor.house] if self.actor.house else self.repo.house_slugs()

    # -- audit search ---------------------------------------------------------------------------------
    def search(self, query: AuditQuery, before: int | None = None) -> AuditPage:
        flt = self._filter(query)  # another house's entries: none (the audit search holds a house DPO)
        rows = self.audit.search(self.actor, flt, limit=PAGE_SIZE + 1, before=before)
        shown = list(rows[:PAGE_SIZE])
        client_ids = [_client_id(e.actor) for e in shown]
        names = self.repo.client_names(c for c in client_ids if c is not None)
        out = []
        for entry, client_id in zip(shown, client_ids, strict=True):
            detail = json.loads(entry.detail)
            bases = detail.get("bases", []) if isinstance(detail, dict) else []
            out.append(
                AuditRow(
                    seq=int(entry.seq),
                    at=entry.at,
                    actor=entry.actor,
                    client_name=names.get(client_id) if client_id else None,
                    house=entry.house,
                    role=entry.role,
                    purpose=entry.purpose,
                    action=entry.action,
                    fields=list(json.loads(entry.fields)),
                    bases=[str(b) for b in bases] if isinstance(bases, list) else [],
                    people=len(json.loads(entry.subjects)),
                )
            )
        older = out[-1].seq if len(rows) > PAGE_SIZE and out else None
        return AuditPage(out, older)

    def _filter(self, query: AuditQuery) -> AuditFilter:
        problems: list[dict[str, str]] = []
        person: uuid.UUID | None = None
        if query.email.strip():
            try:
                found = PeopleService(self.uow).id_by_email(query.email)
            except InvalidInput:
                problems.append(_problem("email", "not an e-mail address"))
            else:
                # an unknown address searches for a random id: the same work and the same empty
                # answer as an address of someone whose entries the DPO may not see
                person = found or new_uuid()
        if query.person.strip():
            try:
                by_id = uuid.UUID(query.person.strip())
            except ValueError:
                problems.append(_problem("person", "not a person id"))
            else:
                # an address and an id of two people: nobody is both
                person = new_uuid() if person is not None and person != by_id else by_id
        actor = query.client.strip() or None
        if actor is not None and not actor.startswith(("client:", "cli:", "system:", "person:", "web:")):
            try:
                actor = f"client:{uuid.UUID(actor)}"
            except ValueError:
                problems.append(_problem("client", "not a client id"))
        start = self._day(query.start, "start", problems)
        end = self._day(query.end, "end", problems)
        if start and end and end <= start:
            problems.append(_problem("end", "before the start"))
        if problems:
            raise InvalidInput(problems)
        return AuditFilter(
            person=person,
            actor=actor,
            house=query.house.strip() or None,
            role=query.role.strip() or None,
            purpose=query.purpose.strip() or None,
            action=query.action.strip() or None,
            start=start,
            end=end + dt.timedelta(days=1) if end else None,
        )

    def _day(self, text: str, name: str, problems: list[dict[str, str]]) -> dt.datetime | None:
        """A day of the cluster's calendar (YYYY-MM-DD) as the UTC moment it begins."""
        if not text.strip():
            return None
        try:
            day = dt.date.fromisoformat(text.strip())
        except ValueError:
            problems.append(_problem(name, "not a date"))
            return None
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.config.zone()).astimezone(dt.UTC)

    # -- the chain --------------------------------------------------------------------------------------
    def chain(self, verify: bool) -> Chain:
        """The last signed checkpoint, and the chain verified (when asked: it reads the whole log)."""
        report = None
        exported = exported_checkpoints(self.uow.rt.settings, self.uow.cluster)
        last = self.audit.last_checkpoint()
        if verify:
            # recorded before the walk: the walk streams the log over this transaction's connection,
            # which writes nothing after it (PostgreSQL's server-side cursor)
            self.audit.append(self.actor, AuditRecord("audit.verify", detail={"exported": len(exported)}))
            report = verify_chain(self.uow.session, self.uow.cluster, self.uow.rt.keys.audit_public_key(), exported)
        return Chain(
            report,
            SignedCheckpoint.of(last) if last is not None else None,
            last.signed_at if last is not None else None,
            len(exported),
        )

    def checkpoint_text(self) -> str | None:
        last = self.audit.last_checkpoint()
        if last is None:
            return None
        self.audit.append(self.actor, AuditRecord("audit.checkpoint.export", detail={"checkpoint_seq": int(last.seq)}))
        return SignedCheckpoint.of(last).to_text(self.uow.cluster)

    # -- clients, destinations, anomalies ----------------------------------------------------------------
    def clients(self) -> list[ClientRow]:
        now = utcnow()
        out = []
        for client, house in self.repo.clients_with_house(self.actor.house):
            active = client.revoked_at is None and client.expires_at > now
            out.append(
                ClientRow(
                    id=client.id,
                    name=client.name,
                    role=client.role,
                    house=house,
                    agreement=client.agreement_ref,
                    expires_at=client.expires_at,
                    revoked_at=client.revoked_at,
                    # by the calendar day: a key issued "for 30 days" is one that expires within 30 days
                    expiring_soon=active and client.expires_at.date() <= (now + EXPIRY_WARNING).date(),
                    active=active,
                )
            )
        return out

    def destinations(self) -> list[DestinationStatus]:
        return OutboxService(self.uow).status_per_destination(self.actor)

    def anomalies(self) -> Anomalies:
        return OversightService(self.uow).anomalies(self.actor)

    # -- reports ------------------------------------------------------------------------------------------
    @staticmethod
    def report_names() -> list[str]:
        return report_names()

    def report_filters(self, ask: ReportAsk) -> ReportFilters:
        problems: list[dict[str, str]] = []
        house = ask.house.strip() or None
        if self.actor.house is not None:
            house = self.actor.house  # a house DPO's reports are their house's
        elif house is not None and house not in self.repo.house_slugs():
            problems.append(_problem("house", "no such house"))
        start = self._day(ask.start, "start", problems)
        end = self._day(ask.end, "end", problems)
        if start and end and end < start:
            problems.append(_problem("end", "before the start"))
        if problems:
            raise InvalidInput(problems)
        return ReportFilters(house=house, start=start, end=end + dt.timedelta(days=1) if end else None)

    def write_report(self, name: str, filters: ReportFilters, out: BinaryIO) -> int:
        if name not in report_names():
            raise InvalidInput([_problem("report", "no such report")])
        return int(report_writer(name)(self.uow, self.actor, filters, out))


@dataclass(frozen=True)
class RequestForm:
    """A request received by mail or at the counter, as the DPO typed it."""

    kind: str = ""
    channel: str = ""
    email: str = ""
    house: str = ""
    verified_note: str = ""
    language: str = "nl"
    field: str = ""
    value: str = ""
    purpose: str = ""


@dataclass(frozen=True)
class RequestLists:
    overdue: list[RequestView]
    soon: list[RequestView]
    open: list[RequestView]
    closed: list[RequestView]


class RequestDesk:
    """The console's request pages, over the requests domain (its rules, audit and mails)."""

    STEPS = ("verify", "start", "extend", "execute", "sign-off", "refuse")

    def __init__(self, uow: UnitOfWork, actor: Actor) -> None:
        require_dpo(actor)
        self.actor = actor
        self.requests = RequestsService(uow)
        self.houses = DpoRepository(uow.session).house_slugs

    def lists(self) -> RequestLists:
        overdue, soon = self.requests.due_lists(self.actor)
        everything = self.requests.queue(self.actor, include_closed=True, limit=200)
        return RequestLists(
            overdue,
            soon,
            [r for r in everything if not r.closed],
            [r for r in everything if r.closed],
        )

    def get(self, reference: str) -> RequestView:
        return self.requests.get(self.actor, reference)

    def register(self, form: RequestForm) -> RequestView | None:
        """The registered request; None for a house DPO when the address is unknown or the person
        is not their house's (the requests domain answers both alike; the person, if any, gets the
        receipt and the cluster DPO the request)."""
        asked = (("field", form.field), ("value", form.value), ("purpose", form.purpose))
        detail = {name: value for name, value in asked if value.strip()}
        return self.requests.register(
            self.actor,
            kind=form.kind,
            channel=form.channel,
            email=form.email.strip() or None,
            house=form.house.strip() or None,
            detail=detail or None,
            verified_note=form.verified_note.strip() or None,
            language=form.language,
        )

    def step(self, reference: str, step: str, *, note: str = "", months: int = 0, house: str = "") -> RequestView:
        if step == "verify":
            return self.requests.verify(self.actor, reference, note=note)
        if step == "start":
            return self.requests.start(self.actor, reference)
        if step == "extend":
            return self.requests.extend(self.actor, reference, months=months, reason=note)
        if step == "execute":
            return self.requests.execute(self.actor, reference)
        if step == "sign-off":
            return self.requests.sign_off(self.actor, reference, house=house.strip() or None, note=note)
        if step == "refuse":
            return self.requests.refuse(self.actor, reference, reason=note)
        raise NotFound("no such step")


def _client_id(actor: str) -> uuid.UUID | None:
    if not actor.startswith("client:"):
        return None
    try:
        return uuid.UUID(actor.removeprefix("client:"))
    except ValueError:
        return None


def _problem(name: str, problem: str) -> dict[str, str]:
    return {"field": name, "problem": problem, "type": "value_error"}

