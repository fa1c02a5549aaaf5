"""Sending and receiving (Điều 9, 10): the package endpoints for agency apps."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from api import responses as r
from api.auth import CurrentApp, RuntimeDep, runtime_of
from api.door import DoorRoute, chunk_upload, whole_content
from api.packages_service import Packages
from api.problems import problem, responses
from api.successors import named_delivery
from hub import bounds
from hub.auth.sessions import Caller
from hub.errors import InvalidRequest, RangeNotSatisfiable
from hub.packages.decisions import SendRequest, visible
from hub.packages.model import PRIORITIES, Package
from hub.packages.notices import no_receiver_detail
from hub.packages.processor import INBOX
from hub.registry.succession import successor_codes

router = APIRouter(prefix="/v1", tags=["packages"], route_class=DoorRoute)
RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
"""One range, ASCII digits (``\\d`` takes any Unicode digit); always ``fullmatch``."""


async def packages(request: Request) -> Packages:
    """``async``: a plain ``def`` dependency would run in the thread pool each call; and
    straight from the request, not through ``RuntimeDep``: one dependency fewer to solve."""
    return Packages(runtime_of(request))


PackagesDep = Annotated[Packages, Depends(packages)]


def octet_stream(description: str) -> dict[str, Any]:
    """An OpenAPI body of bytes: what a generated client reads or sends as a file."""
    return {"description": description, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}


CHUNK_BODY = {"requestBody": {"required": True, **octet_stream("The chunk's bytes.")}}
CONTENT = octet_stream("The content, decrypted")


class PackageMetadata(BaseModel):
    """What a sender says of a package, chunked (``PackageRequest``) or in one call
    (``OneCallSend``)."""

    recipients: list[str] = Field(max_length=bounds.MAX_RECIPIENTS,
                                  description="Agency codes of the destinations.")
    title: str = Field(max_length=bounds.TITLE)
    priority: str = Field("normal", max_length=20, description=" | ".join(PRIORITIES))
    data_type: str = Field(max_length=40, description="edxml, pdf, json, binary…")
    protocol: str = Field("truc/1", max_length=bounds.PROTOCOL)
    sha256: str = Field(max_length=64, description="Hex SHA-256 of the whole content.")
    trace: list[str] = Field([], max_length=16, description=(
        "Hubs the package crossed before this one, oldest first: set by a hub forwarding "
        "it from another zone; a hub named there refuses it (409 forwarding_loop)."))

    def send_request(self, successors: Mapping[str, str], size: int,
                     idempotency_key: str | None) -> SendRequest:
        """The domain's request, recipients named by closed codes sent to successors."""
        return SendRequest([successors.get(c, c) for c in self.recipients], self.title,
                           self.priority, self.data_type, self.protocol, size,
                           self.sha256.lower(), idempotency_key, tuple(self.trace))


class PackageRequest(PackageMetadata):
    size: int = Field(ge=1, le=bounds.LONG_MAX, description="Content size in bytes.")


def space_view(pkg: Package, base: str, stored: list[int] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "package_id": pkg.package_id, "state": pkg.state.value,
        "chunk_size": pkg.chunk_size, "chunk_count": pkg.chunk_count,
        "upload_url": f"{base}/v1/packages/{pkg.package_id}/chunks/{{index}}",
        "expires_at": pkg.space_expires_at,
    }
    if stored is not None:
        view["received"] = stored
        view["missing"] = sorted(set(range(pkg.chunk_count)) - set(stored))
    return view


@router.post("/packages", status_code=201, response_model=r.Space,
             response_model_exclude_unset=True,  # no received/missing: a new space
             responses=responses(409))
async def request_send(body: PackageRequest, caller: CurrentApp, service: PackagesDep,
                       request: Request,
                       idempotency_key: Annotated[str | None, Header()] = None
                       ) -> dict[str, Any]:
    """Ask to send a package; the answer is an upload space. A recipient named by a
    closed code goes to its successor, and ``successors`` tells the source the new code."""
    successors = successor_codes(service.rt.view.registry, body.recipients)
    pkg = await service.request(caller, body.send_request(successors, body.size,
                                                          idempotency_key))
    return {**space_view(pkg, str(request.base_url).rstrip("/")), "successors": successors}


@router.get("/packages/{package_id}/space", response_model=r.Space, responses=responses(410))
async def get_space(package_id: str, caller: CurrentApp, service: PackagesDep,
                    request: Request) -> dict[str, Any]:
    """Which chunks the hub has: resume an interrupted upload from here."""
    pkg, stored = await service.space(caller, package_id)
    return space_view(pkg, str(request.base_url).rstrip("/"), stored)


@router.put("/packages/{package_id}/chunks/{index}", response_model=r.StoredChunk,
            responses=responses(409, 410), openapi_extra=CHUNK_BODY)
