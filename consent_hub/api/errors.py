"""Every error leaves the API as ``{"error": "<Name>", "detail": ...}`` (``ErrorBody``) and never
echoes input; ``errors_for`` declares those answers in the OpenAPI document."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from consent_hub.errors import ErrorBody, HubError

log = logging.getLogger("consent_hub.api")
# A bulk create of 1,000 people is ~300 kB.
MAX_BODY_BYTES = 2 * 1024 * 1024

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


_ANSWERS: dict[int, dict[str, Any]] = {
    400: {"description": "The request is malformed"},
    401: {
        "description": "Missing, malformed, unknown, revoked or expired API key",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    },
    403: {"description": "The caller's role or grant does not allow this"},
    404: {"description": "No such resource, or none the caller may see (the same answer for both)"},
    409: {"description": "The request conflicts with the current state (the error names the case)"},
    413: {"description": f"The request body is over {MAX_BODY_BYTES} bytes"},
    422: {"description": "A value did not pass validation: ``detail`` lists each problem"},
    429: {
        "description": "The house's privacy budget for fresh figures is spent for the period",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}


def errors_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of these error statuses, each an ``ErrorBody``."""
    return {status: {"model": ErrorBody, **_ANSWERS[status]} for status in statuses}


def error_body(name: str, detail: object) -> dict[str, object]:
    return {"error": name, "detail": detail}


def too_large() -> JSONResponse:
    return JSONResponse(
        error_body("PayloadTooLarge", f"request bodies are limited to {MAX_BODY_BYTES} bytes"), status_code=413
    )


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
        if exc.status_code == 413:  # a chunked body that grew past the limit: the same answer as a declared one
            return too_large()
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
