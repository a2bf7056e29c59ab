"""The fake Mailchimp's HTTP app: authentication, the connection limit and faults before the state answers,
the batch worker, and the ``/_fake`` control routes."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.faults import json_object
from fakes.mailchimp.world import (
    DEFAULT_API_KEY,
    METHODS,
    PROBLEM_JSON,
    MailchimpState,
    Problem,
    Result,
    not_found,
    parse_faults,
)

# --------------------------------------------------------------------------------------------------
# the HTTP app


def _authorised(request: Request, api_key: str) -> Problem | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not header or scheme.lower() != "basic":
        return Problem(401, "API Key Missing", "Your request did not include an API key.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    _, sep, password = decoded.partition(":")
    if not sep or not hmac.compare_digest(password.encode("utf-8"), api_key.encode("utf-8")):
        return Problem(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        )
    return None


def _respond(result: Result) -> Response:
    if result.body is None:
        return Response(status_code=result.status, headers=result.headers)
    media_type = PROBLEM_JSON if result.is_problem else "application/json"
    return JSONResponse(result.body, status_code=result.status, headers=result.headers, media_type=media_type)


def create_app(
    state: MailchimpState,
    *,
    api_key: str = DEFAULT_API_KEY,
    batch_delay: float = 0.0,
    batch_chunk: int = 100,
    batch_tick: float = 0.01,
) -> Starlette:
    """The fake's Starlette app over ``state``; call it again with the same state to serve it anew.

    Batches start ``batch_delay`` seconds after submission; a worker (running while the app's lifespan runs,
    as under :func:`fakes.server.serve_in_thread`) works through ``batch_chunk`` operations every
    ``batch_tick`` seconds. Without a lifespan, due batches run whole at the start of each API request."""
    state.batch_delay = batch_delay
    worker = _BatchWorker(state, batch_chunk, batch_tick)
    routes = [*_api_routes(state, api_key, worker), *_control_routes(state, api_key, worker)]
    app = Starlette(routes=routes, lifespan=worker.lifespan)
    app.state.fake = state
    return app


class _BatchWorker:
    """Works through due batches while the app's lifespan runs; without it, requests run them."""

    def __init__(self, state: MailchimpState, chunk: int, tick: float) -> None:
        self.state = state
        self.chunk = chunk
        self.tick = tick
        self.running = False

    def catch_up(self) -> None:
        """Without a running worker, run every due batch now."""
        if not self.running:
            self.state.process_batches()

    async def work(self) -> None:
        while True:
            self.state.process_batches(max_ops=self.chunk)
            await asyncio.sleep(self.tick)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self.work())
        self.running = True
        try:
            yield
        finally:
            self.running = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


# -- the /3.0 API -------------------------------------------------------------------------------------


def _api_routes(state: MailchimpState, api_key: str, worker: _BatchWorker) -> list[Route]:
    async def api(request: Request) -> Response:
        with state.lock:
            state.counters["requests"] += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            limit = state.faults.max_concurrent or state.max_concurrent
            crowded = state.in_flight > limit
        try:
            response = await _answer(state, api_key, worker, request, crowded, limit)
        finally:
            with state.lock:
                state.in_flight -= 1
        with state.lock:
            state.by_status[response.status_code] += 1
        return response

    methods = list(METHODS)
    return [Route("/3.0", api, methods=methods), Route("/3.0/{rest:path}", api, methods=methods)]


async def _answer(
    state: MailchimpState, api_key: str, worker: _BatchWorker, request: Request, crowded: bool, limit: int
) -> Response:
    """The connection limit, the delay, the faults and the key, then the state's answer."""
    faults = state.faults
    if crowded:
        with state.lock:
            state.counters["over_connection_limit"] += 1
        return Problem(
            429, "Too Many Requests", f"You have exceeded the limit of {limit} simultaneous connections."
        ).response()
    await faults.pause()
    with state.lock:
        refusal = _fault(state, api_key, request)
    if refusal is not None:
        return refusal.response()
    worker.catch_up()
    body = await request.body()
    request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
    path = request.scope["path"][len("/3.0") :]
    result = state.handle(
        request.method,
        path,
        dict(request.query_params),
        body,
        request_id=request_id,
        base_url=str(request.base_url).rstrip("/"),
    )
    return _respond(result)


def _fault(state: MailchimpState, api_key: str, request: Request) -> Problem | None:
    """The refusal of a request the fake is down for, the key refuses, or a pending fault answers."""
    faults = state.faults
    if faults.down:
        state.counters["down"] += 1
        return Problem(503, "Service Unavailable", "The Mailchimp API is temporarily unavailable.")
    refusal = _authorised(request, api_key)
    if refusal is not None:
        state.counters["unauthorized"] += 1
        return refusal
    if faults.take_rate_limit():
        state.counters["rate_limited"] += 1
        return Problem(
            429,
            "Too Many Requests",
            "You have exceeded the limit of requests.",
            headers=faults.retry_after_headers(),
        )
    status = faults.take_server_error()
    if status:
        state.counters["server_errors"] += 1
        if status == 500:
            return Problem(
                500,
                "Internal Server Error",
                "An unexpected internal error has occurred. Please contact Support for more information.",
            )
        return Problem(503, "Service Unavailable", "The Mailchimp API is temporarily unavailable.")
    return None


# -- the /_fake control routes ------------------------------------------------------------------------


def _control_routes(state: MailchimpState, api_key: str, worker: _BatchWorker) -> list[Route]:
    def control(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            refusal = _authorised(request, api_key)
            if refusal is not None:
                return refusal.response()
            worker.catch_up()
            try:
                return JSONResponse(await handler(request))
            except ValueError as exc:
                return Problem(400, "Bad Request", str(exc)).response()

        return endpoint

    async def fake_log(request: Request) -> Any:
        query = request.query_params
        since = query.get("since", "0")
        if not since.isdigit():
            raise ValueError("'since' must be a non-negative integer")
        return state.log(
            list_id=query.get("list_id") or None,
            subscriber_hash=query.get("subscriber_hash") or None,
            since=int(since),
        )

    async def fake_members(request: Request) -> Any:
        list_id = request.query_params.get("list_id") or None
        if list_id is not None and list_id not in state.audiences:
            raise ValueError(f"unknown list_id {list_id!r}")
        return state.members(list_id)

    async def fake_faults(request: Request) -> Any:
        if request.method == "POST":
            body = await json_object(request)
            faults = parse_faults(body)
            with state.lock:
                state.faults = faults
        return {"faults": state.faults.describe()}

    async def fake_stats(request: Request) -> Any:
        return state.stats()

    async def batch_results(request: Request) -> Response:
        results = state.batch_results(request.path_params["batch_id"])
        if results is None:
            return not_found().response()
        return JSONResponse(results)

    return [
        Route("/_fake/log", control(fake_log), methods=["GET"]),
        Route("/_fake/members", control(fake_members), methods=["GET"]),
        Route("/_fake/faults", control(fake_faults), methods=["GET", "POST"]),
        Route("/_fake/stats", control(fake_stats), methods=["GET"]),
        Route("/_fake/batches/{batch_id}/response.json", batch_results, methods=["GET"]),
    ]
