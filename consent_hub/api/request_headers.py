"""Every answer's X-Request-ID and Cache-Control, and the refusal of a declared body over the
limit before anything reads it. Plain ASGI rather than ``@app.middleware("http")``: Starlette's
BaseHTTPMiddleware runs the app in a separate task and copies every answer through a stream, a
cost paid by every request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consent_hub.api.errors import MAX_BODY_BYTES, too_large
from consent_hub.crypto.randomness import new_uuid


class RequestHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = str(new_uuid())
        scope.setdefault("state", {})["request_id"] = rid
        extra = [(b"x-request-id", rid.encode()), (b"cache-control", b"no-store")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {b"x-request-id", b"cache-control"}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*headers, *extra]}
            await send(message)

        length = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            await too_large()(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
