"""A fake receiver for the hub's generic signed webhooks: it verifies each delivery and keeps the accepted ones.

The signing scheme (the hub's sender uses the same; :func:`sign` computes it):

* The request is ``POST /hooks/{name}`` with the payload as the raw body (the receiver never re-serialises it;
  the signature covers the exact bytes sent) and three headers:

  - ``X-Hub-Timestamp``: the time of signing in whole seconds since the Unix epoch, as ASCII decimal digits
    (no sign, no fraction), e.g. ``1735689600``.
  - ``X-Hub-Delivery``: an id unique to the delivery (a UUID, say). A retry of the same delivery keeps its id
    and is signed afresh with a new timestamp.
  - ``X-Hub-Signature``: ``sha256=`` followed by the lower-case hex HMAC-SHA256 whose key is the shared secret
    encoded as UTF-8 and whose message is the timestamp string in ASCII, one ``.`` (0x2E) and the raw body:
    ``hex(HMAC_SHA256(secret, timestamp + "." + body))``.

* The receiver recomputes the HMAC over the bytes it received and compares it in constant time
  (:func:`hmac.compare_digest`); upper-case hex is accepted. Missing or malformed headers and a wrong signature
  answer 401. A timestamp more than ``replay_window`` seconds (default 300) before or after the receiver's clock
  answers 401 (stale). A delivery id already accepted for the same hook answers 409 (replay): a sender may treat
  409 as "delivered before". An accepted delivery answers 200 ``{"status": "accepted", "delivery_id": ...}``.
  Checks run in that order: signature, then timestamp, then delivery id, so an unsigned request learns nothing.
  With a mapping of secrets (one per hook name) an unknown hook name answers 404.

* The delivery id is not covered by the signature. Within the replay window, a captured request replayed under
  a new ``X-Hub-Delivery`` would pass; payloads should carry their own event id if that matters to a receiver.

Refusals are JSON ``{"error": <code>, "detail": <text>}`` with codes ``missing_header``, ``bad_signature``,
``stale_timestamp``, ``replayed_delivery``, ``unknown_hook``, ``unavailable``, ``server_error``.

Control endpoints (no auth): ``GET /_fake/received?name=`` lists accepted deliveries ``[{"seq", "name",
"delivery_id", "timestamp", "received_at", "content_type", "body", "json"}]`` (``body`` as text, ``json`` the
parsed body or ``null``); ``DELETE /_fake/received`` forgets deliveries and delivery ids; ``POST /_fake/faults``
``{"down": bool, "server_errors": k, "delay_ms": ms, "fail_every": k}`` (``{}`` resets; ``down`` answers 503,
``server_errors`` answers 500 and 503 alternately, ``fail_every`` 503 every k-th delivery), ``GET /_fake/faults``;
``GET /_fake/stats``. Faults apply to ``/hooks/...`` only and before any check.

The state (:class:`WebhookReceiverState`) can live outside the app so a restarted server keeps what it received.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "DEFAULT_REPLAY_WINDOW",
    "ReceiverFaults",
    "WebhookReceiverState",
    "create_app",
    "sign",
    "verify_signature",
]

DEFAULT_REPLAY_WINDOW = 300
SIGNATURE_PREFIX = "sha256="
TIMESTAMP_HEADER = "X-Hub-Timestamp"
SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Hub-Delivery"


def _mac(secret: str, timestamp: str, body: bytes) -> str:
    message = timestamp.encode("ascii") + b"." + body
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Hub-Signature`` value: ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>``."""
    return _mac(secret, str(int(timestamp)), body)


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` (a header value) signs ``timestamp`` (the header's text) and ``body``; constant time."""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    expected = _mac(secret, timestamp, body).encode("ascii")
    given = signature.strip()
    if given[: len(SIGNATURE_PREFIX)].lower() == SIGNATURE_PREFIX:
        given = SIGNATURE_PREFIX + given[len(SIGNATURE_PREFIX) :].lower()
    return hmac.compare_digest(expected, given.encode("utf-8"))


@dataclass
class ReceiverFaults:
    down: bool = False
    server_errors: int = 0
    delay_ms: float = 0
    fail_every: int = 0
    next_server_error: int = 500
    fail_counter: int = 0

    def describe(self) -> dict[str, Any]:
        return {
            "down": self.down,
            "server_errors": self.server_errors,
            "delay_ms": self.delay_ms,
            "fail_every": self.fail_every,
        }

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ReceiverFaults:
        """A fresh configuration (keys left out are off). Raises ``ValueError``."""
        unknown = set(body) - {"down", "server_errors", "delay_ms", "fail_every"}
        if unknown:
            raise ValueError(f"Unknown fault keys: {sorted(unknown)}")
        down = body.get("down", False)
        if not isinstance(down, bool):
            raise ValueError("'down' must be true or false")
        values: dict[str, float] = {}
        for key in ("server_errors", "delay_ms", "fail_every"):
            value = body.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"'{key}' must be a non-negative number")
            if key != "delay_ms" and not isinstance(value, int):
                raise ValueError(f"'{key}' must be a non-negative integer")
            values[key] = value
        return cls(
            down=down,
            server_errors=int(values["server_errors"]),
            delay_ms=float(values["delay_ms"]),
            fail_every=int(values["fail_every"]),
        )


@dataclass(slots=True)
class _Delivery:
    seq: int
    name: str
    delivery_id: str
    timestamp: int
    received_at: str
    content_type: str
    body: bytes

    def to_json(self) -> dict[str, Any]:
        text = self.body.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        return {
            "seq": self.seq,
            "name": self.name,
            "delivery_id": self.delivery_id,
            "timestamp": self.timestamp,
            "received_at": self.received_at,
            "content_type": self.content_type,
            "body": text,
            "json": parsed,
        }


@dataclass
class WebhookReceiverState:
    """Accepted deliveries, the delivery ids seen per hook, faults and counters."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    deliveries: list[_Delivery] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    faults: ReceiverFaults = field(default_factory=ReceiverFaults)
    counters: Counter[str] = field(default_factory=Counter)

    def received(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [d.to_json() for d in self.deliveries if name is None or d.name == name]

    def clear(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.seen.clear()


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

    def count(key: str) -> None:
        with state.lock:
            state.counters[key] += 1

    def fault() -> Response | None:
        with state.lock:
            faults = state.faults
            if faults.down:
                state.counters["down"] += 1
                return _refuse(503, "unavailable", "The receiver is down.")
            status = 0
            if faults.server_errors > 0:
                faults.server_errors -= 1
                status = faults.next_server_error
                faults.next_server_error = 503 if status == 500 else 500
            elif faults.fail_every > 0:
                faults.fail_counter += 1
                if faults.fail_counter % faults.fail_every == 0:
                    status = 503
            if status:
                state.counters["server_errors"] += 1
                return _refuse(status, "server_error", "An injected server error.")
        return None

    async def hook(request: Request) -> Response:
        count("requests")
        delay = state.faults.delay_ms
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        refusal = fault()
        if refusal is not None:
            return refusal
        name = request.path_params["name"]
        key = single if secrets is None else secrets.get(name)
        if key is None:
            count("unknown_hook")
            return _refuse(404, "unknown_hook", f"No hook named {name!r}.")
        body = await request.body()
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
            count("missing_header")
            return _refuse(401, "missing_header", f"Missing header(s): {', '.join(missing)}.")
        if not verify_signature(key, timestamp, body, signature):
            count("bad_signature")
            return _refuse(401, "bad_signature", "The signature does not match the timestamp and body.")
        sent = int(timestamp)
        if abs(clock() - sent) > replay_window:
            count("stale_timestamp")
            return _refuse(401, "stale_timestamp", f"The timestamp is more than {replay_window:g} s away.")
        with state.lock:
            if (name, delivery_id) in state.seen:
                state.counters["replayed_delivery"] += 1
                return _refuse(409, "replayed_delivery", f"Delivery {delivery_id!r} was accepted before.")
            state.seen.add((name, delivery_id))
            state.deliveries.append(
                _Delivery(
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
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ValueError("The request body is not valid JSON.") from None
            if not isinstance(body, dict):
                raise ValueError("The request body must be a JSON object.")
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

    routes = [
        Route("/hooks/{name}", hook, methods=["POST"]),
        Route("/_fake/received", control(received), methods=["GET", "DELETE"]),
        Route("/_fake/faults", control(faults), methods=["GET", "POST"]),
        Route("/_fake/stats", control(stats), methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.fake = state
    return app
