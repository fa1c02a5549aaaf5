"""The source's actions on what it sent (Điều 5.4): extend, redirect, cancel a delivery.

Each answers with the package as the source sees it after the change; a refusal is a
problem response and changes nothing (see ``hub.deadlines.actions`` for the rules).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api import responses as r
from api.auth import CurrentApp
from api.door import DoorRoute
from api.problems import responses
from api.routes.packages import PackagesDep, package_view
from api.successors import named_delivery
from hub import bounds

ACTION_PROBLEMS = responses(409, 410)
router = APIRouter(prefix="/v1/packages/{package_id}", tags=["deliveries"], route_class=DoorRoute)


class Extension(BaseModel):
    deadline: datetime = Field(description="The new deadline, with a time zone, in the future.")


class Redirection(BaseModel):
    to: str = Field(max_length=40,
                    description="Code of the agency that receives the package instead.")


class Recall(BaseModel):
    reason: str | None = Field(None, max_length=bounds.REASON,
                               description="Told to the destination.")


@router.post("/deliveries/{code}/extend", response_model=r.PackageView, responses=ACTION_PROBLEMS)
async def extend(package_id: str, code: str, body: Extension, caller: CurrentApp,
                 service: PackagesDep) -> dict[str, Any]:
    """Move the deadline of one delivery; an expired one reopens while the package is not
    completed (410 ``content_shredded`` once it is)."""
    code = await named_delivery(service, package_id, code) or code
    pkg = await service.extend(caller, package_id, code, body.deadline)
    return package_view(pkg, caller, service.waiting(pkg))


@router.post("/deliveries/{code}/redirect", response_model=r.PackageView, responses=ACTION_PROBLEMS)
async def redirect(package_id: str, code: str, body: Redirection, caller: CurrentApp,
                   service: PackagesDep) -> dict[str, Any]:
    """Send this delivery to another agency instead: the old one closes, the new agency
    is told the package is available."""
    code = await named_delivery(service, package_id, code) or code
    pkg = await service.redirect(caller, package_id, code, body.to)
    return package_view(pkg, caller, service.waiting(pkg))


@router.post("/deliveries/{code}/cancel", response_model=r.PackageView, responses=ACTION_PROBLEMS)
async def cancel(package_id: str, code: str, caller: CurrentApp, service: PackagesDep,
                 body: Recall | None = None) -> dict[str, Any]:
    """Recall one delivery: the destination is told and may no longer fetch it (410)."""
    code = await named_delivery(service, package_id, code) or code
    pkg = await service.recall(caller, package_id, code, body.reason if body else None)
    return package_view(pkg, caller, service.waiting(pkg))


@router.post("/cancel", response_model=r.PackageView, responses=ACTION_PROBLEMS)
async def cancel_all(package_id: str, caller: CurrentApp, service: PackagesDep,
                     body: Recall | None = None) -> dict[str, Any]:
    """Recall every delivery of the package still open."""
    pkg = await service.recall(caller, package_id, None, body.reason if body else None)
    return package_view(pkg, caller, service.waiting(pkg))
