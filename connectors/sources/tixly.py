"""Tixly CRM API v3 as a source: customers (with their permissions, Tixly's opt-ins), events,
ticket lines and memberships.

Shape and quirks followed (see ``fakes/tixly/`` for the fake used in tests):
bearer token; ``{"Data": [...], "Next": url}`` paging with ``pageSize``; timestamps without a
zone, in UTC; ``/customers?DateFrom=`` on ``Edited``, or ``Created`` while ``Edited`` is null;
``/events/sales?SoldFrom=&SoldTo=`` with one row per ticket line and returns as negative
``TicketCount``; ``OrganisationID`` names the house (mapped through the hub's house table).

Permissions map to purposes: a ``General`` e-mail permission is the collecting house's newsletter
opt-in unless ``permissions`` in the connector config says otherwise; other permissions are
ignored unless mapped. Memberships map to programs through ``programs`` (a joint subscription
covers several houses); an unmapped membership is a program of the selling house only.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.sources.base import (
    EngineHttp,
    FatalSyncError,
    Page,
    RetryPolicy,
    RunOutcome,
    Source,
    Stream,
    SyncContext,
    map_records,
    run_sync,
    with_skipped,
)
from connectors.sources.mapping import BadRecord, cents, utc_time
from connectors.sources.mapping import ref as _ref
from connectors.sources.mapping import text as _text
from connectors.sources.mapping import whole_number as _int
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import ConnectorConfig
from consent_hub.ingest.records import (
    CustomerRecord,
    EngineOptIn,
    EventRecord,
    MembershipRecord,
    PageResult,
    SaleLine,
)
from consent_hub.ingest.service import IngestService

LANGUAGES = {1: "nl", 2: "en", 3: "fr"}
KEYSET_OVERLAP = dt.timedelta(seconds=1)  # how far before the last time read the next page starts


def tixly_time(value: Any, field: str) -> dt.datetime:
    return utc_time(value, field)


def query_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")


def program_of(ctx: SyncContext, membership: str) -> tuple[str, list[str] | None]:
    """The program a membership (or a subscription ticket) stands for, and the houses it covers;
    an unmapped membership is a program of the selling house alone (houses None)."""
    mapping = ctx.config.programs.get(membership)
    if mapping is None:
        return f"membership-{membership}", None
    return mapping.program, list(mapping.houses)


@dataclass(frozen=True)
class Permission:
    organisation: str
    kind: str  # General | Event related
    channel: str  # Email | SMS | Both


class TixlyPaged(Stream):
    path: str
    # Customers and events have no upper filter in the API and are read to their end: a customer
    # edited after the run started must still be imported before the sales that name them. The
    # frozen upper bound limits the windowed streams (sales, memberships) through SoldTo.
    bounded = False

    def __init__(self, source: str, page_size: int) -> None:
        self.source = source
        self.page_size = page_size

    def params(self, since: dt.datetime | None, ctx: SyncContext) -> dict[str, Any]:
        return {"DateFrom": query_time(since)} if since is not None else {}

    def record_time(self, raw: dict[str, Any]) -> dt.datetime:
        edited = raw.get("Edited")
        return tixly_time(edited if edited is not None else raw.get("Created"), "Edited/Created")

    def pages(self, http: EngineHttp, since: dt.datetime | None, ctx: SyncContext) -> Iterator[Page]:
        """Keyset paging on the record time: each page is asked for again from the last time read
        (``DateFrom`` / ``SoldFrom``), not by following ``Next``, whose page numbers index the live
        result. A record edited while a run pages through the list moves to its end, and with page
        numbers every later record would shift one place forward, so that the first record of the
        next page is never served (and, its time being older, not by the next run either). From a
        time there is nothing to shift. The records of that very time come again (the ingest is
        idempotent); ``Next`` is followed only when a page brings no newer time. Each new start
        lies ``KEYSET_OVERLAP`` before the last time read: the API does not document whether
        ``DateFrom`` is inclusive or to which resolution it compares."""
        params: dict[str, Any] | None = {**self.params(since, ctx), "pageSize": self.page_size}
        url: str | None = self.path
        reached = since
        while url:
            body = http.get_json(url, params)
            data = body.get("Data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise FatalSyncError(f"unexpected page shape from {self.path}")
            records: list[dict[str, Any]] = []
            last: dt.datetime | None = None  # the latest time among the records kept
            beyond = False
            for r in data:
                if not isinstance(r, dict):
                    continue
                try:
                    when: dt.datetime | None = self.record_time(r)
                except BadRecord:
                    when = None
                if when is not None and self.bounded and when > ctx.upper_bound:
                    beyond = True
                    break
                records.append(r)
                if when is not None and (last is None or when > last):
                    last = when
            if records:
                yield Page(records)
            nxt = body.get("Next")
            if beyond or not (isinstance(nxt, str) and nxt):
                return
            if last is not None and (reached is None or last > reached):
                reached = last
                restart = self.params(last - KEYSET_OVERLAP, ctx)
                url, params = self.path, {**restart, "pageSize": self.page_size}
            else:
                url, params = nxt, None  # Next repeats every parameter

    @abstractmethod
    def map_record(self, raw: dict[str, Any], ctx: SyncContext) -> Any:
        """One engine record as a hub record; ``BadRecord`` when it cannot be."""

    @abstractmethod
    def write(self, ingest: IngestService, batch: Any) -> PageResult: ...

    def apply(self, ingest: IngestService, page: Page, ctx: SyncContext) -> tuple[PageResult, dt.datetime | None]:
        mapped = map_records(page, self.key, self.record_time, lambda raw: self.map_record(raw, ctx))
        return with_skipped(self.write(ingest, mapped.batch), mapped)


class EventsStream(TixlyPaged):
    name, key, cursor_field, path = "events", "Id", "Edited", "/events"

    def map_record(self, raw: dict[str, Any], ctx: SyncContext) -> EventRecord:
        org = _ref(raw, "OrganisationId")
        house = ctx.houses.get(org)
        if house is None:
            raise BadRecord("OrganisationId: not mapped to a house")
        categories = raw.get("Categories") or []
        return EventRecord(
            external_id=_ref(raw, "Id"),
            house=house,
            title=_text(raw, "Name") or "",
            starts_at=tixly_time(raw["StartDate"], "StartDate") if raw.get("StartDate") else None,
            ends_at=tixly_time(raw["EndDate"], "EndDate") if raw.get("EndDate") else None,
            categories=[str(c.get("Name")) for c in categories if isinstance(c, dict) and c.get("Name")],
            updated_at=self.record_time(raw),
        )

    def write(self, ingest: IngestService, batch: Any) -> PageResult:
        return ingest.upsert_events(batch)


class CustomersStream(TixlyPaged):
    name, key, cursor_field, path = "customers", "Id", "Edited", "/customers"

    def __init__(self, source: str, page_size: int, permissions: dict[str, Permission]) -> None:
        super().__init__(source, page_size)
        self.permissions = permissions

    def opt_in(self, raw: dict[str, Any], ctx: SyncContext) -> EngineOptIn | None:
        perm_id = _ref(raw, "PermissionId")
        definition = self.permissions.get(perm_id)
        if definition is None:
            return None
        purpose = ctx.config.permissions.get(perm_id)
        if purpose is None:
            general_mail = definition.kind == "General" and definition.channel in ("Email", "Both")
            purpose = ctx.config.newsletter_purpose if general_mail else ""
        house = ctx.houses.get(definition.organisation)
        if not purpose or house is None:
            return None
        opted = raw.get("OptIn")
        if not isinstance(opted, bool):
            raise BadRecord("Permissions.OptIn: not a boolean")
        return EngineOptIn(perm_id, purpose, house, opted, tixly_time(raw.get("Edited"), "Permissions.Edited"))

    def map_record(self, raw: dict[str, Any], ctx: SyncContext) -> CustomerRecord:
        family = " ".join(p for p in (_text(raw, "LastNamePrefix"), _text(raw, "LastName")) if p) or None
        street = _text(raw, "AddressOne")
        if street is None and _text(raw, "StreetName"):
            street = " ".join(
                p for p in (_text(raw, "StreetName"), _text(raw, "HouseNumber"), _text(raw, "HouseExtension")) if p
            )
        birth = _text(raw, "DateOfBirth")
        language = raw.get("LanguageId")
        perms = raw.get("Permissions") or []
        if not isinstance(perms, list):
            raise BadRecord("Permissions: not a list")
        opt_ins = [o for p in perms if isinstance(p, dict) and (o := self.opt_in(p, ctx)) is not None]
        return CustomerRecord(
            external_id=_ref(raw, "Id"),
            fields={
                "given_name": _text(raw, "FirstName"),
                "family_name": family,
                "email": _text(raw, "Email"),
                "phone": _text(raw, "Mobile"),
                "street_address": street,
                "postal_code": _text(raw, "ZipCode"),
                "city": _text(raw, "City"),
                "country": _text(raw, "Country"),
                "birth_date": birth[:10] if birth else None,
                "language": LANGUAGES.get(language) if isinstance(language, int) else None,
            },
            seen_at=self.record_time(raw),
            opt_ins=opt_ins,
        )

    def write(self, ingest: IngestService, batch: Any) -> PageResult:
        return ingest.upsert_customers(batch)


class SoldWindowStream(TixlyPaged):
    """Sales-like streams: immutable rows in ``[SoldFrom, SoldTo)`` on ``Created``."""

    bounded = True

    def params(self, since: dt.datetime | None, ctx: SyncContext) -> dict[str, Any]:
        params = {"SoldTo": query_time(ctx.upper_bound)}
        if since is not None:
            params["SoldFrom"] = query_time(since)
        return params

    def record_time(self, raw: dict[str, Any]) -> dt.datetime:
        return tixly_time(raw.get("Created"), "Created")


class SalesStream(SoldWindowStream):
    name, key, cursor_field, path = "sales", "SaleTicketId", "Created", "/events/sales"

    def map_record(self, raw: dict[str, Any], ctx: SyncContext) -> SaleLine:
        org = _ref(raw, "OrganisationID")
        house = ctx.houses.get(org)
        if house is None:
            raise BadRecord("OrganisationID: not mapped to a house")
        anonymous = raw.get("IsAnonymousSale") is True or raw.get("CustomerId") is None
        subscription = raw.get("SubscriptionTypeId")
        program = program_of(ctx, str(subscription))[0] if subscription is not None else None
        return SaleLine(
            external_id=_ref(raw, "SaleTicketId"),
            customer_id=None if anonymous else _ref(raw, "CustomerId"),
            house=house,
            event_id=_ref(raw, "EventId"),
            order_ref=_text(raw, "OrderId"),
            ticket_type=_text(raw, "TicketType"),
            program=program,
            price_cents=cents(raw, "Price"),
            ticket_count=_int(raw, "TicketCount"),
            channel="online" if raw.get("Online") is True else "box-office",
            sold_at=self.record_time(raw),
        )

    def write(self, ingest: IngestService, batch: Any) -> PageResult:
        return ingest.record_sales(batch)


class MembershipSalesStream(SoldWindowStream):
    name, key, cursor_field, path = "membership_sales", "Id", "Created", "/memberships/sales"

    def map_record(self, raw: dict[str, Any], ctx: SyncContext) -> MembershipRecord:
        org = _ref(raw, "OrganisationID")
        seller = ctx.houses.get(org)
        if seller is None:
            raise BadRecord("OrganisationID: not mapped to a house")
        membership = _ref(raw, "MembershipID")
        program, houses = program_of(ctx, membership)
        expires = raw.get("Expires")
        return MembershipRecord(
            external_id=_ref(raw, "Id"),
            customer_id=_ref(raw, "CustomerId"),
            program=program,
            seller_house=seller,
            houses=houses or [seller],
            sold_at=self.record_time(raw),
            expires_at=tixly_time(expires, "Expires") if expires else None,
            cancelled=raw.get("isCancelled") is True,
        )

    def write(self, ingest: IngestService, batch: Any) -> PageResult:
        return ingest.record_memberships(batch)


class TixlySource(Source):
    def __init__(self, name: str, config: ConnectorConfig, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(name, config, transport)
        self.token = config.secret_value(config.token, config.token_env, f"{name}: token")

    def http(self, policy: RetryPolicy) -> EngineHttp:
        headers = {"Authorization": f"Bearer {self.token}"}
        return EngineHttp(
            self.config.base_url,
            timeout=self.config.timeout_seconds,
            policy=policy,
            headers=lambda _path: headers,
            transport=self.transport,
        )

    def house_column(self) -> str:
        return "tixly_organisation_id"

    def permissions(self, http: EngineHttp) -> dict[str, Permission]:
        out: dict[str, Permission] = {}
        url: str | None = "/permissions"
        params: dict[str, Any] | None = {"pageSize": 1000}
        while url:
            body = http.get_json(url, params)
            params = None
            for raw in body.get("Data") or []:
                if isinstance(raw, dict) and raw.get("Id") is not None:
                    out[str(raw["Id"])] = Permission(
                        str(raw.get("OrganisationId")), str(raw.get("Type")), str(raw.get("CommunicationType"))
                    )
            nxt = body.get("Next")
            url = nxt if isinstance(nxt, str) and nxt else None
        return out

    def streams(self, http: EngineHttp, ctx: SyncContext) -> Sequence[Stream]:
        size = self.config.page_size
        return [
            EventsStream(self.name, size),
            CustomersStream(self.name, size, self.permissions(http)),
            SalesStream(self.name, size),
            MembershipSalesStream(self.name, size),
        ]


def build(name: str, config: ConnectorConfig, transport: httpx.BaseTransport | None = None) -> TixlySource:
    return TixlySource(name, config, transport)


def sync(registry: ClusterRegistry, cluster: str, name: str, config: ConnectorConfig, **options: Any) -> RunOutcome:
    return run_sync(build, registry, cluster, name, config, **options)
