"""The fake Tixly's HTTP app: the /v3 routes with paging and faults, and the /_fake control routes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes import faults as checks
from fakes.faults import FaultPlan, json_object
from fakes.server import Lifespan, background_lifespan
from fakes.tixly.world import DEFAULT_TOKEN, DENIED, EVOLVE_COUNTS, S_ID, BadRequest, TixlyWorld, format_ts, parse_ts

# --------------------------------------------------------------------------------------------------
# the HTTP app


@dataclass
class _Faults(FaultPlan):
    """The shared plan, and records served broken (ids of customers and sales)."""

    retry_after: float | None = 1
    malformed_customers: set[int] = field(default_factory=set)
    malformed_sales: set[int] = field(default_factory=set)

    def describe(self) -> dict[str, Any]:
        return {
            "rate_limit": self.rate_limit,
            "retry_after": self.retry_after,
            "server_errors": self.server_errors,
            "delay_ms": self.delay_ms,
            "malformed_customers": sorted(self.malformed_customers),
            "malformed_sales": sorted(self.malformed_sales),
            "fail_every": self.fail_every,
        }


@dataclass
class _AppState:
    world: TixlyWorld
    token: str
    faults: _Faults = field(default_factory=_Faults)
    requests: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    bad_requests: int = 0
    ok: int = 0
    by_path: Counter[str] = field(default_factory=Counter)


def _message(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"Message": message}, status_code=status, headers=dict(headers or {}))


def _authorised(request: Request, token: str) -> bool:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and value.strip() == token


def _params(request: Request) -> dict[str, str]:
    """Query parameters, names case-insensitive (as in ASP.NET Web API)."""
    return {key.lower(): value for key, value in request.query_params.multi_items()}


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"The value '{raw}' is not valid for {name}.") from None


def _ts_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name.lower())
    if raw is None or raw == "":
        return None
    try:
        return parse_ts(raw)
    except ValueError:
        raise BadRequest(f"The value '{raw}' is not valid for {name}.") from None


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    page = _int_param(params, "page", 1)
    size = _int_param(params, "pageSize", 100)
    if page < 1:
        raise BadRequest(f"The value '{page}' is not valid for page.")
    if size < 1:
        raise BadRequest(f"The value '{size}' is not valid for pageSize.")
    return page, min(size, 1000)


def _next_url(request: Request, page: int) -> str:
    """The request's own URL with every query parameter repeated and ``page`` incremented."""
    out: list[tuple[str, str]] = []
    replaced = False
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        if key.lower() == "page":
            if not replaced:
                out.append((key, str(page + 1)))
                replaced = True
            continue
        out.append((key, value))
    if not replaced:
        out.append(("page", str(page + 1)))
    return str(request.url.replace(query=urlencode(out)))


def _page_of(
    request: Request, bounds: tuple[int, int], page: int, size: int, render: Callable[[int, int], list[dict[str, Any]]]
) -> dict[str, Any]:
    lo, hi = bounds
    start = lo + (page - 1) * size
    stop = min(start + size, hi)
    data = render(start, stop) if start < stop else []
    has_next = bool(data) and stop < hi
    return {"Data": data, "Next": _next_url(request, page) if has_next else None}


Handler = Callable[[_AppState, Request], dict[str, Any]]
ControlHandler = Callable[[_AppState, Request], Awaitable[dict[str, Any]]]


def create_app(world: TixlyWorld, *, token: str = DEFAULT_TOKEN, evolve_every: float = 0.0) -> Starlette:
    """The fake's Starlette app. ``evolve_every > 0`` starts (on app startup, so only under a lifespan-enabled
    server such as ``main``) a task that applies a small ``advance`` every that many seconds.

    For a request to ``/v3/...`` the order is: the configured delay, then the token check (401), then a
    pending 429, then a pending 5xx (503 and 500 alternate), then ``fail_every``, then the answer."""
    state = _AppState(world, token)
    routes = [*_api_routes(state), *_control_routes(state)]
    app = Starlette(
        routes=routes, lifespan=_evolving(world, evolve_every), exception_handlers={_NotFound: _not_found_response}
    )
    app.state.fake = state
    return app


def _evolving(world: TixlyWorld, evolve_every: float) -> Lifespan:
    return background_lifespan((lambda: _evolve(world, evolve_every)) if evolve_every > 0 else None)


# -- the /v3 API --------------------------------------------------------------------------------------


def _api_routes(state: _AppState) -> list[Route]:
    def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await _api(state, handler, request)

        return endpoint

    return [
        Route("/v3/customers", api(_customers), methods=["GET"]),
        Route("/v3/permissions", api(_permissions), methods=["GET"]),
        Route("/v3/events", api(_events), methods=["GET"]),
        Route("/v3/events/sales", api(_event_sales), methods=["GET"]),
        Route("/v3/memberships", api(_memberships), methods=["GET"]),
        Route("/v3/memberships/sales", api(_membership_sales), methods=["GET"]),
        Route("/v3/{rest:path}", api(_no_route)),
    ]


async def _api(state: _AppState, handler: Handler, request: Request) -> Response:
    state.requests += 1
    state.by_path[request.url.path] += 1
    faults = state.faults
    await faults.pause()
    if not _authorised(request, state.token):
        state.unauthorized += 1
        return _message(401, DENIED)
    if faults.take_rate_limit():
        state.rate_limited += 1
        return _message(429, "Too many requests", faults.retry_after_headers())
    status = faults.take_server_error()
    if status:
        state.server_errors += 1
        text = "The service is unavailable." if status == 503 else "An error has occurred."
        return _message(status, text)
    try:
        body = handler(state, request)
    except BadRequest as exc:
        state.bad_requests += 1
        return _message(400, str(exc))
    state.ok += 1
    return JSONResponse(body)


