"""Ticketmatic 3 as a source: per engine account (one account is one house) its events, contacts
(with their opt-ins) and orders (with their tickets and products).

Shape and quirks followed (see ``fakes/ticketmatic/`` for the fake used in tests):
``{base_url}/{accountname}/...``; every request signed with ``TM-HMAC-SHA256`` over access key,
account name and a UTC timestamp; lists ``{"data": [...], "nbrofresults": n, "lookup": {...}}``
asked with ``lastupdatesince`` (records updated at or after it), ``orderby=lastupdatets`` and
``limit`` / ``offset``, read until ``data`` is empty; timestamps ``YYYY-MM-DD HH:MM:SS`` in UTC with
one-second resolution, so many records share one ``lastupdatets``.

Paging moves ``lastupdatesince`` to the last timestamp read and uses ``offset`` only to step over
the records of that very second already read. A record changed while a run pages through the list
moves to its end (beyond the run's frozen upper bound) without shifting the records still to be
read, as a growing plain offset would; the look-back window and the idempotent ingest absorb the
repeats either way.

Mapping (the hub's privacy invariants rest on it): each account is its own ``source``
(``{connector}:{account}``) and its own cursor partition; a contact is a customer of the account's
house only, and its opt-ins are decisions for the account's house only (7602 opted in, 7603 opted
out, 7601 unknown: nothing). Opt-in ids map to purposes through ``permissions``; by default opt-in
1 is the newsletter and every other one is ignored. Orders are mutable (a refund removes a ticket),
so each order read replaces the lines the hub holds for it. Products map to program memberships
through ``programs``; unmapped products are ignored. Deleted contacts (``isdeleted``) are passed on
as deletions. A contact's phone is its first usable phone number: a contact whose numbers are all
unusable is imported without one (and noted in the run's skips by contact id), since a bad number
must not keep the customer, and the decisions the record holds, out of the hub.

Before any stream runs, every account's opt-in definitions (``/settings/system/optins``) are read:
so a refused credential fails the run before anything of any account is written, and a mapped
opt-in id that an account does not define is logged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
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
from connectors.sources.mapping import BadRecord, utc_time
from connectors.sources.mapping import cents as _cents
from connectors.sources.mapping import ref as _ref
from connectors.sources.mapping import text as _text
from consent_hub.clusters import ClusterRegistry
from consent_hub.config import ConnectorConfig
from consent_hub.errors import ConfigurationError
from consent_hub.ingest.records import (
    CustomerRecord,
    EngineOptIn,
    EventRecord,
    MembershipRecord,
    OrderRecord,
    PageResult,
    SaleLine,
)
from consent_hub.ingest.service import IngestService
from consent_hub.people.fields import normalise_phone

log = logging.getLogger("consent_hub.sync.ticketmatic")

QUERY_FORMAT = "%Y-%m-%d %H:%M:%S"
AUTH_FORMAT = "%Y-%m-%dT%H:%M:%S"
OPTIN_UNKNOWN, OPTIN_YES, OPTIN_NO = 7601, 7602, 7603
NEWSLETTER_OPTIN = "1"
CHANNELS = {1: "online", 2: "box-office"}


def tm_time(value: Any, field: str) -> dt.datetime:
    """A Ticketmatic timestamp (UTC without a zone) as an aware datetime."""
    return utc_time(value, field)


def query_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime(QUERY_FORMAT)


def _list(raw: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = raw.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadRecord(f"{name}: not a list")
    return value


def _first(raw: dict[str, Any], name: str) -> dict[str, Any]:
    items = _list(raw, name)
    return items[0] if items else {}


def _prefixed(error: BadRecord, prefix: str) -> BadRecord:
    return BadRecord(f"{prefix}.{error}")


def sign(access_key: str, secret: str, account: str, now: dt.datetime) -> dict[str, str]:
    """The ``Authorization`` header of one request for ``account``, signed at ``now``."""
    ts = now.astimezone(dt.UTC).strftime(AUTH_FORMAT)
    digest = hmac.new(secret.encode(), (access_key + account + ts).encode(), hashlib.sha256).hexdigest()
    return {"Authorization": f"TM-HMAC-SHA256 key={access_key} ts={ts} sign={digest}"}


@dataclass
class TicketmaticPage(Page):
    """A page and the list's ``lookup`` (names of price types and the like)."""

    lookup: dict[str, Any] = field(default_factory=dict)