@chunk_upload
async def put_chunk(package_id: str, index: int, *, request: Request, caller: CurrentApp,
                    service: PackagesDep,
                    x_chunk_sha256: Annotated[str, Header(
                        description="Hex SHA-256 of this chunk.")]) -> dict[str, Any]:
    """Upload one chunk; sending the same chunk again is harmless."""
    data = await request.body()  # read by the door, bounded by the chunk size (@chunk_upload)
    stored = await service.put_chunk(caller, package_id, index, data, x_chunk_sha256)
    return {"package_id": package_id, "index": index, "size": stored.size,
            "sha256": stored.sha256}


class SealRequest(BaseModel):
    deadline: datetime | None = Field(None, description="Deliver before this time.")
    offline_wait_seconds: int | None = Field(
        None, ge=0, le=bounds.MAX_OFFLINE_WAIT_SECONDS,
        description="How long to wait for an offline destination (at most a year).")


@router.post("/packages/{package_id}/seal", response_model=r.PackageView,
             responses={**responses(409, 410),
                        **responses(422, schema="#/components/schemas/PackageRejected")})
async def seal(package_id: str, body: SealRequest, caller: CurrentApp,
               service: PackagesDep) -> Response:
    """Close the space: the hub verifies the content and plans delivery, or rejects."""
    pkg = await service.seal(caller, package_id, body.deadline, body.offline_wait_seconds)
    return sealed_answer(pkg, caller, service)


def sealed_answer(pkg: Package, caller: Caller, service: Packages,
                  successors: Mapping[str, str] | None = None) -> Response:
    """A seal's answer, chunked or in one call: the package with its deliveries planned,
    or 422 ``package_rejected`` with the package; ``successors`` when a recipient was
    named by a closed code."""
    view = package_view(pkg, caller, service.waiting(pkg))
    if pkg.rejection:
        return problem_response(422, "package_rejected", pkg.rejection, view)
    return json_response({**view, "successors": dict(successors)} if successors else view)


class OneCallSend(PackageMetadata, SealRequest):
    """A small package in one call: the metadata of ``POST /v1/packages``, the policy of
    the seal, and the content itself in base64 (at most one chunk: ``chunk_size``)."""

    content_base64: str = Field(description="The content, base64 (RFC 4648 §4, padded).")


@router.post("/packages/send", response_model=r.PackageView,
             responses={**responses(409, 413),
                        **responses(422, schema="#/components/schemas/PackageRejected")})
@whole_content
async def send(body: OneCallSend, caller: CurrentApp, service: PackagesDep,
               idempotency_key: Annotated[str | None, Header()] = None) -> Response:
    """Send a small package in one call: request, upload and seal at once. Content larger
    than one chunk goes the chunked, resumable way (``POST /v1/packages``)."""
    try:
        content = base64.b64decode(body.content_base64, validate=True)
    except ValueError:  # binascii.Error, or a character that is not ASCII
        raise InvalidRequest("content_base64 is not base64 (RFC 4648, padded)",
                             code="invalid_content", field="content_base64") from None
    successors = successor_codes(service.rt.view.registry, body.recipients)
    req = body.send_request(successors, len(content), idempotency_key)
    pkg = await service.send(caller, req, content, body.deadline, body.offline_wait_seconds)
    return sealed_answer(pkg, caller, service, successors)


