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
from api.runtime import Runtime
from hub.auth.sessions import lapsed
from hub.axis import signature
from hub.axis.signature import AxisRefused
from hub.errors import TrucError
from hub.registry.model import Agency, Registry

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
        await _authenticated(runtime, request)
    except TrucError as exc:
        return _fail(exc.status, exc.code, exc.detail)
    if operation not in LISTS:
        return _fail(404, "not_supported", f"{operation} is not answered by this hub yet")
    reg = runtime.view.registry
    rows = [_row(reg, a) for a in sorted(reg.agencies.values(), key=lambda a: a.code)
            if a.merged_into is None]
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", "data": rows})


async def _authenticated(runtime: Runtime, request: Request) -> None:
    headers = {k.lower(): v for k, v in request.headers.items()}
    signed = signature.signed_part(headers)
    reg = runtime.view.registry
    key = reg.key(signed.system_id)
    now = runtime.backend.clock.now()
    secret = await runtime.registry.secret(key) if key is not None else None
    if key is None or secret is None or key.principal_id not in reg.apps \
            or lapsed(reg, key.principal_id, key.key_id, now) is not None:
        raise AxisRefused("unknown or revoked systemid")
    signature.check(signed, headers, secret, now,
                    timedelta(seconds=runtime.settings.max_skew_seconds))


def _row(reg: Registry, agency: Agency) -> dict[str, str]:
    """An agency as the axis lists it: its national id when a national list brought it
    (so the axis's clients keep theirs), else the hub's own id."""
    parent = reg.agency(agency.parent_code) if agency.parent_code else None
    return {"id": agency.national_id or agency.agency_id,
            "pid": (parent.national_id or parent.agency_id) if parent else "",
            "code": agency.code, "name": agency.name, "mail": agency.mail or "",
            "oldCode": agency.former_codes[-1] if agency.former_codes else "",
            "code102": agency.code}


def _fail(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": "FAIL", "ErrorCode": code, "ErrorDesc": detail},
                        status_code=status)
