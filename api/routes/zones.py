"""Zones: the routing table to other zones' hubs (``hub.zones``), for operators.

An admin sets a zone (its peer hub's URL, the key this hub holds as an app on the peer,
and the code patterns it serves) and removes it; any operator reads the table and asks
where one code goes. The peer's secret key is written once and never shown.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.auth import CurrentAdmin, CurrentOperator, RuntimeDep
from api.door import DoorRoute
from api.problems import responses
from api.runtime import Runtime
from hub.errors import NotFound
from hub.registry.decisions import Context
from hub.registry.model import Operator, Registry, Role
from hub.zones.model import Zone, route

router = APIRouter(prefix="/v1/ops", tags=["operators"], route_class=DoorRoute)


class ZoneSetting(BaseModel):
    url: str = Field("", max_length=2000, description=(
        "The peer hub's base URL (axis: the national axis's endpoint; held: none)."))
    access_key: str = Field("", max_length=100, description=(
        "The access key of the app this hub is on the peer (axis: its systemid)."))
    secret_key: str | None = Field(None, max_length=200, description=(
        "Its secret key: required for a new zone; left out, a changed zone keeps its own."))
    codes: list[str] = Field([], max_length=10_000, description="Explicit agency codes.")
    branches: list[str] = Field([], max_length=10_000, description=(
        "Codes routed with every code under them in the QCVN 102 hierarchy."))
    provinces: list[str] = Field([], max_length=1_000, description=(
        "Level-1 codes (H29): the whole province or ministry."))
    protocol: str = Field("truc", max_length=10, description=(
        "truc: a peer hub; axis: the upstream national axis (the default route, "
        "docs/national-axis.md); held: this hub is that zone's axis."))
    local_key: str = Field("", max_length=100, description=(
        "axis: the access key of the app here incoming documents come from; held: of the "
        "app that zone's hub is here."))


class ZoneView(BaseModel):
    zone: str
    url: str
    access_key: str
    codes: list[str]
    branches: list[str]
    provinces: list[str]
    configured_at: str | None
    protocol: str = "truc"
    local_key: str = ""


class ZoneRoute(BaseModel):
    code: str
    local: bool = Field(description="An agency registered on this hub: never forwarded.")
    zone: str | None = Field(description="The zone the code is forwarded to, if any.")
    kind: str | None = Field(description=(
        "code | branch | province: the pattern that won; default: the national axis."))
    pattern: str | None = None


def zone_view(zone: Zone) -> ZoneView:
    return ZoneView(zone=zone.name, url=zone.url, access_key=zone.access_key,
                    codes=sorted(zone.codes), branches=sorted(zone.branches),
                    provinces=sorted(zone.provinces),
                    configured_at=zone.configured_at.isoformat() if zone.configured_at
                    else None, protocol=zone.protocol, local_key=zone.local_key)


def _context(operator: Operator, runtime: Runtime) -> Context:
    return Context(operator.operator_id, runtime.backend.clock.now(), str(uuid.uuid4()))


def _hub_wide(operator: Operator) -> None:
    """The routing table is the hub's, not an agency's: an agency-admin does not see it
    (as it does not see the operators)."""
    if operator.role is Role.AGENCY_ADMIN:
        raise NotFound("no such resource")


@router.get("/zones", responses=responses(404))
async def list_zones(operator: CurrentOperator, runtime: RuntimeDep) -> list[ZoneView]:
    """The routing table: every zone and the patterns it serves (never its secret)."""
    _hub_wide(operator)
    zones = runtime.view.registry.zones
    return [zone_view(zones[name]) for name in sorted(zones)]


@router.put("/zones/{zone}", responses=responses(409))
async def set_zone(zone: str, body: ZoneSetting, operator: CurrentAdmin,
                   runtime: RuntimeDep) -> ZoneView:
    """Sets a zone whole (new, or replacing its URL, key and patterns). A pattern
    another zone serves is refused (409 ``route_conflict``)."""
    found = await runtime.registry.configure_zone(
        _context(operator, runtime), zone, body.url, body.access_key, body.secret_key,
        codes=body.codes, branches=body.branches, provinces=body.provinces,
        protocol=body.protocol, local_key=body.local_key)
    return zone_view(found)


class ZoneGone(BaseModel):
    zone: str
    removed: bool


@router.delete("/zones/{zone}")
async def remove_zone(zone: str, operator: CurrentAdmin, runtime: RuntimeDep,
                      reason: str = Query("removed by an operator", max_length=500)
                      ) -> ZoneGone:
    """Nothing more is forwarded to this zone's hub."""
    await runtime.registry.remove_zone(_context(operator, runtime), zone, reason)
    return ZoneGone(zone=zone, removed=True)


@router.get("/zones/route/{code}")
async def route_of(code: str, operator: CurrentOperator, runtime: RuntimeDep) -> ZoneRoute:
    """Where a code goes: this hub (an agency registered here), a zone, or nowhere."""
    _hub_wide(operator)
    return zone_route(runtime.view.registry, code)


def zone_route(registry: Registry, code: str) -> ZoneRoute:
    local = registry.agency(code) is not None
    match = None if local else route(registry.zones, code)
    return ZoneRoute(code=code, local=local, zone=match.zone.name if match else None,
                     kind=match.kind if match else None,
                     pattern=match.pattern if match else None)
