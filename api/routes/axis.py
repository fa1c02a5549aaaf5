"""The national axis's protocol as a second entry point (issue 15, item 5; started):
``POST /{operation}`` with ``XroadVnpt-*`` headers and their HMAC-SHA256 signature, so a
QLVB system that speaks to the national axis can read this hub's directory by changing its
endpoint and keys (its ``systemid`` is an app's access key, its secret the app's secret).

Answered so far: ``getAgenciesList`` (and ``getAgenciesListQD20``, the same list): every
live agency in the axis's shape, which ``truc admin directory sync`` of another hub reads
back. Every other operation answers ``FAIL`` with ``ErrorCode`` ``not_supported``.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import runtime_of
from api.door import DoorRoute
from hub.axis import facade
from hub.errors import TrucError

router = APIRouter(tags=["national axis"], route_class=DoorRoute)
"""Through the door unsigned (its body bounded like any other); the axis's own header
signature is checked in the route, before anything is answered."""
LISTS = ("getAgenciesList", "getAgenciesListQD20")


class AxisAgency(BaseModel):
    id: str
    pid: str
    code: str
    name: str
    mail: str
    oldCode: str
    code102: str


class AxisAnswer(BaseModel):
    status: str
    ErrorCode: str
    ErrorDesc: str
    data: list[AxisAgency] | str | None = None


# Outside /openapi.json: it speaks the national axis protocol (its own signature and
# error shape, docs/zones.md), not the problem+json API the document describes.
@router.post("/{operation}", response_model=AxisAnswer, include_in_schema=False)
async def axis_call(operation: str, request: Request) -> JSONResponse:
    """One call of the national axis's protocol, signed with its header signature."""
    runtime = runtime_of(request)
    try:
        await facade.authenticate(runtime.registry, {k.lower(): v for k, v in
                                                     request.headers.items()},
                                  runtime.backend.clock.now(),
                                  timedelta(seconds=runtime.settings.max_skew_seconds))
    except TrucError as exc:
        return _fail(exc.status, exc.code, exc.detail)
    if operation not in LISTS:
        return _fail(404, "not_supported", f"{operation} is not answered by this hub yet")
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "",
                         "data": facade.agencies_list(runtime.view.registry)})


def _fail(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": "FAIL", "ErrorCode": code, "ErrorDesc": detail},
                        status_code=status)
