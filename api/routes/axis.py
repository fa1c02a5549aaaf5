"""The national axis's protocol as a second entry point (issue 15, item 5):
``POST /{operation}`` with ``XroadVnpt-*`` headers and their HMAC-SHA256 signature, so a
QLVB system that speaks to the national axis switches to this hub by changing its endpoint
and keys (its ``systemid`` is an app's access key, its secret the app's secret).

Answered: ``getAgenciesList`` (and ``getAgenciesListQD20``, the same list), ``sendEdoc``,
``getReceivedEdocList``, ``getEdoc`` (and ``downloadEdoc``, the same), ``updateStatus``,
``getSentEdocList``, ``countReceiveEdoc`` and ``countReceiveStatus``, mapped by
``hub.axis.edocs`` onto the JSON API's own use cases (``Packages``). Every answer, errors
included, has the axis's shape (``status``, ``ErrorCode``, ``ErrorDesc``); an engine down
is a 503 with ``Retry-After``. Every other operation answers ``FAIL`` with ``ErrorCode``
``not_supported``.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.auth import runtime_of
from api.door import DoorRoute, whole_content
from api.packages_service import Packages
from api.successors import named_delivery
from hub.auth.sessions import Caller
from hub.axis import edocs, facade
from hub.errors import NotFound, TrucError
from hub.packages import decisions as decide
from hub.packages.processor import INBOX, OUTBOX

router = APIRouter(tags=["national axis"], route_class=DoorRoute)
"""Through the door unsigned (its body bounded like a package sent in one call); the
axis's own header signature is checked in the route, before anything is answered."""
SENT_LISTED = 500
"""``getSentEdocList`` lists the caller's latest sent edXML packages, at most this many."""

Answer = dict[str, Any]
Operation = Callable[[Packages, Caller, Mapping[str, str], Request], Awaitable[Answer]]


# Outside /openapi.json: it speaks the national axis protocol (its own signature and
# error shape, docs/national-axis.md), not the problem+json API the document describes.
@router.post("/{operation}", include_in_schema=False)
@whole_content
async def axis_call(operation: str, request: Request) -> JSONResponse:
    """One call of the national axis's protocol, signed with its header signature."""
    runtime = runtime_of(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        caller = await facade.authenticate(runtime.registry, headers,
                                           runtime.backend.clock.now(),
                                           timedelta(seconds=runtime.settings.max_skew_seconds))
        answer = OPERATIONS.get(operation)
        if answer is None:
            raise NotFound(f"{operation} is not answered by this hub", code="not_supported")
        presence = getattr(request.app.state, "presence", None)
        if presence is not None:
            await presence.called(caller)
        body = await answer(Packages(runtime), caller, headers, request)
    except TrucError as exc:
        return _fail(exc, runtime.settings.retry_after_seconds)
    return JSONResponse({"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **body})


async def agencies(service: Packages, caller: Caller, headers: Mapping[str, str],
                   request: Request) -> Answer:
    return {"data": facade.agencies_list(service.rt.view.registry)}


async def send_edoc(service: Packages, caller: Caller, headers: Mapping[str, str],
                    request: Request) -> Answer:
    """An edXML file sent as the one-call send of ``POST /v1/packages/send`` would."""
    content = edocs.edxml_content(await request.body(), edocs.header(headers, "hash-file"))
    req = edocs.send_request(headers, caller.agency_code, content)
    pkg = await service.send(caller, req, content, None, None)
    if pkg.rejection:
        raise Rejected(pkg.rejection, code="package_rejected", doc_id=pkg.package_id)
    return {"DocId": pkg.package_id}


async def received_list(service: Packages, caller: Caller, headers: Mapping[str, str],
                        request: Request) -> Answer:
    return {"data": await _received(service, caller)}


async def count_documents(service: Packages, caller: Caller, headers: Mapping[str, str],
                          request: Request) -> Answer:
    """How many documents ``getReceivedEdocList`` lists now (``countReceiveEdoc``)."""
    return {"data": str(sum(i["messageType"] == "edoc"
                            for i in await _received(service, caller)))}


async def count_statuses(service: Packages, caller: Caller, headers: Mapping[str, str],
                         request: Request) -> Answer:
    """How many status packages it lists now (``countReceiveStatus``)."""
    return {"data": str(sum(i["messageType"] == "status"
                            for i in await _received(service, caller)))}


async def _received(service: Packages, caller: Caller) -> list[dict[str, Any]]:
    rows = await service.rt.backend.projections.scan(INBOX, caller.app.agency_id)
    data = []
    for row in (r.body for r in rows if edocs.is_edxml(r.body)):
        kind = edocs.message_type(await service.load(str(row["package_id"])))
        data.append(edocs.received_item(row, caller.agency_code, kind))
    return data


async def get_edoc(service: Packages, caller: Caller, headers: Mapping[str, str],
                   request: Request) -> Answer:
    """The content, whole, in base64 (held in memory: bounded, checked before the fetch
    is recorded); recorded as the destination's fetch."""
    package_id = edocs.doc_id(headers)
    edocs.check_whole(await service.load(package_id))
    pkg = await service.begin_fetch(caller, package_id)
    pieces = await service.open_content(pkg, 0, pkg.size - 1)
    content = b"".join([piece async for piece in pieces])
    return {"data": base64.b64encode(content).decode()}


async def update_status(service: Packages, caller: Caller, headers: Mapping[str, str],
                        request: Request) -> Answer:
    package_id, update = edocs.doc_id(headers), edocs.update(headers)
    pkg = await service.load(package_id)
    if update.action == "ack":
        pkg = await service.acknowledge(caller, package_id, pkg.sha256 if pkg else "")
    elif update.action == "report":
        destination = await named_delivery(service, package_id, update.destination)
        pkg = await service.report(caller, package_id, update.code, None, destination)
    else:
        pkg = decide.own_delivery(pkg, caller)
    mine = pkg.deliveries.get(caller.app.agency_id)  # none for the source's own 13
    return {"data": mine.state.value if mine else pkg.state.value}


async def sent_list(service: Packages, caller: Caller, headers: Mapping[str, str],
                    request: Request) -> Answer:
    rows = await service.rt.backend.projections.scan(OUTBOX, caller.app.agency_id)
    sent = [r.body for r in rows if edocs.is_edxml(r.body)][-SENT_LISTED:]
    data: list[dict[str, str]] = []
    for row in sent:
        pkg = await service.load(str(row["package_id"]))
        if pkg is not None:
            data.extend(edocs.sent_items(pkg))
    return {"data": data}


OPERATIONS: dict[str, Operation] = {
    "getAgenciesList": agencies, "getAgenciesListQD20": agencies, "sendEdoc": send_edoc,
    "getReceivedEdocList": received_list, "getEdoc": get_edoc,
    "updateStatus": update_status, "getSentEdocList": sent_list,
    "downloadEdoc": get_edoc, "countReceiveEdoc": count_documents,
    "countReceiveStatus": count_statuses,
}


class Rejected(TrucError):
    """A sealed ``sendEdoc`` the hub refused (the edXML analysis, a duplicate…)."""

    code = "package_rejected"
    status = 422


def _fail(exc: TrucError, retry_after: int) -> JSONResponse:
    """An error in the axis's shape; a refused ``sendEdoc`` still names its ``DocId``."""
    headers = {"Retry-After": str(retry_after)} if exc.status == 503 else None
    body = {"status": "FAIL", "ErrorCode": exc.code, "ErrorDesc": exc.detail}
    if "doc_id" in exc.extra:
        body["DocId"] = str(exc.extra["doc_id"])
    return JSONResponse(body, status_code=exc.status, headers=headers)
