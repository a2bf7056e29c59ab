"""The fake Ticketmatic's HTTP app: authentication (Basic and HMAC), the API routes with faults, and the
``/_fake`` control routes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import hashlib
import hmac
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes import faults as checks
from fakes.faults import FaultPlan
from fakes.server import background_lifespan
from fakes.ticketmatic.table import R, Table
from fakes.ticketmatic.world import (
    AUTH_TS_FORMAT,
    DEFAULT_ACCESS_KEY,
    DEFAULT_LIMIT,
    DEFAULT_SECRET,
    MAX_CLOCK_SKEW,
    MAX_LIMIT,
    Account,
    Contact,
    TicketmaticWorld,
    parse_ts,
)

# ---------------------------------------------------------------------------------------------------------------
# Faults and stats


@dataclass
class Faults(FaultPlan):
    """The shared plan, set as a whole by ``POST /_fake/faults`` (``{}`` resets), and records served broken.

    ``rate_limit``: the next k API requests answer 429 with ``Retry-After: retry_after``; then
    ``server_errors``: the next k answer 503, 500, 503, ...; ``delay_ms`` delays every API response;
    ``malformed_contacts`` / ``malformed_orders``: ids served broken; ``fail_every``: every k-th API request
    (counted from when the faults were set, every request included) answers 503.
    """

    fail_every_counts_all: ClassVar[bool] = True
    malformed_contacts: list[int] = field(default_factory=list)
    malformed_orders: list[int] = field(default_factory=list)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Faults:
        """A fresh plan from a control body; whole numbers only, as the real API's ``retryafter``. Raises
        ``ValueError``."""
        checks.refuse_unknown(
            body,
            {
                "rate_limit", "retry_after", "server_errors", "delay_ms", "malformed_contacts", "malformed_orders",
                "fail_every",
            },
        )  # fmt: skip
        for key in ("malformed_contacts", "malformed_orders"):
            checks.ids(body, key)
        return cls(
            rate_limit=checks.count(body, "rate_limit"),
            retry_after=checks.count(body, "retry_after") if "retry_after" in body else 1,
            server_errors=checks.count(body, "server_errors"),
            delay_ms=checks.count(body, "delay_ms"),
            fail_every=checks.count(body, "fail_every"),
            malformed_contacts=list(body.get("malformed_contacts", [])),
            malformed_orders=list(body.get("malformed_orders", [])),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rate_limit": self.rate_limit,
            "retry_after": self.retry_after,
            "server_errors": self.server_errors,
            "delay_ms": self.delay_ms,
            "malformed_contacts": self.malformed_contacts,
            "malformed_orders": self.malformed_orders,
            "fail_every": self.fail_every,
        }


@dataclass
class Stats:
    requests: int = 0
    api_requests: int = 0
    control_requests: int = 0
    by_endpoint: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_account: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    server_errors: int = 0
    rows_served: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "api_requests": self.api_requests,
            "control_requests": self.control_requests,
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
            "by_status": dict(sorted(self.by_status.items())),
            "by_account": dict(sorted(self.by_account.items())),
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "rows_served": self.rows_served,
        }


# ---------------------------------------------------------------------------------------------------------------
# HTTP


_HMAC_RE = re.compile(r"^TM-HMAC-SHA256\s+key=(\S+)\s+ts=(\S+)\s+sign=([0-9a-fA-F]+)\s*$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class BadRequest(Exception):
    pass


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _bool(params: Any, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    low = raw.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise BadRequest(f"{name} must be true or false")


def _int(params: Any, name: str, default: int, minimum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if value < minimum:
        raise BadRequest(f"{name} must be at least {minimum}")
    return value


@dataclass
class _ListQuery:
    since: int | None
    orderby: str
    asc: bool
    limit: int
    offset: int
    output: str
    includearchived: bool


def _list_query(params: Any) -> _ListQuery:
    since_raw = params.get("lastupdatesince")
    since = None
    if since_raw:
        try:
            since = parse_ts(since_raw)
        except ValueError:
            raise BadRequest("lastupdatesince must be formatted as YYYY-MM-DD HH:MM:SS") from None
    orderby = params.get("orderby") or "id"
    if orderby not in ("id", "lastupdatets", "createdts"):
        raise BadRequest("orderby must be lastupdatets or createdts")
    output = params.get("output") or "default"
    if output not in ("default", "ids", "minimal", "withlookup"):
        raise BadRequest("output must be default, ids, minimal or withlookup")
    return _ListQuery(
        since=since,
        orderby=orderby,
        asc=_bool(params, "orderby_asc", True),
        limit=min(_int(params, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT),
        offset=_int(params, "offset", 0, 0),
        output=output,
        includearchived=_bool(params, "includearchived", False),
    )


class FakeTicketmatic:
    """The app's state: the world, the keys, faults and counters."""

    def __init__(self, world: TicketmaticWorld, access_key: str, secret: str) -> None:
        self.world = world
        self.access_key = access_key
        self.secret = secret
        self.faults = Faults()
        self.stats = Stats()

    # -- plumbing -------------------------------------------------------------------------------------------

    def check_auth(self, request: Request, accounts: Sequence[str]) -> str | None:
        """None when the request is authenticated for one of ``accounts``, else the reason."""
        header = request.headers.get("authorization", "")
        if not header:
            return "missing Authorization header"
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return "malformed Basic credentials"
            key, _, secret = decoded.partition(":")
            ok = hmac.compare_digest(key, self.access_key) and hmac.compare_digest(secret, self.secret)
            return None if ok else "invalid access key or secret"
        match = _HMAC_RE.match(header)
        if not match:
            return "unsupported Authorization scheme"
        key, ts, sign = match.groups()
        if not hmac.compare_digest(key, self.access_key):
            return "unknown access key"
        try:
            when = calendar.timegm(time.strptime(ts, AUTH_TS_FORMAT))
        except ValueError:
            return "malformed timestamp"
        if abs(when - time.time()) > MAX_CLOCK_SKEW:
            return "timestamp too far from server time"
        for account in accounts:
            expected = hmac.new(self.secret.encode(), (key + account + ts).encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, sign.lower()):
                return None
        return "invalid signature"

    async def api(self, request: Request, endpoint: str, handler: Callable[[Account], Response]) -> Response:
        self.stats.requests += 1
        self.stats.api_requests += 1
        self.stats.by_endpoint[endpoint] += 1
        response = await self._api(request, handler)
        self.stats.by_status[str(response.status_code)] += 1
        return response

    async def _api(self, request: Request, handler: Callable[[Account], Response]) -> Response:
        f = self.faults
        await f.pause()
        if f.take_rate_limit():
            self.stats.rate_limited += 1
            return JSONResponse(
                {"message": "Rate limit exceeded, retry later", "retryafter": f.retry_after},
                status_code=429,
                headers=f.retry_after_headers(),
            )
        status = f.take_server_error()
        if status:
            self.stats.server_errors += 1
            return _error(status, "Service unavailable" if status == 503 else "Internal server error")
        name = request.path_params["account"]
        acct = self.world.accounts.get(name)
        if acct is None:
            return _error(404, f"Unknown account {name!r}")
        self.stats.by_account[name] += 1
        reason = self.check_auth(request, [name])
        if reason:
            return _error(401, f"Unauthorized: {reason}")
        try:
            return handler(acct)
        except BadRequest as exc:
            return _error(400, str(exc))

    async def control(self, request: Request, handler: Callable[[], Any]) -> Response:
        self.stats.requests += 1
        self.stats.control_requests += 1
        reason = self.check_auth(request, ["", *self.world.accounts])
        if reason:
            return _error(401, f"Unauthorized: {reason}")
        try:
            result = handler()
            if asyncio.iscoroutine(result):
                result = await result
        except BadRequest as exc:
            return _error(400, str(exc))
        return JSONResponse(result)

    # -- API handlers ---------------------------------------------------------------------------------------

    def list_response(self, table: Table[R], q: _ListQuery, keep: Callable[[R], bool] | None,
                      render: Callable[[list[R]], list[dict[str, Any]]],
                      lookup: Callable[[list[R]], dict[str, Any]] | None) -> Response:  # fmt: skip
        ids = table.select(q.orderby, q.asc, q.since, keep)
        page = [table.records[i] for i in ids[q.offset : q.offset + q.limit]]
        self.stats.rows_served += len(page)
        body: dict[str, Any] = {"data": render(page), "nbrofresults": len(ids)}
        if q.output == "withlookup" and lookup is not None:
            body["lookup"] = lookup(page)
        return JSONResponse(body)