@router.get("/inbox", response_model=list[r.InboxItem])
async def inbox(caller: CurrentApp, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """Deliveries waiting for the caller's agency, flash first, then urgent, then normal."""
    rows = await runtime.backend.projections.scan(INBOX, caller.app.agency_id)
    return [dict(r.body) for r in rows]


@router.get("/packages/{package_id}", response_model=r.PackageView)
async def package_state(package_id: str, caller: CurrentApp,
                        service: PackagesDep) -> dict[str, Any]:
    """State and timeline; a destination sees only its own delivery."""
    pkg = visible(await service.load(package_id), caller)
    return package_view(pkg, caller, service.waiting(pkg))


@router.get("/packages/{package_id}/content", response_class=StreamingResponse,
            responses={200: CONTENT, 206: {**CONTENT, "description": "The range asked for"},
                       **responses(409, 410, 416)})
async def download(package_id: str, caller: CurrentApp, service: PackagesDep,
                   range_: Annotated[str | None, Header(alias="range")] = None
                   ) -> StreamingResponse:
    """The content, decrypted and streamed; HTTP Range resumes a broken download."""
    pkg = await service.begin_fetch(caller, package_id)
    first, last = byte_range(range_, pkg.size)
    headers = {"accept-ranges": "bytes", "content-length": str(last - first + 1),
               "x-content-sha256": pkg.sha256, "etag": f'"{pkg.sha256}"'}
    status = 200
    if range_:
        status = 206
        headers["content-range"] = f"bytes {first}-{last}/{pkg.size}"
    content = await service.open_content(pkg, first, last)  # fails here, before any byte
    return StreamingResponse(content, status_code=status,
                             headers=headers, media_type="application/octet-stream")


class Acknowledgement(BaseModel):
    sha256: str = Field(max_length=64, description="The SHA-256 the destination computed.")


@router.post("/packages/{package_id}/ack", response_model=r.PackageView,
             responses=responses(409, 410))
async def acknowledge(package_id: str, body: Acknowledgement, caller: CurrentApp,
                      service: PackagesDep) -> dict[str, Any]:
    """Confirm receipt with the digest computed; a wrong digest leaves the delivery open."""
    return package_view(await service.acknowledge(caller, package_id, body.sha256), caller)


class StatusReport(BaseModel):
    code: str = Field(max_length=2, description="National status code: 01, 02, 03, 04, 05, "
                                                "06, 13, 15, 16.")
    note: str | None = Field(None, max_length=bounds.NOTE)
    destination: str | None = Field(
        default=None, max_length=40,
        description="The source's 13 (recall requested): the agency code of the delivery it "
                    "concerns.")


@router.post("/packages/{package_id}/status", status_code=201, response_model=r.PackageView,
             responses=responses(409))
async def report_status(package_id: str, body: StatusReport, caller: CurrentApp,
                        service: PackagesDep) -> dict[str, Any]:
    """A destination's business status of the document, sent back to the source; or the
    source's recall request (13) on one delivery, which the destination answers 15 or 16."""
    destination = await named_delivery(service, package_id, body.destination)
    return package_view(await service.report(caller, package_id, body.code, body.note,
                                             destination), caller)


def package_view(pkg: Package, caller: Caller,
                 no_receiver: Mapping[str, datetime] | None = None) -> dict[str, Any]:
    """``no_receiver``: the deliveries still waiting for their destination's first
    receiving app, and until when (``Packages.waiting``); the source sees them, per
    delivery and as ``warnings``."""
    mine = caller.app.agency_id
    is_source = pkg.source_agency_id == mine
    waiting = {k: v.isoformat() for k, v in (no_receiver or {}).items()} if is_source else {}
    deliveries = [d for d in pkg.deliveries.values() if is_source or d.agency_id == mine]
    codes = {d.agency_id: d.code for d in pkg.deliveries.values()}
    codes[pkg.source_agency_id] = pkg.source_code
    return {
        "package_id": pkg.package_id, "title": pkg.title, "state": pkg.state.value,
        "priority": pkg.priority, "data_type": pkg.data_type, "size": pkg.size,
        "sha256": pkg.sha256, "source": pkg.source_code, "requested_at": pkg.requested_at,
        "deadline": pkg.deadline, "rejection": pkg.rejection, "shredded": pkg.shredded,
        "recipients": list(pkg.recipients) if is_source else None,
        "deliveries": [{"agency_code": d.code, "state": d.state.value, "planned_at": d.planned_at,
                        "deadline": d.deadline, "reason": d.reason,
                        "no_receiver_until": waiting.get(d.agency_id),
                        "statuses": [{"code": c, "at": at} for c, at in d.statuses]}
                       for d in deliveries],
        "warnings": [{"code": "no_receiver", "destination": d.code, "until": waiting[d.agency_id],
                      "detail": no_receiver_detail(d.code, waiting[d.agency_id])}
                     for d in deliveries if d.agency_id in waiting],
        "timeline": [{"at": s.at, "what": s.what, "detail": s.detail,
                      "agency_code": codes.get(s.agency_id or "")} for s in pkg.timeline
                     if is_source or s.agency_id in (None, mine, pkg.source_agency_id)],
    }


def byte_range(header: str | None, size: int) -> tuple[int, int]:
    """(first, last) byte of the one range asked for: 400 ``invalid_range`` for what is not
    ``bytes=START-END``, ``bytes=START-`` or ``bytes=-SUFFIX`` (several ranges included),
    416 for a range that selects nothing (``bytes=-0``, ``bytes=5-2``, a start past the
    end). Numbers are ASCII digits; one too long to be a real offset counts as past the end."""
    if not header:
        return 0, size - 1
    match = RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        raise InvalidRequest("Range must be one range: bytes=START-END, bytes=START- or "
                             "bytes=-SUFFIX", code="invalid_range")
    start, end = match.groups()
    if start == "":
        suffix = _offset(end)
        if suffix == 0:
            raise RangeNotSatisfiable("bytes=-0 selects no bytes", size=size)
        return max(0, size - suffix), size - 1
    first, last = _offset(start), min(_offset(end) if end else size - 1, size - 1)
    if first > last or first >= size:
        raise RangeNotSatisfiable(f"bytes {start}-{end} selects nothing of the {size} bytes "
                                  "of content", size=size)
    return first, last


def _offset(digits: str) -> int:
    """An offset from the Range header; past any content when longer than 19 digits (and
    never parsed then: Python refuses to parse very long integers)."""
    return int(digits) if len(digits) <= 19 else 2**63


def json_response(view: dict[str, Any]) -> Response:
    return JSONResponse(view)


def problem_response(status: int, code: str, detail: str, view: dict[str, Any]) -> Response:
    return problem(status, code, "Package rejected", detail, retriable=False, package=view)