def _customers(state: _AppState, request: Request) -> dict[str, Any]:
    world = state.world
    params = _params(request)
    date_from = _ts_param(params, "DateFrom")
    page, size = _paging(params)
    malformed = state.faults.malformed_customers

    def render(start: int, stop: int) -> list[dict[str, Any]]:
        index, records = world.customer_index, world.customers
        return [world.customer_json(records[cid], cid in malformed) for _, cid in index[start:stop]]

    with world.lock:
        return _page_of(request, world.customer_range(date_from), page, size, render)


def _permissions(state: _AppState, request: Request) -> dict[str, Any]:
    perms = state.world.permissions
    page, size = _paging(_params(request))
    return _page_of(request, (0, len(perms)), page, size, lambda a, b: [dict(p) for p in perms[a:b]])


def _events(state: _AppState, request: Request) -> dict[str, Any]:
    world = state.world
    params = _params(request)
    date_from = _ts_param(params, "DateFrom")
    page, size = _paging(params)
    with world.lock:
        return _page_of(
            request,
            world.event_range(date_from),
            page,
            size,
            lambda a, b: [world.event_json(e) for e in world.events[a:b]],
        )


def _event_sales(state: _AppState, request: Request) -> dict[str, Any]:
    world = state.world
    params = _params(request)
    sold_from, sold_to = _ts_param(params, "SoldFrom"), _ts_param(params, "SoldTo")
    page, size = _paging(params)
    malformed = state.faults.malformed_sales
    with world.lock:
        return _page_of(
            request,
            world.sales_range(sold_from, sold_to),
            page,
            size,
            lambda a, b: [world.sale_json(r, r[S_ID] in malformed) for r in world.sales[a:b]],
        )


def _memberships(state: _AppState, request: Request) -> dict[str, Any]:
    memberships = state.world.memberships
    page, size = _paging(_params(request))
    return _page_of(request, (0, len(memberships)), page, size, lambda a, b: [dict(m) for m in memberships[a:b]])


def _membership_sales(state: _AppState, request: Request) -> dict[str, Any]:
    world = state.world
    params = _params(request)
    sold_from, sold_to = _ts_param(params, "SoldFrom"), _ts_param(params, "SoldTo")
    page, size = _paging(params)
    with world.lock:
        return _page_of(
            request,
            world.membership_sales_range(sold_from, sold_to),
            page,
            size,
            lambda a, b: [world.membership_sale_json(r) for r in world.membership_sales[a:b]],
        )


def _no_route(state: _AppState, request: Request) -> dict[str, Any]:
    raise _NotFound(request.url)


# -- the /_fake control routes ------------------------------------------------------------------------


def _control_routes(state: _AppState) -> list[Route]:
    def control(handler: ControlHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not _authorised(request, state.token):
                return _message(401, DENIED)
            try:
                return JSONResponse(await handler(state, request))
            except BadRequest as exc:
                return _message(400, str(exc))

        return endpoint

    return [
        Route("/_fake/advance", control(_advance), methods=["POST"]),
        Route("/_fake/faults", control(_set_faults), methods=["POST"]),
        Route("/_fake/stats", control(_stats), methods=["GET"]),
        Route("/_fake/truth", control(_truth), methods=["GET"]),
    ]


async def _json_body(request: Request) -> dict[str, Any]:
    return await json_object(request, BadRequest)


async def _advance(state: _AppState, request: Request) -> dict[str, Any]:
    return state.world.advance(await _json_body(request))


async def _set_faults(state: _AppState, request: Request) -> dict[str, Any]:
    state.faults = _parse_faults(await _json_body(request))
    return {"faults": state.faults.describe()}


async def _stats(state: _AppState, request: Request) -> dict[str, Any]:
    world = state.world
    with world.lock:
        return {
            "requests": state.requests,
            "ok": state.ok,
            "unauthorized": state.unauthorized,
            "rate_limited": state.rate_limited,
            "server_errors": state.server_errors,
            "bad_requests": state.bad_requests,
            "by_path": dict(sorted(state.by_path.items())),
            "advances": world.steps,
            "customers": len(world.customers),
            "events": len(world.events),
            "sales": len(world.sales),
            "membership_sales": len(world.membership_sales),
            "last_change": None if world.last_ms < world.anchor_ms else format_ts(world.last_ms),
            "faults": state.faults.describe(),
        }


async def _truth(state: _AppState, request: Request) -> dict[str, Any]:
    return state.world.truth()


class _NotFound(Exception):
    def __init__(self, url: object) -> None:
        super().__init__(f"No HTTP resource was found that matches the request URI '{url}'.")


async def _not_found_response(request: Request, exc: Exception) -> Response:
    return _message(404, str(exc))


async def _evolve(world: TixlyWorld, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        world.advance(EVOLVE_COUNTS)


def _parse_faults(body: Mapping[str, Any]) -> _Faults:
    """A fresh fault configuration (keys left out are off; ``{}`` resets everything)."""
    known = {
        "rate_limit",
        "retry_after",
        "server_errors",
        "delay_ms",
        "malformed_customers",
        "malformed_sales",
        "fail_every",
    }
    checks.refuse_unknown(body, known, BadRequest)
    return _Faults(
        rate_limit=checks.count(body, "rate_limit", BadRequest),
        retry_after=checks.number(body, "retry_after", 1, BadRequest),
        server_errors=checks.count(body, "server_errors", BadRequest),
        delay_ms=checks.number(body, "delay_ms", 0, BadRequest),
        malformed_customers=checks.ids(body, "malformed_customers", BadRequest),
        malformed_sales=checks.ids(body, "malformed_sales", BadRequest),
        fail_every=checks.count(body, "fail_every", BadRequest),
    )