def _not_deleted(c: Contact) -> bool:
    return not c.isdeleted


def create_app(
    world: TicketmaticWorld,
    *,
    access_key: str = DEFAULT_ACCESS_KEY,
    secret: str = DEFAULT_SECRET,
    evolve_every: float = 0.0,
) -> Starlette:
    """The fake as a Starlette app. ``evolve_every > 0`` applies a small advance every that many seconds
    (needs the app's lifespan to run, as under ``uvicorn.run``)."""
    fake = FakeTicketmatic(world, access_key, secret)
    prefix = "/api/1/{account}"
    routes = [*_list_routes(fake, prefix), *_record_routes(fake, prefix), *_control_routes(fake)]
    work = (lambda: _evolve(world, evolve_every)) if evolve_every > 0 else None
    app = Starlette(
        routes=routes, exception_handlers={404: _not_found, 405: _not_found}, lifespan=background_lifespan(work)
    )
    app.state.fake = fake
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    return _error(status, "Not found" if status == 404 else "Method not allowed")


def _list_routes(fake: FakeTicketmatic, prefix: str) -> list[Route]:
    """The paged lists of contacts, orders and events."""
    world = fake.world

    async def contacts(request: Request) -> Response:
        def run(acct: Account) -> Response:
            q = _list_query(request.query_params)
            keep = None if (q.includearchived or q.since is not None) else _not_deleted
            return fake.list_response(
                acct.contacts,
                q,
                keep,
                lambda page: [world.contact_json(c, q.output) for c in page],
                lambda page: world.contact_lookup(acct),
            )

        return await fake.api(request, "contacts", run)

    async def orders(request: Request) -> Response:
        def run(acct: Account) -> Response:
            q = _list_query(request.query_params)
            return fake.list_response(
                acct.orders,
                q,
                None,
                lambda page: [world.order_json(acct, o, q.output) for o in page],
                lambda page: world.order_lookup(acct, page),
            )

        return await fake.api(request, "orders", run)

    async def events(request: Request) -> Response:
        def run(acct: Account) -> Response:
            q = _list_query(request.query_params)
            return fake.list_response(
                acct.events, q, None, lambda page: [world.event_json(e, q.output) for e in page], lambda page: {}
            )

        return await fake.api(request, "events", run)

    return [
        Route(f"{prefix}/contacts", contacts),
        Route(f"{prefix}/orders", orders),
        Route(f"{prefix}/events", events),
    ]


