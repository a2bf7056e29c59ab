"""Every error leaves the API as ``{"error": "<Name>", "detail": ...}`` and never echoes input."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from consent_hub.errors import HubError

log = logging.getLogger("consent_hub.api")

HTTP_NAMES = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "InvalidInput",
    429: "TooManyRequests",
}


def error_body(name: str, detail: object) -> dict[str, object]:
    return {"error": name, "detail": detail}


def install(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub(request: Request, exc: HubError) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(error_body(exc.name, exc.detail), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ())),
                "problem": err.get("msg", "invalid"),
                "type": err.get("type", "value_error"),
            }
            for err in exc.errors()
        ]
        return JSONResponse(error_body("InvalidInput", detail), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = HTTP_NAMES.get(exc.status_code, "HTTPError")
        return JSONResponse(
            error_body(name, exc.detail), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # The exception's message may quote data (e.g. a database error quoting parameters):
        # log its type and stack only, never its text.
        rid = getattr(request.state, "request_id", "-")
        log.error(
            "unhandled %s in request %s\n%s", type(exc).__name__, rid, "".join(traceback.format_tb(exc.__traceback__))
        )
        return JSONResponse(error_body("InternalError", f"internal error (request {rid})"), status_code=500)