class TicketmaticList(Stream):
    """A list of one account read in ``lastupdatets`` order from ``since`` to the run's upper bound."""

    cursor_field = "lastupdatets"
    resource: str
    output: str | None = None

    def __init__(self, connector: str, account: str, house: str, page_size: int) -> None:
        self.account = account
        self.house = house
        self.source = f"{connector}:{account}"
        self.partition = account
        self.page_size = page_size
        self.path = f"/{urllib.parse.quote(account, safe='')}/{self.resource}"
        self._first: tuple[dt.datetime | None, Any] | None = None  # the first page, read by total()

    def _get(self, http: EngineHttp, since: dt.datetime | None, offset: int) -> dict[str, Any]:
        params: dict[str, Any] = {"orderby": "lastupdatets", "orderby_asc": "true", "limit": self.page_size}
        if offset:
            params["offset"] = offset
        if since is not None:
            params["lastupdatesince"] = query_time(since)
        if self.output:
            params["output"] = self.output
        body = http.get_json(self.path, params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise FatalSyncError(f"unexpected page shape from {self.resource} of account {self.account}")
        return body

    def total(self, http: EngineHttp, since: dt.datetime | None, ctx: SyncContext) -> int | None:
        body = self._get(http, since, 0)
        self._first = (since, body)
        n = body.get("nbrofresults")
        return n if isinstance(n, int) and not isinstance(n, bool) else None

    @staticmethod
    def record_time(raw: dict[str, Any]) -> dt.datetime:
        return tm_time(raw.get("lastupdatets"), "lastupdatets")

    def pages(self, http: EngineHttp, since: dt.datetime | None, ctx: SyncContext) -> Iterator[Page]:
        offset = 0
        while True:
            first, self._first = self._first, None
            reuse = first is not None and first[0] == since and offset == 0
            body = first[1] if first is not None and reuse else self._get(http, since, offset)
            data: list[Any] = body["data"]
            if not data:
                return
            records: list[dict[str, Any]] = []
            beyond = False
            for raw in data:
                if not isinstance(raw, dict):
                    continue
                try:
                    beyond = self.record_time(raw) > ctx.upper_bound
                except BadRecord:
                    beyond = False
                if beyond:
                    break  # changed after the run began: the next run reads it
                records.append(raw)
            if records:
                lookup = body.get("lookup")
                yield TicketmaticPage(records, lookup if isinstance(lookup, dict) else {})
            if beyond:
                return
            since, offset = self._next(data, since, offset)

    def _next(self, data: list[Any], since: dt.datetime | None, offset: int) -> tuple[dt.datetime | None, int]:
        """Where the next page starts: at the last second read, past the records of it already read.
        Without a readable last timestamp, a plain offset (always right, only less robust)."""
        try:
            last = self.record_time(data[-1]) if isinstance(data[-1], dict) else None
        except BadRecord:
            last = None
        if last is None or (since is not None and last <= since):
            return since, offset + len(data)
        same = 0
        for raw in reversed(data):
            try:
                if not isinstance(raw, dict) or self.record_time(raw) != last:
                    break
            except BadRecord:
                break  # counting too few only re-reads records; too many would skip some
            same += 1
        return last, same

    def _apply(
        self,
        page: Page,
        mapper: Callable[[dict[str, Any]], Any],
        writer: Callable[[list[Any]], PageResult],
    ) -> tuple[PageResult, dt.datetime | None]:
        mapped = map_records(page, self.key, self.record_time, mapper)
        return with_skipped(writer(mapped.batch), mapped)


class EventsStream(TicketmaticList):
    name, key, resource = "events", "id", "events"

    def apply(self, ingest: IngestService, page: Page, ctx: SyncContext) -> tuple[PageResult, dt.datetime | None]:
        def mapper(raw: dict[str, Any]) -> EventRecord:
            tags = raw.get("tags") or []
            if not isinstance(tags, list):
                raise BadRecord("tags: not a list")
            return EventRecord(
                external_id=_ref(raw, "id"),
                house=self.house,
                title=_text(raw, "name") or "",
                starts_at=tm_time(raw["startts"], "startts") if raw.get("startts") else None,
                ends_at=tm_time(raw["endts"], "endts") if raw.get("endts") else None,
                categories=[str(t) for t in tags if isinstance(t, str | int) and not isinstance(t, bool) and str(t)],
                updated_at=self.record_time(raw),
            )

        return self._apply(page, mapper, ingest.upsert_events)


class ContactsStream(TicketmaticList):
    name, key, resource = "contacts", "id", "contacts"

    def opt_in(self, raw: dict[str, Any], ctx: SyncContext) -> EngineOptIn | None:
        optin_id = _ref(raw, "optinid")
        purpose = ctx.config.permissions.get(optin_id)
        if purpose is None:
            purpose = ctx.config.newsletter_purpose if optin_id == NEWSLETTER_OPTIN else ""
        if not purpose:
            return None
        status = raw.get("status")
        if status == OPTIN_UNKNOWN:
            return None
        if status not in (OPTIN_YES, OPTIN_NO) or isinstance(status, bool):
            raise BadRecord("status: not an opt-in status")
        decided = tm_time(raw.get("lastupdatets"), "lastupdatets")
        # the account's own house collected it: it never decides anything for another house
        return EngineOptIn(optin_id, purpose, self.house, status == OPTIN_YES, decided)

    def apply(self, ingest: IngestService, page: Page, ctx: SyncContext) -> tuple[PageResult, dt.datetime | None]:
        region = ingest.uow.rt.phone_region
        notes: list[tuple[str, str]] = []  # (contact id, field rule): imported without that field

        def first_phone(raw: dict[str, Any], external_id: str) -> str | None:
            """The first phone number that is one: an unusable number does not keep the contact
            (and the decisions it holds) out of the hub; it is imported without it and noted."""
            numbers = [n for p in _list(raw, "phonenumbers") if (n := _text(p, "number")) is not None]
            for number in numbers:
                try:
                    normalise_phone(number, region)
                except ValueError:
                    continue
                return number
            if numbers:
                notes.append((external_id, "phone: not a valid phone number; the contact was imported without one"))
            return None

        def mapper(raw: dict[str, Any]) -> CustomerRecord:
            external_id = _ref(raw, "id")
            seen = self.record_time(raw)
            if raw.get("isdeleted") is True:
                return CustomerRecord(external_id=external_id, fields={}, seen_at=seen, house=self.house, deleted=True)
            try:
                address = _first(raw, "addresses")
                street = _text(address, "street1")
                postal_code = _text(address, "zip")
                city = _text(address, "city")
                country = _text(address, "countrycode")
            except BadRecord as exc:
                raise _prefixed(exc, "addresses") from None
            try:
                phone = first_phone(raw, external_id)
            except BadRecord as exc:
                raise _prefixed(exc, "phonenumbers") from None
            family = " ".join(p for p in (_text(raw, "middlename"), _text(raw, "lastname")) if p) or None
            birth = _text(raw, "birthdate")
            language = _text(raw, "languagecode")
            try:
                opt_ins = [o for item in _list(raw, "optins") if (o := self.opt_in(item, ctx)) is not None]
            except BadRecord as exc:
                raise _prefixed(exc, "optins") from None
            return CustomerRecord(
                external_id=external_id,
                fields={
                    "given_name": _text(raw, "firstname"),
                    "family_name": family,
                    "email": _text(raw, "email"),
                    "phone": phone,
                    "street_address": street,
                    "postal_code": postal_code,
                    "city": city,
                    "country": country,
                    "birth_date": birth[:10] if birth else None,
                    "language": language.lower() if language else None,
                },
                seen_at=seen,
                house=self.house,
                opt_ins=opt_ins,
            )

        result, reached = self._apply(page, mapper, ingest.upsert_customers)
        for ref, reason in notes:
            result.skip(f"{ref}:phone", reason)
        return result, reached


@dataclass
class _MappedOrder:
    order: OrderRecord
    memberships: list[MembershipRecord]
    problems: list[tuple[str, str]]  # (product line ref, reason)


class OrdersStream(TicketmaticList):
    name, key, resource, output = "orders", "orderid", "orders", "withlookup"

    def apply(self, ingest: IngestService, page: Page, ctx: SyncContext) -> tuple[PageResult, dt.datetime | None]:
        ticket_type = _ticket_type_names(page)

        def mapper(raw: dict[str, Any]) -> _MappedOrder:
            return self._map_order(raw, ticket_type, ctx)

        def writer(mapped: list[_MappedOrder]) -> PageResult:
            return _write_orders(ingest, mapped)

        return self._apply(page, mapper, writer)

    def _map_order(
        self, raw: dict[str, Any], ticket_type: Callable[[Any], str | None], ctx: SyncContext
    ) -> _MappedOrder:
        order_ref = _ref(raw, "orderid")
        sold_at = tm_time(raw.get("createdts"), "createdts")
        customer = raw.get("customerid")
        customer_id = None if customer in (None, 0, "") else _ref(raw, "customerid")
        channel_id = raw.get("saleschannelid")
        channel = CHANNELS.get(channel_id) if isinstance(channel_id, int) else None
        lines = self._sale_lines(raw, order_ref, customer_id, channel, sold_at, ticket_type)
        memberships, problems = self._memberships(raw, order_ref, customer_id, sold_at, ctx)
        order = OrderRecord(order_ref=order_ref, lines=lines, updated_at=self.record_time(raw))
        return _MappedOrder(order, memberships, problems)

    def _sale_lines(
        self,
        raw: dict[str, Any],
        order_ref: str,
        customer_id: str | None,
        channel: str | None,
        sold_at: dt.datetime,
        ticket_type: Callable[[Any], str | None],
    ) -> list[SaleLine]:
        """One sale line per ticket of the order; a malformed ticket makes the whole order bad."""
        tickets = raw.get("tickets")
        if not isinstance(tickets, list) or not all(isinstance(t, dict) for t in tickets):
            raise BadRecord("tickets: not a list")
        lines: list[SaleLine] = []
        for ticket in tickets:
            try:
                lines.append(
                    SaleLine(
                        external_id=_ref(ticket, "id"),
                        customer_id=customer_id,
                        house=self.house,
                        event_id=_ref(ticket, "eventid"),
                        order_ref=order_ref,
                        ticket_type=ticket_type(ticket.get("pricetypeid")),
                        program=None,
                        price_cents=_cents(ticket, "price"),
                        ticket_count=1,
                        channel=channel,
                        sold_at=sold_at,
                    )
                )
            except BadRecord as exc:
                raise _prefixed(exc, "tickets") from None
        return lines

    def _memberships(
        self, raw: dict[str, Any], order_ref: str, customer_id: str | None, sold_at: dt.datetime, ctx: SyncContext
    ) -> tuple[list[MembershipRecord], list[tuple[str, str]]]:
        """The order's products that are programs of this cluster, and the product lines left out (with why)."""
        memberships: list[MembershipRecord] = []
        problems: list[tuple[str, str]] = []
        for product in _list(raw, "products"):
            mapping = ctx.config.programs.get(str(product.get("productid")))
            if mapping is None:
                continue  # not a program this cluster knows
            ref = f"{order_ref}:product:{product.get('id', '?')}"
            try:
                line_id = _ref(product, "id")
            except BadRecord as exc:
                problems.append((ref, f"malformed record: products.{exc}"))
                continue
            holder = product.get("contactid") or customer_id
            if holder is None or isinstance(holder, bool) or not isinstance(holder, int | str):
                problems.append((ref, "membership product of an order without a customer"))
                continue
            memberships.append(
                MembershipRecord(
                    external_id=line_id,
                    customer_id=str(holder),
                    program=mapping.program,
                    seller_house=self.house,
                    houses=list(mapping.houses),
                    sold_at=sold_at,
                    expires_at=None,
                )
            )
        return memberships, problems


def _ticket_type_names(page: Page) -> Callable[[Any], str | None]:
    """Price type id -> its name, from the page's lookup (None when the lookup does not name it)."""
    lookup = page.lookup if isinstance(page, TicketmaticPage) else {}
    pricetypes = lookup.get("pricetypes")
    names = pricetypes if isinstance(pricetypes, dict) else {}

    def ticket_type(pricetype: Any) -> str | None:
        entry = names.get(str(pricetype)) if pricetype is not None else None
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            return None
        return name.strip()[:80] or None

    return ticket_type


def _write_orders(ingest: IngestService, mapped: list[_MappedOrder]) -> PageResult:
    result = ingest.replace_orders([m.order for m in mapped])
    result.merge(ingest.record_memberships([ms for m in mapped for ms in m.memberships]))
    for m in mapped:
        for ref, reason in m.problems:
            result.skip(ref, reason)
    result.read = len(mapped)  # engine records: orders (the progress total counts orders)
    return result


class TicketmaticSource(Source):
    def __init__(self, name: str, config: ConnectorConfig, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(name, config, transport)
        if not config.access_key:
            raise ConfigurationError(f"connector {name}: access_key is not configured")
        self.access_key = config.access_key
        self.secret = config.secret_value(config.secret, config.secret_env, f"{name}: secret")
        self.base_path = httpx.URL(config.base_url.rstrip("/")).path.rstrip("/")

    def account_of(self, path: str) -> str:
        """The account a request path names: the first segment after the base path."""
        rest = path[len(self.base_path) :] if path.startswith(self.base_path) else path
        return urllib.parse.unquote(rest.lstrip("/").split("/", 1)[0])

    def headers(self, path: str) -> dict[str, str]:
        return sign(self.access_key, self.secret, self.account_of(path), dt.datetime.now(dt.UTC))

    def http(self, policy: RetryPolicy) -> EngineHttp:
        return EngineHttp(
            self.config.base_url,
            timeout=self.config.timeout_seconds,
            policy=policy,
            headers=self.headers,
            transport=self.transport,
        )

    def house_column(self) -> str:
        return "ticketmatic_account"

    def accounts(self, ctx: SyncContext) -> list[tuple[str, str]]:
        names = list(dict.fromkeys(self.config.accounts)) or sorted(ctx.houses)
        if not names:
            raise FatalSyncError("no Ticketmatic account to sync: register houses with their ticketmatic_account")
        missing = [a for a in names if a not in ctx.houses]
        if missing:
            raise FatalSyncError(f"Ticketmatic accounts without a house in the hub: {missing}")
        return [(a, ctx.houses[a]) for a in names]

    def check_optins(self, http: EngineHttp, account: str) -> None:
        """Reads the account's opt-in definitions: every account's credentials are proven before
        anything is written, and a mapped opt-in the account does not define is reported."""
        body = http.get_json(f"/{urllib.parse.quote(account, safe='')}/settings/system/optins")
        data = body.get("data") if isinstance(body, dict) else None
        defined = {str(d.get("id")) for d in data if isinstance(d, dict)} if isinstance(data, list) else set()
        mapped = {k for k, v in self.config.permissions.items() if v}
        if NEWSLETTER_OPTIN not in self.config.permissions and self.config.newsletter_purpose:
            mapped.add(NEWSLETTER_OPTIN)
        for optin in sorted(mapped - defined):
            log.warning("Ticketmatic account %s defines no opt-in %s; nothing will be imported for it", account, optin)

    def streams(self, http: EngineHttp, ctx: SyncContext) -> Sequence[Stream]:
        size = self.config.page_size
        out: list[Stream] = []
        accounts = self.accounts(ctx)
        for account, _ in accounts:
            self.check_optins(http, account)
        for account, house in accounts:
            out += [
                EventsStream(self.name, account, house, size),
                ContactsStream(self.name, account, house, size),
                OrdersStream(self.name, account, house, size),
            ]
        return out


def build(name: str, config: ConnectorConfig, transport: httpx.BaseTransport | None = None) -> TicketmaticSource:
    return TicketmaticSource(name, config, transport)


def sync(registry: ClusterRegistry, cluster: str, name: str, config: ConnectorConfig, **options: Any) -> RunOutcome:
    return run_sync(build, registry, cluster, name, config, **options)
