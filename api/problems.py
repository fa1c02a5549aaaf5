"""Errors as RFC 9457 problem bodies (``application/problem+json``) with stable codes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hub.errors import TrucError

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


RETRY_AFTER_SECONDS = 2
"""What a 503 tells the client to wait before trying again (``Retry-After``)."""


HTTP_CODES = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed",
              413: "payload_too_large"}
"""The web layer's own refusals (``HTTPException``): 400 is the body it could not parse
(not UTF-8, not JSON), never anything a retry would fix."""


def title_of(code: str) -> str:
    """The problem type's title, a short phrase that names the type (RFC 9457): the code in
    words (``signature_mismatch`` → "Signature mismatch"), never a class name."""
    return code.replace("_", " ").capitalize()


def problem(status: int, code: str, title: str, detail: str, *,
            retry_after: int = RETRY_AFTER_SECONDS, **extra: object) -> JSONResponse:
    """A problem response; every 503 (an engine down, a processor behind) carries
    ``Retry-After``, so a client knows when to come back rather than looping."""
    body = {"type": f"https://truc.dev/problems/{code}", "title": title, "status": status,
            "code": code, "detail": detail, **extra}
    headers = {"Retry-After": str(retry_after)} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def error_response(exc: TrucError, retry_after: int = RETRY_AFTER_SECONDS) -> JSONResponse:
    """A domain error as its problem response."""
    return problem(exc.status, exc.code, title_of(exc.code), exc.detail,
                   retry_after=retry_after, retriable=exc.retriable, **exc.extra)


def install(app: FastAPI, retry_after: int = RETRY_AFTER_SECONDS) -> None:
    @app.exception_handler(TrucError)
    async def domain_error(_: Request, exc: TrucError) -> JSONResponse:
        return error_response(exc, retry_after)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return problem(400, "invalid_request", "Invalid request",
                       "the request does not match the API", retriable=False, errors=errors)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # a bug, not an outage: repeating the same call would fail the same way
        log.exception("unexpected error", exc_info=exc)
        return problem(500, "internal_error", "Internal error",
                       "the hub failed; the error is logged", retriable=False)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if code == "invalid_body":
            detail = (f"{detail}: send the JSON encoded as UTF-8 "
                      "(Content-Type: application/json)")
        return problem(exc.status_code, code, title_of(code), detail,
                       retriable=exc.status_code in (429, 502, 503, 504))


PROBLEM_SCHEMA = "#/components/schemas/Problem"
"""Where ``/openapi.json`` defines the problem body (``api.contract`` puts it there)."""


def responses(*statuses: int, schema: str = PROBLEM_SCHEMA) -> dict[int | str, dict[str, Any]]:
    """A route's problem answers for its OpenAPI ``responses``: the statuses it can answer
    beyond those ``api.contract`` declares for every route of its kind."""
    return {status: {"description": title_of(HTTP_REASONS.get(status, "error")),
                     "content": {PROBLEM: {"schema": {"$ref": schema}}}}
            for status in statuses}


HTTP_REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                409: "conflict", 410: "gone", 413: "payload_too_large",
                416: "range_not_satisfiable", 422: "unprocessable_content",
                500: "internal_error", 503: "unavailable"}