def _one_id(request: Request) -> int:
    try:
        return int(request.path_params["id"])
    except ValueError:
        raise BadRequest("id must be an integer") from None


def _record_routes(fake: FakeTicketmatic, prefix: str) -> list[Route]:
    """One contact, order or event by id, and the account's opt-in definitions."""
    world = fake.world

    async def contact(request: Request) -> Response:
        def run(acct: Account) -> Response:
            c = acct.contacts.records.get(_one_id(request))
            return JSONResponse(world.contact_json(c)) if c else _error(404, "Contact not found")

        return await fake.api(request, "contact", run)

    async def order(request: Request) -> Response:
        def run(acct: Account) -> Response:
            o = acct.orders.records.get(_one_id(request))
            return JSONResponse(world.order_json(acct, o)) if o else _error(404, "Order not found")

        return await fake.api(request, "order", run)

    async def event(request: Request) -> Response:
        def run(acct: Account) -> Response:
            e = acct.events.records.get(_one_id(request))
            return JSONResponse(world.event_json(e)) if e else _error(404, "Event not found")

        return await fake.api(request, "event", run)

    async def optins(request: Request) -> Response:
        def run(acct: Account) -> Response:
            return JSONResponse({"data": acct.optin_defs, "nbrofresults": len(acct.optin_defs)})

        return await fake.api(request, "optins", run)

    return [
        Route(f"{prefix}/contacts/{{id}}", contact),
        Route(f"{prefix}/orders/{{id}}", order),
        Route(f"{prefix}/events/{{id}}", event),
        Route(f"{prefix}/settings/system/optins", optins),
    ]


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


_ADVANCE_KEYS = ("new_contacts", "edits", "orders", "refunds", "optin_changes", "deletions")


async def _advance_body(request: Request, world: TicketmaticWorld) -> tuple[str | None, dict[str, int]]:
    """The account (None: all) and the counts of a ``POST /_fake/advance``."""
    body = await _json_body(request)
    account = body.get("account")
    if account is not None and account not in world.accounts:
        raise BadRequest(f"unknown account {account!r}")
    counts = {}
    for key in _ADVANCE_KEYS:
        value = body.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100_000:
            raise BadRequest(f"{key} must be an integer between 0 and 100000")
        counts[key] = value
    unknown = set(body) - {"account", *counts}
    if unknown:
        raise BadRequest(f"unknown keys: {sorted(unknown)}")
    return account, counts


def _control_routes(fake: FakeTicketmatic) -> list[Route]:
    world = fake.world

    async def advance(request: Request) -> Response:
        async def run() -> dict[str, Any]:
            account, counts = await _advance_body(request, world)
            return world.advance(
                account,
                new_contacts=counts["new_contacts"],
                edits=counts["edits"],
                orders=counts["orders"],
                refunds=counts["refunds"],
                optin_changes=counts["optin_changes"],
                deletions=counts["deletions"],
            )

        return await fake.control(request, run)

    async def faults(request: Request) -> Response:
        async def run() -> dict[str, Any]:
            if request.method == "POST":
                body = await _json_body(request)
                try:
                    fake.faults = Faults.from_json(body)
                except ValueError as exc:
                    raise BadRequest(str(exc)) from None
                world.malformed_contacts = set(fake.faults.malformed_contacts)
                world.malformed_orders = set(fake.faults.malformed_orders)
            return fake.faults.as_json()

        return await fake.control(request, run)

    async def stats(request: Request) -> Response:
        return await fake.control(request, fake.stats.as_json)

    async def truth(request: Request) -> Response:
        return await fake.control(request, world.truth)

    return [
        Route("/_fake/advance", advance, methods=["POST"]),
        Route("/_fake/faults", faults, methods=["GET", "POST"]),
        Route("/_fake/stats", stats),
        Route("/_fake/truth", truth),
    ]


async def _evolve(world: TicketmaticWorld, every: float) -> None:
    tick = 0
    while True:
        await asyncio.sleep(every)
        tick += 1
        world.advance(
            None,
            new_contacts=1,
            edits=2,
            orders=2,
            refunds=1 if tick % 2 == 0 else 0,
            optin_changes=1,
            deletions=1 if tick % 10 == 0 else 0,
        )
