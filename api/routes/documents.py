"""edXML documents (issue 14): a package's header as JSON, each attachment on its own."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from api import responses as r
from api.auth import CurrentApp
from api.documents_service import attachment, attachment_bytes
from api.door import DoorRoute
from api.problems import responses
from api.routes.packages import PackagesDep, octet_stream
from hub.edxml.builder import build_status
from hub.edxml.statuses import status_package
from hub.errors import NotFound
from hub.packages.decisions import visible

router = APIRouter(prefix="/v1", tags=["documents"], route_class=DoorRoute)


@router.get("/packages/{package_id}/document", response_model=r.DocumentView,
            responses=responses(404))
async def document(package_id: str, caller: CurrentApp, service: PackagesDep) -> dict[str, Any]:
    """The edXML header the hub read on seal (From, To, Code, PromulgationInfo, …) with
    each attachment's name, type, size, SHA-256 and download URL; 404 ``not_a_document``
    for a package the hub did not read as edXML."""
    pkg = visible(await service.load(package_id), caller)
    if pkg.document is None:
        raise NotFound("the hub did not read this package as an edXML document",
                       code="not_a_document")
    view = dict(pkg.document)
    if "attachments" in view:
        view["attachments"] = [
            {**a, "download_url": f"/v1/packages/{package_id}/attachments/{a['index']}"}
            for a in view["attachments"]]
    return {"package_id": package_id, "problems": list(pkg.problems), "document": view}


@router.get("/packages/{package_id}/attachments/{index}", response_class=StreamingResponse,
            responses={200: octet_stream("The attachment's bytes, decoded."),
                       **responses(409, 410)})
async def download_attachment(package_id: str, index: int, caller: CurrentApp,
                              service: PackagesDep) -> StreamingResponse:
    """One attachment, decoded from base64 as the package streams from the content store
    (the package is never held in memory); a fetch by the destination like ``/content``."""
    pkg = await service.begin_fetch(caller, package_id)
    entry = attachment(pkg, index)
    content = await service.open_content(pkg, 0, pkg.size - 1)  # fails here, before any byte
    name = str(entry.get("name") or f"attachment-{index}")
    headers = {"content-length": str(entry.get("size", 0)),
               "x-content-sha256": str(entry.get("sha256", "")),
               "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"}
    return StreamingResponse(attachment_bytes(content, index), headers=headers,
                             media_type=str(entry.get("content_type") or
                                            "application/octet-stream"))


@router.get("/packages/{package_id}/status-package", response_class=Response,
            responses={200: octet_stream("An edXML status package."),
                       **responses(409, 410)})
async def edxml_status(package_id: str, destination: str, caller: CurrentApp,
                       service: PackagesDep) -> Response:
    """The latest status ``destination`` reported on this edXML document (through the
    JSON API or as a status package), as an edXML status package: the form a QLVB that
    speaks only edXML reads. 404 ``no_status`` while it has reported none."""
    pkg = visible(await service.load(package_id), caller)
    mine = next((d.code for d in pkg.deliveries.values()
                 if d.agency_id == caller.app.agency_id), None)
    if pkg.source_agency_id != caller.app.agency_id and destination != mine:
        raise NotFound(f"no delivery to {destination} you may see", code="no_status")
    status = status_package(pkg, destination)
    if status is None:
        raise NotFound(f"{destination} reported no status on this document", code="no_status")
    # XML, served as bytes: generated clients (openapi-python-client) take octet-stream
    # bodies as files and have no reader for application/xml
    return Response(build_status(status), media_type="application/octet-stream")
