"""Errors as RFC 9457 problem bodies (``application/problem+json``) with stable codes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from hub.errors import TrucError

PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


HTTP_CODES = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed",
              413: "payload_too_large"}
"""The web layer's own refusals (``HTTPException``): 400 is the body it could not parse
(not UTF-8, not JSON), never anything a retry would fix."""


def title_of(code: str) -> str:
    """The problem type's title, a short phrase that names the type (RFC 9457): the code in
    words (``signature_mismatch`` → "Signature mismatch"), never a class name."""
    return code.replace("_", " ").capitalize()


def problem(status: int, code: str, title: str, detail: str, **extra: object) -> JSONResponse:
    body = {"type": f"https://truc.dev/problems/{code}", "title": title, "status": status,
            "code": code, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    @app.exception_handler(TrucError)
    async def domain_error(_: Request, exc: TrucError) -> JSONResponse:
        return problem(exc.status, exc.code, title_of(exc.code), exc.detail,
                       retriable=exc.retriable, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return problem(400, "invalid_request", "Invalid request",
                       "the request does not match the API", errors=errors)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem(500, "internal_error", "Internal error",
                       "the hub failed; the error is logged", retriable=True)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if code == "invalid_body":
            detail = (f"{detail}: send the JSON encoded as UTF-8 "
                      "(Content-Type: application/json)")
        return problem(exc.status_code, code, title_of(code), detail,
                       retriable=exc.status_code in (429, 502, 503, 504))
