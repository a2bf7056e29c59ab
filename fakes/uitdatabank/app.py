"""The fake UiTdatabank's HTTP app: ``/events`` with its key check and faults, and the ``/_fake`` routes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes import faults as checks
from fakes.faults import FaultPlan
from fakes.uitdatabank.search import search
from fakes.uitdatabank.world import DEFAULT_API_KEY, HYDRA_CONTEXT, PROBLEM, BadQuery, UitCatalogue, event_iri

# --------------------------------------------------------------------------------------------------
# the HTTP app


@dataclass
class _Faults(FaultPlan):
    """The shared plan's 429s and server errors; every server error here is a 503 (no alternation)."""

    server_errors_alternate: ClassVar[bool] = False


@dataclass
class _AppState:
    catalogue: UitCatalogue
    api_key: str
    client_id: str | None
    faults: _Faults = field(default_factory=_Faults)
    requests: int = 0
    unauthorized: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    not_found: int = 0
    ok: int = 0
    by_path: Counter[str] = field(default_factory=Counter)


def _problem(status: int, kind: str, title: str, detail: str | None = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"type": f"https://api.publiq.be/probs/{kind}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers or None)


def _authorised(request: Request, state: _AppState) -> bool:
    key = request.headers.get("x-api-key") or request.query_params.get("apiKey")
    if key is not None:
        return key == state.api_key
    client = request.headers.get("x-client-id") or request.query_params.get("clientId")
    return state.client_id is not None and client == state.client_id


def create_app(
    catalogue: UitCatalogue,
    *,
    api_key: str = DEFAULT_API_KEY,
    client_id: str | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The fake's Starlette app. ``clock`` gives "now" for the default availability filters (default: the
    real time). Order for ``/events``: key check (401), a pending 429, a pending 5xx, then the answer."""
    state = _AppState(catalogue, api_key, client_id)
    now = clock or (lambda: datetime.now(UTC))

    async def events(request: Request) -> Response:
        return _events(state, request, now)

    async def not_found(request: Request) -> Response:
        return _problem(404, "url/not-found", "Not Found", f"No route for {request.url.path}")

    routes = [
        Route("/events", events, methods=["GET"]),
        Route("/events/", events, methods=["GET"]),
        *_control_routes(state),
        Route("/{rest:path}", not_found),
    ]
    app = Starlette(routes=routes)
    app.state.fake = state
    return app


def _events(state: _AppState, request: Request, now: Callable[[], datetime]) -> Response:
    state.requests += 1
    state.by_path[request.url.path] += 1
    if not _authorised(request, state):
        state.unauthorized += 1
        return _problem(401, "auth/unauthorized", "Unauthorized", "Provide a valid x-api-key header or apiKey.")
    faults = state.faults
    if faults.take_rate_limit():
        state.rate_limited += 1
        return _problem(429, "rate-limit/too-many-requests", "Too Many Requests", **faults.retry_after_headers())
    if faults.take_server_error():
        state.server_errors += 1
        return _problem(503, "server/unavailable", "Service Unavailable")
    params = {k: v for k, v in request.query_params.multi_items() if k != "termIds[]"}
    term_ids = request.query_params.getlist("termIds[]")
    try:
        page, total, per_page = search(state.catalogue, params, term_ids, now())
    except BadQuery as exc:
        state.not_found += 1
        return _problem(404, "url/not-found", "Not Found", str(exc))
    embed = request.query_params.get("embed", "").lower() == "true"
    state.ok += 1
    return JSONResponse(
        {
            "@context": HYDRA_CONTEXT,
            "@type": "PagedCollection",
            "itemsPerPage": per_page,
            "totalItems": total,
            "member": [e.to_json() if embed else {"@id": event_iri(e.id), "@type": "Event"} for e in page],
        }
    )


ControlHandler = Callable[[_AppState, Request], Awaitable[dict[str, Any]]]


def _control_routes(state: _AppState) -> list[Route]:
    def control(handler: ControlHandler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not _authorised(request, state):
                return _problem(401, "auth/unauthorized", "Unauthorized")
            try:
                return JSONResponse(await handler(state, request))
            except BadQuery as exc:
                return _problem(400, "body/invalid-data", "Bad Request", str(exc))

        return endpoint

    return [
        Route("/_fake/faults", control(_set_faults), methods=["POST"]),
        Route("/_fake/stats", control(_stats), methods=["GET"]),
    ]


async def _set_faults(state: _AppState, request: Request) -> dict[str, Any]:
    body = await request.json() if (await request.body()).strip() else {}
    if not isinstance(body, dict) or set(body) - {"rate_limit", "retry_after", "server_errors"}:
        raise BadQuery("known fault keys: rate_limit, retry_after, server_errors")
    state.faults = _Faults(
        rate_limit=checks.count(body, "rate_limit", BadQuery),
        retry_after=checks.number(body, "retry_after", 1, BadQuery),
        server_errors=checks.count(body, "server_errors", BadQuery),
    )
    return {"faults": body}


async def _stats(state: _AppState, request: Request) -> dict[str, Any]:
    with state.catalogue.lock:
        count = len(state.catalogue.events)
    return {
        "requests": state.requests,
        "ok": state.ok,
        "unauthorized": state.unauthorized,
        "rate_limited": state.rate_limited,
        "server_errors": state.server_errors,
        "not_found": state.not_found,
        "by_path": dict(sorted(state.by_path.items())),
        "events": count,
    }
