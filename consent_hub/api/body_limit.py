"""The request body limit for bodies without a declared length. A declared Content-Length over the
limit is refused unread by the app's request middleware; a chunked body is counted as it arrives
and refused once it grows past the limit, with the same JSON answer (Starlette's own limit answers
in plain text)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consent_hub.api.errors import MAX_BODY_BYTES


class ChunkedBodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # raised where the endpoint reads its body; the app's 413 handler answers
                    raise HTTPException(413)
            return message

        await self.app(scope, counted, send)
