"""The fake webhook receiver's HTTP app: ``/hooks/{name}`` and the ``/_fake`` control routes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.faults import json_object
from fakes.webhook_receiver.signing import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from fakes.webhook_receiver.world import DEFAULT_REPLAY_WINDOW, Delivery, ReceiverFaults, WebhookReceiverState


def _refuse(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


def create_app(
    secret: str | Mapping[str, str],
    *,
    state: WebhookReceiverState | None = None,
    replay_window: float = DEFAULT_REPLAY_WINDOW,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The receiver app. ``secret`` is one secret for every hook name or a mapping hook name -> secret.
    ``clock`` gives the receiver's time in Unix seconds (tests may pin it)."""
    state = state if state is not None else WebhookReceiverState()
    single = secret if isinstance(secret, str) else None
    secrets = None if isinstance(secret, str) else dict(secret)

    async def hook(request: Request) -> Response:
        _count(state, "requests")
        await state.faults.pause()
        refusal = _fault(state)
        if refusal is not None:
            return refusal
        name = request.path_params["name"]
        key = single if secrets is None else secrets.get(name)
        if key is None:
            _count(state, "unknown_hook")
            return _refuse(404, "unknown_hook", f"No hook named {name!r}.")
        body = await request.body()
        checked = _check_signed(state, request, key, body, clock, replay_window)
        if isinstance(checked, Response):
            return checked
        return _accept(state, request, name, checked, body)

    routes = [Route("/hooks/{name}", hook, methods=["POST"]), *_control_routes(state)]
    app = Starlette(routes=routes)
    app.state.fake = state
    return app


def _count(state: WebhookReceiverState, key: str) -> None:
    with state.lock:
        state.counters[key] += 1


def _fault(state: WebhookReceiverState) -> Response | None:
    with state.lock:
        faults = state.faults
        if faults.down:
            state.counters["down"] += 1
            return _refuse(503, "unavailable", "The receiver is down.")
        status = faults.take_server_error()
        if status:
            state.counters["server_errors"] += 1
            return _refuse(status, "server_error", "An injected server error.")
    return None


def _check_signed(
    state: WebhookReceiverState,
    request: Request,
    key: str,
    body: bytes,
    clock: Callable[[], float],
    replay_window: float,
) -> tuple[str, int] | Response:
    """(delivery id, timestamp) of a delivery with every header, a matching signature and a fresh
    timestamp; else the refusal."""
    timestamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    delivery_id = request.headers.get(DELIVERY_HEADER, "").strip()
    missing = [
        header
        for header, value in (
            (TIMESTAMP_HEADER, timestamp),
            (SIGNATURE_HEADER, signature),
            (DELIVERY_HEADER, delivery_id),
        )
        if not value
    ]
    if missing:
        _count(state, "missing_header")
        return _refuse(401, "missing_header", f"Missing header(s): {', '.join(missing)}.")
    if not verify_signature(key, timestamp, body, signature):
        _count(state, "bad_signature")
        return _refuse(401, "bad_signature", "The signature does not match the timestamp and body.")
    sent = int(timestamp)
    if abs(clock() - sent) > replay_window:
        _count(state, "stale_timestamp")
        return _refuse(401, "stale_timestamp", f"The timestamp is more than {replay_window:g} s away.")
    return delivery_id, sent


def _accept(
    state: WebhookReceiverState, request: Request, name: str, checked: tuple[str, int], body: bytes
) -> Response:
    """Keep the delivery unless its id was accepted before under this hook name (409)."""
    delivery_id, sent = checked
    with state.lock:
        if (name, delivery_id) in state.seen:
            state.counters["replayed_delivery"] += 1
            return _refuse(409, "replayed_delivery", f"Delivery {delivery_id!r} was accepted before.")
        state.seen.add((name, delivery_id))
        state.deliveries.append(
            Delivery(
                seq=len(state.deliveries) + 1,
                name=name,
                delivery_id=delivery_id,
                timestamp=sent,
                received_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
                content_type=request.headers.get("content-type", ""),
                body=body,
            )
        )
        state.counters["accepted"] += 1
    return JSONResponse({"status": "accepted", "delivery_id": delivery_id})


def _control_routes(state: WebhookReceiverState) -> list[Route]:
    def control(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return JSONResponse(await handler(request))
            except ValueError as exc:
                return _refuse(400, "bad_request", str(exc))

        return endpoint

    async def received(request: Request) -> Any:
        if request.method == "DELETE":
            state.clear()
            return {"cleared": True}
        return state.received(request.query_params.get("name") or None)

    async def faults(request: Request) -> Any:
        if request.method == "POST":
            body = await json_object(request)
            parsed = ReceiverFaults.parse(body)
            with state.lock:
                state.faults = parsed
        return {"faults": state.faults.describe()}

    async def stats(request: Request) -> Any:
        with state.lock:
            return {
                "counters": dict(sorted(state.counters.items())),
                "received": len(state.deliveries),
                "faults": state.faults.describe(),
            }

    return [
        Route("/_fake/received", control(received), methods=["GET", "DELETE"]),
        Route("/_fake/faults", control(faults), methods=["GET", "POST"]),
        Route("/_fake/stats", control(stats), methods=["GET"]),
    ]
